"""SLA metrics and measurements: the business operations.

Admins create and change metrics and record measurements; managers read the metrics
of vendors and of the teams in their reporting line; members see none. Every
function takes the acting user first, checks access, validates, changes objects and
*flushes*; the route or API endpoint that called it commits once.

Periods are calendar months, quarters, half-years and years in the organisation's
time zone (``BABEL_DEFAULT_TIMEZONE``); a period is the half-open interval
``[start, end)`` of UTC instants. How each aggregation works, and what the statuses
mean, is documented in ``docs/evaluations.md``.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
from flask import current_app, has_app_context
from sqlalchemy import Select, func, or_, select

from core.exceptions import ConflictError, NotFound, PermissionDenied, ServiceError
from core.extensions import db
from core.i18n import lazy_gettext as _l
from evaluations.models import (
    Aggregation,
    Comparison,
    Direction,
    Period,
    SlaMeasurement,
    SlaMetric,
    Source,
)
from org import audit, orgchart
from org.models import Team, User, Vendor
from org.services import clean_text, reporting_line_ids, require_admin

MAX_NAME = 200
MAX_UNIT = 32
MAX_EXTERNAL_ID = 100
MAX_NOTE = 1000
MAX_MEASUREMENTS_PER_CALL = 5000
MAX_UPLOAD_ROWS = 20_000
_IN_CHUNK = 500

MET = "met"
WARNING = "warning"
BREACHED = "breached"
NO_DATA = "no_data"
STATUSES = (MET, WARNING, BREACHED, NO_DATA)

ENTITY_KINDS = ("vendor", "team")


# ----------------------------------------------------------------- access


def _is_staff(actor) -> bool:
    return bool(actor is not None and (getattr(actor, "is_admin", False)
                                       or getattr(actor, "is_manager", False)))


def manager_team_ids(manager: User) -> Select:
    """Teams in a manager's reporting line: their own team and the teams of everyone
    below them."""
    return select(User.team_id).where(
        User.team_id.is_not(None),
        or_(User.id == manager.id, User.id.in_(reporting_line_ids(manager.id))),
    )


def visible_metrics(actor) -> Select:
    """Metrics ``actor`` may read: admins all; managers those of vendors and of the
    teams in their reporting line; anyone else none."""
    query = select(SlaMetric)
    if getattr(actor, "is_admin", False):
        return query
    if getattr(actor, "is_manager", False):
        return query.where(
            or_(SlaMetric.vendor_id.is_not(None), SlaMetric.team_id.in_(manager_team_ids(actor)))
        )
    return query.where(False)


def get_metric(actor, metric_id: int) -> SlaMetric:
    """The metric, if ``actor`` may read it; otherwise :class:`NotFound`."""
    metric = db.session.scalar(visible_metrics(actor).where(SlaMetric.id == metric_id))
    if metric is None:
        raise NotFound(_l("No such SLA metric."))
    return metric


def get_entity(actor, kind: str, entity_id: int) -> Vendor | Team:
    """A vendor or team whose metrics ``actor`` may read; otherwise :class:`NotFound`."""
    if kind not in ENTITY_KINDS or not _is_staff(actor):
        raise NotFound(_l("No such vendor or team."))
    if kind == "vendor":
        entity = db.session.get(Vendor, entity_id)
    else:
        entity = db.session.get(Team, entity_id)
        if entity is not None and not actor.is_admin:
            allowed = db.session.scalar(
                select(func.count()).where(Team.id == entity_id,
                                           Team.id.in_(manager_team_ids(actor)))
            )
            entity = entity if allowed else None
    if entity is None:
        raise NotFound(_l("No such vendor or team."))
    return entity


def entity_kind(entity: Vendor | Team) -> str:
    return "vendor" if isinstance(entity, Vendor) else "team"


def visible_entities(actor) -> tuple[list[Vendor], list[Team]]:
    """Vendors and teams whose metrics ``actor`` may read, active first, by name."""
    if not _is_staff(actor):
        raise PermissionDenied(_l("You do not have permission to see this page."))
    vendors = db.session.scalars(
        select(Vendor).order_by(Vendor.active.desc(), func.lower(Vendor.name), Vendor.id)
    ).all()
    teams_query = select(Team).order_by(Team.active.desc(), func.lower(Team.name), Team.id)
    if not actor.is_admin:
        teams_query = teams_query.where(Team.id.in_(manager_team_ids(actor)))
    return list(vendors), list(db.session.scalars(teams_query).all())


def entity_metrics(actor, entity: Vendor | Team, *, active: bool | None = None) -> list[SlaMetric]:
    column = SlaMetric.vendor_id if isinstance(entity, Vendor) else SlaMetric.team_id
    query = visible_metrics(actor).where(column == entity.id)
    if active is not None:
        query = query.where(SlaMetric.active.is_(active))
    return list(db.session.scalars(
        query.order_by(SlaMetric.active.desc(), func.lower(SlaMetric.name), SlaMetric.id)
    ).all())


def search_metrics(actor, *, vendor_id: int | None = None, team_id: int | None = None,
                   active: bool | None = None) -> Select:
    query = visible_metrics(actor)
    if vendor_id is not None:
        query = query.where(SlaMetric.vendor_id == vendor_id)
    if team_id is not None:
        query = query.where(SlaMetric.team_id == team_id)
    if active is not None:
        query = query.where(SlaMetric.active.is_(active))
    return query.order_by(SlaMetric.id)


# ----------------------------------------------------------------- metrics: validation

METRIC_FIELDS = (
    "name", "unit", "direction", "target", "warning", "aggregation", "percentile",
    "rate_threshold", "rate_comparison", "period", "active",
)


def _finite(value, field_name: str, *, required: bool) -> float | None:
    if value is None or value == "":
        if required:
            raise ServiceError(_l("Enter a number."), field=field_name)
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ServiceError(_l("Enter a number."), field=field_name) from None
    if isinstance(value, bool) or not math.isfinite(number):
        raise ServiceError(_l("Enter a number."), field=field_name)
    return number


def _choice(value, enum_cls, field_name: str) -> str:
    if value not in {m.value for m in enum_cls}:
        raise ServiceError(_l("Choose one of the options."), field=field_name)
    return str(value)


def _check_metric(fields: dict) -> dict:
    """Validated, normalised metric settings (every key of :data:`METRIC_FIELDS`)."""
    out: dict = {}
    out["name"] = clean_text(fields.get("name"), "name", required=True, max_length=MAX_NAME)
    out["unit"] = clean_text(fields.get("unit"), "unit", required=False, max_length=MAX_UNIT) or ""
    out["direction"] = _choice(fields.get("direction"), Direction, "direction")
    out["aggregation"] = _choice(fields.get("aggregation"), Aggregation, "aggregation")
    out["period"] = _choice(fields.get("period") or Period.MONTHLY.value, Period, "period")
    out["target"] = _finite(fields.get("target"), "target", required=True)
    out["warning"] = _finite(fields.get("warning"), "warning", required=False)
    out["active"] = bool(fields.get("active", True))
    out["percentile"] = out["rate_threshold"] = out["rate_comparison"] = None
    if out["aggregation"] == Aggregation.PERCENTILE:
        p = _finite(fields.get("percentile"), "percentile", required=True)
        if not 0 < p <= 100:
            raise ServiceError(_l("The percentile must be above 0 and at most 100."),
                               field="percentile")
        out["percentile"] = p
    elif out["aggregation"] == Aggregation.RATE:
        out["rate_threshold"] = _finite(fields.get("rate_threshold"), "rate_threshold",
                                        required=True)
        out["rate_comparison"] = _choice(fields.get("rate_comparison"), Comparison,
                                         "rate_comparison")
        if not 0 <= out["target"] <= 100:
            raise ServiceError(_l("A rate is a percentage: the target must be between 0 and 100."),
                               field="target")
    warning = out["warning"]
    if warning is not None:
        if out["direction"] == Direction.HIGHER and not warning > out["target"]:
            raise ServiceError(
                _l("When higher is better, the warning threshold must be above the target "
                   "(values between the target and it are met, but close)."), field="warning")
        if out["direction"] == Direction.LOWER and not warning < out["target"]:
            raise ServiceError(
                _l("When lower is better, the warning threshold must be below the target "
                   "(values between it and the target are met, but close)."), field="warning")
    return out


def _unique_name(entity: Vendor | Team, name: str, exclude_id: int | None = None) -> None:
    column = SlaMetric.vendor_id if isinstance(entity, Vendor) else SlaMetric.team_id
    query = select(SlaMetric.id).where(column == entity.id,
                                       func.lower(SlaMetric.name) == name.lower())
    if exclude_id is not None:
        query = query.where(SlaMetric.id != exclude_id)
    if db.session.scalar(query) is not None:
        raise ServiceError(_l("This vendor or team already has a metric with this name."),
                           field="name")


def _entity_for(actor, vendor_id: int | None, team_id: int | None) -> Vendor | Team:
    if (vendor_id is None) == (team_id is None):
        raise ServiceError(_l("Give either a vendor or a team, not both."), field="vendor_id")
    try:
        if vendor_id is not None:
            return get_entity(actor, "vendor", vendor_id)
        return get_entity(actor, "team", team_id)
    except NotFound as exc:
        raise ServiceError(exc.message, field="vendor_id" if vendor_id else "team_id") from None


# ----------------------------------------------------------------- metrics: changes


def create_metric(actor, entity: Vendor | Team | None = None, *, vendor_id: int | None = None,
                  team_id: int | None = None, **fields) -> SlaMetric:
    """A new metric for ``entity`` (or the vendor / team given by id)."""
    require_admin(actor)
    if entity is None:
        entity = _entity_for(actor, vendor_id, team_id)
    settings = _check_metric(fields)
    _unique_name(entity, settings["name"])
    metric = SlaMetric(**settings)
    if isinstance(entity, Vendor):
        metric.vendor = entity
    else:
        metric.team = entity
    db.session.add(metric)
    db.session.flush()
    audit.record("sla_metric.created", metric, actor=actor, details=_jsonable(settings))
    return metric


def update_metric(actor, metric: SlaMetric, **fields) -> SlaMetric:
    """Change a metric's settings; missing keys keep their current value. The vendor
    or team cannot change (measurements belong to it)."""
    require_admin(actor)
    current = {name: getattr(metric, name) for name in METRIC_FIELDS}
    current.update({k: v for k, v in fields.items() if k in METRIC_FIELDS})
    settings = _check_metric(current)
    _unique_name(metric.entity, settings["name"], exclude_id=metric.id)
    changes = {k: [getattr(metric, k), v] for k, v in settings.items() if getattr(metric, k) != v}
    for name, value in settings.items():
        setattr(metric, name, value)
    db.session.flush()
    if changes:
        audit.record("sla_metric.updated", metric, actor=actor, details=_jsonable(changes))
    return metric


def delete_metric(actor, metric: SlaMetric) -> None:
    """Delete a metric without measurements; one with measurements is only deactivated
    (its history is kept), so this refuses."""
    require_admin(actor)
    if db.session.scalar(select(SlaMeasurement.id).where(SlaMeasurement.metric_id == metric.id)
                         .limit(1)) is not None:
        raise ConflictError(
            _l("This metric has measurements and cannot be deleted. Deactivate it instead.")
        )
    audit.record("sla_metric.deleted", metric, actor=actor, details={"name": metric.name})
    db.session.delete(metric)
    db.session.flush()


def _jsonable(data: dict) -> dict:
    return json.loads(json.dumps(data, default=str))


# ----------------------------------------------------------------- the template


@dataclass(frozen=True)
class TemplateMetric:
    name: object  # lazy string: stored in the language of whoever applies the template
    unit: str
    direction: str
    target: float
    warning: float | None
    aggregation: str
    percentile: float | None = None
    rate_threshold: float | None = None
    rate_comparison: str | None = None
    measure: object = ""  # what one measurement is


SLA_TEMPLATE = (
    TemplateMetric(_l("First response time"), "h", Direction.LOWER, 24, 20,
                   Aggregation.PERCENTILE, percentile=90,
                   measure=_l("hours from a ticket's creation to its first response")),
    TemplateMetric(_l("Resolution rate"), "%", Direction.HIGHER, 95, 97, Aggregation.RATE,
                   rate_threshold=1, rate_comparison=Comparison.AT_LEAST,
                   measure=_l("one per ticket: 1 if it was resolved, 0 if not")),
    TemplateMetric(_l("On-time delivery"), "%", Direction.HIGHER, 98, 99, Aggregation.RATE,
                   rate_threshold=1, rate_comparison=Comparison.AT_LEAST,
                   measure=_l("one per delivery: 1 if it was on time, 0 if late")),
    TemplateMetric(_l("Availability"), "%", Direction.HIGHER, 99.9, 99.95, Aggregation.MEAN,
                   measure=_l("the availability in percent of one day (or other interval)")),
    TemplateMetric(_l("Customer satisfaction (CSAT)"), "%", Direction.HIGHER, 90, 92,
                   Aggregation.RATE, rate_threshold=4, rate_comparison=Comparison.AT_LEAST,
                   measure=_l("one customer's rating on 1–5; 4 and 5 count as satisfied")),
)


def apply_template(actor, entity: Vendor | Team, *, period: str = Period.MONTHLY.value
                   ) -> tuple[list[SlaMetric], list[str]]:
    """Add the five example metrics to ``entity``; a metric whose name it already has is
    skipped. Returns (created metrics, skipped names)."""
    require_admin(actor)
    _choice(period, Period, "period")
    created, skipped = [], []
    for item in SLA_TEMPLATE:
        name = str(item.name)
        try:
            _unique_name(entity, name)
        except ServiceError:
            skipped.append(name)
            continue
        created.append(create_metric(
            actor, entity, name=name, unit=item.unit, direction=item.direction,
            target=item.target, warning=item.warning, aggregation=item.aggregation,
            percentile=item.percentile, rate_threshold=item.rate_threshold,
            rate_comparison=item.rate_comparison, period=period,
        ))
    return created, skipped


# ----------------------------------------------------------------- periods


@dataclass(frozen=True)
class PeriodWindow:
    kind: str  # a Period value
    year: int
    index: int  # month 1-12, quarter 1-4, half 1-2, 1 for a year
    start: datetime  # aware UTC, inclusive
    end: datetime  # aware UTC, exclusive

    @property
    def label(self) -> str:
        """``2026-10``, ``2026-Q3``, ``2026-H2`` or ``2026`` (what ``parse_period`` reads)."""
        return {
            Period.MONTHLY: f"{self.year}-{self.index:02d}",
            Period.QUARTERLY: f"{self.year}-Q{self.index}",
            Period.HALF_YEARLY: f"{self.year}-H{self.index}",
            Period.YEARLY: f"{self.year}",
        }[Period(self.kind)]

    def shifted(self, steps: int, zone: ZoneInfo | None = None) -> PeriodWindow:
        months = _MONTHS[Period(self.kind)]
        first_month = (self.index - 1) * months + 1
        total = self.year * 12 + first_month - 1 + steps * months
        return period_bounds(self.kind, date(total // 12, total % 12 + 1, 1), zone)


_MONTHS = {Period.MONTHLY: 1, Period.QUARTERLY: 3, Period.HALF_YEARLY: 6, Period.YEARLY: 12}


def organisation_zone() -> ZoneInfo:
    """The configured time zone (``BABEL_DEFAULT_TIMEZONE``) periods are cut in."""
    name = current_app.config.get("BABEL_DEFAULT_TIMEZONE") if has_app_context() else None
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def period_bounds(period: str, day: date | datetime, zone: ZoneInfo | None = None
                  ) -> PeriodWindow:
    """The calendar period of kind ``period`` containing ``day`` in ``zone`` (default:
    the configured time zone). An aware datetime is first converted to that zone."""
    kind = Period(period)
    zone = zone or organisation_zone()
    if isinstance(day, datetime):
        if day.tzinfo is not None:
            day = day.astimezone(zone)
        day = day.date()
    months = _MONTHS[kind]
    index = (day.month - 1) // months + 1
    first_month = (index - 1) * months + 1
    start_local = datetime(day.year, first_month, 1, tzinfo=zone)
    following = day.year * 12 + first_month - 1 + months
    end_local = datetime(following // 12, following % 12 + 1, 1, tzinfo=zone)
    return PeriodWindow(kind.value, day.year, index, start_local.astimezone(UTC),
                        end_local.astimezone(UTC))


_PERIOD_LABEL = re.compile(
    r"^(?P<year>\d{4})(?:-(?:(?P<month>\d{1,2})|[Qq](?P<quarter>[1-4])|[Hh](?P<half>[12])))?$"
)


def parse_period(text: str, zone: ZoneInfo | None = None) -> PeriodWindow:
    """``2026-10`` (a month), ``2026-Q3``, ``2026-H2`` or ``2026``; else ServiceError."""
    match = _PERIOD_LABEL.match((text or "").strip())
    if match is None or not 1900 <= int(match["year"]) <= 9998:
        raise ServiceError(
            _l("Give a period as 2026-10 (month), 2026-Q3, 2026-H2 or 2026."), field="period"
        )
    year = int(match["year"])
    if match["month"]:
        month = int(match["month"])
        if not 1 <= month <= 12:
            raise ServiceError(
                _l("Give a period as 2026-10 (month), 2026-Q3, 2026-H2 or 2026."), field="period"
            )
        return period_bounds(Period.MONTHLY, date(year, month, 1), zone)
    if match["quarter"]:
        return period_bounds(Period.QUARTERLY, date(year, (int(match["quarter"]) - 1) * 3 + 1, 1),
                             zone)
    if match["half"]:
        return period_bounds(Period.HALF_YEARLY, date(year, (int(match["half"]) - 1) * 6 + 1, 1),
                             zone)
    return period_bounds(Period.YEARLY, date(year, 1, 1), zone)


def current_period(metric: SlaMetric, now: datetime | None = None) -> PeriodWindow:
    return period_bounds(metric.period, now or datetime.now(UTC))


# ----------------------------------------------------------------- aggregation


@dataclass
class Result:
    """A metric's aggregate over one period: ``value`` (None without data), the number
    of measurements ``n``, the ``status`` and the measurements behind it (oldest first)."""

    value: float | None
    n: int
    status: str
    measurements: list[SlaMeasurement] = field(default_factory=list)


def aggregate_values(metric: SlaMetric, values) -> float | None:
    """The aggregate of ``values`` (documented in docs/evaluations.md):

    * mean — arithmetic mean;
    * percentile — numpy's default "linear" method (Hyndman & Fan type 7, the same
      as Excel's PERCENTILE.INC and R's default quantile);
    * rate — 100 × the share of values meeting the per-measurement threshold
      (``>=`` or ``<=`` it), in percent;
    * sum — the total.

    None when there are no values.
    """
    data = np.asarray(list(values), dtype=float)
    if data.size == 0:
        return None
    kind = Aggregation(metric.aggregation)
    if kind is Aggregation.MEAN:
        return float(np.mean(data))
    if kind is Aggregation.PERCENTILE:
        return float(np.percentile(data, metric.percentile, method="linear"))
    if kind is Aggregation.RATE:
        if metric.rate_comparison == Comparison.AT_MOST:
            meets = data <= metric.rate_threshold
        else:
            meets = data >= metric.rate_threshold
        return float(100.0 * np.count_nonzero(meets) / data.size)
    return float(np.sum(data))


def status_of(metric: SlaMetric, value: float | None) -> str:
    """``met`` at or beyond the target and the warning threshold; ``warning`` when the
    target is met but the warning threshold is not (close to breaching); ``breached``
    when the target is missed; ``no_data`` without a value. Equal counts as reached."""
    if value is None:
        return NO_DATA
    higher = metric.direction == Direction.HIGHER

    def reaches(threshold: float) -> bool:
        return value >= threshold if higher else value <= threshold

    if not reaches(metric.target):
        return BREACHED
    if metric.warning is not None and not reaches(metric.warning):
        return WARNING
    return MET


def period_measurements(metric: SlaMetric, start: datetime, end: datetime) -> list[SlaMeasurement]:
    return list(db.session.scalars(
        select(SlaMeasurement)
        .where(SlaMeasurement.metric_id == metric.id,
               SlaMeasurement.measured_at >= start, SlaMeasurement.measured_at < end)
        .order_by(SlaMeasurement.measured_at, SlaMeasurement.id)
    ).all())


def measurements_query(actor, metric: SlaMetric, window: PeriodWindow | None = None) -> Select:
    """A metric's measurements (of one period, if given), oldest first."""
    get_metric(actor, metric.id)
    query = select(SlaMeasurement).where(SlaMeasurement.metric_id == metric.id)
    if window is not None:
        query = query.where(SlaMeasurement.measured_at >= window.start,
                            SlaMeasurement.measured_at < window.end)
    return query.order_by(SlaMeasurement.measured_at, SlaMeasurement.id)


