"""JSON in and out for SLA metrics, measurements and period status (API schemas).

Schemas check shapes and document the API; the rules stay in :mod:`evaluations.sla`.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from evaluations.models import Aggregation, Comparison, Direction, Period
from evaluations.sla import (
    MAX_EXTERNAL_ID,
    MAX_MEASUREMENTS_PER_CALL,
    MAX_NAME,
    MAX_NOTE,
    MAX_UNIT,
    STATUSES,
)


def _values(enum_cls) -> list[str]:
    return [m.value for m in enum_cls]


class MetricSettingsSchema(Schema):
    """Settings of a metric (PATCH: send only those to change)."""

    name = fields.String(validate=validate.Length(min=1, max=MAX_NAME),
                         metadata={"example": "First response time"})
    unit = fields.String(validate=validate.Length(max=MAX_UNIT), metadata={"example": "h"})
    direction = fields.String(validate=validate.OneOf(_values(Direction)),
                              metadata={"description": "Whether higher or lower is better."})
    target = fields.Float(allow_nan=False, metadata={"example": 24})
    warning = fields.Float(allow_none=True, allow_nan=False, metadata={
        "description": "Optional. A period value that meets the target but not this threshold "
        "is `warning` (above the target when higher is better, below when lower is better).",
        "example": 20})
    aggregation = fields.String(validate=validate.OneOf(_values(Aggregation)), metadata={
        "description": "`mean`, `percentile` (numpy 'linear' = Excel PERCENTILE.INC), `rate` "
        "(percentage of measurements meeting `rate_threshold`) or `sum`."})
    percentile = fields.Float(allow_none=True, allow_nan=False,
                              metadata={"description": "For `percentile`: above 0, at most 100.",
                                        "example": 90})
    rate_threshold = fields.Float(allow_none=True, allow_nan=False,
                                  metadata={"description": "For `rate`: the per-measurement "
                                            "threshold.", "example": 1})
    rate_comparison = fields.String(allow_none=True, validate=validate.OneOf(_values(Comparison)),
                                    metadata={"description": "For `rate`: `ge` (value ≥ "
                                              "threshold counts) or `le`."})
    period = fields.String(validate=validate.OneOf(_values(Period)),
                           metadata={"example": "monthly"})
    active = fields.Boolean()


class MetricCreateSchema(MetricSettingsSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=MAX_NAME),
                         metadata={"example": "First response time"})
    direction = fields.String(required=True, validate=validate.OneOf(_values(Direction)),
                              metadata={"description": "Whether higher or lower is better."})
    target = fields.Float(required=True, allow_nan=False, metadata={"example": 24})
    aggregation = fields.String(required=True, validate=validate.OneOf(_values(Aggregation)),
                                metadata={"description": MetricSettingsSchema._declared_fields[
                                    "aggregation"].metadata["description"]})
    vendor_id = fields.Integer(strict=True, allow_none=True,
                               metadata={"description": "The vendor, or give `team_id`."})
    team_id = fields.Integer(strict=True, allow_none=True,
                             metadata={"description": "The team, or give `vendor_id`."})

    class Meta:
        description = "A new metric: exactly one of `vendor_id` and `team_id`."


class MetricSchema(MetricCreateSchema):
    id = fields.Integer(dump_only=True)
    created_at = fields.AwareDateTime(dump_only=True)


class MetricQuerySchema(Schema):
    vendor_id = fields.Integer()
    team_id = fields.Integer()
    active = fields.Boolean()


class MeasurementInSchema(Schema):
    measured_at = fields.AwareDateTime(required=True, metadata={
        "description": "ISO 8601 with a UTC offset; a time without one is refused.",
        "example": "2026-10-03T14:05:00+08:00"})
    value = fields.Float(required=True, allow_nan=False, metadata={"example": 18.5})
    external_id = fields.String(allow_none=True, validate=validate.Length(min=1,
                                max=MAX_EXTERNAL_ID), metadata={
        "description": "Your id of the ticket, delivery or sample. Sending a measurement "
        "with an id the metric already has updates it (if anything differs) instead of "
        "adding another: replays are safe.", "example": "INC-20431"})
    note = fields.String(allow_none=True, validate=validate.Length(max=MAX_NOTE))


class MeasurementSchema(MeasurementInSchema):
    id = fields.Integer(dump_only=True)
    source = fields.String(dump_only=True, metadata={"example": "api"})
    created_at = fields.AwareDateTime(dump_only=True)


class RecordedMeasurementSchema(MeasurementSchema):
    outcome = fields.String(dump_only=True, metadata={
        "description": "`created`, `updated` or `unchanged` (already recorded as sent)."})


class MeasurementBatchSchema(Schema):
    measurements = fields.List(fields.Nested(MeasurementInSchema), required=True,
                               validate=validate.Length(min=1, max=MAX_MEASUREMENTS_PER_CALL))


class RecordedSchema(Schema):
    created = fields.Integer()
    updated = fields.Integer()
    unchanged = fields.Integer()
    measurements = fields.List(fields.Nested(RecordedMeasurementSchema))


class MeasurementQuerySchema(Schema):
    period = fields.String(metadata={"description": "Only this period: `2026-10`, `2026-Q3`, "
                                     "`2026-H2` or `2026`.", "example": "2026-10"})


class StatusQuerySchema(Schema):
    period = fields.String(metadata={"description": "`2026-10` (a month), `2026-Q3`, `2026-H2` "
                                     "or `2026`; default: the metric's current period.",
                                     "example": "2026-Q3"})


class StatusSchema(Schema):
    metric_id = fields.Integer()
    period = fields.String(metadata={"example": "2026-Q3"})
    period_start = fields.AwareDateTime()
    period_end = fields.AwareDateTime(metadata={"description": "Exclusive."})
    value = fields.Float(allow_none=True, metadata={"description": "None without data."})
    n = fields.Integer(metadata={"description": "Number of measurements."})
    target = fields.Float()
    warning = fields.Float(allow_none=True)
    direction = fields.String()
    status = fields.String(metadata={"description": " / ".join(STATUSES)})
