"""Per-question results: every figure checked against an independent computation on the
raw answers, the anonymity rules of filters, older versions, and the results pages."""

from __future__ import annotations

import math
import statistics
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from xml.etree import ElementTree

import numpy as np
import pytest
from scipy import stats

import scoring
from core.database import utcnow
from core.exceptions import ServiceError
from core.extensions import db
from surveys import definition as qdef
from surveys import results, services
from surveys.models import Answer, Response
from surveys.results import FilterRefused, ResultFilters, summarize
from tests.surveys.definition_factory import OPTIONS, document, question
from tests.web.page import visible_text

HOSTILE = "<script>alert(1)</script>"
HOSTILE_2 = '"><svg onload=alert(1)>'

COMMENTS = [
    "服务很好，响应速度快",
    "工程师态度专业，响应速度快",
    "电话等待时间太长",
    "The engineer was friendly and the response was fast",
    "Slow response on the phone, friendly staff though",
]


def all_types_document(**changes) -> dict:
    """One question of every answerable type."""
    options = [*OPTIONS[:3], {"value": "odd", "label": {"en": HOSTILE, "zh_CN": HOSTILE_2}}]
    doc = document(
        [
            question("sat", "likert", text={"en": "Satisfied?", "zh_CN": "满意吗？"},
                     scale={"points": 5, "not_applicable": True,
                            "labels": {"1": {"en": "Poor", "zh_CN": "差"},
                                       "5": {"en": "Great", "zh_CN": "很好"}}}),
            question("grid", "matrix"),
            question("nps", "nps"),
            question("csat", "csat"),
            question("ces", "ces"),
        ],
        [
            question("channel", "single_choice", options=options),
            question("pick", "dropdown"),
            question("many", "multiple_choice", min_selections=None, max_selections=None),
            question("order", "ranking"),
            question("count", "number", min=None, max=None, integer=False),
            question("when", "date"),
            question("comment", "long_text"),
            question("short", "short_text", max_length=None),
        ],
        key="all-types",
    )
    doc.update(changes)
    return doc


def respond(campaign, answers: dict, *, submitted_at=None, fields=None, status="completed",
            deleted=False, version=None, invitation=None) -> Response:
    """Store a response with ``answers`` (in the engine's representation) directly."""
    version = version or campaign.version
    definition = services.parsed_version(version)
    when = submitted_at or utcnow()
    response = Response(
        campaign_id=campaign.id,
        version_id=version.id,
        status=status,
        started_at=when,
        last_saved_at=when,
        submitted_at=when if status == "completed" else None,
        fields=fields,
        deleted_at=when if deleted else None,
        invitation_id=getattr(invitation, "id", None),
    )
    db.session.add(response)
    db.session.flush()
    rows = [
        {"response_id": response.id, "question_key": key, "item_key": item,
         "value_num": num, "value_text": text}
        for key, value in answers.items()
        for item, num, text in qdef.answer_to_rows(definition.question(key), value)
    ]
    if rows:
        db.session.execute(Answer.__table__.insert(), rows)
    return response


def random_answers(rng: np.random.Generator) -> dict:
    """Answers to ``all_types_document`` with some questions (and matrix items) skipped."""
    values = [o["value"] for o in OPTIONS]
    a: dict = {}
    if rng.random() < 0.9:
        a["sat"] = "na" if rng.random() < 0.15 else int(rng.integers(1, 6))
    grid = {k: int(rng.integers(1, 5)) for k in ("listens", "explains") if rng.random() < 0.85}
    if grid:
        a["grid"] = grid
    a["nps"] = int(rng.integers(0, 11))
    a["csat"] = int(rng.integers(1, 6))
    if rng.random() < 0.8:
        a["ces"] = int(rng.integers(1, 8))
    a["channel"] = str(rng.choice(["phone", "email", "chat", "odd"]))
    if rng.random() < 0.7:
        a["pick"] = str(rng.choice(values))
    chosen = [v for v in values if rng.random() < 0.5]
    if chosen:
        a["many"] = chosen
    if rng.random() < 0.85:
        a["order"] = [str(v) for v in rng.permutation(["phone", "email", "chat"])]
    if rng.random() < 0.9:
        a["count"] = float(round(rng.normal(40, 12), 1))
    if rng.random() < 0.8:
        a["when"] = (date(2024, 1, 1) + timedelta(days=int(rng.integers(0, 366)))).isoformat()
    if rng.random() < 0.6:
        a["comment"] = str(rng.choice(COMMENTS))
    return a


