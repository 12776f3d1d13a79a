"""SLA metrics (what is measured about a vendor or team, against which target) and
their measurements (one value at one moment)."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.database import UTCDateTime, utcnow
from core.extensions import db
from org.models import Team, User, Vendor


class Direction(enum.StrEnum):
    HIGHER = "higher"  # higher is better: resolution rate, availability
    LOWER = "lower"  # lower is better: response time


class Aggregation(enum.StrEnum):
    MEAN = "mean"
    PERCENTILE = "percentile"
    RATE = "rate"  # % of measurements meeting the per-measurement threshold
    SUM = "sum"


class Comparison(enum.StrEnum):
    AT_LEAST = "ge"  # a measurement counts for the rate when value >= threshold
    AT_MOST = "le"  # ... when value <= threshold


class Period(enum.StrEnum):
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    HALF_YEARLY = "half_yearly"
    YEARLY = "yearly"


class Source(enum.StrEnum):
    UPLOAD = "upload"
    API = "api"
    SURVEY = "survey"
    MANUAL = "manual"


def _in(column: str, enum_cls) -> str:
    return f"{column} IN ({', '.join(repr(m.value) for m in enum_cls)})"


class SlaMetric(db.Model):
    """One SLA term of one vendor or team: e.g. "first response time, 90th percentile
    of the month, at most 24 h"."""

    __tablename__ = "sla_metrics"

    id: Mapped[int] = mapped_column(primary_key=True)
    vendor_id: Mapped[int | None] = mapped_column(ForeignKey("vendors.id"), index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    unit: Mapped[str] = mapped_column(String(32), default="")
    direction: Mapped[str] = mapped_column(String(8))
    target: Mapped[float] = mapped_column(Float)
    warning: Mapped[float | None] = mapped_column(Float)
    aggregation: Mapped[str] = mapped_column(String(16))
    percentile: Mapped[float | None] = mapped_column(Float)
    rate_threshold: Mapped[float | None] = mapped_column(Float)
    rate_comparison: Mapped[str | None] = mapped_column(String(2))
    period: Mapped[str] = mapped_column(String(16), default=Period.MONTHLY.value)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    vendor: Mapped[Vendor | None] = relationship()
    team: Mapped[Team | None] = relationship()

    __table_args__ = (
        CheckConstraint(
            "(CASE WHEN vendor_id IS NULL THEN 0 ELSE 1 END)"
            " + (CASE WHEN team_id IS NULL THEN 0 ELSE 1 END) = 1",
            name="one_entity",
        ),
        CheckConstraint(_in("direction", Direction), name="direction"),
        CheckConstraint(_in("aggregation", Aggregation), name="aggregation"),
        CheckConstraint(_in("period", Period), name="period"),
        CheckConstraint(
            "rate_comparison IS NULL OR " + _in("rate_comparison", Comparison),
            name="rate_comparison",
        ),
        CheckConstraint(
            "aggregation <> 'percentile' OR (percentile > 0 AND percentile <= 100)",
            name="percentile",
        ),
        CheckConstraint(
            "aggregation <> 'rate' OR (rate_threshold IS NOT NULL AND rate_comparison IS NOT NULL)",
            name="rate_rule",
        ),
        UniqueConstraint("vendor_id", "name", name="uq_sla_metrics_vendor_name"),
        UniqueConstraint("team_id", "name", name="uq_sla_metrics_team_name"),
    )

    @property
    def entity(self) -> Vendor | Team:
        return self.vendor if self.vendor_id is not None else self.team

    @property
    def entity_kind(self) -> str:
        return "vendor" if self.vendor_id is not None else "team"

    def __repr__(self) -> str:
        return f"<SlaMetric {self.id} {self.name!r}>"


class SlaMeasurement(db.Model):
    """One measured value of a metric. ``external_id`` (the sender's id of the ticket,
    delivery or sample) makes uploads and API calls idempotent per metric."""

    __tablename__ = "sla_measurements"

    id: Mapped[int] = mapped_column(primary_key=True)
    metric_id: Mapped[int] = mapped_column(ForeignKey("sla_metrics.id"))
    measured_at: Mapped[datetime] = mapped_column(UTCDateTime)
    value: Mapped[float] = mapped_column(Float)
    external_id: Mapped[str | None] = mapped_column(String(100))
    source: Mapped[str] = mapped_column(String(8))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    metric: Mapped[SlaMetric] = relationship()

    __table_args__ = (
        CheckConstraint(_in("source", Source), name="source"),
        UniqueConstraint("metric_id", "external_id", name="uq_sla_measurements_external_id"),
        Index("ix_sla_measurements_metric_time", "metric_id", "measured_at"),
    )

    def __repr__(self) -> str:
        return f"<SlaMeasurement {self.id} metric={self.metric_id} {self.value}>"


# ----------------------------------------------------------------- scorecards


class KpiFamily(enum.StrEnum):
    DELIVERY_TIME = "delivery_time"
    QUALITY = "quality"
    COST = "cost_effectiveness"
    COMMUNICATION = "communication"
    INNOVATION = "innovation"
    SATISFACTION = "customer_satisfaction"


class KpiSource(enum.StrEnum):
    SLA = "sla"  # source_key: the name of an SLA metric of the evaluated vendor or team
    SURVEY = "survey"  # survey_measure (+ dimension_key) over campaigns about the entity
    MANUAL = "manual"  # a reviewer's score 0-100 with a comment


class SurveyMeasure(enum.StrEnum):
    CSAT = "csat"  # top-2-box %, 0-100
    NPS = "nps"  # -100..100
    CES = "ces"  # mean effort on 1-7
    DIMENSION = "dimension"  # mean dimension score, POMP 0-100


class EvaluationStatus(enum.StrEnum):
    DRAFT = "draft"
    FINAL = "final"


class ScorecardTemplate(db.Model):
    """A scorecard: KPIs with weights totalling 100 %, grade bands, and the number of
    survey answers below which a survey KPI is flagged "too few responses"."""

    __tablename__ = "scorecard_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    # [{"code", "min_score" (None for the last band), "label_en", "label_zh"}, ...] best first
    grade_bands: Mapped[list] = mapped_column(JSON)
    min_responses: Mapped[int] = mapped_column(Integer, default=30)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    kpis: Mapped[list[ScorecardKpi]] = relationship(
        order_by="ScorecardKpi.position, ScorecardKpi.id",
        primaryjoin="and_(ScorecardKpi.template_id == ScorecardTemplate.id, "
                    "ScorecardKpi.retired_at.is_(None))",
        viewonly=True,
    )

    __table_args__ = (CheckConstraint("min_responses >= 1", name="min_responses"),)

    def __repr__(self) -> str:
        return f"<ScorecardTemplate {self.id} {self.name!r}>"


class ScorecardKpi(db.Model):
    """One KPI of a template. A KPI that evaluations used is *retired* (hidden from
    the template) rather than deleted when it is removed, so history keeps it."""

    __tablename__ = "scorecard_kpis"

    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("scorecard_templates.id"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    family: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    weight: Mapped[float] = mapped_column(Float)  # percent
    target: Mapped[float] = mapped_column(Float)
    floor: Mapped[float] = mapped_column(Float)
    direction: Mapped[str] = mapped_column(String(8))
    source_kind: Mapped[str] = mapped_column(String(8))
    sla_metric_name: Mapped[str | None] = mapped_column(String(200))
    survey_measure: Mapped[str | None] = mapped_column(String(16))
    dimension_key: Mapped[str | None] = mapped_column(String(64))
    # Only campaigns of this questionnaire count (None: any questionnaire).
    questionnaire_id: Mapped[int | None] = mapped_column(ForeignKey("questionnaires.id"))
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    template: Mapped[ScorecardTemplate] = relationship(foreign_keys=[template_id])

    __table_args__ = (
        CheckConstraint(_in("family", KpiFamily), name="family"),
        CheckConstraint(_in("direction", Direction), name="direction"),
        CheckConstraint(_in("source_kind", KpiSource), name="source_kind"),
        CheckConstraint(
            "survey_measure IS NULL OR " + _in("survey_measure", SurveyMeasure),
            name="survey_measure",
        ),
        CheckConstraint("weight >= 0 AND weight <= 100", name="weight"),
        CheckConstraint(
            "(direction = 'higher' AND floor < target) OR (direction = 'lower' AND floor > target)",
            name="floor_side",
        ),
        CheckConstraint("source_kind <> 'sla' OR sla_metric_name IS NOT NULL", name="sla_rule"),
        CheckConstraint(
            "source_kind <> 'survey' OR (survey_measure IS NOT NULL AND "
            "(survey_measure <> 'dimension' OR dimension_key IS NOT NULL))",
            name="survey_rule",
        ),
    )

    def __repr__(self) -> str:
        return f"<ScorecardKpi {self.id} {self.name!r}>"


class Evaluation(db.Model):
    """A scorecard applied to one vendor or team for one period, as computed at
    ``computed_at``. A final evaluation never changes; computing it again makes the
    next revision."""

    __tablename__ = "evaluations"

    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[int] = mapped_column(ForeignKey("scorecard_templates.id"), index=True)
    vendor_id: Mapped[int | None] = mapped_column(ForeignKey("vendors.id"), index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), index=True)
    period: Mapped[str] = mapped_column(String(16))  # 2026-Q3, 2026-10, 2026-H2, 2026
    period_start: Mapped[datetime] = mapped_column(UTCDateTime)
    period_end: Mapped[datetime] = mapped_column(UTCDateTime)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(8), default=EvaluationStatus.DRAFT.value)
    # Weighted KPI composite before adjustments; composite = that + adjustments, on 0-100.
    base_composite: Mapped[float | None] = mapped_column(Float)
    composite: Mapped[float | None] = mapped_column(Float)
    coverage: Mapped[float | None] = mapped_column(Float)  # share of the weight with data
    reweighted: Mapped[bool] = mapped_column(Boolean, default=False)
    grade: Mapped[str | None] = mapped_column(String(32))  # a band code
    grade_bands: Mapped[list] = mapped_column(JSON)  # the bands used (copied)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    computed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    finalised_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finalised_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    template: Mapped[ScorecardTemplate] = relationship()
    vendor: Mapped[Vendor | None] = relationship()
    team: Mapped[Team | None] = relationship()
    kpis: Mapped[list[EvaluationKpi]] = relationship(
        back_populates="evaluation", order_by="EvaluationKpi.position, EvaluationKpi.id",
        cascade="all, delete-orphan",
    )
    adjustments: Mapped[list[EvaluationAdjustment]] = relationship(
        back_populates="evaluation", order_by="EvaluationAdjustment.id",
        cascade="all, delete-orphan",
    )

    __table_args__ = (
        CheckConstraint(
            "(CASE WHEN vendor_id IS NULL THEN 0 ELSE 1 END)"
            " + (CASE WHEN team_id IS NULL THEN 0 ELSE 1 END) = 1",
            name="one_entity",
        ),
        CheckConstraint(_in("status", EvaluationStatus), name="status"),
        CheckConstraint("revision >= 1", name="revision"),
        CheckConstraint("status <> 'final' OR finalised_at IS NOT NULL", name="final_has_time"),
        UniqueConstraint("template_id", "vendor_id", "period", "revision",
                         name="uq_evaluations_vendor_revision"),
        UniqueConstraint("template_id", "team_id", "period", "revision",
                         name="uq_evaluations_team_revision"),
    )

    @property
    def entity(self) -> Vendor | Team:
        return self.vendor if self.vendor_id is not None else self.team

    @property
    def entity_kind(self) -> str:
        return "vendor" if self.vendor_id is not None else "team"

    @property
    def is_final(self) -> bool:
        return self.status == EvaluationStatus.FINAL

    def __repr__(self) -> str:
        return f"<Evaluation {self.id} {self.period} r{self.revision} {self.status}>"