def aggregate(metric: SlaMetric, period_start: datetime, period_end: datetime) -> Result:
    """The metric over ``[period_start, period_end)``."""
    rows = period_measurements(metric, period_start, period_end)
    value = aggregate_values(metric, (m.value for m in rows))
    return Result(value, len(rows), status_of(metric, value), rows)


def metric_status(actor, metric: SlaMetric, window: PeriodWindow | None = None) -> Result:
    """What ``actor`` sees: the metric over ``window`` (default: its current period)."""
    get_metric(actor, metric.id)
    window = window or current_period(metric)
    return aggregate(metric, window.start, window.end)


# ----------------------------------------------------------------- measurements


@dataclass
class MeasurementInput:
    """One measurement to record, already parsed (``row`` numbers it in its source)."""

    row: int | str
    measured_at: datetime
    value: float
    external_id: str | None = None
    note: str | None = None


@dataclass
class Recorded:
    measurement: SlaMeasurement
    outcome: str  # "created", "updated" or "unchanged"


def _check_input(item: MeasurementInput) -> list:
    errors = []
    if item.measured_at.tzinfo is None:
        errors.append(_l("The time needs a time zone."))
    if not math.isfinite(item.value):
        errors.append(_l("The value must be a number."))
    if item.external_id is not None and len(item.external_id) > MAX_EXTERNAL_ID:
        errors.append(_l("The external id is longer than %(n)d characters.", n=MAX_EXTERNAL_ID))
    if item.note is not None and len(item.note) > MAX_NOTE:
        errors.append(_l("The note is longer than %(n)d characters.", n=MAX_NOTE))
    return errors