def t_interval(values) -> tuple[float, float]:
    n = len(values)
    mean = statistics.mean(values)
    return stats.t.interval(0.95, n - 1, loc=mean, scale=statistics.stdev(values) / math.sqrt(n))


@pytest.fixture
def campaign(factory):
    questionnaire = factory.questionnaire(all_types_document())
    return factory.campaign(questionnaire)


@pytest.fixture
def answered(campaign):
    """60 random responses; returns their answers."""
    rng = np.random.default_rng(20240501)
    raw = [random_answers(rng) for _ in range(60)]
    for answers in raw:
        respond(campaign, answers)
    return raw


# --------------------------------------------------------------------- the numbers


def test_scale_distribution_mean_sd_interval_and_pomp_match_an_independent_computation(
    campaign, answered
):
    s = summarize(campaign).question("sat")
    given = [a["sat"] for a in answered if "sat" in a]
    points = [v for v in given if v != "na"]
    assert s.n == len(points) and s.details["not_applicable"] == given.count("na")
    assert [d["count"] for d in s.details["distribution"]] == [points.count(p) for p in range(1, 6)]
    assert s.details["distribution"][0]["label"] == {"en": "Poor", "zh_CN": "差"}
    assert s.details["mean"] == pytest.approx(statistics.mean(points))
    assert s.details["sd"] == pytest.approx(statistics.stdev(points))
    low, high = t_interval(points)
    assert (s.details["ci_low"], s.details["ci_high"]) == (pytest.approx(low), pytest.approx(high))
    assert s.details["pomp"]["mean"] == pytest.approx((statistics.mean(points) - 1) / 4 * 100)
    assert s.details["pomp"]["ci_low"] == pytest.approx((low - 1) / 4 * 100)


def test_each_matrix_item_has_its_own_distribution_and_interval(campaign, answered):
    s = summarize(campaign).question("grid")
    assert s.n == sum(1 for a in answered if "grid" in a)
    for item in s.details["items"]:
        points = [a["grid"][item["key"]] for a in answered if item["key"] in a.get("grid", {})]
        assert item["n"] == len(points)
        assert [d["count"] for d in item["distribution"]] == [points.count(p) for p in range(1, 5)]
        assert item["mean"] == pytest.approx(np.mean(points))
        assert item["sd"] == pytest.approx(np.std(points, ddof=1))
        assert item["ci_high"] == pytest.approx(t_interval(points)[1])
    assert [i["reverse"] for i in s.details["items"]] == [False, True]


def test_nps_csat_and_ces_are_the_scoring_librarys(campaign, answered):
    summary = summarize(campaign)
    nps = scoring.nps([a["nps"] for a in answered])
    got = summary.question("nps").details["nps"]
    assert (got["value"], got["ci_low"], got["ci_high"]) == (nps.value, nps.ci_low, nps.ci_high)
    assert (got["promoters"], got["passives"], got["detractors"], got["n"]) == (
        nps.promoters, nps.passives, nps.detractors, nps.n)
    csat = scoring.csat([a["csat"] for a in answered], scale_max=5)
    got = summary.question("csat").details["csat"]
    assert (got["value"], got["ci_low"], got["ci_high"], got["satisfied"]) == (
        csat.value, csat.ci_low, csat.ci_high, csat.satisfied)
    ces = scoring.ces([a["ces"] for a in answered if "ces" in a], scale_max=7)
    got = summary.question("ces").details["ces"]
    assert got["value"] == pytest.approx(ces.value) and got["n"] == ces.n
    assert got["ci_low"] == pytest.approx(ces.ci_low) and got["agree"] == ces.agree
    assert got["percent_agree"]["value"] == pytest.approx(ces.percent_agree.value)


