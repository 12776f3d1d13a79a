"""Admin pages for a campaign's responses (list, one response, soft delete and
restore), its webhook deliveries, and erasing a person's data on request.

Thin: every change goes through :mod:`surveys.responses_admin` or
:mod:`surveys.webhooks`, and each request commits once.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from wtforms import BooleanField, HiddenField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from core.exceptions import NotFound, ServiceError
from core.extensions import db
from core.i18n import current_language
from core.i18n import lazy_gettext as _l
from org.forms import ConfirmForm
from org.models import User
from org.routes import admin_required
from surveys import responses_admin, webhooks
from surveys.campaign_routes import campaign_or_404
from surveys.models import Campaign, Invitation, WebhookDelivery

bp = Blueprint("responses_admin", __name__, url_prefix="/campaigns")

SHOW_CHOICES = ("all", *responses_admin.STATUS_FILTERS)


class DeleteResponseForm(FlaskForm):
    reason = TextAreaField(
        _l("Why delete this response?"),
        validators=[DataRequired(), Length(max=responses_admin.MAX_REASON)],
    )
    submit = SubmitField(_l("Delete response"))


class EraseForm(FlaskForm):
    email = StringField(_l("Email address"), validators=[Optional(), Length(max=254)])
    token = StringField(
        _l("Personal link (or its token)"), validators=[Optional(), Length(max=2000)]
    )
    submit = SubmitField(_l("Find what would be erased"))


class EraseConfirmForm(FlaskForm):
    step = HiddenField(default="erase")
    email = HiddenField()
    token = HiddenField()
    confirm = BooleanField(
        _l("I understand that this cannot be undone."), validators=[DataRequired()]
    )
    submit = SubmitField(_l("Erase for good"))


def _response_or_404(campaign: Campaign, response_id: int):
    try:
        return responses_admin.get_response(current_user, campaign, response_id)
    except NotFound:
        abort(404)


def _respondents(campaign: Campaign, responses) -> dict[int, Invitation]:
    """The invitation each response answered (never in anonymous campaigns)."""
    ids = {r.invitation_id for r in responses if r.invitation_id}
    if campaign.anonymous or not ids:
        return {}
    invitations = db.session.scalars(select(Invitation).where(Invitation.id.in_(ids)))
    by_id = {inv.id: inv for inv in invitations}
    return {r.id: by_id[r.invitation_id] for r in responses if r.invitation_id in by_id}


# ----------------------------------------------------------------- responses


@bp.get("/<int:campaign_id>/responses")
@admin_required
def index(campaign_id: int):
    campaign = campaign_or_404(campaign_id)
    show = request.args.get("show", "all")
    if show not in SHOW_CHOICES:
        show = "all"
    query = responses_admin.list_responses(
        current_user,
        campaign,
        status=None if show in ("all", "deleted") else show,
        deleted=show == "deleted",
    )
    pagination = db.paginate(
        query, per_page=current_app.config["PAGE_SIZE"], max_per_page=100, error_out=False
    )
    counts = responses_admin.status_counts(campaign)
    counts["all"] = counts["completed"] + counts["in_progress"]
    return render_template(
        "surveys/responses/index.html",
        campaign=campaign,
        pagination=pagination,
        show=show,
        counts=counts,
        respondents=_respondents(campaign, pagination.items),
        confirm=ConfirmForm(),
    )


def _render_view(campaign: Campaign, response, delete_form: DeleteResponseForm, status=200):
    deleted_by = db.session.get(User, response.deleted_by_id) if response.deleted_by_id else None
    return render_template(
        "surveys/responses/view.html",
        campaign=campaign,
        response=response,
        pages=responses_admin.shown_answers(response, current_language()),
        respondent=_respondents(campaign, [response]).get(response.id),
        deleted_by=deleted_by,
        delete_form=delete_form,
        confirm=ConfirmForm(),
    ), status


@bp.get("/<int:campaign_id>/responses/<int:response_id>")
@admin_required
def view(campaign_id: int, response_id: int):
    campaign = campaign_or_404(campaign_id)
    return _render_view(campaign, _response_or_404(campaign, response_id), DeleteResponseForm())


@bp.post("/<int:campaign_id>/responses/<int:response_id>/delete")
@admin_required
def delete(campaign_id: int, response_id: int):
    campaign = campaign_or_404(campaign_id)
    response = _response_or_404(campaign, response_id)
    form = DeleteResponseForm()
    if not form.validate_on_submit():
        if "csrf_token" in form.errors:
            abort(400)
        return _render_view(campaign, response, form, 400)
    try:
        responses_admin.soft_delete(current_user, response, form.reason.data)
    except ServiceError as exc:
        db.session.rollback()
        flash(str(exc.message), "error")
    else:
        db.session.commit()
        flash(_("Response #%(id)d is deleted. It no longer counts in results; you can "
                "restore it from the deleted responses.", id=response_id), "success")
    return redirect(url_for("responses_admin.index", campaign_id=campaign.id))


@bp.post("/<int:campaign_id>/responses/<int:response_id>/restore")
@admin_required
def restore(campaign_id: int, response_id: int):
    campaign = campaign_or_404(campaign_id)
    response = _response_or_404(campaign, response_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        responses_admin.restore(current_user, response)
    except ServiceError as exc:
        db.session.rollback()
        flash(str(exc.message), "error")
    else:
        db.session.commit()
        flash(_("Response #%(id)d is restored and counts in results again.", id=response_id),
              "success")
    return redirect(url_for("responses_admin.view", campaign_id=campaign.id,
                            response_id=response_id))


# ----------------------------------------------------------------- erasure


@bp.route("/erase", methods=["GET", "POST"])
@admin_required
def erase():
    """Step 1 shows what would be erased (nothing changes); step 2, confirmed, erases."""
    form = EraseForm()
    confirm = EraseConfirmForm()
    preview = report = None
    if request.method == "POST" and request.form.get("step") == "erase":
        email, token = confirm.email.data or None, confirm.token.data or None
        form = EraseForm(formdata=None, email=email, token=token)
        try:
            if confirm.validate_on_submit():
                report = responses_admin.erase_person(current_user, email=email, token=token)
                db.session.commit()
            else:
                if "csrf_token" in confirm.errors:
                    abort(400)
                preview = responses_admin.preview_erasure(current_user, email=email, token=token)
                db.session.rollback()
        except ServiceError as exc:
            db.session.rollback()
            _show_error(form, exc)
    elif form.validate_on_submit():
        email = (form.email.data or "").strip() or None
        token = (form.token.data or "").strip() or None
        if email and token:
            form.token.errors = [*form.token.errors,
                                 _("Give an email address or a personal link, not both.")]
        elif not email and not token:
            form.email.errors = [*form.email.errors,
                                 _("Give an email address or a personal link.")]
        else:
            try:
                preview = responses_admin.preview_erasure(current_user, email=email,
                                                          token=token)
            except ServiceError as exc:
                _show_error(form, exc)
            else:
                confirm = EraseConfirmForm(formdata=None, email=email or "", token=token or "")
        db.session.rollback()  # finding changes nothing
    elif request.method == "POST" and "csrf_token" in form.errors:
        abort(400)
    return render_template(
        "surveys/responses/erase.html", form=form, confirm=confirm, preview=preview,
        report=report, campaigns=_campaign_names(preview or report),
    )


def _show_error(form: EraseForm, exc: ServiceError) -> None:
    field = getattr(form, exc.field, None) if exc.field else None
    if field is not None:
        field.errors = [*field.errors, str(exc.message)]
    else:
        flash(str(exc.message), "error")


def _campaign_names(report) -> list[Campaign]:
    if report is None or not report.campaign_ids:
        return []
    return list(db.session.scalars(
        select(Campaign).where(Campaign.id.in_(report.campaign_ids)).order_by(Campaign.id)
    ))


# ----------------------------------------------------------------- webhook deliveries


@bp.get("/<int:campaign_id>/webhooks", endpoint="webhooks")
@admin_required
def webhooks_page(campaign_id: int):
    campaign = campaign_or_404(campaign_id)
    pagination = db.paginate(
        webhooks.list_deliveries(current_user, campaign),
        per_page=current_app.config["PAGE_SIZE"],
        max_per_page=100,
        error_out=False,
    )
    counts = dict(
        db.session.execute(
            select(WebhookDelivery.status, func.count())
            .where(WebhookDelivery.campaign_id == campaign.id)
            .group_by(WebhookDelivery.status)
        ).all()
    )
    return render_template(
        "surveys/responses/webhooks.html",
        campaign=campaign,
        pagination=pagination,
        counts=counts,
        is_erased=webhooks.is_erased,
        max_attempts=current_app.config["TASK_RETRIES"] + 1,
        confirm=ConfirmForm(),
    )


@bp.post("/<int:campaign_id>/webhooks/<int:delivery_id>/resend")
@admin_required
def resend(campaign_id: int, delivery_id: int):
    campaign = campaign_or_404(campaign_id)
    try:
        delivery = webhooks.get_delivery(current_user, campaign, delivery_id)
    except NotFound:
        abort(404)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        webhooks.send_again(current_user, delivery)
    except ServiceError as exc:
        db.session.rollback()
        flash(str(exc.message), "error")
    else:
        db.session.commit()
        flash(_("Delivery #%(id)d is queued again.", id=delivery_id), "success")
    return redirect(url_for("responses_admin.webhooks", campaign_id=campaign.id))