def _existing(metric_id: int, external_ids: list[str]) -> dict[str, SlaMeasurement]:
    found: dict[str, SlaMeasurement] = {}
    for start in range(0, len(external_ids), _IN_CHUNK):
        chunk = external_ids[start:start + _IN_CHUNK]
        for m in db.session.scalars(select(SlaMeasurement).where(
            SlaMeasurement.metric_id == metric_id, SlaMeasurement.external_id.in_(chunk)
        )):
            found[m.external_id] = m
    return found


def _same(m: SlaMeasurement, item: MeasurementInput) -> bool:
    return (m.measured_at == item.measured_at.astimezone(UTC) and m.value == item.value
            and (m.note or None) == (item.note or None))


def plan_outcomes(metric_id: int | None, items: list[MeasurementInput]) -> dict[int, str]:
    """Per item (by position): "created", "updated" or "unchanged", by external id."""
    ids = [i.external_id for i in items if i.external_id]
    existing = _existing(metric_id, ids) if metric_id is not None and ids else {}
    outcomes = {}
    for position, item in enumerate(items):
        m = existing.get(item.external_id) if item.external_id else None
        outcomes[position] = "created" if m is None else (
            "unchanged" if _same(m, item) else "updated")
    return outcomes


def record_measurements(actor, metric: SlaMetric, items: Iterable[MeasurementInput], *,
                        source: str) -> list[Recorded]:
    """Record measurements all or nothing. A measurement whose external id the metric
    already has is updated in place if its time, value or note differ, else left
    unchanged — sending the same data again creates nothing. Measurements without an
    external id are always added. Raises :class:`ServiceError` with ``errors`` by row."""
    require_admin(actor)
    _choice(source, Source, "source")
    items = list(items)
    if len(items) > MAX_MEASUREMENTS_PER_CALL:
        raise ServiceError(_l("At most %(n)d measurements at a time.",
                              n=MAX_MEASUREMENTS_PER_CALL))
    errors: dict[str, list] = {}
    seen: dict[str, object] = {}
    for item in items:
        problems = _check_input(item)
        if item.external_id:
            if item.external_id in seen:
                problems.append(_l("The external id %(id)s is also in row %(row)s.",
                                   id=item.external_id, row=seen[item.external_id]))
            else:
                seen[item.external_id] = item.row
        if problems:
            errors[str(item.row)] = problems
    if errors:
        raise ServiceError(_l("Nothing was recorded: some measurements are not valid."),
                           errors=errors)
    existing = _existing(metric.id, list(seen)) if seen else {}
    recorded: list[Recorded] = []
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    for item in items:
        at = item.measured_at.astimezone(UTC)
        m = existing.get(item.external_id) if item.external_id else None
        if m is None:
            m = SlaMeasurement(metric=metric, measured_at=at, value=item.value,
                               external_id=item.external_id or None, source=source,
                               note=item.note or None)
            db.session.add(m)
            outcome = "created"
        elif _same(m, item):
            outcome = "unchanged"
        else:
            m.measured_at, m.value, m.note = at, item.value, item.note or None
            outcome = "updated"
        counts[outcome] += 1
        recorded.append(Recorded(m, outcome))
    db.session.flush()
    if counts["created"] or counts["updated"]:
        audit.record("sla_measurements.recorded", metric, actor=actor,
                     details={"source": source, **counts})
    return recorded


