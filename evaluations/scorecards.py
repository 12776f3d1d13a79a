"""Scorecards and evaluations: the business operations.

A *scorecard template* lists KPIs grouped by family, each with a weight (the weights
total 100 %), a target (full marks), a floor (zero marks), a direction and a source:

* ``sla`` — the SLA metric of the evaluated vendor or team with that name, aggregated
  (its own aggregation) over the evaluation period;
* ``survey`` — CSAT, NPS, CES or a dimension score from the completed responses,
  submitted in the period, to campaigns whose subject is the vendor or team;
* ``manual`` — a score 0–100 a reviewer enters with a comment.

An *evaluation* is a template applied to one vendor or team for one period. Computing
it pulls every source, scores each KPI 0–100 (:func:`scoring.kpi_score`), shares the
weight of the KPIs without data among the others (:func:`scoring.weighted_composite`,
flagged), adds the reviewers' adjustments and grades the result
(:func:`scoring.grade`). A final evaluation never changes: computing it again makes
the next revision, and the earlier ones are kept.

Admins change templates and evaluations; managers read the evaluations of vendors and
of the teams in their reporting line. Every function takes the acting user first,
validates, changes objects and *flushes*; the caller commits. The method is described
in ``docs/evaluations.md``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from scipy import stats
from sqlalchemy import Select, func, or_, select

import scoring
from core.database import utcnow
from core.exceptions import ConflictError, NotFound, ServiceError
from core.extensions import db
from core.i18n import lazy_gettext as _l
from evaluations import sla
from evaluations.models import (
    Direction,
    Evaluation,
    EvaluationAdjustment,
    EvaluationKpi,
    EvaluationStatus,
    KpiFamily,
    KpiSource,
    ScorecardKpi,
    ScorecardTemplate,
    SlaMetric,
    SurveyMeasure,
)
from org import audit
from org.models import Team, User, Vendor
from org.services import clean_text, require_admin
from surveys import definition as qdef
from surveys import services as survey_services
from surveys.models import Answer, Campaign, Questionnaire, QuestionnaireVersion, Response

MAX_NAME = 200
MAX_DESCRIPTION = 2000
MAX_KPIS = 50
MAX_REASON = 2000
MAX_COMMENT = 2000
DEFAULT_MIN_RESPONSES = 30
CONFIDENCE = 0.95

FAMILY_LABELS = {
    KpiFamily.DELIVERY_TIME: _l("Delivery time"),
    KpiFamily.QUALITY: _l("Quality"),
    KpiFamily.COST: _l("Cost effectiveness"),
    KpiFamily.COMMUNICATION: _l("Communication & collaboration"),
    KpiFamily.INNOVATION: _l("Innovation"),
    KpiFamily.SATISFACTION: _l("Customer satisfaction"),
}
SOURCE_LABELS = {
    KpiSource.SLA: _l("SLA metric"),
    KpiSource.SURVEY: _l("Survey result"),
    KpiSource.MANUAL: _l("Manual score"),
}
MEASURE_LABELS = {
    SurveyMeasure.CSAT: _l("CSAT (percent satisfied)"),
    SurveyMeasure.NPS: _l("NPS (−100 to 100)"),
    SurveyMeasure.CES: _l("CES (mean effort, 1–7)"),
    SurveyMeasure.DIMENSION: _l("Dimension score (0–100)"),
}
DIRECTION_LABELS = {
    Direction.HIGHER: _l("Higher is better"),
    Direction.LOWER: _l("Lower is better"),
}


# ----------------------------------------------------------------- grade bands


def bands_to_json(bands) -> list[dict]:
    return [{"code": b.code, "label_en": b.label_en, "label_zh": b.label_zh,
             "min_score": None if b.min_score == -math.inf else float(b.min_score)}
            for b in bands]


def bands_from_json(rows: list[dict]) -> tuple[scoring.GradeBand, ...]:
    return tuple(
        scoring.GradeBand(r["code"], -math.inf if r.get("min_score") is None
                          else float(r["min_score"]), r["label_zh"], r["label_en"])
        for r in rows
    )


DEFAULT_BANDS_JSON = bands_to_json(scoring.DEFAULT_GRADE_BANDS)


def check_grade_bands(rows) -> list[dict]:
    """Validated bands, best first: unique codes, both labels, strictly decreasing
    lowest scores, and the last band without one (it catches every lower score)."""
    rows = list(rows or [])
    if not rows:
        raise ServiceError(_l("Give at least one grade."), field="grade_bands")
    out, codes = [], set()
    previous = math.inf
    for index, row in enumerate(rows):
        last = index == len(rows) - 1
        code = clean_text(row.get("code"), "grade_bands", required=True, max_length=32)
        if code in codes:
            raise ServiceError(_l("The grade code “%(code)s” is used twice.", code=code),
                               field="grade_bands")
        codes.add(code)
        label_en = clean_text(row.get("label_en"), "grade_bands", required=True, max_length=50)
        label_zh = clean_text(row.get("label_zh"), "grade_bands", required=True, max_length=50)
        minimum = row.get("min_score")
        if last:
            minimum = None
        else:
            minimum = sla._finite(minimum, "grade_bands", required=True)
            if not 0 <= minimum <= 100 or minimum >= previous:
                raise ServiceError(
                    _l("Each grade's lowest score must be between 0 and 100 and below the "
                       "one of the grade above it (“%(code)s”).", code=code),
                    field="grade_bands")
            previous = minimum
        out.append({"code": code, "label_en": label_en, "label_zh": label_zh,
                    "min_score": minimum})
    scoring.validate_grade_bands(bands_from_json(out))
    return out


def band_of(evaluation: Evaluation) -> scoring.GradeBand | None:
    return next((b for b in bands_from_json(evaluation.grade_bands)
                 if b.code == evaluation.grade), None)


def grade_label(band: scoring.GradeBand | None, language: str = "en") -> str:
    if band is None:
        return ""
    return band.label_zh if language.startswith("zh") else band.label_en


# ----------------------------------------------------------------- templates


def list_templates(actor) -> list[ScorecardTemplate]:
    sla.visible_entities(actor)  # staff only
    return list(db.session.scalars(
        select(ScorecardTemplate).order_by(func.lower(ScorecardTemplate.name),
                                           ScorecardTemplate.id)
    ).all())


def get_template(actor, template_id: int) -> ScorecardTemplate:
    sla.visible_entities(actor)
    template = db.session.get(ScorecardTemplate, template_id)
    if template is None:
        raise NotFound(_l("No such scorecard."))
    return template


def _check_template(fields: dict) -> dict:
    out = {
        "name": clean_text(fields.get("name"), "name", required=True, max_length=MAX_NAME),
        "description": clean_text(fields.get("description"), "description", required=False,
                                  max_length=MAX_DESCRIPTION) or "",
    }
    minimum = fields.get("min_responses", DEFAULT_MIN_RESPONSES)
    try:
        minimum = int(minimum)
    except (TypeError, ValueError):
        raise ServiceError(_l("Enter a whole number."), field="min_responses") from None
    if not 1 <= minimum <= 100_000:
        raise ServiceError(_l("Enter a whole number from 1 to 100,000."),
                           field="min_responses")
    out["min_responses"] = minimum
    out["grade_bands"] = check_grade_bands(fields.get("grade_bands") or DEFAULT_BANDS_JSON)
    return out


def _unique_template_name(name: str, exclude_id: int | None = None) -> None:
    query = select(ScorecardTemplate.id).where(
        func.lower(ScorecardTemplate.name) == name.lower())
    if exclude_id is not None:
        query = query.where(ScorecardTemplate.id != exclude_id)
    if db.session.scalar(query.limit(1)) is not None:
        raise ServiceError(_l("There is already a scorecard named “%(name)s”.", name=name),
                           field="name")


def create_template(actor, *, kpis: list[dict] | None = None, **fields) -> ScorecardTemplate:
    """A new scorecard (with ``kpis``, validated as by :func:`save_kpis`, if given)."""
    require_admin(actor)
    settings = _check_template(fields)
    _unique_template_name(settings["name"])
    template = ScorecardTemplate(**settings, created_by_id=actor.id)
    db.session.add(template)
    db.session.flush()
    audit.record("scorecard.created", template, actor=actor,
                 details={"name": template.name})
    if kpis is not None:
        save_kpis(actor, template, kpis)
    return template


def update_template(actor, template: ScorecardTemplate, **fields) -> ScorecardTemplate:
    """Change the name, description, minimum responses or grade bands; evaluations
    already computed keep the bands they were graded with."""
    require_admin(actor)
    current = {"name": template.name, "description": template.description,
               "min_responses": template.min_responses, "grade_bands": template.grade_bands}
    current.update({k: v for k, v in fields.items() if k in current})
    settings = _check_template(current)
    _unique_template_name(settings["name"], exclude_id=template.id)
    changes = {k: v for k, v in settings.items() if getattr(template, k) != v}
    for name, value in changes.items():
        setattr(template, name, value)
    db.session.flush()
    if changes:
        audit.record("scorecard.updated", template, actor=actor, details=sorted(changes))
    return template


def delete_template(actor, template: ScorecardTemplate) -> None:
    """Delete a scorecard that no evaluation used."""
    require_admin(actor)
    used = db.session.scalar(select(Evaluation.id).where(Evaluation.template_id == template.id)
                             .limit(1))
    if used is not None:
        raise ConflictError(_l("This scorecard has evaluations and cannot be deleted."))
    audit.record("scorecard.deleted", template, actor=actor, details={"name": template.name})
    for kpi in db.session.scalars(select(ScorecardKpi)
                                  .where(ScorecardKpi.template_id == template.id)):
        db.session.delete(kpi)
    db.session.flush()
    db.session.delete(template)
    db.session.flush()


# ----------------------------------------------------------------- KPIs

KPI_FIELDS = ("family", "name", "weight", "target", "floor", "direction", "source_kind",
              "sla_metric_name", "survey_measure", "dimension_key", "questionnaire_id")


def _check_kpi(row: dict) -> dict:
    out: dict = {}
    out["family"] = sla._choice(row.get("family"), KpiFamily, "family")
    out["name"] = clean_text(row.get("name"), "name", required=True, max_length=MAX_NAME)
    weight = sla._finite(row.get("weight"), "weight", required=True)
    if not 0 <= weight <= 100:
        raise ServiceError(_l("A weight is a percentage between 0 and 100."), field="weight")
    out["weight"] = weight
    out["source_kind"] = sla._choice(row.get("source_kind"), KpiSource, "source_kind")
    out["sla_metric_name"] = out["survey_measure"] = out["dimension_key"] = None
    out["questionnaire_id"] = None
    if out["source_kind"] == KpiSource.MANUAL:
        # The reviewer's score is the KPI score: full marks at 100, none at 0.
        out.update(direction=Direction.HIGHER.value, target=100.0, floor=0.0)
        return out
    out["direction"] = sla._choice(row.get("direction"), Direction, "direction")
    out["target"] = sla._finite(row.get("target"), "target", required=True)
    out["floor"] = sla._finite(row.get("floor"), "floor", required=True)
    if out["direction"] == Direction.HIGHER and not out["floor"] < out["target"]:
        raise ServiceError(_l("When higher is better, the floor (zero marks) must be below "
                              "the target (full marks)."), field="floor")
    if out["direction"] == Direction.LOWER and not out["floor"] > out["target"]:
        raise ServiceError(_l("When lower is better, the floor (zero marks) must be above "
                              "the target (full marks)."), field="floor")
    if out["source_kind"] == KpiSource.SLA:
        out["sla_metric_name"] = clean_text(row.get("sla_metric_name"), "sla_metric_name",
                                            required=True, max_length=MAX_NAME)
        return out
    out["survey_measure"] = sla._choice(row.get("survey_measure"), SurveyMeasure,
                                        "survey_measure")
    if out["survey_measure"] == SurveyMeasure.DIMENSION:
        out["dimension_key"] = clean_text(row.get("dimension_key"), "dimension_key",
                                          required=True, max_length=64)
    questionnaire_id = row.get("questionnaire_id")
    if questionnaire_id not in (None, ""):
        try:
            questionnaire_id = int(questionnaire_id)
        except (TypeError, ValueError):
            questionnaire_id = None
        if questionnaire_id is None or db.session.get(Questionnaire, questionnaire_id) is None:
            raise ServiceError(_l("No such questionnaire."), field="questionnaire_id")
        out["questionnaire_id"] = questionnaire_id
    return out


def _weights_message(total: float):
    return _l("The weights add up to %(total)s %%; they must add up to 100 %%.",
              total=f"{total:g}")


def save_kpis(actor, template: ScorecardTemplate, rows: list[dict]) -> list[ScorecardKpi]:
    """Replace the template's KPIs with ``rows`` (in that order), all or nothing.

    A row with the ``id`` of one of the template's KPIs changes it; a row without one
    adds a KPI; a KPI left out is deleted — or, if an evaluation used it, retired (kept
    for history, gone from the template). The weights must total 100 %. Raises
    :class:`ServiceError` with ``errors`` by row (numbered from 1)."""
    require_admin(actor)
    rows = list(rows or [])
    if not rows:
        raise ServiceError(_l("A scorecard needs at least one KPI."), field="kpis")
    if len(rows) > MAX_KPIS:
        raise ServiceError(_l("A scorecard can have at most %(n)d KPIs.", n=MAX_KPIS),
                           field="kpis")
    current = {k.id: k for k in db.session.scalars(select(ScorecardKpi).where(
        ScorecardKpi.template_id == template.id, ScorecardKpi.retired_at.is_(None)))}
    errors: dict[str, list] = {}
    checked: list[tuple[ScorecardKpi | None, dict]] = []
    names: dict[str, int] = {}
    for number, row in enumerate(rows, start=1):
        existing = None
        if row.get("id") not in (None, ""):
            try:
                existing = current.get(int(row["id"]))
            except (TypeError, ValueError):
                existing = None
            if existing is None:
                errors[str(number)] = [_l("This KPI is not part of the scorecard.")]
                continue
        try:
            settings = _check_kpi(row)
        except ServiceError as exc:
            errors[str(number)] = [exc.message]
            continue
        key = settings["name"].lower()
        if key in names:
            errors[str(number)] = [_l("The KPI name “%(name)s” is also in row %(row)s.",
                                      name=settings["name"], row=names[key])]
            continue
        names[key] = number
        checked.append((existing, settings))
    if errors:
        raise ServiceError(_l("Nothing was saved: some KPIs are not valid."), errors=errors,
                           field="kpis")
    total = sum(s["weight"] for _, s in checked)
    if not math.isclose(total, 100.0, rel_tol=0, abs_tol=1e-6):
        raise ServiceError(_weights_message(total), field="weight")
    kept = {k.id for k, _ in checked if k is not None}
    now = utcnow()
    for kpi_id, kpi in current.items():
        if kpi_id in kept:
            continue
        used = db.session.scalar(select(EvaluationKpi.id).where(EvaluationKpi.kpi_id == kpi_id)
                                 .limit(1))
        if used is None:
            db.session.delete(kpi)
        else:
            kpi.retired_at = now
    saved = []
    for position, (kpi, settings) in enumerate(checked):
        if kpi is None:
            kpi = ScorecardKpi(template_id=template.id)
            db.session.add(kpi)
        kpi.position = position
        for name, value in settings.items():
            setattr(kpi, name, value)
        saved.append(kpi)
    template.updated_at = now
    db.session.flush()
    db.session.expire(template, ["kpis"])
    audit.record("scorecard.kpis_saved", template, actor=actor,
                 details={"kpis": [k.name for k in saved]})
    return saved


def default_kpis() -> list[dict]:
    """The default KPIs: the six families, with SLA metric names of the SLA template."""
    first_response, resolution, on_time = (str(t.name) for t in sla.SLA_TEMPLATE[:3])
    return [
        {"family": KpiFamily.DELIVERY_TIME, "name": on_time, "weight": 10,
         "direction": "higher", "target": 98, "floor": 90, "source_kind": "sla",
         "sla_metric_name": on_time},
        {"family": KpiFamily.DELIVERY_TIME, "name": first_response, "weight": 10,
         "direction": "lower", "target": 24, "floor": 48, "source_kind": "sla",
         "sla_metric_name": first_response},
        {"family": KpiFamily.QUALITY, "name": resolution, "weight": 20,
         "direction": "higher", "target": 95, "floor": 80, "source_kind": "sla",
         "sla_metric_name": resolution},
        {"family": KpiFamily.COST, "name": str(_l("Cost effectiveness")), "weight": 15,
         "source_kind": "manual"},
        {"family": KpiFamily.COMMUNICATION, "name": str(_l("Communication & collaboration")),
         "weight": 15, "source_kind": "manual"},
        {"family": KpiFamily.INNOVATION, "name": str(_l("Innovation")), "weight": 10,
         "source_kind": "manual"},
        {"family": KpiFamily.SATISFACTION, "name": str(_l("Customer satisfaction (CSAT)")),
         "weight": 20, "direction": "higher", "target": 90, "floor": 60,
         "source_kind": "survey", "survey_measure": "csat"},
    ]


def create_default_template(actor, name: str | None = None) -> ScorecardTemplate:
    """A scorecard with one or two KPIs in each of the six families (see
    :func:`default_kpis`), the default grade bands and 30 responses minimum."""
    return create_template(
        actor, name=name or str(_l("Standard supplier scorecard")),
        description=str(_l("Delivery time, quality, cost effectiveness, communication & "
                           "collaboration, innovation and customer satisfaction.")),
        kpis=default_kpis(),
    )


# ----------------------------------------------------------------- reading evaluations


def visible_evaluations(actor) -> Select:
    """Evaluations ``actor`` may read: admins all; managers those of vendors and of
    the teams in their reporting line; anyone else none."""
    query = select(Evaluation)
    if getattr(actor, "is_admin", False):
        return query
    if getattr(actor, "is_manager", False):
        return query.where(or_(Evaluation.vendor_id.is_not(None),
                               Evaluation.team_id.in_(sla.manager_team_ids(actor))))
    return query.where(False)


def get_evaluation(actor, evaluation_id: int) -> Evaluation:
    evaluation = db.session.scalar(visible_evaluations(actor)
                                   .where(Evaluation.id == evaluation_id))
    if evaluation is None:
        raise NotFound(_l("No such evaluation."))
    return evaluation


def _entity_filter(entity: Vendor | Team):
    if isinstance(entity, Vendor):
        return Evaluation.vendor_id == entity.id
    return Evaluation.team_id == entity.id


def revisions(actor, template: ScorecardTemplate, entity: Vendor | Team, period: str
              ) -> list[Evaluation]:
    """Every revision of one evaluation, newest first."""
    label = sla.parse_period(period).label
    return list(db.session.scalars(
        visible_evaluations(actor).where(Evaluation.template_id == template.id,
                                         _entity_filter(entity), Evaluation.period == label)
        .order_by(Evaluation.revision.desc())
    ).all())


def entity_evaluations(actor, entity: Vendor | Team) -> list[Evaluation]:
    """The latest revision of each evaluation of ``entity``, newest period first."""
    rows = db.session.scalars(
        visible_evaluations(actor).where(_entity_filter(entity))
        .order_by(Evaluation.period_start.desc(), Evaluation.template_id,
                  Evaluation.revision.desc())
    ).all()
    seen, out = set(), []
    for e in rows:
        if (e.template_id, e.period) not in seen:
            seen.add((e.template_id, e.period))
            out.append(e)
    return out


# ----------------------------------------------------------------- sources


@dataclass
class Figure:
    """What one source gave for the period: the raw value (None without data), n, a
    confidence interval for survey figures, and why there is no value."""

    value: float | None
    n: int | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    note: object = ""


def _num(x) -> float | None:
    return None if x is None or not math.isfinite(float(x)) else float(x)


def _sla_figure(kpi: ScorecardKpi, metrics: dict[str, SlaMetric], window) -> Figure:
    metric = metrics.get((kpi.sla_metric_name or "").strip().lower())
    if metric is None:
        return Figure(None, note=_l("There is no SLA metric named “%(name)s” for this "
                                    "vendor or team.", name=kpi.sla_metric_name))
    result = sla.aggregate(metric, window.start, window.end)
    if result.value is None:
        return Figure(None, 0, note=_l("No measurements of “%(name)s” in this period.",
                                       name=metric.name))
    return Figure(result.value, result.n)


@dataclass
class _SurveyData:
    """Answers to scale questions in the period, per version: (question, item, value,
    count) pooled, and per response for dimension scores."""

    pooled: dict[int, list[tuple[str, str, float, int]]]
    by_response: dict[int, list[tuple[int, str, str, float]]]  # version -> rows
    questionnaire_of: dict[int, int]  # version id -> questionnaire id


def _survey_conditions(entity: Vendor | Team, window) -> list:
    column = (Campaign.subject_vendor_id if isinstance(entity, Vendor)
              else Campaign.subject_team_id)
    return [
        column == entity.id,
        Response.status == "completed",
        Response.deleted_at.is_(None),
        Response.submitted_at >= window.start,
        Response.submitted_at < window.end,
        Answer.value_num.is_not(None),
    ]


def _survey_data(entity: Vendor | Team, window, need_responses: bool) -> _SurveyData:
    conditions = _survey_conditions(entity, window)
    pooled: dict[int, list] = defaultdict(list)
    base = (select(Response.version_id, Answer.question_key, Answer.item_key,
                   Answer.value_num, func.count())
            .select_from(Answer)
            .join(Response, Response.id == Answer.response_id)
            .join(Campaign, Campaign.id == Response.campaign_id)
            .where(*conditions)
            .group_by(Response.version_id, Answer.question_key, Answer.item_key,
                      Answer.value_num))
    for version_id, key, item, value, count in db.session.execute(base):
        pooled[version_id].append((key, item or "", float(value), int(count)))
    by_response: dict[int, list] = defaultdict(list)
    if need_responses and pooled:
        rows = db.session.execute(
            select(Response.version_id, Response.id, Answer.question_key, Answer.item_key,
                   Answer.value_num)
            .select_from(Answer)
            .join(Response, Response.id == Answer.response_id)
            .join(Campaign, Campaign.id == Response.campaign_id)
            .where(*conditions)
        )
        for version_id, response_id, key, item, value in rows:
            by_response[version_id].append((response_id, key, item or "", float(value)))
    questionnaire_of = dict(db.session.execute(
        select(QuestionnaireVersion.id, QuestionnaireVersion.questionnaire_id)
        .where(QuestionnaireVersion.id.in_(list(pooled) or [-1]))
    ).all())
    return _SurveyData(pooled, by_response, questionnaire_of)


def _definitions(version_ids) -> dict[int, qdef.Questionnaire]:
    versions = db.session.scalars(select(QuestionnaireVersion)
                                  .where(QuestionnaireVersion.id.in_(list(version_ids) or [-1])))
    return {v.id: survey_services.parsed_version(v) for v in versions}


def _on_scale(question: qdef.Question, value: float) -> bool:
    scale = question.scale
    return scale is not None and scale.min <= value <= scale.max and value == int(value)


def _survey_figure(kpi: ScorecardKpi, data: _SurveyData,
                   definitions: dict[int, qdef.Questionnaire]) -> Figure:
    wanted = kpi.questionnaire_id
    versions = [v for v in data.pooled
                if wanted is None or data.questionnaire_of.get(v) == wanted]
    measure = SurveyMeasure(kpi.survey_measure)
    if measure is SurveyMeasure.DIMENSION:
        return _dimension_figure(kpi, versions, data, definitions)
    pairs: list[tuple[float, int]] = []
    scale_max = None
    for version_id in versions:
        definition = definitions[version_id]
        for key, _item, value, count in data.pooled[version_id]:
            question = definition.question(key)
            if question is not None and question.type == measure.value and _on_scale(question,
                                                                                  value):
                pairs.append((value, count))
                scale_max = question.scale.max
    if not pairs:
        return Figure(None, 0, note=_l("No survey answers about this vendor or team in this "
                                       "period."))
    values = np.repeat(np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs]))
    if measure is SurveyMeasure.CSAT:
        r = scoring.csat(values, scale_max=scale_max, confidence=CONFIDENCE)
    elif measure is SurveyMeasure.NPS:
        r = scoring.nps(values, confidence=CONFIDENCE)
    else:
        r = scoring.ces(values, scale_max=scale_max, confidence=CONFIDENCE)
    return Figure(_num(r.value), int(r.n), _num(r.ci_low), _num(r.ci_high))


def _dimension_figure(kpi: ScorecardKpi, versions: list[int], data: _SurveyData,
                      definitions: dict[int, qdef.Questionnaire]) -> Figure:
    """Each respondent's dimension score is the weighted mean, on 0–100 (POMP), of their
    answers to the dimension's questions and matrix items (reverse-keyed ones
    mirrored); the figure is the mean over respondents with its t interval."""
    per_response: dict[int, list[float]] = {}
    for version_id in versions:
        definition = definitions[version_id]
        for response_id, key, item, value in data.by_response.get(version_id, ()):
            question = definition.question(key)
            if question is None or not question.is_scale or not _on_scale(question, value):
                continue
            if question.type == "matrix":
                entry = question.item(item)
                if entry is None or entry.dimension != kpi.dimension_key:
                    continue
                weight = entry.weight
                scored = qdef.scored_value(question, value, item)
            else:
                if question.dimension != kpi.dimension_key:
                    continue
                weight = question.weight
                scored = qdef.scored_value(question, value)
            if scored is None:
                continue
            pomp = float(scoring.pomp(scored, question.scale.min, question.scale.max))
            sums = per_response.setdefault(response_id, [0.0, 0.0])
            sums[0] += weight * pomp
            sums[1] += weight
    scores = np.array([s / w for s, w in per_response.values() if w > 0])
    if scores.size == 0:
        return Figure(None, 0, note=_l("No survey answers on the dimension “%(key)s” about "
                                       "this vendor or team in this period.",
                                       key=kpi.dimension_key))
    mean = float(scores.mean())
    low = high = None
    if scores.size >= 2:
        half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, scores.size - 1)) * float(
            scores.std(ddof=1)) / math.sqrt(scores.size)
        low, high = max(0.0, mean - half), min(100.0, mean + half)
    return Figure(mean, int(scores.size), low, high)


def source_label(kpi: ScorecardKpi) -> str:
    """What the KPI is computed from, in words (stored with each evaluation line)."""
    if kpi.source_kind == KpiSource.SLA:
        return str(_l("SLA metric “%(name)s”", name=kpi.sla_metric_name))
    if kpi.source_kind == KpiSource.SURVEY:
        label = str(MEASURE_LABELS[SurveyMeasure(kpi.survey_measure)])
        if kpi.survey_measure == SurveyMeasure.DIMENSION:
            label = str(_l("Dimension “%(key)s” (0–100)", key=kpi.dimension_key))
        if kpi.questionnaire_id is not None:
            questionnaire = db.session.get(Questionnaire, kpi.questionnaire_id)
            if questionnaire is not None:
                label = str(_l("%(measure)s of questionnaire “%(name)s”", measure=label,
                               name=questionnaire.key))
        return label
    return str(SOURCE_LABELS[KpiSource.MANUAL])


# ----------------------------------------------------------------- computing


def _latest(template: ScorecardTemplate, entity: Vendor | Team, label: str) -> Evaluation | None:
    return db.session.scalar(
        select(Evaluation).where(Evaluation.template_id == template.id, _entity_filter(entity),
                                 Evaluation.period == label)
        .order_by(Evaluation.revision.desc()).limit(1)
    )


def _editable(evaluation: Evaluation) -> None:
    if evaluation.is_final:
        raise ConflictError(_l("This evaluation is final and cannot be changed. Compute it "
                               "again to make a new revision."))


def compute(actor, template: ScorecardTemplate, entity: Vendor | Team, period: str
            ) -> Evaluation:
    """Compute ``template`` for ``entity`` over ``period`` (``2026-Q3``, ``2026-10``,
    ``2026-H2``, ``2026``).

    The latest revision is recomputed in place while it is a draft (its manual scores
    and adjustments are kept); once final, a new revision is made, starting with the
    final one's manual scores and adjustments."""
    require_admin(actor)
    if not isinstance(entity, Vendor | Team):
        raise ServiceError(_l("Choose a vendor or a team."), field="entity")
    window = sla.parse_period(period)
    kpis = list(db.session.scalars(select(ScorecardKpi).where(
        ScorecardKpi.template_id == template.id, ScorecardKpi.retired_at.is_(None))
        .order_by(ScorecardKpi.position, ScorecardKpi.id)))
    if not kpis:
        raise ServiceError(_l("This scorecard has no KPIs yet."), field="template")
    total = sum(k.weight for k in kpis)
    if not math.isclose(total, 100.0, rel_tol=0, abs_tol=1e-6):
        raise ServiceError(_weights_message(total), field="template")

    latest = _latest(template, entity, window.label)
    carried_adjustments: list[EvaluationAdjustment] = []
    if latest is not None and not latest.is_final:
        evaluation = latest
        manual = {line.kpi_id: (line.manual_score, line.manual_comment, line.reviewer_id,
                                line.reviewed_at) for line in evaluation.kpis}
        for line in list(evaluation.kpis):
            evaluation.kpis.remove(line)
        db.session.flush()
    else:
        evaluation = Evaluation(
            template=template, revision=(latest.revision + 1) if latest else 1,
            period=window.label, period_start=window.start, period_end=window.end,
            status=EvaluationStatus.DRAFT.value, grade_bands=template.grade_bands,
        )
        if isinstance(entity, Vendor):
            evaluation.vendor = entity
        else:
            evaluation.team = entity
        db.session.add(evaluation)
        manual = {}
        if latest is not None:
            manual = {line.kpi_id: (line.manual_score, line.manual_comment, line.reviewer_id,
                                    line.reviewed_at) for line in latest.kpis}
            carried_adjustments = list(latest.adjustments)
        for adjustment in carried_adjustments:
            evaluation.adjustments.append(EvaluationAdjustment(
                points=adjustment.points, reason=adjustment.reason,
                created_by_id=adjustment.created_by_id, created_at=adjustment.created_at))

    evaluation.grade_bands = template.grade_bands
    evaluation.computed_at = utcnow()
    evaluation.computed_by_id = actor.id

    column = SlaMetric.vendor_id if isinstance(entity, Vendor) else SlaMetric.team_id
    metrics = {m.name.strip().lower(): m for m in db.session.scalars(
        select(SlaMetric).where(column == entity.id))}
    survey_kpis = [k for k in kpis if k.source_kind == KpiSource.SURVEY]
    data = definitions = None
    if survey_kpis:
        need = any(k.survey_measure == SurveyMeasure.DIMENSION for k in survey_kpis)
        data = _survey_data(entity, window, need)
        definitions = _definitions(data.pooled)

    for position, kpi in enumerate(kpis):
        line = EvaluationKpi(
            kpi_id=kpi.id, position=position, family=kpi.family, name=kpi.name,
            weight=kpi.weight, target=kpi.target, floor=kpi.floor, direction=kpi.direction,
            source_kind=kpi.source_kind, source_label=source_label(kpi)[:300],
        )
        if kpi.source_kind == KpiSource.MANUAL:
            score, comment, reviewer_id, reviewed_at = manual.get(kpi.id, (None,) * 4)
            line.manual_score, line.manual_comment = score, comment
            line.reviewer_id, line.reviewed_at = reviewer_id, reviewed_at
            figure = Figure(score, note="" if score is not None
                            else _l("No score entered by a reviewer yet."))
        elif kpi.source_kind == KpiSource.SLA:
            figure = _sla_figure(kpi, metrics, window)
        else:
            figure = _survey_figure(kpi, data, definitions)
            line.too_few_responses = figure.n is not None and 0 < figure.n < \
                template.min_responses
        line.raw_value, line.n = figure.value, figure.n
        line.ci_low, line.ci_high = figure.ci_low, figure.ci_high
        line.note = str(figure.note)[:500]
        evaluation.kpis.append(line)
    _score(evaluation)
    db.session.flush()
    audit.record("evaluation.computed", evaluation, actor=actor, details={
        "template": template.name, "entity": entity.name, "period": evaluation.period,
        "revision": evaluation.revision, "composite": evaluation.composite,
        "grade": evaluation.grade})
    return evaluation


