"""Admin pages of campaigns: list, create, overview, settings, launch/close/reopen,
QR code and poster of the public link, and the background jobs page."""

from __future__ import annotations

import re
from io import BytesIO

import segno
from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import force_locale, get_locale, get_timezone
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from core.database import utcnow
from core.exceptions import NotFound, ServiceError
from core.extensions import db
from core.i18n import current_language
from core.redirects import safe_next_url
from core.tasks import TaskRun, TaskStatus
from org.forms import ConfirmForm
from org.models import AuditEvent, Team, User, Vendor
from org.routes import admin_required, form_error
from surveys import campaigns, services
from surveys.campaign_forms import CampaignForm, WebhookForm, utc_to_local
from surveys.definition import localized
from surveys.models import (
    Campaign,
    Questionnaire,
    QuestionnaireVersion,
    Response,
    ResponseStatus,
    VersionStatus,
)

bp = Blueprint("campaigns", __name__, url_prefix="/campaigns")

# Settings shown (and changeable) only while the campaign is a draft.
DRAFT_ONLY = ("audience", "opens_at", "subject", "default_locale", "anonymous",
              "one_response_per_browser", "hidden_fields")
QR_TYPES = {"png": "image/png", "svg": "image/svg+xml"}
RECENT_JOBS = 10


# ----------------------------------------------------------------- helpers


@bp.app_template_filter("local_time")
def local_time(value) -> str:
    """A moment as date and time (to the minute) in the viewer's locale and time zone."""
    if value is None:
        return ""
    from babel.dates import format_skeleton

    locale = get_locale()
    tz = get_timezone()
    date = format_skeleton("yMMMd", value, tzinfo=tz, locale=locale)
    time = format_skeleton("Hm", value, tzinfo=tz, locale=locale)
    return locale.datetime_formats["medium"].format(time, date)


def _viewer_zone() -> str:
    return str(get_timezone() or current_app.config["BABEL_DEFAULT_TIMEZONE"])


@bp.context_processor
def _helpers():
    return {"viewer_zone": _viewer_zone(), "subject_kind": campaigns.subject_kind}


def campaign_or_404(campaign_id: int) -> Campaign:
    """The campaign for the current admin, or a 404 (every campaign page uses this)."""
    try:
        return campaigns.get_campaign(current_user, campaign_id)
    except NotFound:
        abort(404)


def _confirmed() -> None:
    if not ConfirmForm().validate_on_submit():
        abort(400)


def _title(version: QuestionnaireVersion, locale: str | None = None) -> str:
    return localized(version.document.get("title"), locale or current_language()) or (
        version.questionnaire.key
    )


def _published_questionnaires() -> list[tuple[Questionnaire, QuestionnaireVersion]]:
    rows = db.session.scalars(
        select(Questionnaire)
        .where(
            Questionnaire.archived_at.is_(None),
            Questionnaire.versions.any(QuestionnaireVersion.status == VersionStatus.PUBLISHED),
        )
        .options(selectinload(Questionnaire.versions))
        .order_by(Questionnaire.created_at.desc(), Questionnaire.id)
    ).all()
    return [(q, q.latest_published) for q in rows]


def _subject_groups(campaign: Campaign | None) -> list[tuple[str, list[tuple[str, str]]]]:
    """Teams, vendors and people for the subject select (active ones, and the current
    subject even if it has been deactivated since)."""
    current = campaigns.campaign_subject(campaign) if campaign is not None else None
    keep = {"team": -1, "vendor": -1, "user": -1}
    if current is not None:
        keep[campaigns.subject_kind(current)] = current.id
    teams = db.session.scalars(
        select(Team).where(or_(Team.active.is_(True), Team.id == keep["team"]))
        .order_by(func.lower(Team.name), Team.id)
    ).all()
    vendors = db.session.scalars(
        select(Vendor).where(or_(Vendor.active.is_(True), Vendor.id == keep["vendor"]))
        .order_by(func.lower(Vendor.name), Vendor.id)
    ).all()
    people = db.session.scalars(
        select(User).where(or_(User.active.is_(True), User.id == keep["user"]))
        .order_by(func.lower(User.display_name), User.id)
    ).all()
    return [
        (_("Teams"), [(f"team:{t.id}", t.name) for t in teams]),
        (_("Vendors"), [(f"vendor:{v.id}", v.name) for v in vendors]),
        (_("People"), [(f"user:{u.id}", f"{u.display_name} <{u.email}>") for u in people]),
    ]