def test_choices_count_answers_and_percent_of_respondents(campaign, answered):
    summary = summarize(campaign)
    channel = summary.question("channel")
    counts = Counter(a["channel"] for a in answered)
    assert {o["value"]: o["count"] for o in channel.details["options"]} == {
        v: counts.get(v, 0) for v in ("phone", "email", "chat", "odd")}
    assert channel.n == 60
    assert channel.details["options"][0]["share"] == pytest.approx(counts["phone"] / 60)
    many = summary.question("many")
    chose = [a["many"] for a in answered if "many" in a]
    assert many.n == len(chose)
    for option in many.details["options"]:
        picked = sum(option["value"] in c for c in chose)
        assert option["count"] == picked
        assert option["share"] == pytest.approx(picked / len(chose))
    # Several answers per respondent: the shares add up to more than 100 %.
    assert sum(o["share"] for o in many.details["options"]) > 1


def test_ranking_gives_mean_rank_and_share_ranked_first(campaign, answered):
    s = summarize(campaign).question("order")
    rankings = [a["order"] for a in answered if "order" in a]
    assert s.n == len(rankings)
    by_value = {o["value"]: o for o in s.details["options"]}
    for value in ("phone", "email", "chat"):
        ranks = [r.index(value) + 1 for r in rankings]
        assert by_value[value]["mean_rank"] == pytest.approx(statistics.mean(ranks))
        first = sum(r[0] == value for r in rankings)
        assert by_value[value]["first"] == first
        assert by_value[value]["first_share"] == pytest.approx(first / len(rankings))
    means = [o["mean_rank"] for o in s.details["options"]]
    assert means == sorted(means)  # best first


def test_numbers_and_dates_are_summarised(campaign, answered):
    summary = summarize(campaign)
    numbers = [a["count"] for a in answered if "count" in a]
    d = summary.question("count").details
    assert d["n"] == len(numbers)
    assert d["mean"] == pytest.approx(statistics.mean(numbers))
    assert d["median"] == pytest.approx(statistics.median(numbers))
    assert d["sd"] == pytest.approx(statistics.stdev(numbers))
    assert (d["min"], d["max"]) == (min(numbers), max(numbers))
    assert d["ci_low"] == pytest.approx(t_interval(numbers)[0])
    assert sum(b["count"] for b in d["histogram"]) == len(numbers)
    days = [a["when"] for a in answered if "when" in a]
    d = summary.question("when").details
    assert (d["n"], d["earliest"], d["latest"]) == (len(days), min(days), max(days))
    assert sum(m["count"] for m in d["by_month"]) == len(days)


def test_free_text_gives_word_counts_and_answers_without_attribution(campaign, answered):
    s = summarize(campaign).question("comment")
    comments = [a["comment"] for a in answered if "comment" in a]
    assert s.n == len(comments)
    words = {w["word"]: w["count"] for w in s.details["words"]}
    # 速度 is mentioned by the two Chinese answers that praise the response speed.
    assert words["速度"] == sum("速度" in c for c in comments)
    assert words["response"] == sum("response" in c.lower() for c in comments)
    assert "the" not in words and "很" not in words and "was" not in words
    assert len(s.details["answers"]) == results.TEXT_SHOWN and s.details["more_answers"]
    assert set(s.details["answers"]) <= set(COMMENTS)
    assert summarize(campaign).question("short").n == 0


def test_chinese_answers_are_segmented_into_words():
    from surveys.textwords import word_counts, words_of

    assert {"服务", "响应", "速度"} <= set(words_of("服务很好，响应速度快"))
    assert "很" not in words_of("服务很好") and "，" not in words_of("服务很好，")
    assert words_of("Great SERVICE, great people!") == ["great", "service", "people"]
    # An answer that repeats a word counts once for it.
    assert word_counts(["速度 速度 速度", "速度快", "价格贵"])[0] == ("速度", 2)


