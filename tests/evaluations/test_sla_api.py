"""The SLA API under /api/v1/sla-metrics: metrics CRUD, idempotent measurements,
period status, scopes."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from core.extensions import db
from evaluations.models import SlaMeasurement
from org import apikeys
from tests.web.apps import isolated_requests
from tests.web.test_api import _Caller, assert_error

BASE = "/api/v1/sla-metrics"


@pytest.fixture(autouse=True)
def _isolated_requests(app):
    with isolated_requests(app):
        yield


@pytest.fixture
def writer(client, admin):
    _key, plaintext = apikeys.create_api_key(admin, "Ticketing", "write")
    return _Caller(client, plaintext)


@pytest.fixture
def reader(client, admin):
    _key, plaintext = apikeys.create_api_key(admin, "BI", "read")
    return _Caller(client, plaintext)


def _create(writer, vendor, **body):
    body = {"vendor_id": vendor.id, "name": "First response time", "unit": "h",
            "direction": "lower", "target": 24, "warning": 20, "aggregation": "percentile",
            "percentile": 90, **body}
    return writer.post(BASE, json=body)


def test_metrics_are_created_read_listed_changed_and_deleted(writer, reader, vendor):
    created = _create(writer, vendor)
    assert created.status_code == 201, created.get_data(as_text=True)
    metric = created.get_json()
    assert created.headers["Location"].endswith(f"{BASE}/{metric['id']}")
    assert (metric["vendor_id"], metric["team_id"], metric["period"]) == (vendor.id, None,
                                                                          "monthly")

    assert reader.get(f"{BASE}/{metric['id']}").get_json()["percentile"] == 90
    listed = reader.get(f"{BASE}?vendor_id={vendor.id}")
    assert [m["id"] for m in listed.get_json()] == [metric["id"]]

    changed = writer.patch(f"{BASE}/{metric['id']}", json={"target": 12, "warning": None})
    assert (changed.get_json()["target"], changed.get_json()["warning"]) == (12, None)
    assert_error(writer.patch(f"{BASE}/{metric['id']}", json={"warning": 30}), 400,
                 field="warning")

    assert writer.delete(f"{BASE}/{metric['id']}").status_code == 204
    assert_error(reader.get(f"{BASE}/{metric['id']}"), 404)


def test_invalid_metrics_are_refused_with_the_field(writer, vendor, factory):
    assert_error(_create(writer, vendor, percentile=None), 400, field="percentile")
    assert_error(_create(writer, vendor, team_id=factory.team().id), 400, field="vendor_id")
    assert_error(_create(writer, vendor, direction="up"), 422, field="direction")


def test_measurements_are_idempotent_by_external_id(writer, reader, vendor):
    metric = _create(writer, vendor).get_json()
    url = f"{BASE}/{metric['id']}/measurements"
    body = {"measurements": [
        {"measured_at": "2026-10-03T09:00:00+08:00", "value": 30, "external_id": "INC-1"},
        {"measured_at": "2026-10-04T09:00:00+08:00", "value": 5, "external_id": "INC-2"},
    ]}

    first = writer.post(url, json=body)
    replay = writer.post(url, json=body)

    assert first.status_code == replay.status_code == 200
    assert first.get_json()["created"] == 2 and replay.get_json()["unchanged"] == 2
    assert [m["id"] for m in first.get_json()["measurements"]] == [
        m["id"] for m in replay.get_json()["measurements"]]
    assert db.session.scalar(select(func.count()).select_from(SlaMeasurement)) == 2

    body["measurements"][0]["value"] = 20
    corrected = writer.post(url, json=body).get_json()
    assert [m["outcome"] for m in corrected["measurements"]] == ["updated", "unchanged"]
    assert db.session.scalar(select(func.count()).select_from(SlaMeasurement)) == 2
    assert [m["value"] for m in reader.get(url + "?period=2026-10").get_json()] == [20, 5]


def test_a_batch_with_errors_records_nothing(writer, vendor):
    metric = _create(writer, vendor).get_json()
    url = f"{BASE}/{metric['id']}/measurements"

    response = writer.post(url, json={"measurements": [
        {"measured_at": "2026-10-03T09:00:00+08:00", "value": 1, "external_id": "X"},
        {"measured_at": "2026-10-03T10:00:00+08:00", "value": 2, "external_id": "X"},
    ]})
    naive = writer.post(url, json={"measurements": [
        {"measured_at": "2026-10-03T09:00:00", "value": 1}]})

    assert_error(response, 400, field="1")
    assert_error(naive, 422)
    assert db.session.scalar(select(func.count()).select_from(SlaMeasurement)) == 0


def test_status_of_a_month_and_a_quarter(writer, reader, vendor):
    metric = _create(writer, vendor).get_json()
    writer.post(f"{BASE}/{metric['id']}/measurements", json={"measurements": [
        {"measured_at": f"2026-10-{d:02d}T09:00:00+00:00", "value": v, "external_id": f"T{d}"}
        for d, v in [(1, 10), (2, 22), (3, 23), (4, 30)]]})

    october = reader.get(f"{BASE}/{metric['id']}/status?period=2026-10").get_json()
    quarter = reader.get(f"{BASE}/{metric['id']}/status?period=2026-Q3").get_json()

    assert october["period"] == "2026-10" and october["n"] == 4
    assert october["value"] == pytest.approx(27.9)  # numpy linear 90th percentile
    assert october["status"] == "breached"
    assert (quarter["n"], quarter["value"], quarter["status"]) == (0, None, "no_data")
    assert_error(reader.get(f"{BASE}/{metric['id']}/status?period=Q3"), 400, field="period")


def test_read_keys_cannot_write_and_other_ids_are_404(reader, writer, vendor):
    metric = _create(writer, vendor).get_json()

    assert_error(reader.post(f"{BASE}/{metric['id']}/measurements", json={"measurements": [
        {"measured_at": "2026-10-03T09:00:00+08:00", "value": 1}]}), 403)
    assert_error(_create(reader, vendor), 403)
    assert_error(reader.get(f"{BASE}/999999/status"), 404)
    assert_error(writer.post(f"{BASE}/999999/measurements", json={"measurements": [
        {"measured_at": "2026-10-03T09:00:00+08:00", "value": 1}]}), 404)
    assert_error(_Caller(writer.client, None).get(BASE), 401)