def _score(evaluation: Evaluation) -> None:
    """Score every line, re-weight around the lines without data, add the adjustments
    and grade. Uses only what the evaluation holds (no source is read)."""
    lines = list(evaluation.kpis)
    scores = []
    for line in lines:
        value = line.manual_score if line.source_kind == KpiSource.MANUAL else line.raw_value
        line.no_data = value is None
        if value is None:
            line.score = None
            scores.append(math.nan)
            continue
        line.score = float(scoring.kpi_score(value, line.target, line.floor, line.direction))
        scores.append(line.score)
    composite = scoring.weighted_composite(scores, [line.weight for line in lines])
    for line, used in zip(lines, composite.weights, strict=True):
        line.weight_used = float(used) * 100.0
    evaluation.reweighted = composite.reweighted
    evaluation.coverage = composite.coverage
    if math.isnan(composite.value):
        evaluation.base_composite = evaluation.composite = evaluation.grade = None
        return
    evaluation.base_composite = composite.value
    points = sum(a.points for a in evaluation.adjustments)
    evaluation.composite = min(100.0, max(0.0, composite.value + points))
    band = scoring.grade(evaluation.composite, bands_from_json(evaluation.grade_bands))
    evaluation.grade = band.code if band else None


def adjustment_total(evaluation: Evaluation) -> float:
    return float(sum(a.points for a in evaluation.adjustments))