def _subject_value(subject) -> str:
    if subject is None:
        return ""
    return f"{campaigns.subject_kind(subject)}:{subject.id}"


_SUBJECT_MODELS = {"team": Team, "vendor": Vendor, "user": User}


def _chosen_subject(form: CampaignForm):
    """The Team, Vendor or User picked, None for none; ``False`` (with an error on the
    field) if the choice is not valid."""
    value = form.subject.data or ""
    if not value:
        return None
    kind, _sep, ident = value.partition(":")
    model = _SUBJECT_MODELS.get(kind)
    subject = db.session.get(model, int(ident)) if model and ident.isdigit() else None
    if subject is None:
        form.subject.errors = [*form.subject.errors, _("Choose a team, a vendor or a person.")]
        return False
    return subject


def _settings_from(form: CampaignForm, window, campaign: Campaign | None = None) -> dict:
    """The settings present in the form (fixed ones are removed from it). A time left
    as shown (to the minute) keeps the campaign's exact stored time."""
    opens_at, closes_at = window
    if campaign is not None:
        zone_name = form.timezone.data
        if form.opens_at is not None and form.opens_at.data == utc_to_local(
            campaign.opens_at, zone_name
        ):
            opens_at = campaign.opens_at
        if form.closes_at.data == utc_to_local(campaign.closes_at, zone_name):
            closes_at = campaign.closes_at
    settings = {
        "name": form.name.data,
        "closes_at": closes_at,
        "max_responses": form.max_responses.data,
        "min_group_size": form.min_group_size.data,
        "max_reminders": form.max_reminders.data,
        "remind_days_before_close": form.remind_days_before_close.data,
    }
    if form.audience is not None:
        settings.update(
            audience=form.audience.data,
            opens_at=opens_at,
            default_locale=form.default_locale.data or None,
            anonymous=form.anonymous.data,
            one_response_per_browser=form.one_response_per_browser.data,
            hidden_fields=form.hidden_fields.data or "",
        )
    return settings


def _form_page(form, campaign, subjects, *, status=200, webhook_form=None, available=None):
    return (
        render_template(
            "surveys/campaigns/form.html",
            form=form,
            campaign=campaign,
            subjects=subjects,
            questionnaires=available,
            webhook_form=webhook_form or (_webhook_form(campaign) if campaign else None),
            confirm=ConfirmForm(),
            status=campaigns.campaign_status(campaign) if campaign is not None else None,
            subject=campaigns.campaign_subject(campaign) if campaign is not None else None,
        ),
        status,
    )


def _webhook_form(campaign: Campaign) -> WebhookForm:
    return WebhookForm(formdata=None, data={"webhook_url": campaign.webhook_url or ""})


# ----------------------------------------------------------------- list


@bp.get("/")
@admin_required
def index():
    status = request.args.get("status") or ""
    if status not in campaigns.STATUSES:
        status = ""
    questionnaire_id = request.args.get("questionnaire_id", type=int)
    q = (request.args.get("q") or "").strip()[:200]
    now = utcnow()
    query = campaigns.list_campaigns(
        current_user, status=status or None, questionnaire_id=questionnaire_id, q=q, now=now
    ).options(selectinload(Campaign.version).selectinload(QuestionnaireVersion.questionnaire))
    try:
        page = max(1, int(request.args.get("page", 1)))
    except ValueError:
        page = 1
    pagination = db.paginate(
        query, page=page, per_page=current_app.config["PAGE_SIZE"], error_out=False
    )
    items = list(pagination.items)
    counts = campaigns.completed_counts(c.id for c in items)
    rows = [
        {
            "campaign": c,
            "status": campaigns.campaign_status(c, now, completed=counts.get(c.id, 0)),
            "completed": counts.get(c.id, 0),
            "subject": campaigns.campaign_subject(c),
            "title": _title(c.version),
        }
        for c in items
    ]
    return render_template(
        "surveys/campaigns/index.html",
        rows=rows,
        pagination=pagination,
        status=status,
        q=q,
        questionnaire_id=questionnaire_id,
        questionnaires=[(qn, _title(v)) for qn, v in _published_questionnaires()],
    )


# ----------------------------------------------------------------- create and edit


