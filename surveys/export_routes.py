"""Admin pages for exporting a campaign's responses: choose a format and download, or
prepare a large file in the background and download it later.

Downloads are GETs (they change nothing but the audit log); preparing a file is a
POST with a CSRF token. Every page is for admins only, and a campaign id that does
not exist is a 404.
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
    send_file,
    stream_with_context,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import to_user_timezone
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, RadioField
from wtforms.validators import InputRequired

from core.database import utcnow
from core.exceptions import NotFound, ServiceError
from core.extensions import db
from core.i18n import lazy_gettext as _l
from org import audit
from org.routes import admin_required
from surveys import exports
from surveys.campaign_routes import campaign_or_404

bp = Blueprint("exports", __name__)


class ExportChoiceForm(FlaskForm):
    """What to export (with a CSRF token: the "prepare in the background" form)."""

    format = RadioField(
        _l("Format"),
        choices=[
            ("csv", _l("CSV — opens in Excel, Numbers, R, Python")),
            ("xlsx", _l("Excel workbook (.xlsx) with a codebook sheet")),
            ("sav", _l("SPSS data file (.sav) with variable and value labels")),
        ],
        default="csv",
        validators=[InputRequired()],
    )
    layout = RadioField(
        _l("Layout"),
        choices=[
            ("wide", _l("Wide: one row per response, one column per answer")),
            ("long", _l("Long: one row per answer")),
        ],
        default="wide",
        validators=[InputRequired()],
    )
    partial = BooleanField(_l("Include partial responses (started, not submitted)"))
    deleted = BooleanField(_l("Include deleted responses (marked in a “deleted” column)"))


class DownloadForm(ExportChoiceForm):
    """The same choices sent by GET: a download changes nothing, so no CSRF token (which
    would otherwise end up in the URL, the history and the logs)."""

    class Meta:
        csrf = False


CHOICE_NAMES = ("format", "layout", "partial", "deleted")


def _choices(form: ExportChoiceForm) -> dict:
    return {
        "fmt": form.format.data,
        "layout": form.layout.data,
        "include_partial": bool(form.partial.data),
        "include_deleted": bool(form.deleted.data),
    }


def _audit_details(choices: dict) -> dict:
    return {
        "format": choices["fmt"],
        "layout": choices["layout"],
        "include_partial": choices["include_partial"],
        "include_deleted": choices["include_deleted"],
    }


def _filename(campaign, fmt: str) -> str:
    today = to_user_timezone(utcnow()).date()
    return exports.export_filename(campaign, exports.FORMATS[fmt][1], today)


def _flash_form_errors(form: FlaskForm) -> None:
    for field in form:
        for message in field.errors:
            flash(f"{field.label.text}: {message}", "error")


@bp.get("/campaigns/<int:campaign_id>/exports")
@admin_required
def index(campaign_id: int):
    campaign = campaign_or_404(campaign_id)
    download_form = DownloadForm(formdata=request.args or None)
    prepare_form = ExportChoiceForm(prefix="bg", formdata=None)
    if request.args:  # back from a refused download: keep the choices
        for name in CHOICE_NAMES:
            getattr(prepare_form, name).data = getattr(download_form, name).data
    return render_template(
        "surveys/exports/index.html",
        campaign=campaign,
        counts=exports.response_counts(campaign),
        download_form=download_form,
        prepare_form=prepare_form,
        prepared=exports.prepared_exports(campaign),
        large=exports.LARGE_EXPORT,
        keep_days=exports.KEEP_DAYS,
    )


@bp.get("/campaigns/<int:campaign_id>/exports/download")
@admin_required
def download(campaign_id: int):
    campaign = campaign_or_404(campaign_id)
    form = DownloadForm(formdata=request.args)
    kept = {k: v for k, v in request.args.items() if k in CHOICE_NAMES}
    back = url_for("exports.index", campaign_id=campaign.id, **kept)
    if not form.validate():
        _flash_form_errors(form)
        return redirect(back)
    choices = _choices(form)
    fmt, layout = choices["fmt"], choices["layout"]
    options = {k: choices[k] for k in ("include_partial", "include_deleted")}
    try:
        exports.check_download(campaign, fmt, layout, **options)
        if fmt == "csv":
            body = stream_with_context(exports.stream_csv(campaign, layout, **options))
            path = None
        else:
            path = exports.temporary_export(campaign, fmt, layout, **options)
            body = exports.file_chunks(path)
    except ServiceError as exc:
        db.session.rollback()
        flash(str(exc.message), "error")
        return redirect(back)
    audit.record("campaign.export", campaign, actor=current_user, details=_audit_details(choices))
    db.session.commit()
    mimetype = exports.FORMATS[fmt][0]
    response = Response(body, content_type=mimetype, direct_passthrough=True)
    if path is not None:
        response.content_length = path.stat().st_size
    response.headers["Content-Disposition"] = exports.content_disposition(
        _filename(campaign, fmt)
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/campaigns/<int:campaign_id>/exports/prepare")
@admin_required
def prepare(campaign_id: int):
    campaign = campaign_or_404(campaign_id)
    form = ExportChoiceForm(prefix="bg")
    target = url_for("exports.index", campaign_id=campaign.id) + "#prepared"
    if not form.validate_on_submit():
        if form.csrf_token.errors:
            abort(400)
        _flash_form_errors(form)
        return redirect(target)
    choices = _choices(form)
    try:
        exports.prepare_export(
            current_user,
            campaign,
            choices["fmt"],
            choices["layout"],
            include_partial=choices["include_partial"],
            include_deleted=choices["include_deleted"],
            filename=_filename(campaign, choices["fmt"]),
        )
    except ServiceError as exc:
        db.session.rollback()
        flash(str(exc.message), "error")
        return redirect(target)
    db.session.commit()
    flash(
        _("The file is being prepared. It appears in the list below when it is ready; "
          "reload this page to check."),
        "success",
    )
    return redirect(target)


@bp.get("/campaigns/<int:campaign_id>/exports/files/<token>", endpoint="file")
@admin_required
def prepared_file(campaign_id: int, token: str):
    campaign = campaign_or_404(campaign_id)
    try:
        path, filename, mimetype = exports.prepared_file(campaign, token)
    except NotFound:
        abort(404)
    audit.record(
        "campaign.export_download", campaign, actor=current_user, details={"file": filename}
    )
    db.session.commit()
    response = send_file(
        path, mimetype=mimetype, as_attachment=True, download_name=filename, etag=False
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/campaigns/exports/help")
@admin_required
def help_page():
    """docs/exports.md: the columns, the coding, neutralisation and anonymity rules."""
    import markdown
    from markupsafe import Markup

    from core import ROOT

    text = (ROOT / "docs" / "exports.md").read_text(encoding="utf-8")
    html = markdown.markdown(text, extensions=["tables", "fenced_code"])
    return render_template("surveys/exports/help.html", body=Markup(html))  # noqa: S704 - our doc