# ----------------------------------------------------------------- upload

COLUMNS = ("metric", "measured_at", "value", "external_id", "note")
REQUIRED_COLUMNS = ("metric", "measured_at", "value")
CHINESE_HEADERS = {
    "metric": "指标",
    "measured_at": "测量时间",
    "value": "数值",
    "external_id": "外部编号",
    "note": "备注",
}
_HEADER_ALIASES = {
    "metric": ("metric", "metric_name", "指标", "指标名称"),
    "measured_at": ("measured_at", "time", "date", "timestamp", "测量时间", "时间", "日期"),
    "value": ("value", "数值", "值"),
    "external_id": ("external_id", "id", "外部编号", "外部id", "编号"),
    "note": ("note", "comment", "备注", "说明"),
}
HEADER_ALIASES = {alias: column for column, aliases in _HEADER_ALIASES.items() for alias in aliases}

_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_GROUPED = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$")


def _file_error(message) -> ServiceError:
    return ServiceError(message, field="file")


def parse_upload(filename: str, data: bytes) -> orgchart.ParsedFile:
    """Read a measurements file (CSV or XLSX; English or Chinese column names)."""
    header: dict[int, str] | None = None
    ignored: list[str] = []
    rows: list[orgchart.ParsedRow] = []
    for number, record in orgchart.read_records(filename, data):
        cells = [c.strip() for c in record[:orgchart.MAX_COLUMNS]]
        if not any(cells):
            continue
        if header is None:
            header = {}
            for index, raw in enumerate(cells):
                if not raw:
                    continue
                column = HEADER_ALIASES.get(orgchart.header_key(raw))
                if column is None:
                    ignored.append(raw)
                    continue
                if column in header.values():
                    raise _file_error(
                        _l("The column “%(column)s” appears twice in the first row.", column=raw))
                header[index] = column
            missing = [c for c in REQUIRED_COLUMNS if c not in header.values()]
            if missing:
                raise _file_error(_l(
                    "The first row must name the columns; missing: %(columns)s.",
                    columns=", ".join(f"{c} ({CHINESE_HEADERS[c]})" for c in missing)))
            continue
        if len(rows) >= MAX_UPLOAD_ROWS:
            raise _file_error(_l("The file has more than %(n)d rows. Split it into several files.",
                                 n=MAX_UPLOAD_ROWS))
        rows.append(orgchart.ParsedRow(number, {
            column: (cells[index] if index < len(cells) else "") for index, column in header.items()
        }))
    if header is None:
        raise _file_error(_l("The file is empty."))
    if not rows:
        raise _file_error(_l("The file has a header row but no measurements below it."))
    columns = tuple(c for c in COLUMNS if c in header.values())
    return orgchart.ParsedFile(Path(filename or "").name[:255], columns, tuple(ignored), rows)


