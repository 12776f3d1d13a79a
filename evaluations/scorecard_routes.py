"""Scorecard and evaluation pages: scorecard templates and their KPIs (admins), a
vendor's or team's evaluations with "compute", and the evaluation page (KPI breakdown,
manual scores, adjustments, finalising, revisions).

Admins change; managers read the evaluations ``visible_evaluations`` allows; members
get 403; objects outside what the viewer may read are 404. Services do the work; each
POST commits once.
"""

from __future__ import annotations

import contextlib

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from core.database import utcnow
from core.exceptions import ConflictError, NotFound, ServiceError
from core.extensions import db
from core.i18n import current_language
from evaluations import improvements, scorecards, sla
from evaluations.improvement_forms import ActionForm
from evaluations.models import Evaluation, KpiSource, ScorecardTemplate
from evaluations.routes import bp
from evaluations.scorecard_forms import (
    BLANK_KPI_ROWS,
    AdjustmentForm,
    ComputeForm,
    DefaultScorecardForm,
    FinaliseForm,
    KpisForm,
    ManualScoreForm,
    ScorecardForm,
)
from org.forms import ConfirmForm
from org.routes import admin_required, form_error, staff_required
from surveys.models import Questionnaire

ENTITY = "<any(vendor, team):kind>/<int:entity_id>"


def _template_or_404(template_id: int) -> ScorecardTemplate:
    try:
        return scorecards.get_template(current_user, template_id)
    except NotFound:
        abort(404)


def _evaluation_or_404(evaluation_id: int):
    try:
        return scorecards.get_evaluation(current_user, evaluation_id)
    except NotFound:
        abort(404)


def _entity_or_404(kind: str, entity_id: int):
    try:
        return sla.get_entity(current_user, kind, entity_id)
    except NotFound:
        abort(404)


def _number_text(value) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def grade_text(evaluation) -> str:
    return scorecards.grade_label(scorecards.band_of(evaluation), current_language())


# ----------------------------------------------------------------- templates


@bp.get("/scorecards")
@admin_required
def scorecard_index(form: ScorecardForm | None = None, status: int = 200):
    templates = scorecards.list_templates(current_user)
    return render_template(
        "evaluations/scorecard_index.html", templates=templates,
        form=form or ScorecardForm(formdata=None), default_form=DefaultScorecardForm(),
        family_labels=scorecards.FAMILY_LABELS,
    ), status


@bp.post("/scorecards")
@admin_required
def scorecard_create():
    form = ScorecardForm()
    if form.validate_on_submit():
        try:
            template = scorecards.create_template(
                current_user, name=form.name.data, description=form.description.data,
                min_responses=form.min_responses.data)
        except ServiceError as exc:
            db.session.rollback()
            form_error(form, exc)
        else:
            db.session.commit()
            flash(_("Scorecard “%(name)s” created. Now add its KPIs.", name=template.name),
                  "success")
            return redirect(url_for(".scorecard_edit", template_id=template.id))
    return scorecard_index(form=form, status=422)


@bp.post("/scorecards/standard")
@admin_required
def scorecard_create_default():
    if not DefaultScorecardForm().validate_on_submit():
        abort(400)
    try:
        template = scorecards.create_default_template(current_user)
    except ServiceError as exc:
        db.session.rollback()
        flash(str(exc.message), "error")
        return redirect(url_for(".scorecard_index"))
    db.session.commit()
    flash(_("Scorecard “%(name)s” created.", name=template.name), "success")
    return redirect(url_for(".scorecard_edit", template_id=template.id))


def _questionnaire_choices():
    rows = db.session.execute(select(Questionnaire.id, Questionnaire.key)
                              .order_by(Questionnaire.key)).all()
    return [("", _("Any questionnaire"))] + [(str(i), key) for i, key in rows]


def _kpis_form_for(template: ScorecardTemplate) -> KpisForm:
    form = KpisForm(formdata=None)
    for kpi in template.kpis:
        form.kpis.append_entry({
            "id": str(kpi.id), "family": kpi.family, "name": kpi.name,
            "weight": _number_text(kpi.weight),
            "target": "" if kpi.source_kind == KpiSource.MANUAL else _number_text(kpi.target),
            "floor": "" if kpi.source_kind == KpiSource.MANUAL else _number_text(kpi.floor),
            "direction": kpi.direction, "source_kind": kpi.source_kind,
            "sla_metric_name": kpi.sla_metric_name or "",
            "survey_measure": kpi.survey_measure or "",
            "dimension_key": kpi.dimension_key or "",
            "questionnaire_id": str(kpi.questionnaire_id or ""),
        })
    for _i in range(BLANK_KPI_ROWS):
        form.kpis.append_entry({"source_kind": "manual"})
    return form