@bp.route("/new", methods=["GET", "POST"])
@admin_required
def new():
    available = _published_questionnaires()
    form = CampaignForm()
    form.questionnaire_id.choices = [(qn.id, f"{_title(v)} (v{v.number})") for qn, v in available]
    subjects = _subject_groups(None)
    if request.method == "GET":
        form.timezone.data = _viewer_zone()
        wanted = request.args.get("questionnaire_id", type=int)
        if wanted in {qn.id for qn, _v in available}:
            form.questionnaire_id.data = wanted
    if not available:
        return _form_page(form, None, subjects, available=available)
    if form.validate_on_submit():
        window = form.window()
        subject = _chosen_subject(form)
        if window is not None and subject is not False:
            version = dict((qn.id, v) for qn, v in available)[form.questionnaire_id.data]
            settings = _settings_from(form, window)
            try:
                campaign = campaigns.create_campaign(
                    current_user,
                    version,
                    subject=subject,
                    launch=bool(form.launch.data),
                    **settings,
                )
            except ServiceError as exc:
                db.session.rollback()
                form_error(form, exc)
            else:
                db.session.commit()
                flash(
                    _("The campaign is launched.") if campaign.launched_at
                    else _("The campaign is saved as a draft. Launch it when it is ready."),
                    "success",
                )
                return redirect(url_for("campaigns.detail", campaign_id=campaign.id))
    return _form_page(
        form, None, subjects, status=422 if form.errors else 200, available=available
    )


def _edit_form(campaign: Campaign, *, bound: bool = True) -> CampaignForm:
    """The settings form of ``campaign``, filled with its values (in the viewer's time
    zone); ``bound``: read the posted values. A launched campaign's fixed settings are
    left out."""
    zone_name = _viewer_zone()
    data = {
        "name": campaign.name,
        "audience": campaign.audience,
        "timezone": zone_name,
        "opens_at": utc_to_local(campaign.opens_at, zone_name),
        "closes_at": utc_to_local(campaign.closes_at, zone_name),
        "max_responses": campaign.max_responses,
        "subject": _subject_value(campaigns.campaign_subject(campaign)),
        "default_locale": campaign.default_locale or "",
        "anonymous": campaign.anonymous,
        "one_response_per_browser": campaign.one_response_per_browser,
        "hidden_fields": ", ".join(campaign.hidden_fields or []),
        "min_group_size": campaign.min_group_size,
        "max_reminders": campaign.max_reminders,
        "remind_days_before_close": campaign.remind_days_before_close,
    }
    form = CampaignForm(data=data) if bound else CampaignForm(formdata=None, data=data)
    del form.questionnaire_id
    if campaign.launched_at is not None:
        for name in DRAFT_ONLY:
            delattr(form, name)
        del form.launch
    return form


@bp.route("/<int:campaign_id>/settings", methods=["GET", "POST"])
@admin_required
def edit(campaign_id: int):
    campaign = campaign_or_404(campaign_id)
    launched = campaign.launched_at is not None
    form = _edit_form(campaign)
    subjects = _subject_groups(campaign) if not launched else []
    if form.validate_on_submit():
        window = form.window()
        subject = _chosen_subject(form) if not launched else None
        if window is not None and subject is not False:
            settings = _settings_from(form, window, campaign)
            if not launched:
                settings["subject"] = subject
            was_closed = campaigns.is_closed(campaign)
            launch = not launched and bool(form.launch.data)
            try:
                campaigns.update_campaign(current_user, campaign, **settings)
                if launch:
                    campaigns.launch_campaign(current_user, campaign)
            except ServiceError as exc:
                db.session.rollback()
                form_error(form, exc)
            else:
                closed_now = launched and not was_closed and campaigns.is_closed(campaign)
                db.session.commit()
                if closed_now:
                    flash(
                        _("The closing time you entered has already passed, so the campaign "
                          "is now closed."),
                        "warning",
                    )
                else:
                    flash(_("The campaign is launched.") if launch else _("Saved."), "success")
                return redirect(url_for("campaigns.detail", campaign_id=campaign.id))
    return _form_page(form, campaign, subjects, status=422 if form.errors else 200)


@bp.post("/<int:campaign_id>/webhook")
@admin_required
def webhook(campaign_id: int):
    campaign = campaign_or_404(campaign_id)
    form = WebhookForm()
    if not form.validate_on_submit():
        if "csrf_token" in form.errors:
            abort(400)
        return _webhook_error(campaign, form)
    url = (form.webhook_url.data or "").strip() or None
    if request.form.get("action") == "remove":
        url = None
    if url == campaign.webhook_url:
        flash(_("Nothing changed."), "info")
        return redirect(url_for("campaigns.edit", campaign_id=campaign.id) + "#webhook")
    try:
        secret = campaigns.set_webhook(current_user, campaign, url)
    except ServiceError as exc:
        db.session.rollback()
        form_error(form, exc)
        return _webhook_error(campaign, form)
    db.session.commit()
    if secret is None:
        flash(_("The webhook is removed."), "success")
        return redirect(url_for("campaigns.edit", campaign_id=campaign.id) + "#webhook")
    return _secret_page(campaign, secret)


