"""SLA services: validation, aggregation, status, periods, the template, idempotent
recording."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from sqlalchemy import func, select

from core.exceptions import ConflictError, NotFound, PermissionDenied, ServiceError
from core.extensions import db
from evaluations import sla
from evaluations.models import SlaMeasurement, SlaMetric

SHANGHAI = ZoneInfo("Asia/Shanghai")
VALUES = [3.0, 30.5, 7.25, 18.0, 22.0, 24.0, 1.0, 55.0, 12.0, 24.5, 0.0]


def at(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def record(admin, metric, values, start=None, ids=None):
    start = start or at(2026, 10, 5)
    items = [sla.MeasurementInput(i, start, v, ids[i] if ids else None)
             for i, v in enumerate(values)]
    return sla.record_measurements(admin, metric, items, source="manual")


# ----------------------------------------------------------------- aggregation


@pytest.mark.parametrize("p", [90, 50, 95, 99.9, 100, 12.5])
def test_percentile_matches_numpy_linear_and_excel_percentile_inc(admin, make_metric, p):
    metric = make_metric(name="First response", unit="h", direction="lower", target=24,
                         aggregation="percentile", percentile=p)
    record(admin, metric, VALUES)

    result = sla.aggregate(metric, at(2026, 10, 1), at(2026, 11, 1))

    assert result.n == len(VALUES)
    assert result.value == pytest.approx(np.percentile(VALUES, p, method="linear"))
    # Excel: PERCENTILE.INC({…}, 0.9) on the same data = 30.5
    if p == 90:
        assert result.value == pytest.approx(30.5)


def test_mean_and_sum_match_numpy(admin, make_metric):
    mean = make_metric(name="Mean", aggregation="mean")
    total = make_metric(name="Total", aggregation="sum", target=100)
    record(admin, mean, VALUES)
    record(admin, total, VALUES)

    assert sla.aggregate(mean, at(2026, 10, 1), at(2026, 11, 1)).value == pytest.approx(
        np.mean(VALUES))
    assert sla.aggregate(total, at(2026, 10, 1), at(2026, 11, 1)).value == pytest.approx(
        np.sum(VALUES))


@pytest.mark.parametrize(("comparison", "threshold", "meeting"),
                         [("ge", 18, 6), ("le", 18, 6), ("ge", 24, 4), ("le", 3, 3)])
def test_rate_is_the_share_of_measurements_meeting_the_threshold(
    admin, make_metric, comparison, threshold, meeting
):
    metric = make_metric(name="Within a day", aggregation="rate", target=95,
                         rate_threshold=threshold, rate_comparison=comparison)
    record(admin, metric, VALUES)

    value = sla.aggregate(metric, at(2026, 10, 1), at(2026, 11, 1)).value

    data = np.array(VALUES)
    share = np.mean(data >= threshold) if comparison == "ge" else np.mean(data <= threshold)
    assert value == pytest.approx(100 * share) == pytest.approx(100 * meeting / len(VALUES))


def test_a_period_without_measurements_has_no_data(make_metric):
    result = sla.aggregate(make_metric(), at(2026, 10, 1), at(2026, 11, 1))

    assert (result.value, result.n, result.status, result.measurements) == (
        None, 0, "no_data", [])


def test_the_period_includes_its_start_and_excludes_its_end(admin, make_metric):
    metric = make_metric(aggregation="sum", target=1)
    sla.record_measurements(admin, metric, [
        sla.MeasurementInput(1, at(2026, 10, 1), 1.0),
        sla.MeasurementInput(2, at(2026, 11, 1), 100.0),
    ], source="manual")

    assert sla.aggregate(metric, at(2026, 10, 1), at(2026, 11, 1)).value == 1.0


# ----------------------------------------------------------------- status


@pytest.mark.parametrize(
    ("direction", "target", "warning", "value", "status"),
    [
        ("higher", 95, 97, 98, "met"),
        ("higher", 95, 97, 97, "met"),
        ("higher", 95, 97, 96, "warning"),
        ("higher", 95, 97, 95, "warning"),
        ("higher", 95, 97, 94.99, "breached"),
        ("higher", 95, None, 95, "met"),
        ("higher", 95, None, 94, "breached"),
        ("lower", 24, 20, 19, "met"),
        ("lower", 24, 20, 20, "met"),
        ("lower", 24, 20, 22, "warning"),
        ("lower", 24, 20, 24, "warning"),
        ("lower", 24, 20, 24.01, "breached"),
        ("lower", 24, None, 24, "met"),
        ("lower", 24, None, 30, "breached"),
    ],
)
def test_status_at_above_and_below_target_and_warning(
    make_metric, direction, target, warning, value, status
):
    metric = make_metric(direction=direction, target=target, warning=warning)

    assert sla.status_of(metric, value) == status


@pytest.mark.parametrize(("direction", "warning"), [("higher", 94), ("higher", 95),
                                                    ("lower", 25), ("lower", 24)])
def test_a_warning_threshold_on_the_wrong_side_of_the_target_is_refused(
    make_metric, direction, warning
):
    target = 95 if direction == "higher" else 24
    with pytest.raises(ServiceError) as exc:
        make_metric(direction=direction, target=target, warning=warning)

    assert exc.value.field == "warning"


# ----------------------------------------------------------------- periods


@pytest.mark.parametrize(
    ("kind", "day", "label", "start", "end"),
    [
        ("monthly", date(2026, 10, 1), "2026-10", at(2026, 9, 30, 16), at(2026, 10, 31, 16)),
        ("monthly", date(2026, 12, 31), "2026-12", at(2026, 11, 30, 16), at(2026, 12, 31, 16)),
        ("monthly", date(2028, 2, 29), "2028-02", at(2028, 1, 31, 16), at(2028, 2, 29, 16)),
        ("quarterly", date(2026, 9, 30), "2026-Q3", at(2026, 6, 30, 16), at(2026, 9, 30, 16)),
        ("quarterly", date(2026, 10, 1), "2026-Q4", at(2026, 9, 30, 16), at(2026, 12, 31, 16)),
        ("half_yearly", date(2026, 7, 1), "2026-H2", at(2026, 6, 30, 16), at(2026, 12, 31, 16)),
        ("yearly", date(2026, 1, 1), "2026", at(2025, 12, 31, 16), at(2026, 12, 31, 16)),
    ],
)
def test_period_bounds_are_calendar_periods_in_the_time_zone(kind, day, label, start, end):
    window = sla.period_bounds(kind, day, SHANGHAI)

    assert (window.label, window.start, window.end) == (label, start, end)
    assert sla.parse_period(label, SHANGHAI) == window


def test_an_instant_belongs_to_the_period_of_its_local_date():
    before = sla.period_bounds("monthly", at(2026, 9, 30, 15, 59, 59), SHANGHAI)
    after = sla.period_bounds("monthly", at(2026, 9, 30, 16), SHANGHAI)

    assert (before.label, after.label) == ("2026-09", "2026-10")
    assert sla.period_bounds("monthly", at(2026, 9, 30, 16)).label == "2026-09"  # UTC here


def test_periods_step_across_years():
    q1 = sla.parse_period("2026-Q1", SHANGHAI)

    assert q1.shifted(-1, SHANGHAI).label == "2025-Q4"
    assert sla.parse_period("2026-12", SHANGHAI).shifted(1, SHANGHAI).label == "2027-01"
    assert sla.parse_period("2026-H2", SHANGHAI).shifted(1, SHANGHAI).label == "2027-H1"


@pytest.mark.parametrize("text", ["2026-13", "2026-Q5", "26-10", "October", "", "2026-H3"])
def test_unreadable_periods_are_refused(text):
    with pytest.raises(ServiceError):
        sla.parse_period(text)


# ----------------------------------------------------------------- metrics


def test_a_metric_belongs_to_exactly_one_vendor_or_team(admin, vendor, factory):
    team = factory.team()
    with pytest.raises(ServiceError):
        sla.create_metric(admin, vendor_id=vendor.id, team_id=team.id, name="X",
                          direction="higher", target=1, aggregation="mean")
    with pytest.raises(ServiceError):
        sla.create_metric(admin, name="X", direction="higher", target=1, aggregation="mean")

    metric = sla.create_metric(admin, team_id=team.id, name="X", direction="higher", target=1,
                               aggregation="mean")

    assert metric.team == team and metric.vendor is None and metric.entity_kind == "team"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"aggregation": "percentile"}, "percentile"),
        ({"aggregation": "percentile", "percentile": 0}, "percentile"),
        ({"aggregation": "percentile", "percentile": 101}, "percentile"),
        ({"aggregation": "rate", "target": 95}, "rate_threshold"),
        ({"aggregation": "rate", "target": 120, "rate_threshold": 1, "rate_comparison": "ge"},
         "target"),
        ({"target": "lots"}, "target"),
        ({"target": float("nan")}, "target"),
        ({"direction": "sideways"}, "direction"),
        ({"period": "weekly"}, "period"),
        ({"name": "  "}, "name"),
    ],
)
def test_invalid_metric_settings_are_refused_on_their_field(make_metric, fields, field):
    with pytest.raises(ServiceError) as exc:
        make_metric(**fields)

    assert exc.value.field == field


def test_metric_names_are_unique_per_entity_case_insensitively(make_metric, factory):
    make_metric(name="Availability")
    with pytest.raises(ServiceError):
        make_metric(name="AVAILABILITY")

    assert make_metric(name="Availability", entity=factory.vendor()).id


def test_only_admins_change_metrics_and_a_metric_with_measurements_is_not_deleted(
    admin, make_metric, factory
):
    metric = make_metric()
    with pytest.raises(PermissionDenied):
        sla.update_metric(factory.manager(), metric, target=99)
    record(admin, metric, [99.95])

    with pytest.raises(ConflictError):
        sla.delete_metric(admin, metric)
    sla.update_metric(admin, metric, active=False)

    assert metric.active is False and metric.target == 99.9


def test_the_template_adds_five_metrics_once(admin, vendor):
    created, skipped = sla.apply_template(admin, vendor, period="quarterly")
    again, skipped_again = sla.apply_template(admin, vendor)

    assert len(created) == 5 and skipped == [] and again == [] and len(skipped_again) == 5
    by_name = {m.name: m for m in created}
    frt = by_name["First response time"]
    assert (frt.direction, frt.target, frt.aggregation, frt.percentile, frt.period) == (
        "lower", 24, "percentile", 90, "quarterly")
    assert by_name["Availability"].target == 99.9
    csat = by_name["Customer satisfaction (CSAT)"]
    assert (csat.aggregation, csat.rate_threshold, csat.target) == ("rate", 4, 90)


# ----------------------------------------------------------------- access


def test_managers_read_vendors_and_their_reporting_lines_teams_only(admin, factory, make_metric):
    manager = factory.manager()
    own = factory.team()
    factory.user(team=own, supervisor=manager)
    other = factory.team()
    vendor_metric = make_metric()
    own_metric = make_metric(entity=own)
    other_metric = make_metric(entity=other)

    visible = set(db.session.scalars(sla.visible_metrics(manager)))

    assert visible == {vendor_metric, own_metric}
    with pytest.raises(NotFound):
        sla.get_metric(manager, other_metric.id)
    with pytest.raises(NotFound):
        sla.get_entity(manager, "team", other.id)
    assert list(db.session.scalars(sla.visible_metrics(factory.user()))) == []


# ----------------------------------------------------------------- recording


def test_recording_the_same_external_ids_again_creates_nothing(admin, make_metric):
    metric = make_metric()
    first = record(admin, metric, [99.5, 99.99], ids=["d1", "d2"])
    again = record(admin, metric, [99.5, 99.99], ids=["d1", "d2"])
    changed = record(admin, metric, [99.7, 99.99], ids=["d1", "d2"])

    assert [r.outcome for r in first] == ["created", "created"]
    assert [r.outcome for r in again] == ["unchanged", "unchanged"]
    assert [r.outcome for r in changed] == ["updated", "unchanged"]
    assert [r.measurement.id for r in again] == [r.measurement.id for r in first]
    assert db.session.scalar(select(func.count()).select_from(SlaMeasurement)) == 2
    assert sla.aggregate(metric, at(2026, 10, 1), at(2026, 11, 1)).value == pytest.approx(
        (99.7 + 99.99) / 2)


def test_a_batch_with_one_bad_measurement_records_nothing(admin, make_metric):
    metric = make_metric()
    with pytest.raises(ServiceError) as exc:
        sla.record_measurements(admin, metric, [
            sla.MeasurementInput(0, at(2026, 10, 1), 99.0, "a"),
            sla.MeasurementInput(1, at(2026, 10, 2), 98.0, "a"),
            sla.MeasurementInput(2, datetime(2026, 10, 3), 98.0),
        ], source="api")

    assert set(exc.value.errors) == {"1", "2"}
    assert db.session.scalar(select(func.count()).select_from(SlaMeasurement)) == 0
    assert db.session.get(SlaMetric, metric.id) is metric
