"""Improvement plan pages: "Add action" per failing KPI of an evaluation, an entity's
plan (every action, overdue ones marked), and updating an action's status and evidence.
Admins change; managers read what they may read of the entity; each POST commits once.
"""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from core.exceptions import NotFound, ServiceError
from core.extensions import db
from evaluations import improvements, sla
from evaluations.improvement_forms import ActionForm, ActionUpdateForm
from evaluations.routes import bp
from evaluations.scorecard_routes import ENTITY, _evaluation_or_404, evaluation_detail
from org.routes import admin_required, form_error, staff_required


def action_form(form: ActionForm | None = None, prefix: str = "") -> ActionForm:
    form = form or ActionForm(formdata=None, prefix=prefix)
    form.owner_id.choices = improvements.owner_choices()
    return form


@bp.post("/e/<int:evaluation_id>/kpis/<int:line_id>/actions")
@admin_required
def action_add(evaluation_id: int, line_id: int):
    evaluation = _evaluation_or_404(evaluation_id)
    line = next((k for k in evaluation.kpis if k.id == line_id), None)
    if line is None:
        abort(404)
    form = action_form(ActionForm(prefix=f"act{line.id}"))
    if form.validate_on_submit():
        try:
            improvements.add_action(
                current_user, evaluation, line, description=form.description.data,
                due_date=form.due_date.data, owner_id=form.owner_id.data or None,
                owner_name=form.owner_name.data)
        except ServiceError as exc:
            db.session.rollback()
            form_error(form, exc)
        else:
            db.session.commit()
            flash(_("Action added to “%(name)s”.", name=line.name), "success")
            return redirect(url_for(".evaluation_detail", evaluation_id=evaluation_id,
                                    _anchor=f"plan-{line.id}"))
    return evaluation_detail(evaluation_id, action_form=form, action_line_id=line_id,
                             status=422)


@bp.get(f"/{ENTITY}/plan")
@staff_required
def entity_plan(kind: str, entity_id: int, update_form=None, update_id=None, status=200):
    try:
        entity = sla.get_entity(current_user, kind, entity_id)
    except NotFound:
        abort(404)
    actions = improvements.entity_actions(current_user, entity)
    forms = {}
    if current_user.is_admin:
        for action in actions:
            if update_id == action.id and update_form is not None:
                forms[action.id] = update_form
            else:
                form = ActionUpdateForm(formdata=None, prefix=f"a{action.id}")
                form.status.data = action.status
                form.evidence.data = action.evidence
                forms[action.id] = form
    overdue = {a.id for a in actions if improvements.is_overdue(a)}
    return render_template(
        "evaluations/plan.html", entity=entity, kind=kind, actions=actions, forms=forms,
        overdue=overdue, status_labels=improvements.STATUS_LABELS,
        owner_text=improvements.owner_text,
    ), status


@bp.post("/actions/<int:action_id>")
@admin_required
def action_update(action_id: int):
    try:
        action = improvements.get_action(current_user, action_id)
    except NotFound:
        abort(404)
    kind, entity_id = action.entity_kind, action.vendor_id or action.team_id
    form = ActionUpdateForm(prefix=f"a{action.id}")
    if form.validate_on_submit():
        try:
            improvements.update_action(current_user, action, status=form.status.data,
                                       evidence=form.evidence.data)
        except ServiceError as exc:
            db.session.rollback()
            form_error(form, exc)
        else:
            db.session.commit()
            flash(_("Action updated."), "success")
            return redirect(url_for(".entity_plan", kind=kind, entity_id=entity_id,
                                    _anchor=f"action-{action_id}"))
    return entity_plan(kind, entity_id, update_form=form, update_id=action_id, status=422)