def parse_number(text: str) -> float | None:
    """``95``, ``99.95``, ``1,234.5``, ``-3``, ``1e3``; a trailing ``%`` is dropped (the
    unit is the metric's). None if it is not a finite number."""
    text = (text or "").strip().replace("\u00a0", "").replace(" ", "")
    if text.endswith("%"):
        text = text[:-1]
    if _GROUPED.match(text):
        text = text.replace(",", "")
    if not _NUMBER.match(text):
        return None
    value = float(text)
    return value if math.isfinite(value) else None


_DATE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d", "%Y/%m/%d %H:%M:%S",
                 "%Y/%m/%d %H:%M", "%Y/%m/%d")


def parse_time(text: str, zone: ZoneInfo | None = None) -> datetime | None:
    """ISO 8601 (``2026-10-03``, ``2026-10-03T14:05``, with or without an offset) or
    ``2026/10/03 14:05``. A time without an offset is in the configured zone; a date
    alone is its midnight. None if it cannot be read."""
    text = (text or "").strip()
    if not text:
        return None
    parsed = None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z")
                                        else text)
    except ValueError:
        for fmt in _DATE_FORMATS:
            try:
                parsed = datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
    if parsed is None or not 1900 <= parsed.year <= 9998:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone or organisation_zone())
    return parsed.astimezone(UTC)


