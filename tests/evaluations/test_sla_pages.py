"""SLA pages: status per period, drill-down, metric forms, template, upload with
preview and all-or-nothing confirmation, access per role, escaping."""

from __future__ import annotations

import io
import re

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from core.database import utcnow
from core.extensions import db
from evaluations import sla
from evaluations.models import SlaMeasurement, SlaMetric
from tests.web.apps import isolated_requests
from tests.web.page import visible_text
from tests.web.test_orgchart import csv_bytes

HEADER = ["metric", "measured_at", "value", "external_id", "note"]


@pytest.fixture(autouse=True)
def _isolated_requests(app):
    with isolated_requests(app):
        yield


def count() -> int:
    return db.session.scalar(select(func.count()).select_from(SlaMeasurement))


def upload(client, vendor, data: bytes, filename="sla.csv"):
    return client.post(f"/evaluations/sla/vendor/{vendor.id}/upload",
                       data={"file": (io.BytesIO(data), filename)},
                       content_type="multipart/form-data")


def token_in(response) -> str | None:
    tag = re.search(r'<input[^>]*name="token"[^>]*>', response.get_data(as_text=True))
    return re.search(r'value="([^"]+)"', tag.group(0)).group(1) if tag else None


def confirm(client, vendor, token):
    return client.post(f"/evaluations/sla/vendor/{vendor.id}/upload/confirm",
                       data={"token": token})


def row_html(page: str, row: int) -> str:
    match = re.search(rf'<tr id="row-{row}"[^>]*>.*?</tr>', page, re.S)
    assert match, f"row {row} not in the preview"
    return match.group(0)


# ----------------------------------------------------------------- status pages


def test_the_vendor_page_shows_this_periods_status_value_n_and_target(
    admin, vendor, make_metric, login_as
):
    metric = make_metric(warning=99.95)
    now = utcnow()
    sla.record_measurements(admin, metric, [sla.MeasurementInput(i, now, v)
                                            for i, v in enumerate([99.92, 99.94])],
                            source="manual")
    make_metric(name="Resolution rate", aggregation="rate", target=95, rate_threshold=1,
                rate_comparison="ge")
    client = login_as(admin)

    page = client.get(f"/evaluations/sla/vendor/{vendor.id}")

    text = visible_text(page)
    assert page.status_code == 200
    assert "Availability" in text and "99.93 %" in text and "≥ 99.9 %" in text
    html = page.get_data(as_text=True)
    assert 'data-status="warning"' in html and 'data-status="no_data"' in html
    overview = visible_text(client.get("/evaluations/sla"))
    assert "Acme Outsourcing" in overview


def test_the_drill_down_lists_the_measurements_of_the_period(admin, make_metric, login_as):
    metric = make_metric(aggregation="sum", target=10, direction="lower", unit="items")
    sla.record_measurements(admin, metric, [
        sla.MeasurementInput(1, sla.parse_time("2026-10-01 00:30"), 4, "in-oct", "first"),
        sla.MeasurementInput(2, sla.parse_time("2026-11-01 00:30"), 40, "in-nov"),
    ], source="manual")
    client = login_as(admin)

    page = client.get(f"/evaluations/sla/metrics/{metric.id}?period=2026-10")

    text = visible_text(page)
    assert "in-oct" in text and "first" in text and "in-nov" not in text
    assert 'data-status="met"' in page.get_data(as_text=True)
    nov = visible_text(client.get(f"/evaluations/sla/metrics/{metric.id}?period=2026-11"))
    assert "in-nov" in nov and "Breached" in nov


