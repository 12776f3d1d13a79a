"""SLA pages: metrics per vendor or team with this period's status, the measurements
behind a period, creating and editing metrics, the standard template, and the
measurements upload (preview, row-by-row errors, all-or-nothing confirmation).

Admins change; managers read the metrics of vendors and of the teams in their
reporting line; members get 403. Objects outside what the viewer may read are 404.
"""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.exc import IntegrityError

from core.exceptions import NotFound, PermissionDenied, ServiceError
from core.extensions import db
from evaluations import sla
from evaluations.forms import (
    ConfirmUploadForm,
    MeasurementForm,
    MetricForm,
    TemplateForm,
    UploadForm,
)
from evaluations.models import SlaMetric
from org import orgchart
from org.routes import admin_required, form_error, staff_required

bp = Blueprint("evaluations", __name__, url_prefix="/evaluations")

MEASUREMENT_LIMIT = 2000


def _entity_or_404(kind: str, entity_id: int):
    try:
        return sla.get_entity(current_user, kind, entity_id)
    except NotFound:
        abort(404)


def _metric_or_404(metric_id: int) -> SlaMetric:
    try:
        return sla.get_metric(current_user, metric_id)
    except NotFound:
        abort(404)


def _entity_url(entity) -> str:
    return url_for(".sla_entity", kind=sla.entity_kind(entity), entity_id=entity.id)


def _statuses(metrics):
    """(metric, period window, result) for each metric's current period."""
    rows = []
    for metric in metrics:
        window = sla.current_period(metric)
        rows.append((metric, window, sla.aggregate(metric, window.start, window.end)))
    return rows


# ----------------------------------------------------------------- overview


@bp.get("/sla")
@staff_required
def sla_index():
    vendors, teams = sla.visible_entities(current_user)
    summary = {}
    for entity in [*vendors, *teams]:
        counts = dict.fromkeys(sla.STATUSES, 0)
        for _metric, _window, result in _statuses(sla.entity_metrics(current_user, entity,
                                                                      active=True)):
            counts[result.status] += 1
        summary[(sla.entity_kind(entity), entity.id)] = counts
    return render_template("evaluations/sla_index.html", vendors=vendors, teams=teams,
                           summary=summary)


@bp.get("/sla/<kind>/<int:entity_id>")
@staff_required
def sla_entity(kind: str, entity_id: int):
    entity = _entity_or_404(kind, entity_id)
    rows = _statuses(sla.entity_metrics(current_user, entity))
    return render_template(
        "evaluations/sla_entity.html",
        entity=entity,
        kind=kind,
        rows=rows,
        template_form=TemplateForm() if current_user.is_admin else None,
        template=sla.SLA_TEMPLATE,
    )


# ----------------------------------------------------------------- metrics


def _metric_fields(form: MetricForm) -> dict:
    return {
        "name": form.name.data,
        "unit": form.unit.data,
        "direction": form.direction.data,
        "target": (form.target.data or "").strip(),
        "warning": (form.warning.data or "").strip() or None,
        "aggregation": form.aggregation.data,
        "percentile": (form.percentile.data or "").strip() or None,
        "rate_threshold": (form.rate_threshold.data or "").strip() or None,
        "rate_comparison": form.rate_comparison.data,
        "period": form.period.data,
        "active": form.active.data,
    }


def _number_text(value) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


@bp.route("/sla/<kind>/<int:entity_id>/metrics/new", methods=["GET", "POST"])
@admin_required
def metric_new(kind: str, entity_id: int):
    entity = _entity_or_404(kind, entity_id)
    form = MetricForm()
    if form.validate_on_submit():
        try:
            metric = sla.create_metric(current_user, entity, **_metric_fields(form))
        except ServiceError as exc:
            db.session.rollback()
            form_error(form, exc)
        else:
            db.session.commit()
            flash(_("Metric “%(name)s” added.", name=metric.name), "success")
            return redirect(_entity_url(entity))
    return render_template("evaluations/metric_form.html", form=form, entity=entity,
                           kind=kind, metric=None)