@dataclass
class UploadRow:
    row: int
    metric_name: str
    measured_at_text: str
    value_text: str
    external_id: str | None
    note: str | None
    metric: SlaMetric | None = None
    measured_at: datetime | None = None
    value: float | None = None
    action: str = "created"  # created / updated / unchanged / error
    errors: list = field(default_factory=list)


def check_upload(actor, entity: Vendor | Team, parsed: orgchart.ParsedFile) -> list[UploadRow]:
    """Check every row of a measurements file for ``entity``; writes nothing."""
    require_admin(actor)
    by_name = {m.name.strip().lower(): m for m in entity_metrics(actor, entity)}
    zone = organisation_zone()
    checks: list[UploadRow] = []
    first_row: dict[tuple[int, str], int] = {}
    for r in parsed.rows:
        v = r.values
        check = UploadRow(r.row, v.get("metric", ""), v.get("measured_at", ""),
                          v.get("value", ""), v.get("external_id") or None, v.get("note") or None)
        if check.metric_name[:1] == "'" and check.metric_name[1:2] in ("=", "+", "-", "@"):
            check.metric_name = check.metric_name[1:]  # our template's formula guard
        if not check.metric_name:
            check.errors.append(_l("The metric is missing."))
        else:
            check.metric = by_name.get(check.metric_name.lower())
            if check.metric is None:
                check.errors.append(_l("There is no metric “%(name)s” for %(entity)s.",
                                       name=check.metric_name, entity=entity.name))
            elif not check.metric.active:
                check.errors.append(_l("The metric “%(name)s” is deactivated.",
                                       name=check.metric.name))
        check.measured_at = parse_time(check.measured_at_text, zone)
        if check.measured_at is None:
            check.errors.append(
                _l("“%(text)s” is not a date and time (use 2026-10-03 or 2026-10-03 14:05).",
                   text=check.measured_at_text) if check.measured_at_text
                else _l("The time is missing."))
        check.value = parse_number(check.value_text)
        if check.value is None:
            check.errors.append(_l("“%(text)s” is not a number.", text=check.value_text)
                                if check.value_text else _l("The value is missing."))
        if check.external_id is not None and len(check.external_id) > MAX_EXTERNAL_ID:
            check.errors.append(_l("The external id is longer than %(n)d characters.",
                                   n=MAX_EXTERNAL_ID))
        if check.note is not None and len(check.note) > MAX_NOTE:
            check.errors.append(_l("The note is longer than %(n)d characters.", n=MAX_NOTE))
        if check.external_id and check.metric is not None:
            key = (check.metric.id, check.external_id)
            if key in first_row:
                check.errors.append(_l("The external id %(id)s of this metric is also in row "
                                       "%(row)s.", id=check.external_id, row=first_row[key]))
            else:
                first_row[key] = r.row
        checks.append(check)
    _set_actions(checks)
    return checks


