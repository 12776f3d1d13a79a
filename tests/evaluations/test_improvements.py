"""Improvement plans: actions only on failing / warning KPIs, overdue in the
organisation's time zone (a boundary), open and overdue actions carried to the next
period's evaluation, the entity's plan page, CSRF and access per role."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from core.exceptions import PermissionDenied, ServiceError
from core.extensions import db
from evaluations import improvements, scorecards, sla
from evaluations.models import ImprovementAction
from tests.factories import Factory
from tests.web.apps import isolated_requests, sibling_app
from tests.web.page import field_error, forms, visible_text

IN_Q3 = datetime(2026, 8, 15, 10, tzinfo=UTC)
IN_Q4 = datetime(2026, 11, 5, 10, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _isolated_requests(app):
    with isolated_requests(app):
        yield


@pytest.fixture
def template(admin, vendor):
    metric = sla.create_metric(admin, vendor, name="Resolution rate", unit="%",
                               direction="higher", target=95, aggregation="mean",
                               period="monthly")
    # Q3: 85 % → score 33.3 (failed). Q4: 96 % → 100 (passing).
    sla.record_measurements(admin, metric, [sla.MeasurementInput("q3", IN_Q3, 85),
                                            sla.MeasurementInput("q4", IN_Q4, 96)],
                            source="manual")
    return scorecards.create_template(admin, name="Simple", kpis=[
        {"family": "quality", "name": "Resolution rate", "weight": 60, "direction": "higher",
         "target": 95, "floor": 80, "source_kind": "sla", "sla_metric_name": "Resolution rate"},
        {"family": "innovation", "name": "Innovation", "weight": 40, "source_kind": "manual"},
    ])


def evaluate(admin, vendor, template, period):
    evaluation = scorecards.compute(admin, template, vendor, period)
    db.session.flush()
    return evaluation


def line_named(evaluation, name):
    return next(k for k in evaluation.kpis if k.name == name)


def add(admin, evaluation, line, **fields):
    settings = {"description": "Weekly backlog review", "owner_name": "Li Wei (Acme)",
                "due_date": date(2026, 10, 31), **fields}
    return improvements.add_action(admin, evaluation, line, **settings)


def test_an_action_on_a_passing_kpi_is_refused_and_on_a_failing_one_accepted(
    admin, vendor, template
):
    q3 = evaluate(admin, vendor, template, "2026-Q3")
    q4 = evaluate(admin, vendor, template, "2026-Q4")
    passing = line_named(q4, "Resolution rate")
    assert passing.score == 100

    with pytest.raises(ServiceError, match="failed or is in warning"):
        add(admin, q4, passing)
    no_data = line_named(q3, "Innovation")  # no manual score: no data, no action
    with pytest.raises(ServiceError):
        add(admin, q3, no_data)

    failing = line_named(q3, "Resolution rate")
    assert improvements.kpi_state(failing) == "failed"
    action = add(admin, q3, failing)
    assert (action.vendor_id, action.kpi_id, action.period) == (vendor.id, failing.kpi_id,
                                                                "2026-Q3")
    assert db.session.scalar(select(func.count()).select_from(ImprovementAction)) == 1


def test_warning_band_and_owner_rules(admin, vendor, template):
    q3 = evaluate(admin, vendor, template, "2026-Q3")
    line = line_named(q3, "Resolution rate")
    line.score = 70.0  # between the pass (60) and good (80) bands
    assert improvements.kpi_state(line) == "warning"
    with pytest.raises(ServiceError, match="owner"):
        add(admin, q3, line, owner_name="")
    manager = Factory().manager()
    with pytest.raises(PermissionDenied):
        add(manager, q3, line)


def test_overdue_is_computed_in_the_organisations_time_zone_at_the_boundary(
    app, admin, vendor, template, monkeypatch
):
    monkeypatch.setitem(app.config, "BABEL_DEFAULT_TIMEZONE", "Asia/Shanghai")
    q3 = evaluate(admin, vendor, template, "2026-Q3")
    action = add(admin, q3, line_named(q3, "Resolution rate"), due_date=date(2026, 9, 30))

    last_minute = datetime(2026, 9, 30, 15, 59, tzinfo=UTC)  # 23:59 on the 30th in Shanghai
    next_day = datetime(2026, 9, 30, 16, 0, tzinfo=UTC)  # 00:00 on 1 October in Shanghai
    assert not improvements.is_overdue(action, last_minute)
    assert improvements.is_overdue(action, next_day)

    improvements.update_action(admin, action, status="done", evidence="Backlog under 20")
    assert not improvements.is_overdue(action, next_day)


def test_done_needs_evidence(admin, vendor, template):
    q3 = evaluate(admin, vendor, template, "2026-Q3")
    action = add(admin, q3, line_named(q3, "Resolution rate"))
    with pytest.raises(ServiceError, match="evidence"):
        improvements.update_action(admin, action, status="done", evidence=" ")
    improvements.update_action(admin, action, status="in_progress", evidence="")
    assert action.status == "in_progress"


def test_overdue_actions_appear_on_the_next_periods_evaluation(
    admin, vendor, template, login_as
):
    q3 = evaluate(admin, vendor, template, "2026-Q3")
    line = line_named(q3, "Resolution rate")
    overdue = add(admin, q3, line, description="Hire a second shift",
                  due_date=improvements.today() - timedelta(days=3))
    add(admin, q3, line, description="Train the <b>new</b> staff",
        due_date=improvements.today() + timedelta(days=30))
    closed = add(admin, q3, line, description="Cancelled idea", due_date=date(2026, 9, 1))
    improvements.update_action(admin, closed, status="cancelled", evidence="")
    q4 = evaluate(admin, vendor, template, "2026-Q4")
    client = login_as(admin)

    page = client.get(f"/evaluations/e/{q4.id}")

    html = page.get_data(as_text=True)
    text = visible_text(page)
    assert "Open actions from earlier periods" in text
    assert "Hire a second shift" in text and "Train the <b>new</b> staff" in text
    assert "<b>new</b>" not in html  # escaped
    assert "Cancelled idea" not in text
    row = html.split(f'data-action="{overdue.id}"')[1].split("</tr>")[0]
    assert "Overdue" in row  # said in words, not only by colour
    assert "Some of these actions are overdue." in text
    # Q4's own KPI passes: no "Add action" there.
    assert not [f for f in forms(page) if f.action and f.action.endswith("/actions")]


def test_admin_adds_an_action_in_the_browser_and_updates_it_on_the_plan(
    admin, vendor, template, login_as
):
    q3 = evaluate(admin, vendor, template, "2026-Q3")
    line = line_named(q3, "Resolution rate")
    client = login_as(admin)
    page = client.get(f"/evaluations/e/{q3.id}")
    assert "Failed" in visible_text(page)
    form = next(f for f in forms(page) if f.action.endswith(f"/kpis/{line.id}/actions"))

    missing = client.post(form.action, data={**form.values, f"act{line.id}-description": "x",
                                             f"act{line.id}-due_date": ""})
    assert missing.status_code == 422
    assert field_error(missing, f"act{line.id}-due_date")

    done = client.post(form.action, data={
        **form.values, f"act{line.id}-description": "Weekly backlog review",
        f"act{line.id}-owner_id": str(admin.id), f"act{line.id}-due_date": "2026-10-31"},
        follow_redirects=True)
    assert done.status_code == 200
    assert "Weekly backlog review" in visible_text(done)
    action = db.session.scalar(select(ImprovementAction))
    assert action.owner_id == admin.id and action.due_date == date(2026, 10, 31)

    plan = client.get(f"/evaluations/vendor/{vendor.id}/plan")
    update = next(f for f in forms(plan) if f.action.endswith(f"/actions/{action.id}"))
    refused = client.post(update.action, data={**update.values, f"a{action.id}-status": "done"})
    assert refused.status_code == 422
    assert "Describe the evidence" in visible_text(refused)
    saved = client.post(update.action, data={**update.values, f"a{action.id}-status": "done",
                                             f"a{action.id}-evidence": "Backlog at 12"},
                        follow_redirects=True)
    assert "Backlog at 12" in visible_text(saved)
    db.session.refresh(action)
    assert action.status == "done" and action.updated_by_id == admin.id


def test_managers_read_the_plan_but_cannot_change_it_members_are_refused(
    admin, vendor, template, login_as
):
    q3 = evaluate(admin, vendor, template, "2026-Q3")
    line = line_named(q3, "Resolution rate")
    action = add(admin, q3, line)
    client = login_as(Factory().manager())

    page = client.get(f"/evaluations/e/{q3.id}")
    assert page.status_code == 200 and "Weekly backlog review" in visible_text(page)
    assert not [f for f in forms(page) if f.action and "/actions" in f.action]
    plan = client.get(f"/evaluations/vendor/{vendor.id}/plan")
    assert plan.status_code == 200 and "Weekly backlog review" in visible_text(plan)
    assert not [f for f in forms(plan) if f.action and "/actions/" in f.action]
    assert client.post(f"/evaluations/e/{q3.id}/kpis/{line.id}/actions",
                       data={f"act{line.id}-description": "x"}).status_code == 403
    assert client.post(f"/evaluations/actions/{action.id}",
                       data={f"a{action.id}-status": "cancelled"}).status_code == 403
    db.session.refresh(action)
    assert action.status == "open"


def test_members_cannot_see_a_plan(vendor, login_as):
    member = login_as(Factory().user())
    assert member.get(f"/evaluations/vendor/{vendor.id}/plan").status_code == 403


def test_unknown_ids_are_404(admin, login_as):
    client = login_as(admin)
    assert client.get("/evaluations/vendor/999999/plan").status_code == 404
    assert client.post("/evaluations/actions/999999", data={}).status_code == 404


def test_the_add_action_form_needs_a_csrf_token(app, admin, vendor, template):
    q3 = evaluate(admin, vendor, template, "2026-Q3")
    line = line_named(q3, "Resolution rate")
    url = f"/evaluations/e/{q3.id}/kpis/{line.id}/actions"
    data = {f"act{line.id}-description": "Review", f"act{line.id}-owner_name": "Li",
            f"act{line.id}-due_date": "2026-10-31"}
    with sibling_app(app, WTF_CSRF_ENABLED=True) as protected:
        client = protected.test_client()
        from tests.web.page import main_form
        login = main_form(client.get("/login"))
        client.post("/login", data={**login.values, "email": admin.email,
                                    "password": Factory.PASSWORD})
        assert client.post(url, data=data).status_code in (400, 422)
        form = next(f for f in forms(client.get(f"/evaluations/e/{q3.id}"))
                    if f.action.endswith("/actions"))
        assert client.post(url, data={**form.values, **data}).status_code == 302
    assert db.session.scalar(select(func.count()).select_from(ImprovementAction)) == 1
