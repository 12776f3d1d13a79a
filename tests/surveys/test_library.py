"""The bundled questionnaire templates (``surveys/library``): valid, fully bilingual, and
shaped as the practice expects (CSAT + NPS + CES, 360 competencies, peer review, the five
outsourcing KPI families)."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from surveys.definition import (
    NA,
    parse_document,
    prune_hidden,
    validate_document,
    visible_pages,
    visible_questions,
)

LIBRARY = Path(__file__).resolve().parents[2] / "surveys" / "library"
TEMPLATES = ["customer-satisfaction", "leadership-360", "peer-review", "vendor-performance"]
CJK = re.compile(r"[\u3400-\u9fff]")
TEXT_FIELDS = {"title", "description", "text", "help", "name", "label"}


def load(stem: str):
    text = (LIBRARY / f"{stem}.yaml").read_text(encoding="utf-8")
    document = parse_document(text, "yaml")
    return document, validate_document(document)


def texts(node, path="$"):
    """Every translatable text of a document, with its path."""
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{path}.{key}"
            if key in TEXT_FIELDS:
                yield here, value
            elif key == "labels":
                for point, label in value.items():
                    yield f"{here}.{point}", label
            else:
                yield from texts(value, here)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from texts(value, f"{path}[{i}]")


def items_by_dimension(qn) -> Counter:
    """How many rated items (likert questions, matrix rows, …) feed each dimension."""
    counts: Counter = Counter()
    for q in qn.questions:
        if q.type == "matrix":
            counts.update(item.dimension for item in q.items if item.dimension)
        elif q.dimension:
            counts[q.dimension] += 1
    return counts


def reverse_keyed(qn) -> list[str]:
    keys = [q.key for q in qn.questions if q.reverse]
    keys += [
        f"{q.key}.{i.key}" for q in qn.questions if q.type == "matrix" for i in q.items if i.reverse
    ]
    return keys


def by_type(qn, qtype: str):
    return [q for q in qn.questions if q.type == qtype]


# ------------------------------------------------------------------------ every template


@pytest.mark.parametrize("stem", TEMPLATES)
def test_template_validates_and_round_trips(stem):
    document, qn = load(stem)
    assert qn.key == stem
    assert qn.to_document() == document
    assert qn.description, "a library template says what it is for and how long it takes"
    assert qn.dimensions
    # every dimension is fed by at least one item
    assert set(items_by_dimension(qn)) == {d.key for d in qn.dimensions}


@pytest.mark.parametrize("stem", TEMPLATES)
def test_every_text_is_translated(stem):
    document, _qn = load(stem)
    found = list(texts(document))
    assert len(found) > 10
    for path, value in found:
        assert isinstance(value, dict), f"{path}: not bilingual"
        assert value.get("en", "").strip(), f"{path}: no English"
        assert value.get("zh_CN", "").strip(), f"{path}: no Chinese"
        assert CJK.search(value["zh_CN"]), f"{path}: zh_CN is not Chinese: {value['zh_CN']!r}"
        assert not CJK.search(value["en"]), f"{path}: en has Chinese: {value['en']!r}"
        assert value["en"] != value["zh_CN"], path


@pytest.mark.parametrize("stem", TEMPLATES)
def test_conditions_hide_nothing_without_cause(stem):
    """With no answers every unconditional question is shown and every page reachable
    that does not depend on an answer."""
    _document, qn = load(stem)
    shown = {q.key for page in visible_pages(qn, {}) for q in visible_questions(page, {})}
    assert shown == {q.key for q in qn.questions if q.show_if is None}


# ------------------------------------------------------------------- customer satisfaction


def test_customer_satisfaction_has_csat_nps_ces():
    _document, qn = load("customer-satisfaction")
    for qtype in ("csat", "nps", "ces"):
        (question,) = by_type(qn, qtype)
        assert question.required
        assert question.dimension and qn.dimension(question.dimension).kind == "kpi"
    csat, nps, ces = (by_type(qn, t)[0] for t in ("csat", "nps", "ces"))
    assert set(csat.scale.labels) == {"1", "2", "3", "4", "5"}
    assert {"0", "10"} <= set(nps.scale.labels)
    assert set(ces.scale.labels) == {str(p) for p in range(1, 8)}
    assert "made it easy" in ces.text["en"]
    channel = qn.question("channel")
    assert channel.type == "single_choice"
    assert {o.value for o in channel.options} == {"phone", "email", "chat", "on_site", "other"}
    assert by_type(qn, "long_text")
    assert 2 <= len(qn.pages) <= 3


@pytest.mark.parametrize(
    ("csat", "shown"), [(1, True), (2, True), (3, False), (4, False), (5, False)]
)
def test_customer_satisfaction_follow_up_only_when_unhappy(csat, shown):
    _document, qn = load("customer-satisfaction")
    follow_up = qn.question("csat_followup")
    assert follow_up.type == "long_text"
    assert follow_up.show_if == {"question": "csat", "op": "less", "value": 3}
    page = qn.page(follow_up.page_key)
    answers = {"csat": csat, "csat_followup": "The agent never called back."}
    assert (follow_up in visible_questions(page, answers)) is shown
    assert ("csat_followup" in prune_hidden(qn, answers)) is shown


def test_customer_satisfaction_follow_up_hidden_until_csat_answered():
    _document, qn = load("customer-satisfaction")
    follow_up = qn.question("csat_followup")
    assert follow_up not in visible_questions(qn.page(follow_up.page_key), {})


# ----------------------------------------------------------------------------------- 360


def test_leadership_360_has_six_competencies_of_four_to_five_items():
    _document, qn = load("leadership-360")
    assert len(qn.dimensions) == 6
    assert all(d.kind == "competency" and d.description for d in qn.dimensions)
    counts = items_by_dimension(qn)
    assert set(counts) == {d.key for d in qn.dimensions}
    assert all(4 <= n <= 5 for n in counts.values()), counts
    names = {d.name["zh_CN"] for d in qn.dimensions}
    assert names == {"战略思维", "结果导向", "培养他人", "沟通影响", "协作共赢", "诚信担当"}


def test_leadership_360_scales_reverse_keying_and_question_types():
    _document, qn = load("leadership-360")
    rated = by_type(qn, "likert") + by_type(qn, "matrix")
    for q in rated:
        assert q.scale.points == 5
        assert q.scale.not_applicable
        assert set(q.scale.labels) == {"1", "2", "3", "4", "5"}
    assert len(by_type(qn, "matrix")) >= 2
    assert len(by_type(qn, "likert")) >= 8
    assert len(reverse_keyed(qn)) >= 2
    # one page per competency, then the open comments
    assert [p.key for p in qn.pages[:6]] == [d.key for d in qn.dimensions]
    comments = qn.pages[-1].questions
    assert len(comments) >= 2
    assert all(q.type == "long_text" and not q.required for q in comments)


def test_leadership_360_reverse_items_score_mirrored():
    from surveys.definition import scored_value

    _document, qn = load("leadership-360")
    reverse = next(q for q in by_type(qn, "likert") if q.reverse)
    assert scored_value(reverse, 5) == 1
    assert scored_value(reverse, 2) == 4
    assert scored_value(reverse, NA) is None


# ----------------------------------------------------------------------------- peer review


def test_peer_review_shape():
    _document, qn = load("peer-review")
    assert {d.key for d in qn.dimensions} == {
        "collaboration",
        "reliability",
        "expertise",
        "communication",
    }
    assert all(n == 3 for n in items_by_dimension(qn).values())
    (ranking,) = by_type(qn, "ranking")
    assert 4 <= len(ranking.options) <= 5
    (strengths,) = by_type(qn, "multiple_choice")
    assert strengths.max_selections == 3
    assert (strengths.min_selections or 0) <= strengths.max_selections < len(strengths.options)
    assert by_type(qn, "long_text")


# --------------------------------------------------------------------------------- vendor


def test_vendor_performance_has_the_five_kpi_families():
    _document, qn = load("vendor-performance")
    assert {d.key for d in qn.dimensions} == {
        "delivery_time",
        "quality",
        "cost_effectiveness",
        "communication_collaboration",
        "innovation",
    }
    assert all(d.kind == "kpi" and d.weight > 0 for d in qn.dimensions)
    assert {d.name["zh_CN"] for d in qn.dimensions} == {
        "交付及时性",
        "质量",
        "成本效益",
        "沟通协作",
        "创新改进",
    }
    assert all(3 <= n <= 4 for n in items_by_dimension(qn).values())


def test_vendor_performance_context_questions():
    _document, qn = load("vendor-performance")
    (incidents,) = by_type(qn, "number")
    assert incidents.integer and incidents.min == 0 and incidents.max == 1000
    assert by_type(qn, "date")
    (service_line,) = by_type(qn, "dropdown")
    assert len(service_line.options) >= 3
    assert len(by_type(qn, "csat") + by_type(qn, "nps")) == 1


@pytest.mark.parametrize(("overall", "shown"), [(1, True), (2, True), (3, False), (5, False)])
def test_vendor_performance_asks_why_when_overall_rating_is_low(overall, shown):
    _document, qn = load("vendor-performance")
    (overall_q,) = by_type(qn, "csat")
    follow_up = next(
        q
        for q in qn.questions
        if q.type == "long_text" and q.show_if and q.show_if.get("question") == overall_q.key
    )
    answers = {overall_q.key: overall, follow_up.key: "Missed three deadlines."}
    assert (follow_up in visible_questions(qn.page(follow_up.page_key), answers)) is shown


def test_vendor_performance_escalation_follow_up_depends_on_incident_count():
    _document, qn = load("vendor-performance")
    handling = qn.question("escalation_handling")
    page = qn.page(handling.page_key)
    assert handling not in visible_questions(page, {"escalated_incidents": 0})
    assert handling in visible_questions(page, {"escalated_incidents": 3})
