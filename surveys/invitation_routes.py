"""Invitation pages: the campaign's invitation list and how people are added, sending
and reminders, email templates, the development outbox — and the respondent's side:
the personal link ``/i/<token>`` and the unsubscribe link ``/u/<token>``.

A personal link is exchanged for the session on its first visit: the browser is
redirected to the survey's address without the token (``Referrer-Policy:
no-referrer`` on both responses), and :func:`bound_invitation` tells the survey pages
whom they are answering. Every link that cannot be used — unknown, revoked, expired,
replaced, already answered, campaign closed — gets one and the same page.
"""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, or_, select

from core.exceptions import ConflictError, NotFound, PermissionDenied, ServiceError
from core.extensions import csrf, db, limiter
from core.i18n import current_language
from org import orgchart
from org.forms import ConfirmForm
from org.models import Team, User
from org.orgchart_routes import ConfirmImportForm as ConfirmUploadForm
from org.orgchart_routes import OrgChartUploadForm as UploadForm
from org.routes import admin_required, form_error
from surveys import invitations as service
from surveys import mail, services
from surveys.campaign_routes import campaign_or_404
from surveys.invitation_forms import OrgForm, PasteForm, TemplateForm
from surveys.models import Campaign, Invitation

bp = Blueprint("invitations", __name__)

PER_PAGE = 50
STATUS_FILTERS = ("pending", "queued", "sent", "failed", "opted_out", "revoked")
RESPONSE_FILTERS = ("opened", "started", "completed", "not_completed")
_SAMPLE_TOKEN = "your-personal-link"  # noqa: S105 - shown in template previews only


# ----------------------------------------------------------------- the respondent's side


def _session_key(campaign_id: int) -> str:
    return f"orbit_i{campaign_id}"


def invalid_link_page():
    """The one page for every personal link that cannot be used (and for a personal
    survey opened without one): nothing in it depends on the link or the campaign."""
    response = make_response(render_template("surveys/invitations/invalid_link.html"), 404)
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def bound_invitation(campaign: Campaign) -> Invitation | None:
    """The invitation this browser opened for ``campaign`` — still valid, and with the
    link it opened (a reissued link unbinds the browsers of the old one)."""
    bound = session.get(_session_key(campaign.id))
    if not isinstance(bound, dict):
        return None
    invitation = db.session.get(Invitation, bound.get("i"))
    if (
        invitation is None
        or invitation.campaign_id != campaign.id
        or invitation.token_hash != bound.get("h")
        or not service.usable(invitation)
    ):
        return None
    g.orbit_invitation = invitation
    return invitation


def _bind(invitation: Invitation, response) -> None:
    """Remember the invitation in the session; if this browser answered for someone
    else before, forget that person's response."""
    from surveys import respond

    campaign = invitation.campaign
    key = _session_key(campaign.id)
    before = session.get(key)
    if isinstance(before, dict) and before.get("i") != invitation.id:
        session.pop(respond._pending_key(campaign), None)
        response.delete_cookie(respond._cookie_name(campaign), path=f"/s/{campaign.public_slug}")
    session[key] = {"i": invitation.id, "h": invitation.token_hash}


@bp.get("/i/<token>")
@limiter.limit("60 per minute")
def open(token: str):
    invitation = service.exchange_token(token)
    if invitation is None:
        db.session.rollback()
        return invalid_link_page()
    slug = invitation.campaign.public_slug
    response = redirect(url_for("respond.answer", slug=slug), code=303)
    _bind(invitation, response)
    db.session.commit()
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _unsubscribe_page(state: str, status: int = 200, form=None):
    response = make_response(
        render_template("surveys/invitations/unsubscribe.html", state=state, form=form), status
    )
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.route("/u/<token>", methods=["GET", "POST"])
@csrf.exempt  # RFC 8058 one-click POSTs carry no CSRF token; the signed link is the proof
@limiter.limit("30 per minute")
def unsubscribe(token: str):
    if service.read_unsubscribe_token(token) is None:
        return _unsubscribe_page("invalid", 404)
    form = ConfirmForm()
    if request.method == "GET":
        return _unsubscribe_page("confirm", form=form)
    one_click = request.form.get("List-Unsubscribe") == "One-Click"
    if not one_click and not form.validate_on_submit():
        abort(400)
    service.unsubscribe(token)
    db.session.commit()
    if one_click:
        return Response(status=204)
    return _unsubscribe_page("done")