def test_soft_deleted_and_unfinished_responses_never_count(campaign, answered):
    before = summarize(campaign).to_dict()
    respond(campaign, {"nps": 0, "channel": "chat", "comment": "deleted complaint"},
            deleted=True)
    respond(campaign, {"nps": 0, "channel": "chat"}, status="in_progress")
    results.clear_caches()
    after = summarize(campaign)
    assert after.to_dict() == before
    assert after.responses == 60


def test_the_summary_updates_when_a_response_is_deleted_or_restored(campaign, answered):
    assert summarize(campaign).question("nps").n == 60
    response = db.session.query(Response).filter_by(campaign_id=campaign.id).first()
    response.deleted_at = utcnow()
    db.session.flush()
    assert summarize(campaign).question("nps").n == 59
    response.deleted_at = None
    db.session.flush()
    assert summarize(campaign).question("nps").n == 60


def test_summary_is_json_able_with_n_on_every_question(campaign, answered):
    import json

    data = summarize(campaign).to_dict()
    json.dumps(data, allow_nan=False)
    assert data["responses"] == 60 and data["few_responses"] is False
    assert all("n" in q and "few_responses" in q for q in data["questions"])
    assert data["questions"][0]["text"] == {"en": "Satisfied?", "zh_CN": "满意吗？"}


def test_few_responses_are_marked_and_nothing_breaks_without_answers(campaign):
    empty = summarize(campaign)
    assert empty.responses == 0 and all(q.n == 0 for q in empty.questions)
    respond(campaign, {"sat": 4, "nps": 10, "csat": 5, "ces": 7, "channel": "phone"})
    one = summarize(campaign)
    sat = one.question("sat")
    assert sat.few and sat.details["mean"] == 4 and math.isnan(sat.details["ci_low"])
    assert one.question("nps").details["nps"]["value"] == 100
    assert one.to_dict()["questions"][0]["sd"] is None  # NaN becomes null in JSON


def test_an_interval_is_clipped_to_the_scale(campaign):
    respond(campaign, {"sat": 5})
    respond(campaign, {"sat": 4})
    d = summarize(campaign).question("sat").details
    assert d["ci_high"] == 5 and d["ci_low"] >= 1
    assert d["pomp"]["ci_high"] == 100


def test_answers_of_an_older_version_count_when_the_question_is_the_same(factory):
    admin = factory.admin()
    questionnaire = factory.questionnaire(all_types_document(), actor=admin)
    campaign = factory.campaign(questionnaire, actor=admin)
    v1 = campaign.version
    respond(campaign, {"channel": "phone", "nps": 9, "sat": 2, "short": "old only"}, version=v1)
    doc = all_types_document()
    questions = doc["pages"][1]["questions"]
    doc["pages"][1]["questions"] = [q for q in questions if q["key"] != "short"]
    doc["pages"][0]["questions"][0]["scale"]["points"] = 7  # "sat" now asked on 1–7
    services.save_draft(admin, questionnaire, doc)
    v2 = services.publish(admin, questionnaire)
    campaign.version_id = v2.id
    db.session.flush()
    db.session.refresh(campaign)
    respond(campaign, {"channel": "phone", "nps": 10, "sat": 6}, version=v2)
    summary = summarize(campaign)
    assert summary.versions == [1, 2]
    assert summary.question("channel").details["options"][0]["count"] == 2
    assert summary.question("nps").details["nps"]["n"] == 2
    sat = summary.question("sat")
    assert sat.n == 1 and sat.excluded_versions == [1]  # a 1–5 answer is not a 1–7 one
    short = summary.question("short")
    assert short.n == 1 and short.in_current_version is False
    assert [q.key for q in summary.questions][-1] == "short"


# --------------------------------------------------------------------- filters


@pytest.fixture
def regions(campaign):
    """East 8, North 6, West 2 completed responses (minimum group size 5)."""
    campaign.hidden_fields = ["region"]
    campaign.min_group_size = 5
    db.session.flush()
    for region, count, nps in (("East", 8, 10), ("North", 6, 5), ("West", 2, 0)):
        for _ in range(count):
            respond(campaign, {"nps": nps, "channel": "phone"}, fields={"region": region})
    return campaign