def _render_edit(template, settings_form=None, kpis_form=None, row_errors=None,
                 kpis_error=None, status=200):
    kpis_form = kpis_form or _kpis_form_for(template)
    choices = _questionnaire_choices()
    for row in kpis_form.kpis:
        row.form.questionnaire_id.choices = choices
    total = 0.0
    for row in kpis_form.kpis:
        if row.form.remove.data or row.form.is_blank():
            continue
        with contextlib.suppress(ValueError):
            total += float((row.form.weight.data or "0").strip().rstrip("%") or 0)
    if settings_form is None:
        settings_form = ScorecardForm(formdata=None, obj=template)
        settings_form.min_responses.data = str(template.min_responses)
    used = db.session.scalar(select(Evaluation.id)
                             .where(Evaluation.template_id == template.id).limit(1))
    return render_template(
        "evaluations/scorecard_edit.html", template=template, settings_form=settings_form,
        kpis_form=kpis_form, row_errors=row_errors or {}, kpis_error=kpis_error,
        weight_total=total,
        delete_form=ConfirmForm() if used is None else None,
        bands=scorecards.bands_from_json(template.grade_bands),
        language=current_language(),
    ), status


@bp.get("/scorecards/<int:template_id>")
@admin_required
def scorecard_edit(template_id: int):
    return _render_edit(_template_or_404(template_id))


@bp.post("/scorecards/<int:template_id>/settings")
@admin_required
def scorecard_settings(template_id: int):
    template = _template_or_404(template_id)
    form = ScorecardForm()
    if form.validate_on_submit():
        try:
            scorecards.update_template(current_user, template, name=form.name.data,
                                       description=form.description.data,
                                       min_responses=form.min_responses.data)
        except ServiceError as exc:
            db.session.rollback()
            template = _template_or_404(template_id)
            form_error(form, exc)
        else:
            db.session.commit()
            flash(_("Saved."), "success")
            return redirect(url_for(".scorecard_edit", template_id=template.id))
    return _render_edit(template, settings_form=form, status=422)


@bp.post("/scorecards/<int:template_id>/kpis")
@admin_required
def scorecard_kpis(template_id: int):
    template = _template_or_404(template_id)
    form = KpisForm()
    for row in form.kpis:
        row.form.questionnaire_id.choices = _questionnaire_choices()
    if not form.validate_on_submit():
        return _render_edit(template, kpis_form=form, status=422)
    rows, numbers = [], []
    for index, row in enumerate(form.kpis):
        if row.form.remove.data or row.form.is_blank():
            continue
        data = {name: row.form[name].data for name in scorecards.KPI_FIELDS}
        data["id"] = row.form.id.data or None
        data["survey_measure"] = data["survey_measure"] or None
        data["questionnaire_id"] = data["questionnaire_id"] or None
        rows.append(data)
        numbers.append(index)
    try:
        scorecards.save_kpis(current_user, template, rows)
    except ServiceError as exc:
        db.session.rollback()
        template = _template_or_404(template_id)
        row_errors = {numbers[int(k) - 1]: [str(m) for m in v]
                      for k, v in (exc.errors or {}).items()}
        return _render_edit(template, kpis_form=form, row_errors=row_errors,
                            kpis_error=str(exc.message), status=422)
    db.session.commit()
    flash(_("The KPIs are saved."), "success")
    return redirect(url_for(".scorecard_edit", template_id=template.id))