class EvaluationKpi(db.Model):
    """One KPI's line of an evaluation. The KPI's settings are copied so a final
    evaluation keeps showing what it was computed with after the template changes."""

    __tablename__ = "evaluation_kpis"

    id: Mapped[int] = mapped_column(primary_key=True)
    evaluation_id: Mapped[int] = mapped_column(ForeignKey("evaluations.id"), index=True)
    kpi_id: Mapped[int] = mapped_column(ForeignKey("scorecard_kpis.id"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    family: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    weight: Mapped[float] = mapped_column(Float)  # configured, percent
    target: Mapped[float] = mapped_column(Float)
    floor: Mapped[float] = mapped_column(Float)
    direction: Mapped[str] = mapped_column(String(8))
    source_kind: Mapped[str] = mapped_column(String(8))
    source_label: Mapped[str] = mapped_column(String(300), default="")
    raw_value: Mapped[float | None] = mapped_column(Float)
    n: Mapped[int | None] = mapped_column(Integer)
    ci_low: Mapped[float | None] = mapped_column(Float)
    ci_high: Mapped[float | None] = mapped_column(Float)
    score: Mapped[float | None] = mapped_column(Float)  # 0-100; None without data
    weight_used: Mapped[float] = mapped_column(Float, default=0.0)  # percent after re-weighting
    no_data: Mapped[bool] = mapped_column(Boolean, default=False)
    too_few_responses: Mapped[bool] = mapped_column(Boolean, default=False)
    note: Mapped[str] = mapped_column(String(500), default="")  # why there is no data
    manual_score: Mapped[float | None] = mapped_column(Float)
    manual_comment: Mapped[str | None] = mapped_column(Text)
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    evaluation: Mapped[Evaluation] = relationship(back_populates="kpis")
    kpi: Mapped[ScorecardKpi] = relationship()

    __table_args__ = (
        CheckConstraint("score IS NULL OR (score >= 0 AND score <= 100)", name="score"),
        CheckConstraint(
            "manual_score IS NULL OR (manual_score >= 0 AND manual_score <= 100)",
            name="manual_score",
        ),
        UniqueConstraint("evaluation_id", "kpi_id", name="uq_evaluation_kpis_kpi"),
    )


class EvaluationAdjustment(db.Model):
    """Points a reviewer adds to (or takes off) the composite, with the reason."""

    __tablename__ = "evaluation_adjustments"

    id: Mapped[int] = mapped_column(primary_key=True)
    evaluation_id: Mapped[int] = mapped_column(ForeignKey("evaluations.id"), index=True)
    points: Mapped[float] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    evaluation: Mapped[Evaluation] = relationship(back_populates="adjustments")
    created_by: Mapped[User | None] = relationship()

    __table_args__ = (
        CheckConstraint("points >= -100 AND points <= 100 AND points <> 0", name="points"),
    )


# ----------------------------------------------------------------- improvement plans


class ActionStatus(enum.StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    CANCELLED = "cancelled"


class ImprovementAction(db.Model):
    """One action of a vendor's or team's improvement plan, addressing one KPI that
    failed or was in warning. It belongs to the entity and the scorecard KPI (which
    outlive recomputations and revisions), and remembers the period and evaluation it
    came from; the KPI's name is copied so the plan reads the same after the template
    changes."""

    __tablename__ = "improvement_actions"

    id: Mapped[int] = mapped_column(primary_key=True)
    vendor_id: Mapped[int | None] = mapped_column(ForeignKey("vendors.id"), index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), index=True)
    kpi_id: Mapped[int] = mapped_column(ForeignKey("scorecard_kpis.id"), index=True)
    kpi_name: Mapped[str] = mapped_column(String(200))
    period: Mapped[str] = mapped_column(String(16))  # the period of origin, e.g. 2026-Q3
    evaluation_id: Mapped[int | None] = mapped_column(ForeignKey("evaluations.id"), index=True)
    description: Mapped[str] = mapped_column(Text)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    owner_name: Mapped[str] = mapped_column(String(200), default="")
    due_date: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default=ActionStatus.OPEN.value)
    evidence: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    vendor: Mapped[Vendor | None] = relationship()
    team: Mapped[Team | None] = relationship()
    kpi: Mapped[ScorecardKpi] = relationship()
    evaluation: Mapped[Evaluation | None] = relationship()
    owner: Mapped[User | None] = relationship(foreign_keys=[owner_id])

    __table_args__ = (
        CheckConstraint(
            "(CASE WHEN vendor_id IS NULL THEN 0 ELSE 1 END)"
            " + (CASE WHEN team_id IS NULL THEN 0 ELSE 1 END) = 1",
            name="one_entity",
        ),
        CheckConstraint(_in("status", ActionStatus), name="status"),
    )

    @property
    def entity(self) -> Vendor | Team:
        return self.vendor if self.vendor_id is not None else self.team

    @property
    def entity_kind(self) -> str:
        return "vendor" if self.vendor_id is not None else "team"

    def __repr__(self) -> str:
        return f"<ImprovementAction {self.id} kpi={self.kpi_id} {self.status}>"
