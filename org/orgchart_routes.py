"""Org-chart import pages: upload, preview with row-by-row errors, confirm.

The parsed file waits on the server (see :class:`org.orgchart.PendingImports`)
between preview and confirmation; the form carries only a random token. The
confirmation checks the file again against the database as it is then, and
imports only what the administrator saw in the preview.
"""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, url_for
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from sqlalchemy.exc import IntegrityError
from wtforms import HiddenField, SubmitField
from wtforms.validators import DataRequired

from core.exceptions import PermissionDenied, ServiceError
from core.extensions import db
from core.i18n import lazy_gettext as _l
from org import orgchart
from org.routes import admin_required, form_error

bp = Blueprint("orgchart", __name__, url_prefix="/org-chart")

# More rows than this are summarised: rows with errors are always listed.


class OrgChartUploadForm(FlaskForm):
    file = FileField(
        _l("File (CSV or Excel .xlsx)"),
        validators=[
            FileRequired(_l("Choose a CSV or Excel file.")),
            FileAllowed(["csv", "xlsx"], _l("Upload a .csv or .xlsx file.")),
        ],
        render_kw={"accept": ".csv,.xlsx,text/csv"},
    )
    submit = SubmitField(_l("Check the file"))


class ConfirmImportForm(FlaskForm):
    token = HiddenField(validators=[DataRequired()])
    submit = SubmitField(_l("Import"))


def _preview(plan: orgchart.ImportPlan, token: str | None, status: int = 200):
    form = ConfirmImportForm(token=token) if token else None
    return (
        render_template(
            "org/orgchart_preview.html",
            plan=plan,
            counts=plan.counts,
            rows=orgchart.preview_rows(plan.rows),
            confirm=form,
        ),
        status,
    )


@bp.route("/import", methods=["GET", "POST"])
@admin_required
def upload():
    form = OrgChartUploadForm()
    if form.validate_on_submit():
        upload = form.file.data
        data = upload.read(orgchart.MAX_FILE_BYTES + 1)
        try:
            parsed = orgchart.parse_file(upload.filename or "", data)
            plan = orgchart.build_plan(current_user, parsed)
        except ServiceError as exc:
            form_error(form, exc)
        else:
            token = None
            if plan.is_valid:
                token = orgchart.pending_imports().save(current_user.id, parsed, plan.digest())
            return _preview(plan, token)
    return render_template(
        "org/orgchart_upload.html",
        form=form,
        max_rows=orgchart.MAX_ROWS,
        max_megabytes=orgchart.MAX_FILE_BYTES // 2**20,
        chinese_headers=orgchart.CHINESE_HEADERS,
    )


@bp.post("/import/confirm")
@admin_required
def confirm():
    form = ConfirmImportForm()
    if not form.validate_on_submit():
        abort(400)
    store = orgchart.pending_imports()
    token = form.token.data
    try:
        pending = store.load(token, current_user.id)
    except ServiceError as exc:
        flash(str(exc.message), "error")
        return redirect(url_for(".upload"))

    # The database may have changed since the preview: check again and import
    # only if the result is exactly what the administrator confirmed.
    plan = orgchart.build_plan(current_user, pending.parsed)
    if not plan.is_valid:
        store.discard(token)
        flash(
            _("Something changed since the preview and the file now has errors. "
              "Nothing was imported."),
            "error",
        )
        return _preview(plan, None, 409)
    if plan.digest() != pending.digest:
        store.update_digest(token, current_user.id, plan.digest())
        flash(
            _("Something changed since the preview. Nothing was imported yet: "
              "check the updated preview and confirm again."),
            "warning",
        )
        return _preview(plan, token, 409)

    try:
        result = orgchart.apply_import(current_user, plan)
        db.session.commit()
    except IntegrityError:  # someone else wrote the same people at the same moment
        db.session.rollback()
        store.discard(token)
        flash(_("The data changed in the meantime. Nothing was imported: upload the file again."),
              "error")
        return redirect(url_for(".upload"))
    store.discard(token)
    flash(
        _(
            "Import done: %(created)d added, %(updated)d updated, %(unchanged)d unchanged.",
            created=result.created,
            updated=result.updated,
            unchanged=result.unchanged,
        ),
        "success",
    )
    if result.created:
        flash(
            ngettext(
                "%(num)d new person cannot log in until you reset their password.",
                "%(num)d new people cannot log in until you reset their password.",
                result.created,
            ),
            "info",
        )
    return redirect(url_for("org.users"))


@bp.get("/import/template.csv")
@admin_required
def template():
    """An empty file with the header row, in the interface language."""
    locale = get_locale()
    # Compare the language: Babel spells zh_CN as "zh_Hans_CN".
    body = orgchart.template_csv(chinese_headers=locale is not None and locale.language == "zh")
    return Response(
        body,
        mimetype="text/csv",
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": 'attachment; filename="org-chart.csv"',
        },
    )


@bp.errorhandler(PermissionDenied)
def _permission_denied(exc):
    abort(403)