# ----------------------------------------------------------------- admin: helpers


def _personal_or_404(campaign_id: int) -> Campaign:
    campaign = campaign_or_404(campaign_id)
    if not campaign.is_personal:
        abort(404)
    return campaign


def _status_of(campaign: Campaign) -> str:
    try:
        from surveys.campaigns import campaign_status
    except ImportError:  # pragma: no cover - the campaign pages are not installed
        return services.campaign_state(campaign)
    return campaign_status(campaign)


def _back(campaign: Campaign, anchor: str = ""):
    return redirect(url_for(".index", campaign_id=campaign.id) + anchor, code=303)


def _flash_service_error(exc: ServiceError) -> None:
    flash(str(exc.message), "error")
    for where, messages in list(exc.errors.items())[:20]:
        for message in messages:
            flash(f"{where}: {message}", "error")


def _counts(campaign: Campaign) -> dict[str, int]:
    base = select(func.count()).select_from(Invitation).where(
        Invitation.campaign_id == campaign.id, Invitation.erased_at.is_(None)
    )
    counts = {"total": db.session.scalar(base)}
    for status, n in db.session.execute(
        select(Invitation.send_status, func.count())
        .where(Invitation.campaign_id == campaign.id, Invitation.erased_at.is_(None),
               Invitation.revoked_at.is_(None))
        .group_by(Invitation.send_status)
    ):
        counts[status] = n
    for name, column in (("revoked", Invitation.revoked_at), ("opened", Invitation.opened_at),
                         ("started", Invitation.started_at),
                         ("completed", Invitation.completed_at),
                         ("unsubscribed", Invitation.opted_out_at)):
        counts[name] = db.session.scalar(base.where(column.is_not(None)))
    return counts


def _filtered(campaign: Campaign, status: str | None, show_status: bool):
    query = select(Invitation).where(
        Invitation.campaign_id == campaign.id, Invitation.erased_at.is_(None)
    )
    if status == "revoked":
        query = query.where(Invitation.revoked_at.is_not(None))
    elif status in STATUS_FILTERS:
        query = query.where(Invitation.send_status == status, Invitation.revoked_at.is_(None))
    elif show_status and status == "opened":
        query = query.where(Invitation.opened_at.is_not(None))
    elif show_status and status == "started":
        query = query.where(Invitation.started_at.is_not(None))
    elif show_status and status == "completed":
        query = query.where(Invitation.completed_at.is_not(None))
    elif show_status and status == "not_completed":
        query = query.where(Invitation.completed_at.is_(None), Invitation.revoked_at.is_(None))
    return query.order_by(Invitation.id)


def _org_form(form: OrgForm | None = None) -> OrgForm:
    form = form or OrgForm()
    form.teams.choices = [
        (t.id, t.name)
        for t in db.session.scalars(select(Team).where(Team.active.is_(True)).order_by(Team.name))
    ]
    with_reports = select(User.supervisor_id).where(
        User.supervisor_id.is_not(None), User.active.is_(True)
    )
    managers = db.session.scalars(
        select(User)
        .where(User.active.is_(True), or_(User.role == "manager", User.id.in_(with_reports)))
        .order_by(User.display_name)
    ).all()
    form.manager_id.choices = [(None, _("— nobody —"))] + [
        (m.id, f"{m.display_name} <{m.email}>") for m in managers
    ]
    return form


def _recent_jobs(campaign: Campaign):
    from core.tasks import TaskRun

    return db.session.scalars(
        select(TaskRun)
        .where(TaskRun.campaign_id == campaign.id, TaskRun.name == service.SEND_JOB)
        .order_by(TaskRun.id.desc())
        .limit(5)
    ).all()


def _render_index(campaign: Campaign, *, paste: PasteForm | None = None,
                  org: OrgForm | None = None, status_code: int = 200):
    counts = _counts(campaign)
    show_status = services.may_show_response_status(campaign, counts["completed"])
    status = request.args.get("status") or None
    if status not in STATUS_FILTERS + RESPONSE_FILTERS:
        status = None
    if status in RESPONSE_FILTERS and not show_status:
        status = None
    page = db.paginate(
        _filtered(campaign, status, show_status), page=request.args.get("page", 1, type=int),
        per_page=PER_PAGE, error_out=False,
    )
    teams = {t.id: t.name for t in db.session.scalars(select(Team))}
    return render_template(
        "surveys/invitations/index.html",
        campaign=campaign,
        state=_status_of(campaign),
        counts=counts,
        show_status=show_status,
        status=status,
        page=page,
        teams=teams,
        paste=paste or PasteForm(),
        org=_org_form(org),
        confirm=ConfirmForm(),
        unsent=service.unsent_count(campaign),
        remindable=service.reminder_count(campaign),
        reminder_due=service.reminder_due_at(campaign),
        jobs=_recent_jobs(campaign),
        status_filters=STATUS_FILTERS,
        response_filters=RESPONSE_FILTERS,
    ), status_code