def test_an_admin_creates_edits_and_adds_a_measurement(admin, vendor, login_as):
    client = login_as(admin)
    created = client.post(f"/evaluations/sla/vendor/{vendor.id}/metrics/new", data={
        "name": "First response time", "unit": "h", "direction": "lower", "target": "24",
        "warning": "30", "aggregation": "percentile", "percentile": "90",
        "rate_comparison": "ge", "period": "monthly", "active": "y"})
    assert created.status_code == 200
    assert "below the target" in visible_text(created)  # warning on the wrong side

    created = client.post(f"/evaluations/sla/vendor/{vendor.id}/metrics/new", data={
        "name": "First response time", "unit": "h", "direction": "lower", "target": "24",
        "warning": "20", "aggregation": "percentile", "percentile": "90",
        "rate_comparison": "ge", "period": "monthly", "active": "y"})
    assert created.status_code == 302
    metric = db.session.scalar(select(SlaMetric))
    assert (metric.percentile, metric.warning, metric.vendor) == (90, 20, vendor)

    form = client.get(f"/evaluations/sla/metrics/{metric.id}/edit")
    assert 'value="24"' in form.get_data(as_text=True)
    client.post(f"/evaluations/sla/metrics/{metric.id}/edit", data={
        "name": "First response time", "unit": "h", "direction": "lower", "target": "12",
        "aggregation": "percentile", "percentile": "95", "rate_comparison": "ge",
        "period": "quarterly", "active": "y"})
    db.session.refresh(metric)
    assert (metric.target, metric.percentile, metric.period, metric.warning) == (
        12, 95, "quarterly", None)

    bad = client.post(f"/evaluations/sla/metrics/{metric.id}/measurements",
                      data={"measured_at": "yesterday", "value": "3"})
    assert bad.status_code == 422 and count() == 0
    added = client.post(f"/evaluations/sla/metrics/{metric.id}/measurements",
                        data={"measured_at": "2026-10-03 14:05", "value": "3.5"})
    assert added.status_code == 302 and "period=2026-Q4" in added.headers["Location"]
    assert db.session.scalar(select(SlaMeasurement)).source == "manual"


def test_the_template_is_applied_in_one_click(admin, vendor, login_as):
    client = login_as(admin)

    response = client.post(f"/evaluations/sla/vendor/{vendor.id}/template",
                           data={"period": "monthly"}, follow_redirects=True)

    text = visible_text(response)
    assert "5 metrics added." in text
    for name in ("First response time", "Resolution rate", "On-time delivery", "Availability",
                 "Customer satisfaction (CSAT)"):
        assert name in text


# ----------------------------------------------------------------- upload


@pytest.fixture
def metrics(make_metric):
    return (make_metric(),
            make_metric(name="On-time delivery", aggregation="rate", target=98,
                        rate_threshold=1, rate_comparison="ge"))


def test_upload_preview_lists_every_error_by_row_and_records_nothing(
    admin, vendor, metrics, login_as
):
    client = login_as(admin)
    data = csv_bytes([
        ["Availability", "2026-10-01", "99.95", "a-1", ""],
        ["Uptime", "2026-10-01", "99.9", "a-2", ""],
        ["Availability", "1st October", "99.9", "a-3", ""],
        ["Availability", "2026-10-02", "ninety", "a-4", ""],
        ["availability", "2026-10-03", "99.9", "a-1", ""],
        ["On-time delivery", "2026-10-03", "1", "a-1", "same id, other metric: fine"],
    ], header=HEADER)

    preview = upload(client, vendor, data)

    page = preview.get_data(as_text=True)
    assert preview.status_code == 422 and token_in(preview) is None
    assert "There is no metric" in row_html(page, 3)
    assert "is not a date and time" in row_html(page, 4)
    assert "is not a number" in row_html(page, 5)
    assert "also in row 2" in row_html(page, 6)
    assert "row-error" not in row_html(page, 7)
    assert count() == 0


def test_a_valid_upload_is_recorded_on_confirmation_and_a_replay_changes_nothing(
    admin, vendor, metrics, login_as
):
    client = login_as(admin)
    data = csv_bytes([
        ["Availability", "2026-10-01 08:00", "99.95%", "a-1", "night"],
        ["On-time delivery", "2026/10/02", "1", "d-1", ""],
        ["On-time delivery", "2026-10-02T10:00+08:00", "0", "d-2", ""],
    ], header=HEADER)

    preview = upload(client, vendor, data)
    assert preview.status_code == 200 and count() == 0
    done = confirm(client, vendor, token_in(preview))

    assert done.status_code == 302 and count() == 3
    stored = db.session.scalar(select(SlaMeasurement).where(SlaMeasurement.external_id == "a-1"))
    assert (stored.value, stored.note, stored.source) == (99.95, "night", "upload")

    again = upload(client, vendor, data)
    assert "3" in visible_text(again) and 'data-testid="count-unchanged">3<' in again.get_data(
        as_text=True)
    confirm(client, vendor, token_in(again))
    assert count() == 3
    # A token is single-use.
    assert confirm(client, vendor, token_in(preview)).status_code == 302
    assert count() == 3