@bp.post("/<int:campaign_id>/webhook/secret")
@admin_required
def webhook_secret(campaign_id: int):
    campaign = campaign_or_404(campaign_id)
    _confirmed()
    if not campaign.webhook_url:
        flash(_("Set a webhook address first."), "error")
        return redirect(url_for("campaigns.edit", campaign_id=campaign.id) + "#webhook")
    secret = campaigns.set_webhook(current_user, campaign, campaign.webhook_url)
    db.session.commit()
    return _secret_page(campaign, secret)


def _webhook_error(campaign: Campaign, webhook_form: WebhookForm):
    form = _edit_form(campaign, bound=False)
    subjects = _subject_groups(campaign) if campaign.launched_at is None else []
    page, _status = _form_page(form, campaign, subjects, webhook_form=webhook_form)
    return page, 422


def _secret_page(campaign: Campaign, secret: str):
    response = make_response(
        render_template("surveys/campaigns/webhook_secret.html", campaign=campaign, secret=secret)
    )
    response.headers["Cache-Control"] = "no-store"
    return response


# ----------------------------------------------------------------- overview


@bp.get("/<int:campaign_id>")
@admin_required
def detail(campaign_id: int):
    campaign = campaign_or_404(campaign_id)
    counts = dict(
        db.session.execute(
            select(Response.status, func.count())
            .where(Response.campaign_id == campaign.id, Response.deleted_at.is_(None))
            .group_by(Response.status)
        ).all()
    )
    completed = counts.get(ResponseStatus.COMPLETED.value, 0)
    jobs = db.session.scalars(
        campaigns.list_task_runs(current_user, campaign_id=campaign.id).limit(RECENT_JOBS)
    ).all()
    history = db.session.scalars(
        select(AuditEvent)
        .where(AuditEvent.object_type == "Campaign", AuditEvent.object_id == campaign.id)
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        .limit(20)
    ).all()
    return render_template(
        "surveys/campaigns/detail.html",
        campaign=campaign,
        status=campaigns.campaign_status(campaign, completed=completed),
        completed=completed,
        in_progress=counts.get(ResponseStatus.IN_PROGRESS.value, 0),
        subject=campaigns.campaign_subject(campaign),
        title=_title(campaign.version),
        url=campaigns.public_url(campaign),
        can_reopen=campaigns.can_reopen(campaign),
        closed_by_hand=campaigns.closed_by_hand(campaign),
        jobs=jobs,
        history=history,
        confirm=ConfirmForm(),
    )


@bp.post("/<int:campaign_id>/launch")
@admin_required
def launch(campaign_id: int):
    return _transition(campaign_id, campaigns.launch_campaign, _("The campaign is launched."))


@bp.post("/<int:campaign_id>/close")
@admin_required
def close(campaign_id: int):
    return _transition(campaign_id, campaigns.close_campaign, _("The campaign is closed."))


@bp.post("/<int:campaign_id>/reopen")
@admin_required
def reopen(campaign_id: int):
    return _transition(campaign_id, campaigns.reopen_campaign, _("The campaign is open again."))


def _transition(campaign_id: int, change, done: str):
    campaign = campaign_or_404(campaign_id)
    _confirmed()
    try:
        change(current_user, campaign)
    except ServiceError as exc:
        db.session.rollback()
        flash(str(exc.message), "error")
    else:
        db.session.commit()
        flash(done, "success")
    return redirect(url_for("campaigns.detail", campaign_id=campaign_id))


# ----------------------------------------------------------------- QR code and poster


def _download_name(campaign: Campaign, suffix: str) -> str:
    stem = re.sub(r"[^\w-]+", "-", campaign.name).strip("-_")[:60] or f"campaign-{campaign.id}"
    return f"{stem}-{suffix}"


def _publiccampaign_or_404(campaign_id: int) -> Campaign:
    campaign = campaign_or_404(campaign_id)
    if campaign.is_personal:
        abort(404)  # personal links are sent one by one; there is no public link to show
    return campaign