# ----------------------------------------------------------------- admin: the list


@bp.get("/campaigns/<int:campaign_id>/invitations")
@admin_required
def index(campaign_id: int):
    return _render_index(_personal_or_404(campaign_id))


@bp.post("/campaigns/<int:campaign_id>/invitations/paste")
@admin_required
def paste(campaign_id: int):
    campaign = _personal_or_404(campaign_id)
    form = PasteForm()
    if not form.validate_on_submit():
        return _render_index(campaign, paste=form, status_code=422)
    try:
        created = service.add_invitations(
            current_user, campaign, service.parse_pasted(form.text.data), source="paste"
        )
    except ServiceError as exc:
        db.session.rollback()
        problems = [f"{where}: {m}" for where, ms in exc.errors.items() for m in ms]
        form.text.errors = [str(exc.message), *problems[:50]]
        if len(problems) > 50:
            form.text.errors.append(_("…and %(n)d more.", n=len(problems) - 50))
        return _render_index(campaign, paste=form, status_code=422)
    db.session.commit()
    flash(ngettext("%(num)d person invited.", "%(num)d people invited.", len(created)), "success")
    return _back(campaign)


@bp.post("/campaigns/<int:campaign_id>/invitations/org")
@admin_required
def from_org(campaign_id: int):
    campaign = _personal_or_404(campaign_id)
    form = _org_form(OrgForm())
    if not form.validate_on_submit():
        return _render_index(campaign, org=form, status_code=422)
    try:
        created, skipped = service.invite_from_org(
            current_user, campaign, team_ids=form.teams.data or (),
            manager_id=form.manager_id.data, everyone=form.everyone.data,
        )
    except ServiceError as exc:
        db.session.rollback()
        _flash_service_error(exc)
        return _back(campaign, "#from-org")
    db.session.commit()
    flash(ngettext("%(num)d person invited.", "%(num)d people invited.", len(created)), "success")
    if skipped:
        flash(ngettext("%(num)d person was already invited.",
                       "%(num)d people were already invited.", skipped), "info")
    return _back(campaign)


