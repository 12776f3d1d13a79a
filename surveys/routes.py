"""Admin pages: questionnaire list, library, import/export, versions, publishing, and
the questionnaire's campaigns (managed in :mod:`surveys.campaign_routes`)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, abort, flash, redirect, render_template, url_for
from flask_babel import get_timezone
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select

from core.exceptions import NotFound, ServiceError
from core.extensions import db
from org.forms import ConfirmForm
from org.routes import admin_required, form_error
from surveys import campaigns as campaign_admin
from surveys import services
from surveys.forms import CampaignForm, ImportForm, NewQuestionnaireForm
from surveys.models import Campaign, QuestionnaireVersion, ResponseStatus
from surveys.models import Response as SurveyResponse

bp = Blueprint("surveys", __name__, url_prefix="/questionnaires")

FORMATS = {"yaml": "application/yaml", "json": "application/json"}


def _questionnaire_or_404(questionnaire_id: int):
    try:
        return services.get_questionnaire(current_user, questionnaire_id)
    except NotFound:
        abort(404)


@bp.app_template_filter("loc")
def localized_filter(text, locale=None):
    """``{{ text|loc(locale) }}``: a bilingual text in ``locale`` (or the page's), with fallback."""
    from core.i18n import current_language
    from surveys.definition import localized

    return localized(text, locale or current_language())


@bp.get("/format")
@admin_required
def format_doc():
    """The questionnaire format documentation, rendered from docs/questionnaire-format.md."""
    import markdown
    from markupsafe import Markup

    from core import ROOT

    text = (ROOT / "docs" / "questionnaire-format.md").read_text(encoding="utf-8")
    html = markdown.markdown(text, extensions=["tables", "fenced_code"])
    return render_template("surveys/format.html", body=Markup(html))  # noqa: S704 - our own doc


@bp.get("/format/schema.json")
@admin_required
def format_schema():
    from core import ROOT

    return Response(
        (ROOT / "surveys" / "questionnaire.schema.json").read_text(encoding="utf-8"),
        mimetype="application/schema+json",
    )


@bp.get("/")
@admin_required
def index():
    questionnaires = db.session.scalars(services.list_questionnaires(current_user)).all()
    return render_template("surveys/index.html", questionnaires=questionnaires)


@bp.get("/library")
@admin_required
def library():
    return render_template(
        "surveys/library.html", templates=services.library_templates(), confirm=ConfirmForm()
    )


@bp.post("/library/<template_key>")
@admin_required
def use_template(template_key: str):
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        questionnaire = services.create_from_template(current_user, template_key)
    except NotFound:
        abort(404)
    db.session.commit()
    message = _("The template was copied into a new questionnaire. Review it, then publish.")
    flash(message, "success")
    return redirect(url_for("surveys.detail", questionnaire_id=questionnaire.id))


@bp.route("/new", methods=["GET", "POST"])
@admin_required
def new():
    form = NewQuestionnaireForm()
    if form.validate_on_submit():
        title = {}
        if (form.title_en.data or "").strip():
            title["en"] = form.title_en.data.strip()
        if (form.title_zh.data or "").strip():
            title["zh_CN"] = form.title_zh.data.strip()
        try:
            questionnaire = services.create_blank(current_user, key=form.key.data, title=title)
        except ServiceError as exc:
            db.session.rollback()
            form_error(form, exc)
        else:
            db.session.commit()
            return redirect(url_for("builder.edit", questionnaire_id=questionnaire.id))
    return render_template("surveys/new.html", form=form)


@bp.route("/import", methods=["GET", "POST"])
@admin_required
def import_document():
    form = ImportForm()
    problems = None
    if form.validate_on_submit():
        upload = form.file.data
        if upload and upload.filename:
            text = upload.read()
            fmt = "json" if upload.filename.lower().endswith(".json") else "yaml"
        else:
            text = form.text.data or ""
            fmt = "json" if text.lstrip().startswith("{") else "yaml"
        if not text.strip():
            form.text.errors.append(_("Choose a file or paste a document."))
        else:
            try:
                questionnaire, created = services.import_questionnaire(current_user, text, fmt)
            except ServiceError as exc:
                db.session.rollback()
                problems = exc.errors or {"": [str(exc.message)]}
            else:
                db.session.commit()
                flash(
                    _("Imported as a new questionnaire.")
                    if created
                    else _("Imported as a new draft of the existing questionnaire."),
                    "success",
                )
                return redirect(url_for("surveys.detail", questionnaire_id=questionnaire.id))
    return render_template("surveys/import.html", form=form, problems=problems)


@bp.get("/<int:questionnaire_id>")
@admin_required
def detail(questionnaire_id: int):
    questionnaire = _questionnaire_or_404(questionnaire_id)
    version_ids = [v.id for v in questionnaire.versions]
    counts = dict(
        db.session.execute(
            select(SurveyResponse.version_id, func.count())
            .where(
                SurveyResponse.version_id.in_(version_ids),
                SurveyResponse.status == ResponseStatus.COMPLETED,
                SurveyResponse.deleted_at.is_(None),
            )
            .group_by(SurveyResponse.version_id)
        ).all()
    ) if version_ids else {}
    campaigns = db.session.scalars(
        select(Campaign)
        .where(Campaign.version_id.in_(version_ids))
        .order_by(Campaign.created_at.desc())
    ).all() if version_ids else []
    draft = questionnaire.draft
    return render_template(
        "surveys/detail.html",
        questionnaire=questionnaire,
        draft=draft,
        problems=services.draft_problems(draft) if draft else [],
        counts=counts,
        campaigns=campaigns,
        campaign_status=campaign_admin.campaign_status,
        public_url=campaign_admin.public_url,
        completed=campaign_admin.completed_counts(c.id for c in campaigns),
        confirm=ConfirmForm(),
    )


@bp.post("/<int:questionnaire_id>/publish")
@admin_required
def publish(questionnaire_id: int):
    questionnaire = _questionnaire_or_404(questionnaire_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        version = services.publish(current_user, questionnaire)
    except ServiceError as exc:
        db.session.rollback()
        flash(str(exc.message), "error")
    else:
        db.session.commit()
        message = _("Version %(n)d is published and can no longer change.", n=version.number)
        flash(message, "success")
    return redirect(url_for("surveys.detail", questionnaire_id=questionnaire.id))


@bp.post("/<int:questionnaire_id>/draft")
@admin_required
def new_draft(questionnaire_id: int):
    questionnaire = _questionnaire_or_404(questionnaire_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    services.ensure_draft(current_user, questionnaire)
    db.session.commit()
    return redirect(url_for("builder.edit", questionnaire_id=questionnaire.id))


@bp.get("/<int:questionnaire_id>/versions/<int:version_id>/export.<fmt>")
@admin_required
def export(questionnaire_id: int, version_id: int, fmt: str):
    questionnaire = _questionnaire_or_404(questionnaire_id)
    version = db.session.get(QuestionnaireVersion, version_id)
    if version is None or version.questionnaire_id != questionnaire.id or fmt not in FORMATS:
        abort(404)
    body = services.export_version(version, fmt)
    filename = f"{questionnaire.key}-v{version.number}.{fmt}"
    return Response(
        body,
        mimetype=FORMATS[fmt],
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _as_utc(value: datetime | None) -> datetime | None:
    """A naive datetime typed in the viewer's time zone, as an aware UTC datetime."""
    if value is None:
        return None
    # zoneinfo, not the pytz zone itself: pytz zones attached with replace() use the
    # zone's first historical offset (e.g. +08:06 for Asia/Shanghai).
    zone = ZoneInfo(str(get_timezone() or "UTC"))
    return value.replace(tzinfo=zone).astimezone(ZoneInfo("UTC"))


@bp.post("/<int:questionnaire_id>/links")
@admin_required
def create_link(questionnaire_id: int):
    questionnaire = _questionnaire_or_404(questionnaire_id)
    form = CampaignForm()
    version = questionnaire.latest_published
    if version is None:
        flash(_("Publish the questionnaire before sharing it."), "error")
    elif form.validate_on_submit():
        try:
            campaign = services.create_campaign(
                current_user,
                version,
                name=form.name.data,
                opens_at=_as_utc(form.opens_at.data),
                closes_at=_as_utc(form.closes_at.data),
                max_responses=form.max_responses.data,
            )
        except ServiceError as exc:
            db.session.rollback()
            flash(str(exc.message), "error")
        else:
            db.session.commit()
            flash(_("The link is ready."), "success")
            return redirect(url_for("campaigns.detail", campaign_id=campaign.id))
    else:
        for field in form:
            for message in field.errors:
                flash(f"{field.label.text}: {message}", "error")
    return redirect(url_for("surveys.detail", questionnaire_id=questionnaire.id) + "#links")


@bp.post("/links/<int:campaign_id>/close")
@admin_required
def close_link(campaign_id: int):
    try:
        campaign = services.get_campaign(current_user, campaign_id)
    except NotFound:
        abort(404)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        services.close_campaign(current_user, campaign)
    except ServiceError as exc:
        db.session.rollback()
        flash(str(exc.message), "error")
    else:
        db.session.commit()
        flash(_("The link is closed."), "success")
    return redirect(url_for("campaigns.detail", campaign_id=campaign_id))