@bp.post("/scorecards/<int:template_id>/delete")
@admin_required
def scorecard_delete(template_id: int):
    template = _template_or_404(template_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    name = template.name
    try:
        scorecards.delete_template(current_user, template)
    except ServiceError as exc:
        db.session.rollback()
        flash(str(exc.message), "error")
        return redirect(url_for(".scorecard_edit", template_id=template_id)), 303
    db.session.commit()
    flash(_("Scorecard “%(name)s” deleted.", name=name), "success")
    return redirect(url_for(".scorecard_index"))


# ----------------------------------------------------------------- an entity's evaluations


def _compute_form(form=None):
    form = form or ComputeForm(formdata=None)
    templates = scorecards.list_templates(current_user)
    form.template_id.choices = [(t.id, t.name) for t in templates]
    if form.period.data is None:
        form.period.data = sla.period_bounds("quarterly", utcnow()).label
    return form


@bp.get(f"/{ENTITY}")
@staff_required
def entity_scorecard(kind: str, entity_id: int, form: ComputeForm | None = None,
                     status: int = 200):
    entity = _entity_or_404(kind, entity_id)
    evaluations = scorecards.entity_evaluations(current_user, entity)
    return render_template(
        "evaluations/entity_scorecard.html", entity=entity, kind=kind,
        evaluations=evaluations, grade_text=grade_text,
        form=_compute_form(form) if current_user.is_admin else None,
    ), status


@bp.post(f"/{ENTITY}/compute")
@admin_required
def entity_compute(kind: str, entity_id: int):
    entity = _entity_or_404(kind, entity_id)
    form = _compute_form(ComputeForm())
    if form.validate_on_submit():
        template = db.session.get(ScorecardTemplate, form.template_id.data)
        if template is None:
            abort(404)
        try:
            evaluation = scorecards.compute(current_user, template, entity, form.period.data)
        except ServiceError as exc:
            db.session.rollback()
            entity = _entity_or_404(kind, entity_id)
            if exc.field == "template":
                form.template_id.errors = [*form.template_id.errors, str(exc.message)]
            else:
                form_error(form, exc)
        else:
            db.session.commit()
            flash(_("Evaluation computed."), "success")
            return redirect(url_for(".evaluation_detail", evaluation_id=evaluation.id))
    return entity_scorecard(kind, entity_id, form=form, status=422)


# ----------------------------------------------------------------- one evaluation


def _score_form(line, posted=None):
    if posted is not None:
        return posted
    form = ManualScoreForm(formdata=None, prefix=f"kpi{line.id}")
    form.score.data = _number_text(line.manual_score)
    form.comment.data = line.manual_comment or ""
    return form


@bp.get("/e/<int:evaluation_id>")
@staff_required
def evaluation_detail(evaluation_id: int, score_form=None, score_line_id=None,
                      adjustment_form=None, finalise_form=None, action_form=None,
                      action_line_id=None, status=200):
    evaluation = _evaluation_or_404(evaluation_id)
    failing = {line.id: improvements.kpi_state(line) for line in evaluation.kpis
               if improvements.needs_action(line)}
    action_forms = {}
    if current_user.is_admin:
        owners = improvements.owner_choices()
        for line_id in failing:
            form = (action_form if line_id == action_line_id and action_form is not None
                    else ActionForm(formdata=None, prefix=f"act{line_id}"))
            form.owner_id.choices = owners
            action_forms[line_id] = form
    carried = improvements.carried_actions(evaluation)
    by_kpi = improvements.line_actions(evaluation)
    editable = current_user.is_admin and not evaluation.is_final
    score_forms = {}
    if editable:
        for line in evaluation.kpis:
            if line.source_kind == KpiSource.MANUAL:
                score_forms[line.id] = _score_form(
                    line, score_form if line.id == score_line_id else None)
    entity = evaluation.entity
    history = scorecards.revisions(current_user, evaluation.template, entity, evaluation.period)
    return render_template(
        "evaluations/evaluation.html",
        evaluation=evaluation, entity=entity, kind=evaluation.entity_kind,
        grade=grade_text(evaluation),
        editable=editable,
        score_forms=score_forms,
        adjustment_form=(adjustment_form or AdjustmentForm(formdata=None)) if editable else None,
        finalise_form=(finalise_form or FinaliseForm(formdata=None)) if editable else None,
        confirm_form=ConfirmForm() if current_user.is_admin else None,
        history=history,
        latest=history[0] if history else evaluation,
        family_labels=scorecards.FAMILY_LABELS,
        adjustment_total=scorecards.adjustment_total(evaluation),
        user_name=scorecards.user_name,
        min_responses=evaluation.template.min_responses,
        failing=failing, action_forms=action_forms,
        line_actions=by_kpi, carried=carried,
        overdue={a.id for a in [*carried, *(a for v in by_kpi.values() for a in v)]
                 if improvements.is_overdue(a)},
        status_labels=improvements.STATUS_LABELS, owner_text=improvements.owner_text,
        warning_below=int(improvements.WARNING_BELOW),
    ), status


def _refused(evaluation, exc: ConflictError):
    db.session.rollback()
    flash(str(exc.message), "error")
    return redirect(url_for(".evaluation_detail", evaluation_id=evaluation.id)), 303


def _final_guard(evaluation):
    """A change posted to a final evaluation is refused with 409 (nothing changes)."""
    if evaluation.is_final:
        flash(_("This evaluation is final and cannot be changed. Compute it again to make a "
                "new revision."), "error")
        return evaluation_detail(evaluation.id, status=409)
    return None


@bp.post("/e/<int:evaluation_id>/kpis/<int:line_id>/score")
@admin_required
def evaluation_score(evaluation_id: int, line_id: int):
    evaluation = _evaluation_or_404(evaluation_id)
    line = next((k for k in evaluation.kpis if k.id == line_id), None)
    if line is None or line.source_kind != KpiSource.MANUAL:
        abort(404)
    refused = _final_guard(evaluation)
    if refused is not None:
        return refused
    form = ManualScoreForm(prefix=f"kpi{line.id}")
    if form.validate_on_submit():
        try:
            scorecards.set_manual_score(current_user, evaluation, line, form.score.data,
                                        form.comment.data)
        except ConflictError as exc:
            return _refused(evaluation, exc)
        except ServiceError as exc:
            db.session.rollback()
            form_error(form, exc)
        else:
            db.session.commit()
            flash(_("Score saved for “%(name)s”.", name=line.name), "success")
            return redirect(url_for(".evaluation_detail", evaluation_id=evaluation.id,
                                    _anchor=f"kpi-{line.id}"))
    return evaluation_detail(evaluation_id, score_form=form, score_line_id=line_id, status=422)


@bp.post("/e/<int:evaluation_id>/adjustments")
@admin_required
def evaluation_adjust(evaluation_id: int):
    evaluation = _evaluation_or_404(evaluation_id)
    refused = _final_guard(evaluation)
    if refused is not None:
        return refused
    form = AdjustmentForm()
    if form.validate_on_submit():
        try:
            scorecards.add_adjustment(current_user, evaluation, form.points.data,
                                      form.reason.data)
        except ConflictError as exc:
            return _refused(evaluation, exc)
        except ServiceError as exc:
            db.session.rollback()
            form_error(form, exc)
        else:
            db.session.commit()
            flash(_("Adjustment added."), "success")
            return redirect(url_for(".evaluation_detail", evaluation_id=evaluation.id,
                                    _anchor="adjustments"))
    return evaluation_detail(evaluation_id, adjustment_form=form, status=422)


@bp.post("/e/<int:evaluation_id>/adjustments/<int:adjustment_id>/delete")
@admin_required
def evaluation_adjustment_delete(evaluation_id: int, adjustment_id: int):
    evaluation = _evaluation_or_404(evaluation_id)
    refused = _final_guard(evaluation)
    if refused is not None:
        return refused
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        scorecards.remove_adjustment(current_user, evaluation, adjustment_id)
    except NotFound:
        abort(404)
    except ConflictError as exc:
        return _refused(evaluation, exc)
    db.session.commit()
    flash(_("Adjustment removed."), "success")
    return redirect(url_for(".evaluation_detail", evaluation_id=evaluation.id,
                            _anchor="adjustments"))


@bp.post("/e/<int:evaluation_id>/finalise")
@admin_required
def evaluation_finalise(evaluation_id: int):
    evaluation = _evaluation_or_404(evaluation_id)
    refused = _final_guard(evaluation)
    if refused is not None:
        return refused
    form = FinaliseForm()
    if form.validate_on_submit():
        try:
            scorecards.finalise(current_user, evaluation)
        except ConflictError as exc:
            return _refused(evaluation, exc)
        db.session.commit()
        flash(_("The evaluation is final."), "success")
        return redirect(url_for(".evaluation_detail", evaluation_id=evaluation.id))
    return evaluation_detail(evaluation_id, finalise_form=form, status=422)


@bp.post("/e/<int:evaluation_id>/recompute")
@admin_required
def evaluation_recompute(evaluation_id: int):
    evaluation = _evaluation_or_404(evaluation_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    was_final = evaluation.is_final
    try:
        result = scorecards.compute(current_user, evaluation.template, evaluation.entity,
                                    evaluation.period)
    except ServiceError as exc:
        db.session.rollback()
        flash(str(exc.message), "error")
        return redirect(url_for(".evaluation_detail", evaluation_id=evaluation_id)), 303
    db.session.commit()
    if result.id != evaluation_id or was_final:
        flash(_("Revision %(revision)s computed.", revision=result.revision), "success")
    else:
        flash(_("Evaluation computed."), "success")
    return redirect(url_for(".evaluation_detail", evaluation_id=result.id))


from evaluations import improvement_routes  # noqa: E402, F401