@bp.route("/sla/metrics/<int:metric_id>/edit", methods=["GET", "POST"])
@admin_required
def metric_edit(metric_id: int):
    metric = _metric_or_404(metric_id)
    # The object fills the form only when it is shown: a field left out of a submitted
    # form means "empty", not "keep".
    form = MetricForm(obj=metric) if request.method == "GET" else MetricForm()
    if request.method == "GET":
        for name in ("target", "warning", "percentile", "rate_threshold"):
            getattr(form, name).data = _number_text(getattr(metric, name))
        form.rate_comparison.data = metric.rate_comparison or "ge"
    if form.validate_on_submit():
        try:
            sla.update_metric(current_user, metric, **_metric_fields(form))
        except ServiceError as exc:
            db.session.rollback()
            form_error(form, exc)
        else:
            db.session.commit()
            flash(_("Saved."), "success")
            return redirect(url_for(".metric_detail", metric_id=metric.id))
    return render_template("evaluations/metric_form.html", form=form, entity=metric.entity,
                           kind=metric.entity_kind, metric=metric)


@bp.get("/sla/metrics/<int:metric_id>")
@staff_required
def metric_detail(metric_id: int, measurement_form: MeasurementForm | None = None,
                  status: int = 200):
    metric = _metric_or_404(metric_id)
    window = sla.current_period(metric)
    if request.args.get("period"):
        try:
            window = sla.parse_period(request.args["period"])
        except ServiceError as exc:
            flash(str(exc.message), "error")
    result = sla.aggregate(metric, window.start, window.end)
    if measurement_form is None and current_user.is_admin:
        measurement_form = MeasurementForm()
    return render_template(
        "evaluations/metric_detail.html",
        metric=metric,
        entity=metric.entity,
        window=window,
        previous=window.shifted(-1),
        following=window.shifted(1),
        result=result,
        shown=result.measurements[-MEASUREMENT_LIMIT:],
        form=measurement_form,
    ), status


@bp.post("/sla/metrics/<int:metric_id>/measurements")
@admin_required
def measurement_add(metric_id: int):
    metric = _metric_or_404(metric_id)
    form = MeasurementForm()
    if form.validate_on_submit():
        at = sla.parse_time(form.measured_at.data)
        value = sla.parse_number(form.value.data)
        if at is None:
            form.measured_at.errors = [_("Enter a date and time, e.g. 2026-10-03 14:05.")]
        if value is None:
            form.value.errors = [_("Enter a number.")]
        if at is not None and value is not None:
            try:
                sla.record_measurements(
                    current_user, metric,
                    [sla.MeasurementInput("form", at, value, None, form.note.data or None)],
                    source="manual",
                )
            except ServiceError as exc:
                db.session.rollback()
                messages = [str(m) for ms in exc.errors.values() for m in ms]
                form.note.errors = messages or [str(exc.message)]
            else:
                db.session.commit()
                flash(_("Measurement added."), "success")
                window = sla.period_bounds(metric.period, at)
                return redirect(url_for(".metric_detail", metric_id=metric.id,
                                        period=window.label))
    return metric_detail(metric_id, measurement_form=form, status=422)


@bp.post("/sla/<kind>/<int:entity_id>/template")
@admin_required
def apply_template(kind: str, entity_id: int):
    entity = _entity_or_404(kind, entity_id)
    form = TemplateForm()
    if not form.validate_on_submit():
        abort(400)
    created, skipped = sla.apply_template(current_user, entity, period=form.period.data)
    db.session.commit()
    if created:
        flash(ngettext("%(num)d metric added.", "%(num)d metrics added.", len(created)),
              "success")
    if skipped:
        flash(_("Already there, not added again: %(names)s", names=", ".join(skipped)), "info")
    return redirect(_entity_url(entity))


# ----------------------------------------------------------------- upload