def test_a_filter_that_would_single_out_a_few_respondents_is_refused(regions):
    with pytest.raises(FilterRefused) as refused:
        summarize(regions, ResultFilters({"region": "West"}))
    assert "fewer than 5 responses match" in str(refused.value.message).lower()
    assert "singled out" in str(refused.value.message)


def test_a_filter_whose_complement_is_small_is_refused(campaign):
    campaign.hidden_fields = ["region"]
    campaign.min_group_size = 5
    for region, count in (("East", 12), ("West", 3)):
        for _ in range(count):
            respond(campaign, {"nps": 9}, fields={"region": region})
    # East alone is large enough, but the unfiltered results minus East's would be
    # West's three respondents.
    with pytest.raises(FilterRefused) as refused:
        summarize(campaign, ResultFilters({"region": "East"}))
    assert "All but fewer than 5 responses match" in str(refused.value.message)
    with pytest.raises(FilterRefused):
        summarize(campaign, ResultFilters({"region": "West"}))
    assert results.filter_choices(campaign) == {"region": []}


def test_a_valid_filter_narrows_the_counts(regions):
    east = summarize(regions, ResultFilters({"region": "East"}))
    assert east.responses == 8 and east.total_responses == 16
    nps = east.question("nps").details["nps"]
    assert (nps["n"], nps["value"]) == (8, 100)
    assert summarize(regions).question("nps").details["nps"]["n"] == 16


def test_a_filter_matching_nobody_shows_empty_results(regions):
    nobody = summarize(regions, ResultFilters({"region": "Atlantis"}))
    assert nobody.responses == 0 and nobody.question("nps").n == 0


def test_only_declared_fields_can_be_filtered_on(regions):
    with pytest.raises(ServiceError) as error:
        summarize(regions, ResultFilters({"salary": "high"}))
    assert not isinstance(error.value, FilterRefused)


def test_the_filter_form_offers_only_values_large_enough_to_show(regions):
    assert results.filter_choices(regions) == {"region": ["East", "North"]}


def test_date_filters_use_the_viewers_time_zone(campaign):
    campaign.min_group_size = 5
    late_evening_utc = datetime(2024, 3, 1, 23, 30, tzinfo=UTC)  # 2 March in Shanghai
    for when in (datetime(2024, 3, 1, 12, tzinfo=UTC), late_evening_utc,
                 datetime(2024, 3, 3, 12, tzinfo=UTC)):
        for _ in range(5):
            respond(campaign, {"nps": 8}, submitted_at=when)
    march_2 = {"date_from": date(2024, 3, 2), "date_to": date(2024, 3, 2)}
    assert summarize(campaign, ResultFilters(**march_2, tz="Asia/Shanghai")).responses == 5
    assert summarize(campaign, ResultFilters(**march_2, tz="UTC")).responses == 0
    march_1 = {"date_from": date(2024, 3, 1), "date_to": date(2024, 3, 1)}
    assert summarize(campaign, ResultFilters(**march_1, tz="UTC")).responses == 10
    # In New York 23:30 UTC is still the evening of 1 March.
    until_march_1 = ResultFilters(date_to=date(2024, 3, 1), tz="America/New_York")
    assert summarize(campaign, until_march_1).responses == 10
    with pytest.raises(ServiceError):
        summarize(campaign, ResultFilters(**march_1, tz="Mars/Olympus_Mons"))


def test_filters_are_read_from_the_query_string():
    filters = ResultFilters.from_query(
        {"f.region": " East ", "f.store": "", "from": "2024-03-01", "to": "2024-03-31"}
    )
    assert filters.field_filters == {"region": "East"}
    assert (filters.date_from, filters.date_to) == (date(2024, 3, 1), date(2024, 3, 31))
    with pytest.raises(ServiceError):
        ResultFilters.from_query({"from": "2024-03-31", "to": "2024-03-01"})
    with pytest.raises(ServiceError):
        ResultFilters.from_query({"from": "1 March"})


# --------------------------------------------------------------------- pages