def _queue_emails(campaign_id: int, queue, queued_message, nothing_message):
    """Queue emails with ``queue(actor, campaign)`` (one commit) and say what happened."""
    campaign = _personal_or_404(campaign_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        count = queue(current_user, campaign)
    except ServiceError as exc:
        db.session.rollback()
        _flash_service_error(exc)
        return _back(campaign)
    db.session.commit()
    if count:
        flash(queued_message(count), "success")
    else:
        flash(nothing_message, "info")
    return _back(campaign)


@bp.post("/campaigns/<int:campaign_id>/invitations/send")
@admin_required
def send(campaign_id: int):
    return _queue_emails(
        campaign_id,
        service.send_invitations,
        lambda n: ngettext("%(num)d invitation is being sent.",
                           "%(num)d invitations are being sent.", n),
        _("Everyone has been sent an invitation already."),
    )


@bp.post("/campaigns/<int:campaign_id>/invitations/remind")
@admin_required
def remind(campaign_id: int):
    return _queue_emails(
        campaign_id,
        service.send_reminders,
        lambda n: ngettext("%(num)d reminder is being sent.",
                           "%(num)d reminders are being sent.", n),
        _("Nobody needs a reminder: everyone has answered, opted out or had the "
          "maximum number of reminders."),
    )


def _invitation_or_404(campaign: Campaign, invitation_id: int) -> Invitation:
    try:
        return service.get_invitation(current_user, campaign, invitation_id)
    except NotFound:
        abort(404)


@bp.post("/campaigns/<int:campaign_id>/invitations/<int:invitation_id>/revoke")
@admin_required
def revoke(campaign_id: int, invitation_id: int):
    campaign = _personal_or_404(campaign_id)
    invitation = _invitation_or_404(campaign, invitation_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        service.revoke(current_user, invitation)
    except ServiceError as exc:
        db.session.rollback()
        flash(str(exc.message), "error")
    else:
        db.session.commit()
        flash(_("The link of %(email)s no longer works.", email=invitation.email), "success")
    return _back(campaign)


@bp.post("/campaigns/<int:campaign_id>/invitations/<int:invitation_id>/reissue")
@admin_required
def reissue(campaign_id: int, invitation_id: int):
    campaign = _personal_or_404(campaign_id)
    invitation = _invitation_or_404(campaign, invitation_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        service.reissue(current_user, invitation)
        sent = 0
        if campaign.launched_at is not None:
            sent = service.send_invitations(current_user, campaign, [invitation.id])
    except ServiceError as exc:
        db.session.rollback()
        flash(str(exc.message), "error")
        return _back(campaign)
    db.session.commit()
    if sent:
        flash(_("%(email)s has a new link, which is being emailed. The old link no longer "
                "works.", email=invitation.email), "success")
    else:
        flash(_("%(email)s has a new link; the old one no longer works. It is emailed when "
                "invitations are sent.", email=invitation.email), "success")
    return _back(campaign)


# ----------------------------------------------------------------- admin: upload


def _preview(campaign, parsed, checks, token, status=200):
    custom = [c for c in parsed.columns if c not in ("email", "name", "language")]
    return render_template(
        "surveys/invitations/upload_preview.html",
        campaign=campaign,
        parsed=parsed,
        checks=orgchart.preview_rows(checks),
        total=len(checks),
        error_rows=sum(1 for c in checks if c.errors),
        custom=custom,
        confirm=ConfirmUploadForm(token=token) if token else None,
    ), status


@bp.route("/campaigns/<int:campaign_id>/invitations/upload", methods=["GET", "POST"])
@admin_required
def upload(campaign_id: int):
    campaign = _personal_or_404(campaign_id)
    form = UploadForm()
    if form.validate_on_submit():
        data = form.file.data.read(orgchart.MAX_FILE_BYTES + 1)
        try:
            parsed = service.parse_file(form.file.data.filename or "", data)
            checks = service.check_rows(campaign, service.file_rows(parsed))
        except ServiceError as exc:
            form_error(form, exc)
        else:
            token = None
            if not service.row_errors(checks):
                token = orgchart.pending_imports("invitations").save(
                    current_user.id, parsed, service.plan_digest(campaign, checks)
                )
            return _preview(campaign, parsed, checks, token, 200 if token else 422)
    return render_template(
        "surveys/invitations/upload.html",
        campaign=campaign,
        form=form,
        max_rows=service.MAX_ROWS,
        max_megabytes=orgchart.MAX_FILE_BYTES // 2**20,
    )


@bp.post("/campaigns/<int:campaign_id>/invitations/upload/confirm")
@admin_required
def confirm_upload(campaign_id: int):
    campaign = _personal_or_404(campaign_id)
    form = ConfirmUploadForm()
    if not form.validate_on_submit():
        abort(400)
    store = orgchart.pending_imports("invitations")
    token = form.token.data
    try:
        pending = store.load(token, current_user.id)
    except ServiceError as exc:
        flash(str(exc.message), "error")
        return redirect(url_for(".upload", campaign_id=campaign.id))
    checks = service.check_rows(campaign, service.file_rows(pending.parsed))
    if service.row_errors(checks):
        store.discard(token)
        flash(_("Something changed since the preview and the file now has errors. "
                "Nobody was invited."), "error")
        return _preview(campaign, pending.parsed, checks, None, 409)
    if service.plan_digest(campaign, checks) != pending.digest:
        # Another campaign's preview, or the list changed: show what would happen now.
        store.discard(token)
        flash(_("This preview does not match the campaign any more. Upload the file again."),
              "error")
        return redirect(url_for(".upload", campaign_id=campaign.id))
    try:
        created = service.add_invitations(
            current_user, campaign, service.file_rows(pending.parsed), source="file"
        )
        db.session.commit()
    except ServiceError as exc:
        db.session.rollback()
        _flash_service_error(exc)
        return redirect(url_for(".upload", campaign_id=campaign.id))
    store.discard(token)
    flash(ngettext("%(num)d person invited.", "%(num)d people invited.", len(created)), "success")
    return _back(campaign)


@bp.get("/campaigns/<int:campaign_id>/invitations/template.csv")
@admin_required
def upload_template(campaign_id: int):
    _personal_or_404(campaign_id)
    locale = get_locale()
    body = service.template_csv(chinese_headers=locale is not None and locale.language == "zh")
    return Response(
        body,
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": 'attachment; filename="invitations.csv"',
        },
    )


# ----------------------------------------------------------------- admin: email templates


def _sample(campaign: Campaign, template: dict, language: str) -> mail.Rendered:
    return mail.render(
        template,
        language=language,
        name="李娜" if language == "zh_CN" else "Li Na",
        campaign_name=campaign.name,
        link=url_for("invitations.open", token=_SAMPLE_TOKEN, _external=True),
        unsubscribe_link=url_for("invitations.unsubscribe", token=_SAMPLE_TOKEN, _external=True),
        closes_at=campaign.closes_at,
    )


@bp.route("/campaigns/<int:campaign_id>/emails", methods=["GET", "POST"])
@admin_required
def templates(campaign_id: int):
    campaign = _personal_or_404(campaign_id)
    kind = request.values.get("kind") or "invitation"
    language = request.values.get("language") or current_language()
    if kind not in mail.KINDS or language not in mail.LANGUAGES:
        abort(404)
    current = mail.template_of(campaign, kind, language)
    form = TemplateForm(kind=kind, language=language, **current)
    status = 200
    preview = None
    if form.validate_on_submit():
        problems = mail.check_template(form.subject.data, form.body.data)
        for name, messages in problems.items():
            getattr(form, name).errors = [*getattr(form, name).errors, *map(str, messages)]
        if problems:
            status = 422
        elif form.save.data:
            try:
                service.set_email_template(current_user, campaign, kind, language,
                                           form.subject.data, form.body.data)
            except ServiceError as exc:
                db.session.rollback()
                form_error(form, exc)
                status = 422
            else:
                db.session.commit()
                flash(_("The email is saved."), "success")
                return redirect(url_for(".templates", campaign_id=campaign.id, kind=kind,
                                        language=language), code=303)
        else:
            preview = _sample(campaign, {"subject": form.subject.data,
                                         "body": form.body.data}, language)
    elif request.method == "POST":
        status = 422
    if preview is None and status == 200:
        preview = _sample(campaign, current, language)
    return render_template(
        "surveys/invitations/templates.html",
        campaign=campaign,
        kind=kind,
        language=language,
        form=form,
        preview=preview,
        customised=mail.is_customised(campaign, kind, language),
        placeholders=mail.PLACEHOLDERS,
        confirm=ConfirmForm(),
    ), status


@bp.post("/campaigns/<int:campaign_id>/emails/reset")
@admin_required
def reset_template(campaign_id: int):
    campaign = _personal_or_404(campaign_id)
    kind, language = request.form.get("kind"), request.form.get("language")
    if kind not in mail.KINDS or language not in mail.LANGUAGES:
        abort(404)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    service.reset_email_template(current_user, campaign, kind, language)
    db.session.commit()
    flash(_("The default email is back."), "success")
    return redirect(url_for(".templates", campaign_id=campaign.id, kind=kind,
                            language=language), code=303)


# ----------------------------------------------------------------- admin: the outbox


@bp.get("/admin/outbox")
@admin_required
def outbox():
    names = mail.outbox_names()
    page = max(1, request.args.get("page", 1, type=int))
    pages = max(1, -(-len(names) // PER_PAGE))
    shown = names[(page - 1) * PER_PAGE:page * PER_PAGE]
    return render_template(
        "surveys/invitations/outbox.html",
        entries=mail.outbox_entries(shown),
        total=len(names),
        page=page,
        pages=pages,
        backend=current_app.config.get("MAIL_BACKEND"),
    )


@bp.get("/admin/outbox/<name>")
@admin_required
def outbox_message(name: str):
    message = mail.outbox_message(name)
    if message is None:
        abort(404)
    text, html = mail.text_and_html(message)
    headers = [(k, str(v)) for k, v in message.items()]
    return render_template(
        "surveys/invitations/outbox_message.html",
        name=name,
        headers=headers,
        subject=str(message.get("Subject", "")),
        text=text,
        html=html,
    )


@bp.errorhandler(PermissionDenied)
def _permission_denied(exc):
    abort(403)


@bp.errorhandler(ConflictError)
def _conflict(exc):  # pragma: no cover - services' conflicts are caught above
    abort(409)
