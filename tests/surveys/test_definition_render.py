"""The respondent form's question macros (``templates/surveys/_questions.html``): every
type renders as an accessible control that a browser submits back as the same answer,
and question text and answers are always escaped."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from werkzeug.datastructures import MultiDict

from core import create_app
from surveys.definition import NA, Page, localized, read_page, validate_document
from tests.surveys.definition_factory import (
    EXAMPLES,
    HOSTILE_STRINGS,
    document,
    form,
    question,
    questionnaire,
)

# ----------------------------------------------------------------- a small DOM for assertions

_VOID = {"input", "br", "hr", "img", "meta", "link"}


class Node:
    def __init__(self, tag: str, attrs: dict, parent: Node | None):
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.children: list[Node | str] = []

    def text(self) -> str:
        return " ".join(
            " ".join((c if isinstance(c, str) else c.text()).split()) for c in self.children
        ).strip()

    def raw_text(self) -> str:
        return "".join(c if isinstance(c, str) else c.raw_text() for c in self.children)

    def all(self, tag: str | None = None, **attrs) -> list[Node]:
        found = []
        for child in self.children:
            if isinstance(child, Node):
                if (tag is None or child.tag == tag) and all(
                    child.matches(k.rstrip("_").replace("_", "-"), v) for k, v in attrs.items()
                ):
                    found.append(child)
                found.extend(child.all(tag, **attrs))
        return found

    def matches(self, name: str, value: str) -> bool:
        """``class`` matches one of the classes, other attributes their whole value."""
        if name == "class":
            return value in self.attrs.get("class", "").split()
        return self.attrs.get(name) == value

    def one(self, tag: str | None = None, **attrs) -> Node:
        found = self.all(tag, **attrs)
        assert len(found) == 1, f"{len(found)} <{tag} {attrs}>"
        return found[0]

    def ancestors(self):
        node = self.parent
        while node is not None:
            yield node
            node = node.parent


class _Parser(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = self.current = Node("#root", {}, None)

    def handle_starttag(self, tag, attrs):
        node = Node(tag, {k: (v if v is not None else "") for k, v in attrs}, self.current)
        self.current.children.append(node)
        if tag not in _VOID:
            self.current = node

    def handle_endtag(self, tag):
        node = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.current = node.parent

    def handle_data(self, data):
        self.current.children.append(data)


def dom(html: str) -> Node:
    parser = _Parser()
    parser.feed(html)
    parser.close()
    return parser.root


def submitted(root: Node) -> MultiDict:
    """What a browser submits for the controls in ``root``."""
    pairs = []
    for node in root.all():
        name = node.attrs.get("name")
        if not name:
            continue
        if node.tag == "input":
            if node.attrs.get("type") in ("radio", "checkbox"):
                if "checked" in node.attrs:
                    pairs.append((name, node.attrs["value"]))
            else:
                pairs.append((name, node.attrs.get("value", "")))
        elif node.tag == "select":
            options = node.all("option")
            chosen = [o for o in options if "selected" in o.attrs] or options[:1]
            pairs.append((name, chosen[0].attrs.get("value", chosen[0].text())))
        elif node.tag == "textarea":
            pairs.append((name, node.raw_text()))
    return MultiDict(pairs)


def label_of(root: Node, control: Node) -> str:
    """The accessible name a label gives a control (wrapping label or label[for])."""
    for ancestor in control.ancestors():
        if ancestor.tag == "label":
            return ancestor.text()
    labels = root.all("label", for_=control.attrs["id"])
    assert labels, f"no label for {control.attrs}"
    return labels[0].text()


# ----------------------------------------------------------------- rendering


@pytest.fixture(scope="module")
def render():
    app = create_app("testing")
    app.jinja_env.filters["loc"] = localized

    def render(q, value=None, errors=(), locale="en", **extra) -> str:
        with app.test_request_context():
            macros = app.jinja_env.get_template("surveys/_questions.html").module
            return str(macros.question(q, value, list(errors), locale, **extra))

    return render


ALL = questionnaire(
    [question(t.replace("_", "-"), t, required=True if t != "text_block" else None,
              help={"en": f"Help for {t}"} if t != "text_block" else None)
     for t in EXAMPLES],
)
Q = {q.type: q for q in ALL.questions}

SAMPLE_ANSWERS = {
    "likert": NA,
    "matrix": {"listens": 2, "explains": 4},
    "nps": 0,
    "csat": 5,
    "ces": 3,
    "single_choice": "email",
    "dropdown": "visit",
    "multiple_choice": ["phone", "chat"],
    "ranking": ["chat", "phone", "email"],
    "short_text": "短回答",
    "long_text": "first line\nsecond line",
    "number": 7,
    "date": "2024-02-29",
}


@pytest.mark.parametrize("type_", SAMPLE_ANSWERS)
def test_rendered_answer_is_submitted_back_unchanged(render, type_):
    q = Q[type_]
    root = dom(render(q, SAMPLE_ANSWERS[type_]))
    page = Page(key="p", questions=(q,))
    assert read_page(page, submitted(root), {}, "en") == ({q.key: SAMPLE_ANSWERS[type_]}, {})


@pytest.mark.parametrize("type_", SAMPLE_ANSWERS)
def test_unanswered_question_submits_nothing(render, type_):
    q = Q[type_]
    values = submitted(dom(render(q)))
    assert all(v == "" for v in values.values())


def test_ids_are_unique_and_every_reference_points_at_an_element(render):
    html = "".join(render(q, SAMPLE_ANSWERS.get(q.type), ["Wrong."]) for q in ALL.questions)
    root = dom(html)
    ids = [n.attrs["id"] for n in root.all() if "id" in n.attrs]
    assert len(ids) == len(set(ids))
    for node in root.all():
        for ref in node.attrs.get("aria-describedby", "").split():
            assert ref in ids, (node.tag, ref)
        if node.tag == "label" and "for" in node.attrs:
            assert node.attrs["for"] in ids


def test_error_summary_targets_exist_for_each_question_and_matrix_row(render):
    for q in ALL.questions:
        if not q.answerable:
            continue
        root = dom(render(q, errors=["Wrong."]))
        assert root.all(id=f"q-{q.key}"), q.type
    root = dom(render(Q["matrix"]))
    assert root.all(id="q-matrix-listens") and root.all(id="q-matrix-explains")


@pytest.mark.parametrize("type_", ["likert", "nps", "csat", "ces", "single_choice",
                                   "multiple_choice", "ranking", "matrix"])
def test_groups_are_fieldsets_with_the_question_as_legend(render, type_):
    q = Q[type_]
    root = dom(render(q))
    fieldset = root.all("fieldset")[0]
    legend = fieldset.all("legend")[0]
    assert legend.text().startswith(q.text["en"])
    has_hint = type_ in ("multiple_choice", "ranking")
    expected = f"q-{q.key}.help q-{q.key}.hint" if has_hint else f"q-{q.key}.help"
    assert fieldset.attrs["aria-describedby"] == expected
    for control in root.all("input") + root.all("select"):
        assert label_of(root, control), control.attrs


@pytest.mark.parametrize("type_", ["dropdown", "short_text", "long_text", "number", "date"])
def test_single_inputs_have_a_label_and_describe_help_and_error(render, type_):
    q = Q[type_]
    root = dom(render(q, errors=["Wrong."]))
    control = next(n for n in root.all() if n.attrs.get("name") == f"q-{q.key}")
    assert label_of(root, control).startswith(q.text["en"])
    described = control.attrs["aria-describedby"].split()
    assert f"q-{q.key}.help" in described and f"q-{q.key}.error" in described
    assert root.one(id=f"q-{q.key}.error").text() == "Error: Wrong."
    assert control.attrs["aria-invalid"] == "true"
    assert "required" in control.attrs and control.attrs["aria-required"] == "true"


def test_required_radio_groups_say_so_to_browsers_and_assistive_technology(render):
    root = dom(render(Q["csat"]))
    fieldset = root.one("fieldset")
    assert fieldset.attrs["role"] == "radiogroup" and fieldset.attrs["aria-required"] == "true"
    assert all("required" in r.attrs for r in root.all("input", type="radio"))
    assert "(required)" in fieldset.one("legend").text()
    optional = dom(render(questionnaire([question("o", "csat")]).questions[0]))
    assert "aria-required" not in optional.one("fieldset").attrs
    assert "(required)" not in optional.text()


def test_errors_mark_every_control_invalid(render):
    root = dom(render(Q["single_choice"], errors=["Choose an answer."]))
    radios = root.all("input", type="radio")
    assert radios and all(r.attrs.get("aria-invalid") == "true" for r in radios)
    assert "q-invalid" in root.all("div")[0].attrs["class"]


def test_nps_is_a_row_of_eleven_points_with_end_labels(render):
    root = dom(render(Q["nps"]))
    radios = root.all("input", type="radio")
    assert [r.attrs["value"] for r in radios] == [str(n) for n in range(11)]
    assert label_of(root, radios[0]) == "0 Not at all likely"
    assert label_of(root, radios[10]) == "10 Extremely likely"
    assert root.one("div", class_="q-ends", aria_hidden="true").text() == (
        "Not at all likely Extremely likely"
    )


def test_scale_labels_from_the_questionnaire_replace_the_built_in_ones(render):
    q = questionnaire([question("c", "csat", scale={"labels": {
        "1": {"en": "Awful", "zh_CN": "很糟"}, "3": "OK", "5": {"zh_CN": "很好"}}})]).questions[0]
    root = dom(render(q, locale="zh_CN"))
    radios = root.all("input", type="radio")
    assert [label_of(root, r) for r in radios] == ["1 很糟", "2", "3 OK", "4", "5 很好"]
    assert root.all("div", class_="q-scale-list")  # labels in between: a labelled list


def test_not_applicable_is_offered_only_when_the_scale_has_it(render):
    root = dom(render(Q["likert"]))
    na = root.one("input", value="na")
    assert label_of(root, na) == "Not applicable"
    assert not dom(render(Q["csat"])).all("input", value="na")


def test_matrix_rows_are_labelled_radio_groups_with_their_own_errors(render):
    q = Q["matrix"]
    errors = {"matrix": ["1 row still needs an answer."],
              "matrix-explains": ["Choose an answer for this row."]}
    root = dom(render(q, {"listens": 3}, errors["matrix"], all_errors=errors))
    rows = root.all("fieldset", class_="q-matrix-item")
    assert [r.one("legend").text() for r in rows] == ["Listens", "Explains"]
    assert all(r.attrs["role"] == "radiogroup" for r in rows)
    assert [len(r.all("input", type="radio")) for r in rows] == [4, 4]
    assert rows[1].attrs["aria-describedby"] == "q-matrix-explains.error"
    assert rows[1].one("p", class_="q-error").text() == "Error: Choose an answer for this row."
    assert "aria-describedby" not in rows[0].attrs
    assert rows[0].one("input", value="3").attrs.get("checked") == ""


def test_ranking_offers_a_rank_select_per_option(render):
    root = dom(render(Q["ranking"], ["chat", "phone", "email"]))
    selects = root.all("select")
    assert [s.attrs["name"] for s in selects] == ["q-ranking-phone", "q-ranking-email",
                                                  "q-ranking-chat"]
    assert [label_of(root, s) for s in selects] == ["Phone", "Email", "Chat"]
    assert [o.attrs["value"] for o in selects[0].all("option")] == ["", "1", "2", "3"]
    assert submitted(root).to_dict() == {"q-ranking-phone": "2", "q-ranking-email": "3",
                                         "q-ranking-chat": "1"}


def test_number_date_and_text_inputs_carry_their_limits(render):
    number = dom(render(Q["number"])).one("input")
    assert (number.attrs["type"], number.attrs["min"], number.attrs["max"],
            number.attrs["step"]) == ("number", "1", "10", "1")
    date = dom(render(Q["date"])).one("input")
    assert (date.attrs["type"], date.attrs["min"], date.attrs["max"]) == (
        "date", "2024-01-01", "2024-12-31")
    assert dom(render(Q["short_text"])).one("input").attrs["maxlength"] == "10"
    assert dom(render(Q["long_text"])).one("textarea").attrs["maxlength"] == "5000"


def test_rules_are_shown_as_hints_before_anyone_gets_them_wrong(render):
    assert dom(render(Q["multiple_choice"])).one(id="q-multiple-choice.hint").text() == (
        "Choose between 2 and 3 options."
    )
    assert dom(render(Q["number"])).one(id="q-number.hint").text() == (
        "Enter a whole number between 1 and 10."
    )
    assert dom(render(Q["short_text"])).one(id="q-short-text.hint").text() == (
        "Up to 10 characters."
    )


def test_text_block_is_text_without_controls(render):
    q = questionnaire([question("intro", "text_block", text={"en": "Thanks!", "zh_CN": "谢谢！"}),
                       question("a", "csat")]).questions[0]
    root = dom(render(q, locale="zh_CN"))
    assert root.text() == "谢谢！"
    assert not root.all("input") and not root.all("fieldset") and not root.all("label")


def test_texts_follow_the_locale_and_fall_back(render):
    q = questionnaire([question("c", "single_choice", text={"zh_CN": "您通过什么方式联系我们？"},
                                help={"en": "Pick one"})]).questions[0]
    root = dom(render(q, locale="en"))
    assert root.one("legend").text() == "您通过什么方式联系我们？"  # no English: Chinese
    assert root.one("p", class_="q-help").text() == "Pick one"
    assert [label_of(root, r) for r in root.all("input")][:2] == ["Phone", "Email"]
    root = dom(render(q, locale="zh_CN"))
    assert [label_of(root, r) for r in root.all("input")][:2] == ["电话", "邮件"]


def test_submitted_values_are_shown_again_when_the_question_has_errors(render):
    raw = form(*[("q-multiple-choice", v) for v in ("phone", "email", "chat", "visit")])
    root = dom(render(Q["multiple_choice"], None, ["Choose between 2 and 3 options."], raw=raw))
    assert submitted(root).getlist("q-multiple-choice") == ["phone", "email", "chat", "visit"]
    raw = form(number="eleven")
    root = dom(render(Q["number"], None, ["Enter a whole number between 1 and 10."], raw=raw))
    assert root.one("input").attrs["value"] == "eleven"
    # without errors the stored answer wins over the form
    root = dom(render(Q["number"], 4, [], raw=raw))
    assert root.one("input").attrs["value"] == "4"


# ----------------------------------------------------------------- hostile text


HOSTILE_DOC = document([
    {"key": "evil", "type": "single_choice", "text": HOSTILE_STRINGS[0],
     "help": HOSTILE_STRINGS[1],
     "options": [{"value": "a", "label": HOSTILE_STRINGS[2]},
                 {"value": "b", "label": HOSTILE_STRINGS[1]}]},
    {"key": "grid", "type": "matrix", "text": HOSTILE_STRINGS[2],
     "scale": {"points": 3, "labels": {"1": HOSTILE_STRINGS[0], "2": HOSTILE_STRINGS[1]}},
     "items": [{"key": "i", "text": HOSTILE_STRINGS[1]}]},
    {"key": "say", "type": "short_text", "text": HOSTILE_STRINGS[1]},
    {"key": "essay", "type": "long_text", "text": HOSTILE_STRINGS[2]},
    {"key": "note", "type": "text_block", "text": " ".join(HOSTILE_STRINGS)},
])


def assert_inert(html: str) -> None:
    root = dom(html)
    assert not root.all("script") and not root.all("svg")
    for node in root.all():
        assert not any(name.startswith("on") for name in node.attrs), node.attrs
    assert "<script>" not in html and "<svg" not in html
    assert "49" not in html  # {{7*7}} was not evaluated


def test_hostile_question_text_is_escaped_and_never_evaluated(render):
    qn = validate_document(HOSTILE_DOC)
    html = "".join(render(q) for q in qn.questions)
    assert_inert(html)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&#34;&gt;&lt;svg onload=alert(1)&gt;" in html
    assert "{{7*7}}" in html
    root = dom(html)
    assert root.all("legend")[0].text() == "<script>alert(1)</script>"
    assert root.all("legend")[1].text() == "{{7*7}}"


def test_hostile_answers_are_escaped_in_inputs_and_textareas(render):
    qn = validate_document(HOSTILE_DOC)
    evil = " ".join(HOSTILE_STRINGS)
    html = render(qn.question("say"), evil) + render(qn.question("essay"), evil)
    assert_inert(html)
    root = dom(html)
    assert root.one("input").attrs["value"] == evil
    assert root.one("textarea").raw_text() == evil
    raw = MultiDict({"q-say": '"><script>alert(2)</script>'})
    again = render(qn.question("say"), None, ["Too long."], raw=raw)
    assert_inert(again)
    assert dom(again).one("input").attrs["value"] == '"><script>alert(2)</script>'