def test_results_page_shows_each_question_with_chart_table_and_n(campaign, answered, login_as,
                                                                factory):
    client = login_as(factory.admin())
    page = client.get(f"/campaigns/{campaign.id}/results")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    text = visible_text(html)
    assert "Satisfied?" in text and "Net Promoter Score" in text
    assert "60 completed responses" in text
    assert html.count('<svg xmlns="http://www.w3.org/2000/svg"') >= 12
    assert '<th scope="row">' in html and "<caption>" in html
    assert "n = 60" in text
    # The hostile option label is shown as text, never as markup.
    assert HOSTILE not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<svg onload" not in html.replace("&lt;svg onload", "")


def test_results_page_shows_chinese_question_text_to_a_chinese_reader(campaign, answered,
                                                                     login_as, factory):
    client = login_as(factory.admin(locale="zh_CN"))
    html = client.get(f"/campaigns/{campaign.id}/results").get_data(as_text=True)
    assert "满意吗？" in html and "Satisfied?" not in html


def test_a_refused_filter_shows_the_reason_and_no_numbers(regions, login_as, factory):
    client = login_as(factory.admin())
    page = client.get(f"/campaigns/{regions.id}/results?f.region=West")
    text = visible_text(page)
    assert page.status_code == 200
    assert "Fewer than 5 responses match" in text
    assert "<svg" not in page.get_data(as_text=True) and "n = " not in text


def test_a_valid_filter_on_the_page_narrows_the_figures(regions, login_as, factory):
    client = login_as(factory.admin())
    text = visible_text(client.get(f"/campaigns/{regions.id}/results?f.region=East"))
    assert "8 completed responses match the filter (of 16)" in text


def test_all_answers_of_a_text_question_are_one_click_away(campaign, answered, login_as,
                                                          factory):
    client = login_as(factory.admin())
    html = client.get(f"/campaigns/{campaign.id}/results").get_data(as_text=True)
    link = f"/campaigns/{campaign.id}/results/questions/comment/answers"
    assert link in html
    page = client.get(link)
    text = visible_text(page)
    count = sum(1 for a in answered if "comment" in a)
    assert f"{count} answers" in text and COMMENTS[0] in text
    assert client.get(f"/campaigns/{campaign.id}/results/questions/nps/answers").status_code == 404


def test_results_pages_are_for_admins_only(campaign, login_as, factory, client, auth):
    assert client.get(f"/campaigns/{campaign.id}/results").status_code == 302  # to login
    login_as(factory.manager())
    assert client.get(f"/campaigns/{campaign.id}/results").status_code == 403
    answers = f"/campaigns/{campaign.id}/results/questions/comment/answers"
    assert client.get(answers).status_code == 403
    auth.logout()
    login_as(factory.admin())
    assert client.get("/campaigns/999999/results").status_code == 404
    assert client.get("/campaigns/999999/results/questions/comment/answers").status_code == 404


def test_every_chart_on_the_page_is_well_formed_svg(campaign, answered, login_as, factory):
    import re

    client = login_as(factory.admin())
    html = client.get(f"/campaigns/{campaign.id}/results").get_data(as_text=True)
    svgs = re.findall(r"<svg .*?</svg>", html, flags=re.S)
    assert svgs
    for svg in svgs:
        root = ElementTree.fromstring(svg)  # noqa: S314 - our own output
        assert root.get("role") == "img"
        assert root.find("{http://www.w3.org/2000/svg}title") is not None


def test_the_filter_form_lists_the_values_that_may_be_picked(regions, login_as, factory):
    from tests.web.page import forms

    client = login_as(factory.admin())
    page = client.get(f"/campaigns/{regions.id}/results")
    form = next(f for f in forms(page) if "f.region" in f.selects)
    assert form.method == "get"
    assert form.selects["f.region"] == ["", "East", "North"]  # West has too few
    assert {"from", "to"} <= set(form.values)
    bad = visible_text(client.get(f"/campaigns/{regions.id}/results?from=2024-05-01&to=2024-04-01"))
    assert "The end date is before the start date." in bad and "n = " not in bad