def test_a_preview_for_one_vendor_cannot_be_confirmed_for_another(
    admin, vendor, metrics, factory, login_as, make_metric
):
    other = factory.vendor()
    make_metric(entity=other)
    client = login_as(admin)
    preview = upload(client, vendor, csv_bytes([["Availability", "2026-10-01", "99", "", ""]],
                                               header=HEADER))

    response = confirm(client, other, token_in(preview))

    assert response.status_code == 302 and count() == 0


def test_chinese_headers_in_an_excel_file(admin, vendor, metrics, login_as):
    workbook = Workbook()
    workbook.active.append(["指标", "测量时间", "数值", "外部编号", "备注"])
    workbook.active.append(["Availability", "2026-10-05 09:00", 99.99, "x-1", "备注内容"])
    out = io.BytesIO()
    workbook.save(out)
    client = login_as(admin)

    preview = upload(client, vendor, out.getvalue(), "数据.xlsx")
    confirm(client, vendor, token_in(preview))

    assert db.session.scalar(select(SlaMeasurement.note)) == "备注内容"


def test_a_file_without_the_required_columns_is_refused_as_a_whole(
    admin, vendor, metrics, login_as
):
    client = login_as(admin)

    response = upload(client, vendor, csv_bytes([["Availability", "99"]],
                                                header=["metric", "value"]))

    assert "missing: measured_at" in visible_text(response) and count() == 0


# ----------------------------------------------------------------- access


def test_access_per_role(admin, vendor, factory, make_metric, login_as, client):
    manager = factory.manager()
    own_team = factory.team()
    factory.user(team=own_team, supervisor=manager)
    other_team = factory.team(name="Secret team")
    vendor_metric = make_metric()
    own_metric = make_metric(entity=own_team)
    other_metric = make_metric(entity=other_team)
    member = factory.user()

    login_as(manager)
    assert client.get(f"/evaluations/sla/vendor/{vendor.id}").status_code == 200
    assert client.get(f"/evaluations/sla/team/{own_team.id}").status_code == 200
    assert client.get(f"/evaluations/sla/metrics/{own_metric.id}").status_code == 200
    assert client.get(f"/evaluations/sla/team/{other_team.id}").status_code == 404
    assert client.get(f"/evaluations/sla/metrics/{other_metric.id}").status_code == 404
    assert "Secret team" not in visible_text(client.get("/evaluations/sla"))
    assert client.get(f"/evaluations/sla/metrics/{vendor_metric.id}/edit").status_code == 403
    assert client.get(f"/evaluations/sla/vendor/{vendor.id}/upload").status_code == 403
    page = client.get(f"/evaluations/sla/vendor/{vendor.id}").get_data(as_text=True)
    assert "Upload measurements" not in page and "Add a metric" not in page

    client.post("/logout")
    login_as(member)
    assert client.get("/evaluations/sla").status_code == 403
    assert client.get(f"/evaluations/sla/metrics/{vendor_metric.id}").status_code == 403

    client.post("/logout")
    login_as(admin)
    assert client.get("/evaluations/sla/metrics/999999").status_code == 404
    assert client.get("/evaluations/sla/vendor/999999").status_code == 404
    assert client.get(f"/evaluations/sla/robot/{vendor.id}").status_code == 404


def test_hostile_names_are_escaped(admin, factory, make_metric, login_as):
    evil = factory.vendor(name="<script>alert(1)</script>")
    make_metric(entity=evil, name="<img src=x onerror=alert(2)>", unit="<b>")
    client = login_as(admin)

    pages = [client.get("/evaluations/sla"), client.get(f"/evaluations/sla/vendor/{evil.id}"),
             upload(client, evil, csv_bytes([["<i>nope</i>", "<b>x</b>", "<u>1</u>", "", ""]],
                                             header=HEADER))]

    for page in pages:
        html = page.get_data(as_text=True)
        assert "<script>alert(1)" not in html and "<img src=x" not in html
        assert "<i>nope" not in html and "<b>x</b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pages[1].get_data(as_text=True)


def test_the_csv_template_neutralises_formula_like_names(admin, make_metric, vendor, login_as):
    make_metric(name="=HYPERLINK(\"http://x\")")
    client = login_as(admin)

    body = client.get(f"/evaluations/sla/vendor/{vendor.id}/upload/template.csv").data

    assert "'=HYPERLINK" in body.decode("utf-8-sig")
