"""Scorecards and evaluations: KPI scoring against target and floor, weights, survey and
SLA sources, re-weighting, grades, manual scores, adjustments, finalising, revisions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from core.exceptions import ConflictError, PermissionDenied, ServiceError
from core.extensions import db
from evaluations import scorecards, sla
from evaluations.models import Evaluation, ScorecardKpi
from surveys import services

Q3 = "2026-Q3"
IN_Q3 = datetime(2026, 8, 15, 10, tzinfo=UTC)
IN_Q4 = datetime(2026, 10, 15, 10, tzinfo=UTC)


def survey_document() -> dict:
    return {
        "format": "orbit.questionnaire/1",
        "key": "vendor-check",
        "title": {"en": "Vendor check", "zh_CN": "供应商评价"},
        "default_locale": "en",
        "dimensions": [{"key": "comms", "name": {"en": "Communication", "zh_CN": "沟通"}}],
        "pages": [{
            "key": "all",
            "title": {"en": "All", "zh_CN": "全部"},
            "questions": [
                {"key": "csat", "type": "csat", "text": {"en": "Satisfied?", "zh_CN": "满意吗？"}},
                {"key": "nps", "type": "nps", "text": {"en": "Recommend?", "zh_CN": "推荐吗？"}},
                {"key": "clear", "type": "likert", "dimension": "comms",
                 "scale": {"points": 5}, "text": {"en": "Clear?", "zh_CN": "清楚吗？"}},
            ],
        }],
    }


@pytest.fixture
def admin(factory):
    return factory.admin()


@pytest.fixture
def vendor(factory):
    return factory.vendor(name="Acme Outsourcing")


@pytest.fixture
def campaign(factory, admin, vendor):
    questionnaire = factory.questionnaire(survey_document(), actor=admin)
    return factory.campaign(questionnaire, actor=admin, name="Acme customers", subject=vendor)


def respond(campaign, answers: dict, when: datetime = IN_Q3):
    response, _token = services.submit_new_response(campaign, "all", answers, locale="en")
    response.submitted_at = when
    db.session.flush()
    return response


def kpi(name, weight, **fields):
    return {"family": "quality", "name": name, "weight": weight, "direction": "higher",
            "target": 90, "floor": 60, "source_kind": "manual", **fields}


def csat_kpi(weight=50, **fields):
    return kpi("CSAT", weight, family="customer_satisfaction", source_kind="survey",
               survey_measure="csat", **fields)


def template_with(admin, kpis, **fields):
    return scorecards.create_template(admin, name=fields.pop("name", "Vendors"), kpis=kpis,
                                      **fields)


def line(evaluation, name):
    return next(k for k in evaluation.kpis if k.name == name)


# ----------------------------------------------------------------- KPI scoring


@pytest.mark.parametrize(("value", "expected"), [
    (95, 100.0),   # above target
    (90, 100.0),   # at target
    (75, 50.0),    # between floor and target
    (60, 0.0),     # at floor
    (40, 0.0),     # below floor
])
def test_higher_is_better_kpi_scores_against_target_and_floor(admin, vendor, value, expected):
    metric = sla.create_metric(admin, vendor, name="Resolution", unit="%", direction="higher",
                               target=90, aggregation="mean")
    sla.record_measurements(admin, metric, [sla.MeasurementInput(1, IN_Q3, value)],
                            source="manual")
    template = template_with(admin, [kpi("Resolution", 100, source_kind="sla",
                                         sla_metric_name="resolution")])

    evaluation = scorecards.compute(admin, template, vendor, Q3)

    row = line(evaluation, "Resolution")
    assert (row.raw_value, row.n, row.score) == (value, 1, expected)
    assert evaluation.composite == expected


@pytest.mark.parametrize(("value", "expected"), [
    (12, 100.0),   # better than target
    (24, 100.0),   # at target
    (36, 50.0),    # halfway
    (48, 0.0),     # at floor
    (72, 0.0),     # worse than floor
])
def test_lower_is_better_kpi_scores_against_target_and_floor(admin, vendor, value, expected):
    metric = sla.create_metric(admin, vendor, name="First response", unit="h",
                               direction="lower", target=24, aggregation="mean")
    sla.record_measurements(admin, metric, [sla.MeasurementInput(1, IN_Q3, value)],
                            source="manual")
    template = template_with(admin, [kpi("First response", 100, source_kind="sla",
                                         sla_metric_name="First response", direction="lower",
                                         target=24, floor=48)])

    evaluation = scorecards.compute(admin, template, vendor, Q3)

    assert line(evaluation, "First response").score == expected


@pytest.mark.parametrize(("direction", "target", "floor"), [
    ("higher", 90, 90), ("higher", 90, 95), ("lower", 24, 24), ("lower", 24, 12)])
def test_a_floor_on_the_wrong_side_of_the_target_is_refused(admin, direction, target, floor):
    with pytest.raises(ServiceError) as caught:
        template_with(admin, [kpi("Speed", 100, source_kind="sla", sla_metric_name="Speed",
                                  direction=direction, target=target, floor=floor)])
    assert "floor" in str(caught.value.errors["1"][0])


# ----------------------------------------------------------------- weights


def test_weights_not_totalling_100_are_refused_with_the_sum(admin):
    template = template_with(admin, [kpi("A", 60), kpi("B", 40)])

    with pytest.raises(ServiceError, match="add up to 90 %") as caught:
        scorecards.save_kpis(admin, template, [kpi("A", 50), kpi("B", 40)])
    assert caught.value.field == "weight"
    with pytest.raises(ServiceError, match="add up to 110 %"):
        template_with(admin, [kpi("A", 70), kpi("B", 40)], name="Other")

    db.session.expire_all()
    assert [(k.name, k.weight) for k in template.kpis] == [("A", 60), ("B", 40)]


def test_decimal_weights_that_total_100_are_accepted(admin):
    template = template_with(admin, [kpi("A", 33.3), kpi("B", 33.3), kpi("C", 33.4)])
    assert len(template.kpis) == 3


def test_only_admins_change_scorecards(factory, admin):
    with pytest.raises(PermissionDenied):
        scorecards.create_template(factory.manager(), name="Mine", kpis=[kpi("A", 100)])


def test_the_default_template_has_the_six_families_and_totals_100(admin):
    template = scorecards.create_default_template(admin)

    assert {k.family for k in template.kpis} == {
        "delivery_time", "quality", "cost_effectiveness", "communication", "innovation",
        "customer_satisfaction"}
    assert sum(k.weight for k in template.kpis) == 100
    assert template.min_responses == 30
    assert [b["code"] for b in template.grade_bands] == ["excellent", "good", "pass", "fail"]


# ----------------------------------------------------------------- survey source


def test_a_survey_response_arriving_for_the_period_changes_the_satisfaction_kpi(
        admin, vendor, campaign):
    template = template_with(admin, [csat_kpi(100, target=90, floor=50)])
    for value in (5, 5, 4, 2):  # 3 of 4 satisfied: CSAT 75 %
        respond(campaign, {"csat": value})
    respond(campaign, {"csat": 1}, when=IN_Q4)  # another quarter: not counted

    first = scorecards.compute(admin, template, vendor, Q3)
    row = line(first, "CSAT")
    assert (row.raw_value, row.n, row.score) == (75.0, 4, 62.5)
    assert row.ci_low < 75 < row.ci_high

    respond(campaign, {"csat": 5})  # 4 of 5: 80 %
    again = scorecards.compute(admin, template, vendor, Q3)

    assert again.id == first.id and again.revision == 1  # a draft is recomputed in place
    row = line(again, "CSAT")
    assert (row.raw_value, row.n, row.score) == (80.0, 5, 75.0)


def test_deleted_responses_and_other_subjects_do_not_count(factory, admin, vendor, campaign):
    template = template_with(admin, [csat_kpi(100)])
    respond(campaign, {"csat": 5})
    respond(campaign, {"csat": 1}).deleted_at = IN_Q3
    other = factory.campaign(campaign.version.questionnaire, actor=admin, name="Other",
                             subject=factory.vendor(name="Other vendor"))
    respond(other, {"csat": 1})

    row = line(scorecards.compute(admin, template, vendor, Q3), "CSAT")

    assert (row.raw_value, row.n) == (100.0, 1)


def test_fewer_responses_than_the_minimum_are_flagged(admin, vendor, campaign):
    template = template_with(admin, [csat_kpi(100)], min_responses=3)
    respond(campaign, {"csat": 5})
    respond(campaign, {"csat": 4})
    assert line(scorecards.compute(admin, template, vendor, Q3), "CSAT").too_few_responses

    respond(campaign, {"csat": 4})
    assert not line(scorecards.compute(admin, template, vendor, Q3), "CSAT").too_few_responses


def test_nps_and_dimension_scores(admin, vendor, campaign):
    template = template_with(admin, [
        kpi("NPS", 50, source_kind="survey", survey_measure="nps", target=50, floor=0),
        kpi("Comms", 50, family="communication", source_kind="survey",
            survey_measure="dimension", dimension_key="comms", target=100, floor=0),
    ])
    respond(campaign, {"nps": 10, "clear": 5})  # promoter; POMP 100
    respond(campaign, {"nps": 9, "clear": 3})  # promoter; POMP 50
    respond(campaign, {"nps": 3, "clear": 1})  # detractor; POMP 0

    evaluation = scorecards.compute(admin, template, vendor, Q3)

    nps, comms = line(evaluation, "NPS"), line(evaluation, "Comms")
    assert nps.raw_value == pytest.approx(100 / 3) and nps.n == 3
    assert nps.score == pytest.approx(200 / 3)
    assert (comms.raw_value, comms.n, comms.score) == (50.0, 3, 50.0)


def test_a_period_without_survey_data_reweights_and_flags(admin, vendor, campaign):
    metric = sla.create_metric(admin, vendor, name="Availability", unit="%",
                               direction="higher", target=99.9, aggregation="mean")
    sla.record_measurements(admin, metric, [sla.MeasurementInput(1, IN_Q3, 99.95)],
                            source="manual")
    template = template_with(admin, [
        kpi("Availability", 60, source_kind="sla", sla_metric_name="Availability",
            target=99.9, floor=99),
        csat_kpi(40),
    ])
    respond(campaign, {"csat": 1}, when=IN_Q4)  # only next quarter

    evaluation = scorecards.compute(admin, template, vendor, Q3)

    csat = line(evaluation, "CSAT")
    assert csat.no_data and csat.score is None and csat.weight_used == 0
    assert "No survey answers" in csat.note
    assert line(evaluation, "Availability").weight_used == pytest.approx(100)
    assert evaluation.reweighted and evaluation.coverage == pytest.approx(0.6)
    assert evaluation.composite == 100.0 and evaluation.grade == "excellent"


def test_a_missing_sla_metric_is_no_data_and_says_why(admin, vendor):
    template = template_with(admin, [
        kpi("Uptime", 50, source_kind="sla", sla_metric_name="Uptime"), kpi("Cost", 50)])
    evaluation = scorecards.compute(admin, template, vendor, Q3)

    assert line(evaluation, "Uptime").no_data
    assert "no SLA metric named “Uptime”" in line(evaluation, "Uptime").note
    assert evaluation.composite is None and evaluation.grade is None
    with pytest.raises(ConflictError, match="nothing to finalise"):
        scorecards.finalise(admin, evaluation)


# ----------------------------------------------------------------- grades


@pytest.mark.parametrize(("score", "grade"), [
    (100, "excellent"), (90, "excellent"), (89.9, "good"), (80, "good"), (79.9, "pass"),
    (60, "pass"), (59.9, "fail"), (0, "fail")])
def test_default_grade_bands(admin, vendor, score, grade):
    template = template_with(admin, [kpi("Cost", 100)])
    evaluation = scorecards.compute(admin, template, vendor, Q3)
    scorecards.set_manual_score(admin, evaluation, evaluation.kpis[0], score, "Reviewed")

    assert evaluation.composite == pytest.approx(score)
    assert evaluation.grade == grade


def test_configured_grade_bands(admin, vendor):
    bands = [{"code": "a", "label_en": "A", "label_zh": "甲", "min_score": 70},
             {"code": "b", "label_en": "B", "label_zh": "乙", "min_score": None}]
    template = template_with(admin, [kpi("Cost", 100)], grade_bands=bands)
    evaluation = scorecards.compute(admin, template, vendor, Q3)
    scorecards.set_manual_score(admin, evaluation, evaluation.kpis[0], 75, "Fine")

    assert evaluation.grade == "a"
    assert scorecards.grade_label(scorecards.band_of(evaluation), "zh_CN") == "甲"
    with pytest.raises(ServiceError, match="below the one of the grade above"):
        scorecards.update_template(admin, template, grade_bands=[
            {"code": "a", "label_en": "A", "label_zh": "甲", "min_score": 70},
            {"code": "b", "label_en": "B", "label_zh": "乙", "min_score": 80},
            {"code": "c", "label_en": "C", "label_zh": "丙"}])


# ----------------------------------------------------------------- manual, adjustments


def test_manual_scores_need_a_comment_and_adjustments_a_reason(admin, vendor):
    template = template_with(admin, [kpi("Cost", 50), kpi("Innovation", 50)])
    evaluation = scorecards.compute(admin, template, vendor, Q3)
    cost = line(evaluation, "Cost")

    with pytest.raises(ServiceError) as caught:
        scorecards.set_manual_score(admin, evaluation, cost, 80, " ")
    assert caught.value.field == "comment"
    scorecards.set_manual_score(admin, evaluation, cost, 80, "Invoices on budget")
    assert (cost.score, cost.reviewer_id, evaluation.composite) == (80.0, admin.id, 80.0)
    assert evaluation.reweighted  # innovation has no score yet

    with pytest.raises(ServiceError) as caught:
        scorecards.add_adjustment(admin, evaluation, 5, "")
    assert caught.value.field == "reason"
    scorecards.add_adjustment(admin, evaluation, -15, "Security incident in August")
    assert (evaluation.base_composite, evaluation.composite, evaluation.grade) == (
        80.0, 65.0, "pass")
    scorecards.add_adjustment(admin, evaluation, 50, "Capped at 100")
    assert evaluation.composite == 100.0


# ----------------------------------------------------------------- finalising, revisions


def test_finalised_evaluations_are_immutable_and_recomputing_makes_revision_2(
        admin, vendor, campaign):
    template = template_with(admin, [csat_kpi(50), kpi("Cost", 50)])
    respond(campaign, {"csat": 5})
    first = scorecards.compute(admin, template, vendor, Q3)
    scorecards.set_manual_score(admin, first, line(first, "Cost"), 70, "Slightly over budget")
    scorecards.add_adjustment(admin, first, 2, "Helped during the outage")
    scorecards.finalise(admin, first)
    final_composite = first.composite

    with pytest.raises(ConflictError, match="final"):
        scorecards.set_manual_score(admin, first, line(first, "Cost"), 100, "Changed")
    with pytest.raises(ConflictError):
        scorecards.add_adjustment(admin, first, 5, "More")
    with pytest.raises(ConflictError):
        scorecards.remove_adjustment(admin, first, first.adjustments[0].id)
    with pytest.raises(ConflictError):
        scorecards.finalise(admin, first)

    respond(campaign, {"csat": 1})  # a late response: CSAT falls from 100 to 50
    second = scorecards.compute(admin, template, vendor, Q3)

    assert second.id != first.id and second.revision == 2 and second.status == "draft"
    assert line(second, "Cost").manual_score == 70  # carried over
    assert [a.reason for a in second.adjustments] == ["Helped during the outage"]
    assert line(second, "CSAT").raw_value == 50.0
    db.session.expire_all()
    first = db.session.get(Evaluation, first.id)
    assert (first.status, first.composite, line(first, "CSAT").raw_value) == (
        "final", final_composite, 100.0)
    assert [e.revision for e in scorecards.revisions(admin, template, vendor, Q3)] == [2, 1]


def test_final_evaluations_keep_the_kpi_settings_they_were_computed_with(admin, vendor):
    template = template_with(admin, [kpi("Cost", 100)])
    evaluation = scorecards.compute(admin, template, vendor, Q3)
    scorecards.set_manual_score(admin, evaluation, evaluation.kpis[0], 90, "Good")
    scorecards.finalise(admin, evaluation)
    old_kpi_id = evaluation.kpis[0].kpi_id

    scorecards.save_kpis(admin, template, [kpi("Price", 100)])

    retired = db.session.get(ScorecardKpi, old_kpi_id)
    assert retired.retired_at is not None  # kept for history, gone from the template
    db.session.expire_all()
    assert [k.name for k in db.session.get(Evaluation, evaluation.id).kpis] == ["Cost"]
    assert [k.name for k in template.kpis] == ["Price"]
    with pytest.raises(ConflictError, match="has evaluations"):
        scorecards.delete_template(admin, template)


def test_managers_read_vendor_evaluations_members_none(factory, admin, vendor):
    template = template_with(admin, [kpi("Cost", 100)])
    evaluation = scorecards.compute(admin, template, vendor, Q3)
    manager, member = factory.manager(), factory.user()

    assert scorecards.get_evaluation(manager, evaluation.id) is evaluation
    assert db.session.scalars(scorecards.visible_evaluations(member)).all() == []
    assert db.session.scalars(select(Evaluation)).all() == [evaluation]


def test_recomputing_a_draft_keeps_its_manual_scores_and_adjustments(admin, vendor):
    template = template_with(admin, [kpi("Cost", 100)])
    evaluation = scorecards.compute(admin, template, vendor, Q3)
    scorecards.set_manual_score(admin, evaluation, evaluation.kpis[0], 70, "Over budget")
    scorecards.add_adjustment(admin, evaluation, 5, "Good cooperation")

    again = scorecards.compute(admin, template, vendor, Q3)

    assert again.id == evaluation.id and again.revision == 1
    assert (again.kpis[0].manual_score, again.kpis[0].manual_comment) == (70, "Over budget")
    assert (again.base_composite, again.composite) == (70.0, 75.0)
