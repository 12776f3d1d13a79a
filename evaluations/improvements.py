"""Improvement plans: actions addressing the KPIs of an evaluation that failed or were
in warning, with an owner, a due date, a status and evidence.

Which KPIs can get actions: a KPI line with a score (0-100) below
``WARNING_BELOW`` (80, the default "Good" band). Below ``FAIL_BELOW`` (60, the default
"Pass" band) the KPI *failed*; from 60 to under 80 it is in *warning*. A KPI without
data has no score and gets no action.

An action belongs to the vendor or team and the scorecard KPI, and remembers the period
(and evaluation revision) it came from, so recomputing or revising the evaluation keeps
the plan. It is *overdue* when its due date is before today in the organisation's time
zone (``BABEL_DEFAULT_TIMEZONE``) and it is neither done nor cancelled: an action due
today is not overdue yet.

Admins add and change actions; managers read what they may read of the entity.
Services flush, never commit.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select

from core.database import utcnow
from core.exceptions import NotFound, ServiceError
from core.extensions import db
from core.i18n import lazy_gettext as _l
from evaluations import sla
from evaluations.models import (
    ActionStatus,
    Evaluation,
    EvaluationKpi,
    ImprovementAction,
)
from org import audit
from org.models import Team, User, Vendor
from org.services import clean_text, require_admin

FAIL_BELOW = 60.0
WARNING_BELOW = 80.0

CLOSED = (ActionStatus.DONE.value, ActionStatus.CANCELLED.value)

STATUS_LABELS = {
    ActionStatus.OPEN: _l("Open"),
    ActionStatus.IN_PROGRESS: _l("In progress"),
    ActionStatus.DONE: _l("Done"),
    ActionStatus.CANCELLED: _l("Cancelled"),
}


def kpi_state(line: EvaluationKpi) -> str | None:
    """"failed", "warning" or None (passing, or no data)."""
    if line.score is None:
        return None
    if line.score < FAIL_BELOW:
        return "failed"
    if line.score < WARNING_BELOW:
        return "warning"
    return None


def needs_action(line: EvaluationKpi) -> bool:
    return kpi_state(line) is not None


def today(now: datetime | None = None) -> date:
    """Today's date in the organisation's time zone."""
    return (now or utcnow()).astimezone(sla.organisation_zone()).date()


def is_overdue(action: ImprovementAction, now: datetime | None = None) -> bool:
    return action.status not in CLOSED and action.due_date < today(now)


def _entity_filter(entity: Vendor | Team):
    if isinstance(entity, Vendor):
        return ImprovementAction.vendor_id == entity.id
    return ImprovementAction.team_id == entity.id


def _check_owner(owner_id) -> int | None:
    if owner_id in (None, "", 0):
        return None
    user = db.session.get(User, int(owner_id))
    if user is None or not user.active:
        raise ServiceError(_l("Choose an active user as the owner."), field="owner_id")
    return user.id


def _check_due(due_date) -> date:
    if not isinstance(due_date, date):
        raise ServiceError(_l("Give a due date."), field="due_date")
    return due_date


def add_action(actor, evaluation: Evaluation, line: EvaluationKpi, *, description: str,
               due_date: date, owner_id: int | None = None, owner_name: str | None = None
               ) -> ImprovementAction:
    require_admin(actor)
    if line.evaluation_id != evaluation.id:
        raise NotFound(_l("No such KPI in this evaluation."))
    if not needs_action(line):
        raise ServiceError(_l("Actions can only be added to a KPI that failed or is in "
                              "warning (score below %(limit)s).", limit=int(WARNING_BELOW)))
    text = clean_text(description, "description", required=True, max_length=4000)
    owner = _check_owner(owner_id)
    name = clean_text(owner_name, "owner_name", required=False, max_length=200) or ""
    if owner is None and not name:
        raise ServiceError(_l("Choose an owner or type the owner's name."), field="owner_id")
    action = ImprovementAction(
        vendor_id=evaluation.vendor_id, team_id=evaluation.team_id, kpi_id=line.kpi_id,
        kpi_name=line.name, period=evaluation.period, evaluation_id=evaluation.id,
        description=text, owner_id=owner, owner_name=name, due_date=_check_due(due_date),
        status=ActionStatus.OPEN.value, evidence="",
        created_by_id=actor.id, updated_by_id=actor.id,
    )
    db.session.add(action)
    db.session.flush()
    audit.record("improvement_action.created", action, actor=actor,
                 details={"kpi": line.name, "period": evaluation.period,
                          "due_date": action.due_date.isoformat()})
    return action


def update_action(actor, action: ImprovementAction, *, status: str, evidence: str | None
                  ) -> ImprovementAction:
    require_admin(actor)
    try:
        status = ActionStatus(status).value
    except ValueError:
        raise ServiceError(_l("Choose a status."), field="status") from None
    text = clean_text(evidence, "evidence", required=False, max_length=8000) or ""
    if status == ActionStatus.DONE and not text:
        raise ServiceError(_l("Describe the evidence before marking the action done."),
                           field="evidence")
    before = action.status
    action.status = status
    action.evidence = text
    action.updated_by_id = actor.id
    action.updated_at = utcnow()
    db.session.flush()
    audit.record("improvement_action.updated", action, actor=actor,
                 details={"from": before, "to": status})
    return action


def get_action(actor, action_id: int) -> ImprovementAction:
    """An action ``actor`` may read (its entity must be readable), else NotFound."""
    action = db.session.get(ImprovementAction, action_id)
    if action is None:
        raise NotFound(_l("No such action."))
    sla.get_entity(actor, action.entity_kind, action.vendor_id or action.team_id)
    return action


def entity_actions(actor, entity: Vendor | Team) -> list[ImprovementAction]:
    """Every action of ``entity`` (read access is checked), due date first."""
    sla.get_entity(actor, sla.entity_kind(entity), entity.id)
    return list(db.session.scalars(
        select(ImprovementAction).where(_entity_filter(entity))
        .order_by(ImprovementAction.due_date, ImprovementAction.id)
    ).all())


def line_actions(evaluation: Evaluation) -> dict[int, list[ImprovementAction]]:
    """The actions raised for this evaluation's period, by scorecard KPI id."""
    rows = db.session.scalars(
        select(ImprovementAction).where(_entity_filter(evaluation.entity),
                                        ImprovementAction.period == evaluation.period)
        .order_by(ImprovementAction.due_date, ImprovementAction.id)
    ).all()
    out: dict[int, list[ImprovementAction]] = {}
    for action in rows:
        out.setdefault(action.kpi_id, []).append(action)
    return out


def carried_actions(evaluation: Evaluation) -> list[ImprovementAction]:
    """Actions from earlier periods of the entity still open or in progress (overdue
    ones included): what the evaluation of a later period must show."""
    rows = db.session.scalars(
        select(ImprovementAction).where(_entity_filter(evaluation.entity),
                                        ImprovementAction.status.not_in(CLOSED),
                                        ImprovementAction.period != evaluation.period)
        .order_by(ImprovementAction.due_date, ImprovementAction.id)
    ).all()
    return [a for a in rows
            if sla.parse_period(a.period).start < evaluation.period_start]


def owner_text(action: ImprovementAction) -> str:
    if action.owner is not None:
        name = action.owner.display_name
        return f"{name} ({action.owner_name})" if action.owner_name else name
    return action.owner_name


def owner_choices() -> list[tuple[str, str]]:
    users = db.session.scalars(select(User).where(User.active.is_(True),
                                                  User.role.in_(("admin", "manager")))
                               .order_by(User.display_name)).all()
    return [("", _l("— (type a name below)"))] + [(str(u.id), u.display_name) for u in users]
