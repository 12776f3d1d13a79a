"""Scorecard and evaluation pages: templates and their KPI form (weights, row errors),
computing an evaluation, the breakdown with composite and grade, manual scores and
adjustments (comment / reason required), finalising and revisions, access per role,
escaping."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from core.extensions import db
from evaluations import scorecards, sla
from evaluations.models import Evaluation, EvaluationAdjustment, ScorecardTemplate
from tests.web.apps import isolated_requests
from tests.web.page import field_error, flashes, forms, visible_text

Q3 = "2026-Q3"
IN_Q3 = datetime(2026, 8, 15, 10, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _isolated_requests(app):
    with isolated_requests(app):
        yield


def kpi_form(page):
    return next(f for f in forms(page) if f.action and f.action.endswith("/kpis"))


def form_to(page, suffix):
    return next(f for f in forms(page) if f.action and f.action.endswith(suffix))


def with_resolution_rate(admin, vendor, values):
    metric = sla.create_metric(admin, vendor, name="Resolution rate", unit="%",
                               direction="higher", target=95, aggregation="mean",
                               period="monthly")
    sla.record_measurements(admin, metric, [sla.MeasurementInput(i, IN_Q3, v)
                                            for i, v in enumerate(values)], source="manual")
    return metric


def simple_template(admin, **fields):
    return scorecards.create_template(admin, name=fields.pop("name", "Simple"), kpis=[
        {"family": "quality", "name": "Resolution rate", "weight": 60, "direction": "higher",
         "target": 95, "floor": 80, "source_kind": "sla", "sla_metric_name": "Resolution rate"},
        {"family": "innovation", "name": "Innovation", "weight": 40, "source_kind": "manual"},
    ], **fields)


def compute_page(admin, vendor, template):
    evaluation = scorecards.compute(admin, template, vendor, Q3)
    db.session.flush()
    return evaluation


# ----------------------------------------------------------------- templates


def test_admin_creates_the_standard_scorecard_computes_and_sees_composite_and_grade(
    admin, vendor, login_as
):
    with_resolution_rate(admin, vendor, [95, 95])
    client = login_as(admin)
    index = client.get("/evaluations/scorecards")
    assert index.status_code == 200 and "No scorecards yet." in visible_text(index)

    created = client.post("/evaluations/scorecards/standard", follow_redirects=True)
    assert created.status_code == 200
    template = db.session.scalar(select(ScorecardTemplate))
    text = visible_text(created)
    assert "Standard supplier scorecard" in text and "Weights entered: 100 %" in text
    names = [v for k, v in kpi_form(created).values.items() if k.endswith("-name")]
    assert names[:7] == [k.name for k in template.kpis] and len(names) == 10
    assert "Customer satisfaction (CSAT)" in names

    entity_page = client.get(f"/evaluations/vendor/{vendor.id}")
    compute = form_to(entity_page, "/compute")
    assert compute.values["period"]  # the current quarter is offered
    result = client.post(f"/evaluations/vendor/{vendor.id}/compute",
                         data={"template_id": template.id, "period": Q3})
    assert result.status_code == 302
    page = client.get(result.headers["Location"])
    text = visible_text(page)
    assert "2026-Q3" in text and "Draft" in text
    # Only the resolution rate has data (95 → 100 points); the rest is re-weighted.
    html = page.get_data(as_text=True)
    assert 'data-testid="composite"><strong>100</strong>' in html
    assert 'data-grade="excellent"' in html and "Excellent" in text
    assert "No data — re-weighted" in text
    assert "There is no SLA metric named" in text  # the reason is explained
    assert "20 % of the weight had data" in text

    # The SLA page links to the scorecard page.
    sla_page = client.get(f"/evaluations/sla/vendor/{vendor.id}").get_data(as_text=True)
    assert f'href="/evaluations/vendor/{vendor.id}"' in sla_page


def test_the_grade_is_shown_in_the_viewers_language(admin, vendor, login_as, client):
    with_resolution_rate(admin, vendor, [90])  # 90 → 66.7 → 合格 / Pass
    evaluation = compute_page(admin, vendor, simple_template(admin))
    admin.locale = "zh_CN"
    db.session.flush()
    login_as(admin)

    text = visible_text(client.get(f"/evaluations/e/{evaluation.id}"))

    assert "合格" in text and "Pass" not in text


def test_weights_not_totalling_100_are_refused_with_the_sum_and_nothing_saved(
    admin, login_as
):
    template = simple_template(admin)
    client = login_as(admin)
    page = client.get(f"/evaluations/scorecards/{template.id}")
    data = kpi_form(page).values
    data["kpis-1-weight"] = "30"  # 60 + 30 = 90

    response = client.post(f"/evaluations/scorecards/{template.id}/kpis", data=data)

    assert response.status_code == 422
    text = visible_text(response)
    assert "The weights add up to 90 %; they must add up to 100 %." in text
    assert "Weights entered: 90 %" in text
    db.session.expire_all()
    assert [k.weight for k in template.kpis] == [60, 40]


def test_row_errors_are_shown_on_their_row(admin, login_as):
    template = simple_template(admin)
    client = login_as(admin)
    data = kpi_form(client.get(f"/evaluations/scorecards/{template.id}")).values
    data.update({"kpis-0-floor": "99"})  # above the target while higher is better
    data.update({"kpis-2-name": "Innovation", "kpis-2-weight": "0",
                 "kpis-2-source_kind": "manual"})  # a second "Innovation"

    response = client.post(f"/evaluations/scorecards/{template.id}/kpis", data=data)

    assert response.status_code == 422
    html = response.get_data(as_text=True)
    row1 = html.split('id="kpi-row-1"', 1)[1].split("</tr>", 1)[0]
    assert "the floor (zero marks) must be below the target" in row1
    row3 = html.split('id="kpi-row-3"', 1)[1].split("</tr>", 1)[0]
    assert "is also in row 2" in row3
    assert "Row 1:" in visible_text(response) and "Nothing was saved" in visible_text(response)


def test_kpis_are_added_changed_and_removed_in_one_form(admin, login_as):
    template = simple_template(admin)
    client = login_as(admin)
    data = kpi_form(client.get(f"/evaluations/scorecards/{template.id}")).values
    data["kpis-1-remove"] = "y"  # remove the manual Innovation KPI
    data["kpis-0-weight"] = "70"
    data.update({"kpis-2-family": "customer_satisfaction", "kpis-2-name": "NPS",
                 "kpis-2-weight": "30", "kpis-2-direction": "higher", "kpis-2-target": "50",
                 "kpis-2-floor": "0", "kpis-2-source_kind": "survey",
                 "kpis-2-survey_measure": "nps"})

    response = client.post(f"/evaluations/scorecards/{template.id}/kpis", data=data,
                           follow_redirects=True)

    assert response.status_code == 200 and "The KPIs are saved." in flashes(response)
    db.session.expire_all()
    assert [(k.name, k.weight, k.source_kind) for k in template.kpis] == [
        ("Resolution rate", 70, "sla"), ("NPS", 30, "survey")]


def test_a_new_scorecard_needs_a_unique_name(admin, login_as):
    simple_template(admin)
    client = login_as(admin)

    response = client.post("/evaluations/scorecards",
                           data={"name": "simple", "min_responses": "30"})

    assert response.status_code == 422
    assert "There is already a scorecard named" in field_error(response, "name")
    ok = client.post("/evaluations/scorecards", data={"name": "Teams", "min_responses": "10"})
    assert ok.status_code == 302 and "/evaluations/scorecards/" in ok.headers["Location"]


# ----------------------------------------------------------------- evaluations


def test_compute_with_a_bad_period_shows_the_error(admin, vendor, login_as):
    template = simple_template(admin)
    client = login_as(admin)

    response = client.post(f"/evaluations/vendor/{vendor.id}/compute",
                           data={"template_id": template.id, "period": "Q3 2026"})

    assert response.status_code == 422
    assert "Give a period as 2026-10" in field_error(response, "period")
    assert db.session.scalar(select(func.count()).select_from(Evaluation)) == 0


def test_manual_score_requires_a_comment_and_then_counts(admin, vendor, login_as):
    with_resolution_rate(admin, vendor, [95])
    evaluation = compute_page(admin, vendor, simple_template(admin))
    line = next(k for k in evaluation.kpis if k.source_kind == "manual")
    client = login_as(admin)
    url = f"/evaluations/e/{evaluation.id}/kpis/{line.id}/score"

    refused = client.post(url, data={f"kpi{line.id}-score": "50",
                                     f"kpi{line.id}-comment": ""})
    assert refused.status_code == 422
    assert field_error(refused, f"kpi{line.id}-comment")
    db.session.expire_all()
    assert line.manual_score is None

    done = client.post(url, data={f"kpi{line.id}-score": "50",
                                  f"kpi{line.id}-comment": "Two ideas this quarter"},
                       follow_redirects=True)
    text = visible_text(done)
    assert "Two ideas this quarter" in text
    # 100 × 60 % + 50 × 40 % = 80 → 良好 Good
    assert 'data-testid="composite"><strong>80</strong>' in done.get_data(as_text=True)
    assert "Good" in text


def test_adjustment_requires_a_reason(admin, vendor, login_as):
    with_resolution_rate(admin, vendor, [95])
    evaluation = compute_page(admin, vendor, simple_template(admin))
    client = login_as(admin)

    refused = client.post(f"/evaluations/e/{evaluation.id}/adjustments",
                          data={"points": "-5", "reason": "  "})
    assert refused.status_code == 422 and field_error(refused, "reason")
    assert db.session.scalar(select(func.count()).select_from(EvaluationAdjustment)) == 0

    done = client.post(f"/evaluations/e/{evaluation.id}/adjustments",
                       data={"points": "-5", "reason": "Late invoice"}, follow_redirects=True)
    text = visible_text(done)
    assert "Late invoice" in text and "-5" in text
    assert 'data-testid="composite"><strong>95</strong>' in done.get_data(as_text=True)


def test_finalised_page_has_no_forms_and_changes_are_refused(admin, vendor, login_as):
    with_resolution_rate(admin, vendor, [95])
    evaluation = compute_page(admin, vendor, simple_template(admin))
    line = next(k for k in evaluation.kpis if k.source_kind == "manual")
    client = login_as(admin)

    unconfirmed = client.post(f"/evaluations/e/{evaluation.id}/finalise", data={})
    assert unconfirmed.status_code == 422
    db.session.expire_all()
    assert not evaluation.is_final

    final = client.post(f"/evaluations/e/{evaluation.id}/finalise", data={"confirm": "y"},
                        follow_redirects=True)
    assert "The evaluation is final." in flashes(final)
    actions = [f.action for f in forms(final) if f.action and "/evaluations/e/" in f.action]
    assert actions == [f"/evaluations/e/{evaluation.id}/recompute"]
    assert "Recompute (new revision)" in visible_text(final)

    for url, data in [
        (f"/evaluations/e/{evaluation.id}/adjustments", {"points": "5", "reason": "x"}),
        (f"/evaluations/e/{evaluation.id}/kpis/{line.id}/score",
         {f"kpi{line.id}-score": "90", f"kpi{line.id}-comment": "x"}),
        (f"/evaluations/e/{evaluation.id}/finalise", {"confirm": "y"}),
    ]:
        response = client.post(url, data=data)
        assert response.status_code == 409
        assert "final and cannot be changed" in visible_text(response)
    db.session.expire_all()
    assert evaluation.adjustments == [] and line.manual_score is None

    again = client.post(f"/evaluations/e/{evaluation.id}/recompute", follow_redirects=True)
    text = visible_text(again)
    assert "Revision 2 computed." in text and "Draft" in text
    revision_2 = db.session.scalar(select(Evaluation).where(Evaluation.revision == 2))
    assert again.request.path == f"/evaluations/e/{revision_2.id}"
    assert f'href="/evaluations/e/{evaluation.id}"' in again.get_data(as_text=True)
    old = visible_text(client.get(f"/evaluations/e/{evaluation.id}"))
    assert "a newer one exists" in old


def test_survey_kpi_shows_n_ci_and_too_few_responses(admin, vendor, factory, login_as):
    from tests.evaluations.test_scorecards import respond, survey_document

    questionnaire = factory.questionnaire(survey_document(), actor=admin)
    campaign = factory.campaign(questionnaire, actor=admin, name="Acme customers",
                                subject=vendor)
    for value in (5, 4, 2):
        respond(campaign, {"csat": value})
    template = scorecards.create_template(admin, name="CSAT only", min_responses=30, kpis=[
        {"family": "customer_satisfaction", "name": "CSAT", "weight": 100,
         "direction": "higher", "target": 90, "floor": 60, "source_kind": "survey",
         "survey_measure": "csat"}])
    evaluation = compute_page(admin, vendor, template)
    client = login_as(admin)

    text = visible_text(client.get(f"/evaluations/e/{evaluation.id}"))

    assert "n = 3" in text and "95 % CI" in text
    assert "Too few responses" in text and "Fewer than 30 answers" in text


# ----------------------------------------------------------------- access


def test_manager_reads_member_403_other_ids_404(admin, vendor, factory, login_as, client):
    with_resolution_rate(admin, vendor, [95])
    template = simple_template(admin)
    evaluation = compute_page(admin, vendor, template)
    secret_team = factory.team(name="Secret team")
    secret = scorecards.compute(admin, template, secret_team, Q3)
    manager = factory.manager()
    member = factory.user()

    login_as(manager)
    page = client.get(f"/evaluations/e/{evaluation.id}")
    assert page.status_code == 200 and "Resolution rate" in visible_text(page)
    assert [f for f in forms(page) if f.method == "post" and "/evaluations/" in
            (f.action or "")] == []
    entity = client.get(f"/evaluations/vendor/{vendor.id}")
    assert entity.status_code == 200 and "Compute an evaluation" not in visible_text(entity)
    assert client.get(f"/evaluations/e/{secret.id}").status_code == 404
    assert client.get(f"/evaluations/team/{secret_team.id}").status_code == 404
    assert client.get("/evaluations/scorecards").status_code == 403
    assert client.post(f"/evaluations/e/{evaluation.id}/adjustments",
                       data={"points": "5", "reason": "x"}).status_code == 403
    assert client.post(f"/evaluations/vendor/{vendor.id}/compute",
                       data={"template_id": template.id, "period": Q3}).status_code == 403

    client.post("/logout")
    login_as(member)
    assert client.get(f"/evaluations/e/{evaluation.id}").status_code == 403
    assert client.get(f"/evaluations/vendor/{vendor.id}").status_code == 403

    client.post("/logout")
    login_as(admin)
    assert client.get("/evaluations/e/999999").status_code == 404
    assert client.get("/evaluations/vendor/999999").status_code == 404
    assert client.get("/evaluations/scorecards/999999").status_code == 404
    assert client.post(f"/evaluations/e/{evaluation.id}/kpis/999999/score",
                       data={}).status_code == 404


def test_hostile_names_are_escaped(admin, factory, login_as):
    evil = factory.vendor(name="<script>alert(1)</script>")
    template = scorecards.create_template(admin, name="<img src=x onerror=alert(2)>", kpis=[
        {"family": "innovation", "name": "<b>bold</b>", "weight": 100,
         "source_kind": "manual"}])
    evaluation = scorecards.compute(admin, template, evil, Q3)
    line = evaluation.kpis[0]
    scorecards.set_manual_score(admin, evaluation, line, 70, "<i>comment</i>")
    scorecards.add_adjustment(admin, evaluation, 1, "<u>reason</u>")
    client = login_as(admin)

    pages = [client.get("/evaluations/scorecards"),
             client.get(f"/evaluations/scorecards/{template.id}"),
             client.get(f"/evaluations/vendor/{evil.id}"),
             client.get(f"/evaluations/e/{evaluation.id}")]

    for page in pages:
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        for raw in ("<script>alert(1)", "<img src=x", "<b>bold", "<i>comment", "<u>reason"):
            assert raw not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pages[3].get_data(as_text=True)