def set_manual_score(actor, evaluation: Evaluation, line: EvaluationKpi, score,
                     comment: str | None) -> EvaluationKpi:
    """A reviewer's score 0–100 for a manual KPI, with a comment (required). ``score``
    None clears it (the KPI then has no data)."""
    require_admin(actor)
    _editable(evaluation)
    if line.evaluation_id != evaluation.id:
        raise NotFound(_l("No such KPI in this evaluation."))
    if line.source_kind != KpiSource.MANUAL:
        raise ServiceError(_l("Only manual KPIs take a reviewer's score; use an adjustment to "
                              "correct the composite."), field="score")
    if score in (None, ""):
        line.manual_score = line.manual_comment = None
        line.reviewer_id = line.reviewed_at = None
    else:
        value = sla._finite(score, "score", required=True)
        if not 0 <= value <= 100:
            raise ServiceError(_l("A score is between 0 and 100."), field="score")
        line.manual_comment = clean_text(comment, "comment", required=True,
                                         max_length=MAX_COMMENT)
        line.manual_score = value
        line.reviewer_id, line.reviewed_at = actor.id, utcnow()
    line.raw_value = line.manual_score
    line.note = "" if line.manual_score is not None else str(
        _l("No score entered by a reviewer yet."))
    _score(evaluation)
    db.session.flush()
    audit.record("evaluation.manual_score", evaluation, actor=actor,
                 details={"kpi": line.name, "score": line.manual_score})
    return line


