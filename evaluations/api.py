"""JSON API under ``/api/v1/sla-metrics``: SLA metrics, their measurements (idempotent
by external id) and a period's status.

Built like :mod:`surveys.campaign_api` with :class:`org.api.ApiBlueprint` (API-key
authentication, read scope for GET and write scope for everything else, one
transaction per request, the one JSON error shape, pagination). Endpoints are thin:
they call :mod:`evaluations.sla`, exactly like the HTML pages.
"""

from __future__ import annotations

from flask import url_for

from evaluations import sla
from evaluations.models import SlaMetric
from evaluations.schemas import (
    MeasurementBatchSchema,
    MeasurementQuerySchema,
    MeasurementSchema,
    MetricCreateSchema,
    MetricQuerySchema,
    MetricSchema,
    MetricSettingsSchema,
    RecordedSchema,
    StatusQuerySchema,
    StatusSchema,
)
from org.api import (
    MAX_PAGE_SIZE,
    PAGE_SIZE,
    ApiBlueprint,
    current_actor,
    page_items,
    register_api_blueprint,
)

sla_api = ApiBlueprint(
    "sla_api",
    __name__,
    url_prefix="/api/v1/sla-metrics",
    description="SLA metrics of vendors and teams, their measurements (idempotent by "
    "external id) and each period's status: met, warning, breached or no data.",
)

_ITEM = "/<int:metric_id>"
_not_found = sla_api.alt_response(404, response="NOT_FOUND")


def _metric(metric_id: int) -> SlaMetric:
    return sla.get_metric(current_actor(), metric_id)


@sla_api.route("", methods=["GET"], endpoint="list")
@sla_api.doc(operationId="list_sla_metrics")
@sla_api.arguments(MetricQuerySchema, location="query")
@sla_api.response(200, MetricSchema(many=True))
@sla_api.paginate(page_size=PAGE_SIZE, max_page_size=MAX_PAGE_SIZE)
def list_metrics(query, pagination_parameters):
    """List SLA metrics

    Filter with `vendor_id`, `team_id` and `active`.
    """
    return page_items(sla.search_metrics(current_actor(), **query), pagination_parameters)


@sla_api.route("", methods=["POST"], endpoint="create")
@sla_api.doc(operationId="create_sla_metric")
@sla_api.arguments(MetricCreateSchema)
@sla_api.response(201, MetricSchema)
def create_metric(data):
    """Create an SLA metric for a vendor or a team"""
    metric = sla.create_metric(current_actor(), **data)
    return metric, {"Location": url_for("sla_api.get", metric_id=metric.id)}


@sla_api.route(_ITEM, methods=["GET"], endpoint="get")
@sla_api.doc(operationId="get_sla_metric")
@sla_api.response(200, MetricSchema)
@_not_found
def get_metric(metric_id):
    """Get an SLA metric"""
    return _metric(metric_id)


@sla_api.route(_ITEM, methods=["PATCH"], endpoint="update")
@sla_api.doc(operationId="update_sla_metric")
@sla_api.arguments(MetricSettingsSchema)
@sla_api.response(200, MetricSchema)
@_not_found
def update_metric(data, metric_id):
    """Change an SLA metric

    Send only the settings to change. The vendor or team cannot change.
    """
    return sla.update_metric(current_actor(), _metric(metric_id), **data)


@sla_api.route(_ITEM, methods=["DELETE"], endpoint="delete")
@sla_api.doc(operationId="delete_sla_metric")
@sla_api.response(204)
@sla_api.alt_response(409, response="CONFLICT", description="The metric has measurements.")
@_not_found
def delete_metric(metric_id):
    """Delete an SLA metric without measurements

    A metric with measurements cannot be deleted (409): deactivate it with
    `PATCH {"active": false}`; its history is kept.
    """
    sla.delete_metric(current_actor(), _metric(metric_id))
    return None


def _measurement_view(m, outcome: str | None = None) -> dict:
    view = {
        "id": m.id, "measured_at": m.measured_at, "value": m.value,
        "external_id": m.external_id, "note": m.note, "source": m.source,
        "created_at": m.created_at,
    }
    if outcome is not None:
        view["outcome"] = outcome
    return view


@sla_api.route(f"{_ITEM}/measurements", methods=["GET"], endpoint="measurements")
@sla_api.doc(operationId="list_sla_measurements")
@sla_api.arguments(MeasurementQuerySchema, location="query")
@sla_api.response(200, MeasurementSchema(many=True))
@sla_api.paginate(page_size=PAGE_SIZE, max_page_size=MAX_PAGE_SIZE)
@_not_found
def list_measurements(query, pagination_parameters, metric_id):
    """List a metric's measurements, oldest first (optionally one `period`)"""
    metric = _metric(metric_id)
    window = sla.parse_period(query["period"]) if query.get("period") else None
    search = sla.measurements_query(current_actor(), metric, window)
    return [_measurement_view(m) for m in page_items(search, pagination_parameters)]


@sla_api.route(f"{_ITEM}/measurements", methods=["POST"], endpoint="record")
@sla_api.doc(operationId="record_sla_measurements")
@sla_api.arguments(MeasurementBatchSchema)
@sla_api.response(200, RecordedSchema)
@_not_found
def record_measurements(data, metric_id):
    """Record measurements (all or nothing, idempotent)

    A measurement whose `external_id` the metric already has is not added again: it
    is updated if its time, value or note differ (`outcome: updated`), otherwise left
    as it is (`unchanged`). Replaying a request therefore returns the same rows and
    records nothing twice. Measurements without `external_id` are always added.
    Errors are reported by position in the list (`"0"`, `"1"`…), and nothing is recorded.
    """
    metric = _metric(metric_id)
    items = [
        sla.MeasurementInput(index, m["measured_at"], m["value"], m.get("external_id"),
                             m.get("note"))
        for index, m in enumerate(data["measurements"])
    ]
    recorded = sla.record_measurements(current_actor(), metric, items, source="api")
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    for r in recorded:
        counts[r.outcome] += 1
    return {**counts,
            "measurements": [_measurement_view(r.measurement, r.outcome) for r in recorded]}


@sla_api.route(f"{_ITEM}/status", methods=["GET"], endpoint="status")
@sla_api.doc(operationId="get_sla_status")
@sla_api.arguments(StatusQuerySchema, location="query")
@sla_api.response(200, StatusSchema)
@_not_found
def get_status(query, metric_id):
    """A period's value, number of measurements and status

    `status` is `met`, `warning` (target met, warning threshold not), `breached`
    (target missed) or `no_data`. Periods are calendar periods in the organisation's
    time zone.
    """
    metric = _metric(metric_id)
    window = sla.parse_period(query["period"]) if query.get("period") else \
        sla.current_period(metric)
    result = sla.metric_status(current_actor(), metric, window)
    return {
        "metric_id": metric.id, "period": window.label, "period_start": window.start,
        "period_end": window.end, "value": result.value, "n": result.n,
        "target": metric.target, "warning": metric.warning, "direction": metric.direction,
        "status": result.status,
    }


def register_sla_api(api) -> None:
    """Add the SLA endpoints to the API (after :func:`org.api.register_api`)."""
    register_api_blueprint(api, sla_api)