@bp.get("/<int:campaign_id>/qr.<fmt>")
@admin_required
def qr(campaign_id: int, fmt: str):
    if fmt not in QR_TYPES:
        abort(404)
    campaign = _publiccampaign_or_404(campaign_id)
    code = segno.make(campaigns.public_url(campaign), error="m", micro=False)
    buffer = BytesIO()
    if fmt == "png":
        code.save(buffer, kind="png", scale=12, border=4)
    else:
        code.save(buffer, kind="svg", scale=10, border=4, title=campaign.name, omitsize=True,
                  xmldecl=True)
        # A viewBox to scale to any size, and a default size for programs that need one.
        size = code.symbol_size(scale=10, border=4)[0]
        body = buffer.getvalue().replace(
            b"<svg ", f'<svg width="{size}" height="{size}" '.encode(), 1
        )
        buffer = BytesIO(body)
    buffer.seek(0)
    response = send_file(
        buffer,
        mimetype=QR_TYPES[fmt],
        as_attachment=request.args.get("download") == "1",
        download_name=_download_name(campaign, f"qr.{fmt}"),
        max_age=0,
    )
    response.headers["Cache-Control"] = "private, no-cache"
    return response


@bp.get("/<int:campaign_id>/poster")
@admin_required
def poster(campaign_id: int):
    campaign = _publiccampaign_or_404(campaign_id)
    definition = services.parsed_version(campaign.version)
    language = campaign.default_locale or definition.default_locale or current_language()
    language = "zh_CN" if language.startswith("zh") else "en"
    other = "en" if language == "zh_CN" else "zh_CN"
    title = localized(definition.title, language)
    subtitle = definition.title.get(other) if isinstance(definition.title, dict) else None
    subject = campaigns.campaign_subject(campaign)
    url = campaigns.public_url(campaign)
    with force_locale(language):
        texts = {
            "scan": _("Scan the code with your phone's camera to answer"),
            "or_visit": _("or open this address:"),
            "closes": _("Open until %(when)s", when=local_time(campaign.closes_at))
            if campaign.closes_at else None,
            "about": _("About: %(name)s", name=campaigns.subject_name(subject))
            if subject is not None else None,
            "minutes": _("Your answers help us improve. Thank you!"),
        }
    return render_template(
        "surveys/campaigns/poster.html",
        campaign=campaign,
        title=title,
        subtitle=subtitle if subtitle and subtitle != title else None,
        texts=texts,
        url=url,
        short_url=re.sub(r"^https?://", "", url),
        poster_lang="zh-CN" if language == "zh_CN" else "en",
        subtitle_lang="zh-CN" if other == "zh_CN" else "en",
    )


# ----------------------------------------------------------------- background jobs

JOB_STATUSES = (
    TaskStatus.QUEUED,
    TaskStatus.RUNNING,
    TaskStatus.RETRYING,
    TaskStatus.SUCCEEDED,
    TaskStatus.FAILED,
)


@bp.get("/jobs")
@admin_required
def jobs():
    status = request.args.get("status") or ""
    if status not in JOB_STATUSES:
        status = ""
    campaign_id = request.args.get("campaign_id", type=int)
    try:
        page = max(1, int(request.args.get("page", 1)))
    except ValueError:
        page = 1
    pagination = db.paginate(
        campaigns.list_task_runs(current_user, status=status or None, campaign_id=campaign_id),
        page=page,
        per_page=current_app.config["PAGE_SIZE"],
        error_out=False,
    )
    runs: list[TaskRun] = list(pagination.items)
    ids = {r.campaign_id for r in runs if r.campaign_id} | ({campaign_id} if campaign_id else set())
    names = dict(
        db.session.execute(select(Campaign.id, Campaign.name).where(Campaign.id.in_(ids))).all()
    ) if ids else {}
    return render_template(
        "surveys/campaigns/jobs.html",
        pagination=pagination,
        runs=runs,
        status=status,
        statuses=JOB_STATUSES,
        campaign_id=campaign_id,
        campaign_names=names,
        confirm=ConfirmForm(),
    )


@bp.post("/jobs/<int:run_id>/retry")
@admin_required
def retry_job(run_id: int):
    _confirmed()
    try:
        run = campaigns.get_task_run(current_user, run_id)
    except NotFound:
        abort(404)
    try:
        new = campaigns.retry_failed_run(current_user, run)
    except ServiceError as exc:
        db.session.rollback()
        flash(str(exc.message), "error")
    else:
        db.session.commit()
        flash(_("The job is queued again (run %(id)d).", id=new.id), "success")
    return redirect(safe_next_url(request.form.get("next")) or url_for("campaigns.jobs"))