def add_adjustment(actor, evaluation: Evaluation, points, reason: str | None
                   ) -> EvaluationAdjustment:
    """Add (or, negative, take off) points to the composite; a reason is required. The
    composite stays within 0–100."""
    require_admin(actor)
    _editable(evaluation)
    value = sla._finite(points, "points", required=True)
    if value == 0 or not -100 <= value <= 100:
        raise ServiceError(_l("Give points between −100 and 100, other than 0."),
                           field="points")
    reason = clean_text(reason, "reason", required=True, max_length=MAX_REASON)
    adjustment = EvaluationAdjustment(points=value, reason=reason, created_by_id=actor.id,
                                      created_at=utcnow())
    evaluation.adjustments.append(adjustment)
    _score(evaluation)
    db.session.flush()
    audit.record("evaluation.adjusted", evaluation, actor=actor,
                 details={"points": value, "reason": reason})
    return adjustment


def remove_adjustment(actor, evaluation: Evaluation, adjustment_id: int) -> None:
    require_admin(actor)
    _editable(evaluation)
    adjustment = next((a for a in evaluation.adjustments if a.id == adjustment_id), None)
    if adjustment is None:
        raise NotFound(_l("No such adjustment."))
    evaluation.adjustments.remove(adjustment)
    _score(evaluation)
    db.session.flush()
    audit.record("evaluation.adjustment_removed", evaluation, actor=actor,
                 details={"points": adjustment.points, "reason": adjustment.reason})


def finalise(actor, evaluation: Evaluation) -> Evaluation:
    """Make the evaluation final: from then on it never changes."""
    require_admin(actor)
    _editable(evaluation)
    if evaluation.composite is None:
        raise ConflictError(_l("No KPI has data for this period, so there is nothing to "
                               "finalise."))
    evaluation.status = EvaluationStatus.FINAL.value
    evaluation.finalised_at = utcnow()
    evaluation.finalised_by_id = actor.id
    db.session.flush()
    audit.record("evaluation.finalised", evaluation, actor=actor,
                 details={"composite": evaluation.composite, "grade": evaluation.grade,
                          "revision": evaluation.revision})
    return evaluation


def user_name(user_id: int | None) -> str:
    user = db.session.get(User, user_id) if user_id else None
    return user.display_name if user is not None else ""