def _set_actions(checks: list[UploadRow]) -> None:
    by_metric: dict[int, list[UploadRow]] = {}
    for c in checks:
        if c.errors:
            c.action = "error"
        else:
            by_metric.setdefault(c.metric.id, []).append(c)
    for metric_id, group in by_metric.items():
        items = [_as_input(c) for c in group]
        for position, outcome in plan_outcomes(metric_id, items).items():
            group[position].action = outcome


def _as_input(c: UploadRow) -> MeasurementInput:
    return MeasurementInput(c.row, c.measured_at, c.value, c.external_id, c.note)


def upload_counts(checks: list[UploadRow]) -> dict[str, int]:
    counts = {"total": len(checks), "created": 0, "updated": 0, "unchanged": 0, "error": 0}
    for c in checks:
        counts[c.action] += 1
    return counts


def upload_digest(entity: Vendor | Team, checks: list[UploadRow]) -> str:
    """A fingerprint of what confirming will write, and for which vendor or team."""
    payload = [entity_kind(entity), entity.id, [
        [c.row, c.metric.id if c.metric else None,
         c.measured_at.isoformat() if c.measured_at else None, c.value, c.external_id, c.note,
         c.action] for c in checks]]
    encoded = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(encoded.encode()).hexdigest()


def apply_upload(actor, entity: Vendor | Team, checks: list[UploadRow]) -> dict[str, int]:
    """Record every row of a checked file (which must have no errors); flushes."""
    require_admin(actor)
    if any(c.errors for c in checks):
        raise ServiceError(_l("The file has errors; nothing was recorded."))
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    groups: dict[int, tuple[SlaMetric, list[UploadRow]]] = {}
    for c in checks:
        groups.setdefault(c.metric.id, (c.metric, []))[1].append(c)
    for metric, group in groups.values():
        for done in record_measurements(actor, metric, [_as_input(c) for c in group],
                                        source=Source.UPLOAD):
            counts[done.outcome] += 1
    return counts


def template_csv(entity: Vendor | Team | None = None, chinese_headers: bool = False) -> bytes:
    """An upload file with the header row (and one example row per metric of ``entity``),
    UTF-8 with BOM so Excel opens it right. Cells are neutralised against formulas."""
    headers = [CHINESE_HEADERS[c] for c in COLUMNS] if chinese_headers else list(COLUMNS)
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(headers)
    if entity is not None:
        for metric in (m for m in _metrics_of(entity) if m.active):
            writer.writerow([_safe_cell(metric.name), "", "", "", ""])
    return codecs.BOM_UTF8 + out.getvalue().encode("utf-8")


def _metrics_of(entity: Vendor | Team) -> Iterator[SlaMetric]:
    column = SlaMetric.vendor_id if isinstance(entity, Vendor) else SlaMetric.team_id
    yield from db.session.scalars(select(SlaMetric).where(column == entity.id)
                                  .order_by(func.lower(SlaMetric.name)))


def _safe_cell(text: str) -> str:
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