def _preview(entity, parsed, checks, token, status=200):
    return render_template(
        "evaluations/upload_preview.html",
        entity=entity,
        kind=sla.entity_kind(entity),
        parsed=parsed,
        checks=orgchart.preview_rows(checks),
        counts=sla.upload_counts(checks),
        confirm=ConfirmUploadForm(token=token) if token else None,
    ), status


@bp.route("/sla/<kind>/<int:entity_id>/upload", methods=["GET", "POST"])
@admin_required
def upload(kind: str, entity_id: int):
    entity = _entity_or_404(kind, entity_id)
    form = UploadForm()
    if form.validate_on_submit():
        data = form.file.data.read(orgchart.MAX_FILE_BYTES + 1)
        try:
            parsed = sla.parse_upload(form.file.data.filename or "", data)
            checks = sla.check_upload(current_user, entity, parsed)
        except ServiceError as exc:
            form_error(form, exc)
        else:
            token = None
            if not any(c.errors for c in checks):
                token = orgchart.pending_imports("sla").save(
                    current_user.id, parsed, sla.upload_digest(entity, checks)
                )
            return _preview(entity, parsed, checks, token, 200 if token else 422)
    return render_template(
        "evaluations/upload.html",
        entity=entity,
        kind=kind,
        form=form,
        metrics=sla.entity_metrics(current_user, entity, active=True),
        chinese_headers=sla.CHINESE_HEADERS,
        max_rows=sla.MAX_UPLOAD_ROWS,
        max_megabytes=orgchart.MAX_FILE_BYTES // 2**20,
    )


@bp.post("/sla/<kind>/<int:entity_id>/upload/confirm")
@admin_required
def confirm_upload(kind: str, entity_id: int):
    entity = _entity_or_404(kind, entity_id)
    form = ConfirmUploadForm()
    if not form.validate_on_submit():
        abort(400)
    store = orgchart.pending_imports("sla")
    token = form.token.data
    try:
        pending = store.load(token, current_user.id)
    except ServiceError as exc:
        flash(str(exc.message), "error")
        return redirect(url_for(".upload", kind=kind, entity_id=entity.id))
    checks = sla.check_upload(current_user, entity, pending.parsed)
    if any(c.errors for c in checks):
        store.discard(token)
        flash(_("Something changed since the preview and the file now has errors. "
                "Nothing was recorded."), "error")
        return _preview(entity, pending.parsed, checks, None, 409)
    if sla.upload_digest(entity, checks) != pending.digest:
        store.discard(token)
        flash(_("Something changed since the preview, or the preview was for another vendor "
                "or team. Nothing was recorded: upload the file again."), "error")
        return redirect(url_for(".upload", kind=kind, entity_id=entity.id))
    try:
        counts = sla.apply_upload(current_user, entity, checks)
        db.session.commit()
    except IntegrityError:  # the same external ids recorded at the same moment
        db.session.rollback()
        store.discard(token)
        flash(_("The data changed in the meantime. Nothing was recorded: upload the file again."),
              "error")
        return redirect(url_for(".upload", kind=kind, entity_id=entity.id))
    store.discard(token)
    flash(_("Measurements recorded: %(created)d added, %(updated)d updated, %(unchanged)d "
            "unchanged.", **counts), "success")
    return redirect(_entity_url(entity))


@bp.get("/sla/<kind>/<int:entity_id>/upload/template.csv")
@admin_required
def upload_template(kind: str, entity_id: int):
    entity = _entity_or_404(kind, entity_id)
    locale = get_locale()
    body = sla.template_csv(entity, chinese_headers=locale is not None and locale.language == "zh")
    return Response(body, headers={
        "Content-Type": "text/csv; charset=utf-8",
        "Content-Disposition": 'attachment; filename="sla-measurements.csv"',
    })


@bp.errorhandler(PermissionDenied)
def _permission_denied(exc):
    abort(403)


# The scorecard and evaluation pages live on this blueprint too.
from evaluations import scorecard_routes  # noqa: E402, F401
