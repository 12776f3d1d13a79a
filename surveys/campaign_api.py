"""JSON API under ``/api/v1`` for campaigns: settings, launch and close, the webhook,
invitations, progress, response status, results, soft deletion and erasure.

Built like :mod:`surveys.api` with :class:`org.api.ApiBlueprint` (API-key
authentication, read scope for GET and write scope for everything else, one
transaction per request, service errors in the one JSON error shape, pagination).
Endpoints are thin: they call the same services as the admin pages
(:mod:`surveys.campaigns`, :mod:`surveys.invitations`, :mod:`surveys.dashboard`,
:mod:`surveys.results`, :mod:`surveys.responses_admin`, :mod:`surveys.webhooks`).
"""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import current_app, request, url_for
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from core.exceptions import NotFound, ServiceError
from core.extensions import db
from core.i18n import lazy_gettext as _l
from org.api import (
    MAX_PAGE_SIZE,
    PAGE_SIZE,
    ApiBlueprint,
    current_actor,
    page_items,
    register_api_blueprint,
)
from org.models import Team, User, Vendor
from surveys import (
    campaigns,
    dashboard,
    invitations,
    responses_admin,
    results,
    services,
    webhooks,
)
from surveys.campaign_schemas import (
    CampaignCreatedSchema,
    CampaignCreateSchema,
    CampaignQuerySchema,
    CampaignSchema,
    CampaignSettingsSchema,
    DeleteQuerySchema,
    DeliverySchema,
    ErasureReportSchema,
    ErasureRequestSchema,
    InvitationQuerySchema,
    InvitationRowSchema,
    InvitationSchema,
    ProgressQuerySchema,
    ProgressSchema,
    QueuedSchema,
    ReissuedSchema,
    ResponseQuerySchema,
    ResponseStatusSchema,
    ResultsQuerySchema,
    ResultsSchema,
    SendIdsSchema,
    WebhookSchema,
    WebhookSetSchema,
)
from surveys.models import Campaign, Invitation, QuestionnaireVersion
from surveys.models import Response as SurveyResponse

FIELD_PREFIX = "field."

campaign_api = ApiBlueprint(
    "campaign_api",
    __name__,
    url_prefix="/api/v1/campaigns",
    description="Campaigns: a published questionnaire version sent to an audience within a "
    "window — settings, launching and closing, the webhook, invitations, progress, response "
    "status, results and soft deletion.",
)
erasure_api = ApiBlueprint(
    "erasure",
    __name__,
    url_prefix="/api/v1/erasure",
    description="Erasing a person's survey data on request.",
)

API_BLUEPRINTS = (campaign_api, erasure_api)

_ITEM = "/<int:campaign_id>"
_not_found = campaign_api.alt_response(404, response="NOT_FOUND")
_conflict = campaign_api.alt_response(
    409, response="CONFLICT", description="The campaign's state forbids this."
)


class FilterRefusedError(ServiceError):
    """A results filter refused for anonymity: the request is well-formed but cannot
    be answered."""

    status_code = 422


# ----------------------------------------------------------------- views


def _campaign(campaign_id: int) -> Campaign:
    return campaigns.get_campaign(current_actor(), campaign_id)


def _response_counts(campaign_ids: list[int]) -> dict[int, dict[str, int]]:
    counts = {cid: {"completed": 0, "in_progress": 0} for cid in campaign_ids}
    if campaign_ids:
        for cid, status, n in db.session.execute(
            select(SurveyResponse.campaign_id, SurveyResponse.status, func.count())
            .where(
                SurveyResponse.campaign_id.in_(campaign_ids),
                SurveyResponse.deleted_at.is_(None),
            )
            .group_by(SurveyResponse.campaign_id, SurveyResponse.status)
        ):
            counts[cid][status] = n
    return counts


def _campaign_view(campaign: Campaign, counts: dict[str, int] | None = None) -> dict:
    counts = counts or _response_counts([campaign.id])[campaign.id]
    subject = campaigns.campaign_subject(campaign)
    view = {
        name: getattr(campaign, name)
        for name in (
            "id", "name", "audience", "opens_at", "closes_at", "launched_at", "closed_at",
            "max_responses", "default_locale", "anonymous", "one_response_per_browser",
            "hidden_fields", "min_group_size", "max_reminders", "remind_days_before_close",
            "webhook_url", "created_at",
        )
    }
    view.update(
        questionnaire_id=campaign.version.questionnaire_id,
        questionnaire_key=campaign.version.questionnaire.key,
        version=campaign.version.number,
        status=campaigns.campaign_status(campaign, completed=counts["completed"]),
        public_url=campaigns.public_url(campaign),
        subject=None if subject is None else {
            "type": campaigns.subject_kind(subject),
            "id": subject.id,
            "name": campaigns.subject_name(subject),
        },
        counts=counts,
    )
    return view


def _subject(value):
    """The Team, Vendor or User a ``{"type", "id"}`` object names (None for null)."""
    if value is None:
        return None
    model = {"team": Team, "vendor": Vendor, "user": User}[value["type"]]
    subject = db.session.get(model, value["id"])
    if subject is None:
        raise ServiceError(
            _l("There is no %(type)s with id %(id)d.", type=value["type"], id=value["id"]),
            field="subject",
        )
    return subject


def _settings(data: dict) -> dict:
    settings = dict(data)
    if "subject" in settings:
        settings["subject"] = _subject(settings["subject"])
    return settings


def _personal_link(token: str) -> str:
    base = current_app.config.get("PUBLIC_BASE_URL")
    if base:
        path = current_app.url_map.bind("localhost").build("invitations.open", {"token": token})
        return base.rstrip("/") + path
    return url_for("invitations.open", token=token, _external=True)


def _shows_response_status(campaign: Campaign) -> bool:
    completed = db.session.scalar(
        select(func.count()).select_from(Invitation).where(
            Invitation.campaign_id == campaign.id,
            Invitation.erased_at.is_(None),
            Invitation.completed_at.is_not(None),
        )
    )
    return services.may_show_response_status(campaign, completed)


_RESPONSE_STATUS = ("opened_at", "started_at", "completed_at")


def _invitation_view(invitation: Invitation, show_status: bool) -> dict:
    view = {
        name: getattr(invitation, name)
        for name in (
            "id", "email", "name", "locale", "fields", "send_status", "send_attempts",
            "last_error", "sent_at", "reminders_sent", "last_reminded_at", "revoked_at",
            "opted_out_at", "created_at", *_RESPONSE_STATUS,
        )
    }
    if not show_status:
        view.update(dict.fromkeys(_RESPONSE_STATUS))
    return view


def _response_view(campaign: Campaign, response: SurveyResponse) -> dict:
    anonymous = campaign.anonymous
    return {
        "id": response.id,
        "status": response.status,
        "version": response.version.number,
        "locale": response.locale,
        "fields": response.fields,
        "started_at": None if anonymous else response.started_at,
        "submitted_at": None if anonymous else response.submitted_at,
        "invitation_id": None if anonymous else response.invitation_id,
        "deleted_at": response.deleted_at,
    }


# ----------------------------------------------------------------- campaigns


@campaign_api.route("", methods=["GET"], endpoint="list")
@campaign_api.doc(operationId="list_campaigns")
@campaign_api.arguments(CampaignQuerySchema, location="query")
@campaign_api.response(200, CampaignSchema(many=True))
@campaign_api.paginate(page_size=PAGE_SIZE, max_page_size=MAX_PAGE_SIZE)
def list_campaigns(query, pagination_parameters):
    """List campaigns

    Newest first. Filter with `status` (`draft`, `scheduled`, `open`, `full`, `closed`),
    `questionnaire_id` and `q` (part of the name or the questionnaire key).
    """
    search = campaigns.list_campaigns(current_actor(), **query).options(
        selectinload(Campaign.version)
        .defer(QuestionnaireVersion.document)
        .selectinload(QuestionnaireVersion.questionnaire)
    )
    page = list(page_items(search, pagination_parameters))
    counts = _response_counts([c.id for c in page])
    return [_campaign_view(c, counts[c.id]) for c in page]


@campaign_api.route("", methods=["POST"], endpoint="create")
@campaign_api.doc(operationId="create_campaign")
@campaign_api.arguments(CampaignCreateSchema)
@campaign_api.response(201, CampaignCreatedSchema)
def create_campaign(data):
    """Create a campaign

    Sends a published version of a questionnaire (the latest unless `version` is given)
    to an audience. A draft unless `launch` is true. With `webhook_url`, the answer
    carries the webhook's signing secret — the only time it is shown.
    """
    actor = current_actor()
    settings = _settings(data)
    try:
        questionnaire = services.get_questionnaire(actor, settings.pop("questionnaire_id"))
    except NotFound as exc:
        raise ServiceError(exc.message, field="questionnaire_id") from None
    number = settings.pop("version", None)
    if number is None:
        version = questionnaire.latest_published
    else:
        version = next((v for v in questionnaire.versions if v.number == number), None)
        if version is None:
            raise ServiceError(_l("No such questionnaire version."), field="version")
    if version is None or not version.is_published:
        raise ServiceError(_l("Publish the questionnaire before sharing it."), field="version")
    campaign = campaigns.create_campaign(actor, version, **settings)
    view = _campaign_view(campaign)
    if campaign.webhook_secret:
        view["webhook_secret"] = campaign.webhook_secret
    return view, 201, {"Location": url_for("campaign_api.get", campaign_id=campaign.id)}


@campaign_api.route(_ITEM, methods=["GET"], endpoint="get")
@campaign_api.doc(operationId="get_campaign")
@campaign_api.response(200, CampaignSchema)
@_not_found
def get_campaign(campaign_id):
    """Get a campaign, its status and response counts"""
    return _campaign_view(_campaign(campaign_id))


@campaign_api.route(_ITEM, methods=["PATCH"], endpoint="update")
@campaign_api.doc(operationId="update_campaign")
@campaign_api.arguments(CampaignSettingsSchema)
@campaign_api.response(200, CampaignSchema)
@_not_found
def update_campaign(data, campaign_id):
    """Change a campaign's settings

    Send only the settings to change. A draft may change everything but its
    questionnaire version; once launched only the name, closing time (a time that has
    passed closes it now), response cap, reminder settings and minimum group size. The
    webhook has its own endpoint (`PUT …/webhook`).
    """
    campaign = _campaign(campaign_id)
    campaigns.update_campaign(current_actor(), campaign, **_settings(data))
    return _campaign_view(campaign)


@campaign_api.route(f"{_ITEM}/launch", methods=["POST"], endpoint="launch")
@campaign_api.doc(operationId="launch_campaign")
@campaign_api.response(200, CampaignSchema)
@_not_found
@_conflict
def launch_campaign(campaign_id):
    """Launch a draft

    It opens at `opens_at` (at once if none). A personal campaign's invitations added
    before are emailed.
    """
    campaign = _campaign(campaign_id)
    campaigns.launch_campaign(current_actor(), campaign)
    return _campaign_view(campaign)


@campaign_api.route(f"{_ITEM}/close", methods=["POST"], endpoint="close")
@campaign_api.doc(operationId="close_campaign")
@campaign_api.response(200, CampaignSchema)
@_not_found
@_conflict
def close_campaign(campaign_id):
    """Close a campaign

    It accepts no more answers. Closing a closed campaign changes nothing.
    """
    campaign = _campaign(campaign_id)
    campaigns.close_campaign(current_actor(), campaign)
    return _campaign_view(campaign)


@campaign_api.route(f"{_ITEM}/reopen", methods=["POST"], endpoint="reopen")
@campaign_api.doc(operationId="reopen_campaign")
@campaign_api.response(200, CampaignSchema)
@_not_found
@_conflict
def reopen_campaign(campaign_id):
    """Reopen a campaign closed by hand

    Only before its closing time.
    """
    campaign = _campaign(campaign_id)
    campaigns.reopen_campaign(current_actor(), campaign)
    return _campaign_view(campaign)


# ----------------------------------------------------------------- webhook


@campaign_api.route(f"{_ITEM}/webhook", methods=["PUT"], endpoint="set_webhook")
@campaign_api.doc(operationId="set_campaign_webhook")
@campaign_api.arguments(WebhookSetSchema)
@campaign_api.response(200, WebhookSchema)
@_not_found
def set_webhook(data, campaign_id):
    """Set the "response completed" webhook

    Each completed response is POSTed as JSON to `url`, signed with the secret in the
    answer (shown only now; setting the webhook again makes a new one). See *Webhook*
    in the API documentation for the payload and how to check the signature.
    """
    campaign = _campaign(campaign_id)
    secret = campaigns.set_webhook(current_actor(), campaign, data["url"])
    return {"url": campaign.webhook_url, "secret": secret}


@campaign_api.route(f"{_ITEM}/webhook", methods=["DELETE"], endpoint="delete_webhook")
@campaign_api.doc(operationId="delete_campaign_webhook")
@campaign_api.response(204)
@_not_found
def delete_webhook(campaign_id):
    """Remove the webhook

    Nothing more is sent: deliveries waiting for a retry fail without being sent.
    """
    campaigns.set_webhook(current_actor(), _campaign(campaign_id), None)


@campaign_api.route(f"{_ITEM}/webhook/deliveries", methods=["GET"], endpoint="deliveries")
@campaign_api.doc(operationId="list_webhook_deliveries")
@campaign_api.response(200, DeliverySchema(many=True))
@campaign_api.paginate(page_size=PAGE_SIZE, max_page_size=MAX_PAGE_SIZE)
@_not_found
def list_deliveries(pagination_parameters, campaign_id):
    """List the webhook's deliveries

    Newest first, with their attempts and the receiver's last answer (no times in
    anonymous campaigns).
    """
    campaign = _campaign(campaign_id)
    query = webhooks.list_deliveries(current_actor(), campaign)
    deliveries = page_items(query, pagination_parameters)
    if not campaign.anonymous:
        return deliveries
    return [
        {**{c.key: getattr(d, c.key) for c in d.__table__.columns},
         "created_at": None, "delivered_at": None}
        for d in deliveries
    ]


# ----------------------------------------------------------------- invitations


@campaign_api.route(f"{_ITEM}/invitations", methods=["GET"], endpoint="invitations")
@campaign_api.doc(operationId="list_invitations")
@campaign_api.arguments(InvitationQuerySchema, location="query")
@campaign_api.response(200, InvitationSchema(many=True))
@campaign_api.paginate(page_size=PAGE_SIZE, max_page_size=MAX_PAGE_SIZE)
@_not_found
def list_invitations(query, pagination_parameters, campaign_id):
    """List a campaign's invitations

    In the order they were added; filter with `send_status` and `revoked`. Erased
    invitations are left out.
    """
    campaign = _campaign(campaign_id)
    search = (
        select(Invitation)
        .where(Invitation.campaign_id == campaign.id, Invitation.erased_at.is_(None))
        .order_by(Invitation.id)
    )
    if "send_status" in query:
        search = search.where(Invitation.send_status == query["send_status"])
    if "revoked" in query:
        revoked = Invitation.revoked_at.is_not(None)
        search = search.where(revoked if query["revoked"] else ~revoked)
    show_status = _shows_response_status(campaign)
    return [_invitation_view(i, show_status) for i in page_items(search, pagination_parameters)]


@campaign_api.route(f"{_ITEM}/invitations", methods=["POST"], endpoint="add_invitations")
@campaign_api.doc(
    operationId="add_invitations",
    responses={400: {"description": "Some rows have problems (`errors` by `row N`); nobody "
                     "was invited."}},
)
@campaign_api.arguments(InvitationRowSchema(many=True))
@campaign_api.response(201, InvitationSchema(many=True))
@_not_found
def add_invitations(rows, campaign_id):
    """Invite people

    The body is a list of people (`email`, optional `name`, `locale`, `fields`). All or
    nothing: if any row has a problem (an invalid or repeated address, someone already
    invited, an unknown language…) nobody is invited and `errors` lists every problem
    by row (`row 1` is the first). Addresses on the opt-out list are added but never
    emailed. Send the emails with `POST …/invitations/send`.
    """
    campaign = _campaign(campaign_id)
    added = invitations.add_invitations(current_actor(), campaign, rows, source="api")
    show_status = _shows_response_status(campaign)
    return [_invitation_view(i, show_status) for i in added]


def _invitation(campaign_id: int, invitation_id: int) -> tuple[Campaign, Invitation]:
    campaign = _campaign(campaign_id)
    invitation = invitations.get_invitation(current_actor(), campaign, invitation_id)
    if invitation.erased_at is not None:
        raise NotFound(_l("No such invitation."))
    return campaign, invitation


@campaign_api.route(
    f"{_ITEM}/invitations/<int:invitation_id>/revoke", methods=["POST"], endpoint="revoke"
)
@campaign_api.doc(operationId="revoke_invitation")
@campaign_api.response(200, InvitationSchema)
@_not_found
@_conflict
def revoke_invitation(campaign_id, invitation_id):
    """Revoke an invitation's link

    The link stops working at once (a browser that opened it loses access too).
    Revoking twice changes nothing; an answered invitation cannot be revoked.
    """
    campaign, invitation = _invitation(campaign_id, invitation_id)
    invitations.revoke(current_actor(), invitation)
    return _invitation_view(invitation, _shows_response_status(campaign))


@campaign_api.route(
    f"{_ITEM}/invitations/<int:invitation_id>/reissue", methods=["POST"], endpoint="reissue"
)
@campaign_api.doc(operationId="reissue_invitation")
@campaign_api.response(200, ReissuedSchema)
@_not_found
@_conflict
def reissue_invitation(campaign_id, invitation_id):
    """Give an invitation a new link

    The old link stops working at once; a revoked invitation becomes valid again. The
    new link is in the answer (the only time it is shown); it is emailed only with
    `POST …/invitations/send`.
    """
    campaign, invitation = _invitation(campaign_id, invitation_id)
    token = invitations.reissue(current_actor(), invitation)
    return {
        "invitation": _invitation_view(invitation, _shows_response_status(campaign)),
        "link": _personal_link(token),
    }


@campaign_api.route(f"{_ITEM}/invitations/send", methods=["POST"], endpoint="send")
@campaign_api.doc(operationId="send_invitations")
@campaign_api.arguments(SendIdsSchema, required=False)
@campaign_api.response(202, QueuedSchema)
@_not_found
@_conflict
def send_invitations(data, campaign_id):
    """Email the invitations

    Queues the invitation email (in batches, in the background) for everyone not sent
    one yet, or only `invitation_ids`. Opted-out addresses, revoked and answered
    invitations are left out. The campaign must be launched and not closed.
    """
    campaign = _campaign(campaign_id)
    ids = (data or {}).get("invitation_ids")
    return {"queued": invitations.send_invitations(current_actor(), campaign, ids)}


@campaign_api.route(f"{_ITEM}/reminders", methods=["POST"], endpoint="remind")
@campaign_api.doc(operationId="send_reminders")
@campaign_api.response(202, QueuedSchema)
@_not_found
@_conflict
def send_reminders(campaign_id):
    """Remind those who have not answered

    One reminder each for everyone invited who has not finished, has not opted out
    and has had fewer than `max_reminders`. Only while the campaign is open.
    """
    campaign = _campaign(campaign_id)
    return {"queued": invitations.send_reminders(current_actor(), campaign)}


# ----------------------------------------------------------------- progress and results


@campaign_api.route(f"{_ITEM}/progress", methods=["GET"], endpoint="progress")
@campaign_api.doc(operationId="get_campaign_progress")
@campaign_api.arguments(ProgressQuerySchema, location="query")
@campaign_api.response(200, ProgressSchema)
@_not_found
def get_progress(query, campaign_id):
    """Get a campaign's progress

    The dashboard's figures: completed and partial responses, completions per day,
    and for personal campaigns invited, emailed, opened, started, the response rate,
    groups by team and custom field, and who has not answered (hidden in anonymous
    campaigns with too few answers, where small groups are also merged).
    """
    campaign = _campaign(campaign_id)
    zone = None
    if query.get("tz"):
        try:
            zone = ZoneInfo(query["tz"])
        except (ZoneInfoNotFoundError, ValueError):
            raise ServiceError(_l("Unknown time zone “%(tz)s”.", tz=query["tz"]),
                               field="tz") from None
    return dashboard.progress(campaign, tz=zone)


_FIELD_FILTER = {
    "in": "query",
    "name": "field.{name}",
    "description": "Only responses whose field `{name}` has this value, e.g. "
    "`field.region=East`. One per field; several fields combine.",
    "schema": {"type": "string"},
    "required": False,
}


@campaign_api.route(
    f"{_ITEM}/results", methods=["GET"], endpoint="results", parameters=[_FIELD_FILTER]
)
@campaign_api.doc(
    operationId="get_campaign_results",
    responses={422: {"description": "A filter that would single out fewer respondents "
                     "than the campaign's minimum group size is refused (`message` says "
                     "why); so is a malformed date."}},
)
@campaign_api.arguments(ResultsQuerySchema, location="query")
@campaign_api.response(200, ResultsSchema)
@_not_found
def get_results(query, campaign_id):
    """Get a campaign's results

    Per-question summaries of the completed (not deleted) responses, optionally of
    those matching `field.<name>=value` filters and submitted between `from` and `to`
    (days, inclusive, in `tz`). A filter that would isolate fewer people than the
    campaign's minimum group size — or leave out so few — is refused with 422.
    """
    campaign = _campaign(campaign_id)
    field_filters = {
        name[len(FIELD_PREFIX):]: value.strip()
        for name, value in request.args.items()
        if name.startswith(FIELD_PREFIX) and value.strip()
    }
    start, end = query.get("date_from"), query.get("date_to")
    if start and end and end < start:
        raise ServiceError(_l("The end date is before the start date."), field="to")
    filters = results.ResultFilters(field_filters, start, end, query.get("tz") or None)
    try:
        return results.summarize(campaign, filters).to_dict()
    except results.FilterRefused as exc:
        raise FilterRefusedError(exc.message) from None


# ----------------------------------------------------------------- responses


@campaign_api.route(f"{_ITEM}/responses", methods=["GET"], endpoint="responses")
@campaign_api.doc(operationId="list_campaign_responses")
@campaign_api.arguments(ResponseQuerySchema, location="query")
@campaign_api.response(200, ResponseStatusSchema(many=True))
@campaign_api.paginate(page_size=PAGE_SIZE, max_page_size=MAX_PAGE_SIZE)
@_not_found
def list_responses(query, pagination_parameters, campaign_id):
    """List response statuses

    Last submitted (or started) first: status, language, fields and — unless the
    campaign is anonymous — when it was started and submitted and which invitation it
    answered. Deleted responses only with `deleted=true`. The answers are in the
    results and exports.
    """
    campaign = _campaign(campaign_id)
    search = responses_admin.list_responses(
        current_actor(), campaign, status=query.get("status"), deleted=query["deleted"]
    ).options(selectinload(SurveyResponse.version).load_only(QuestionnaireVersion.number))
    return [_response_view(campaign, r) for r in page_items(search, pagination_parameters)]


def _response(campaign: Campaign, response_id: int) -> SurveyResponse:
    return responses_admin.get_response(current_actor(), campaign, response_id)


@campaign_api.route(
    f"{_ITEM}/responses/<int:response_id>", methods=["DELETE"], endpoint="delete_response"
)
@campaign_api.doc(operationId="delete_campaign_response")
@campaign_api.arguments(DeleteQuerySchema, location="query")
@campaign_api.response(204)
@_not_found
@campaign_api.alt_response(409, response="CONFLICT", description="Already deleted.")
def delete_response(query, campaign_id, response_id):
    """Delete a response (restorable)

    The response leaves every count, result and export but is kept: restore it with
    `POST …/restore`. `reason` is required and goes into the audit trail. To remove a
    person's data for good, use `POST /erasure`.
    """
    campaign = _campaign(campaign_id)
    responses_admin.soft_delete(current_actor(), _response(campaign, response_id),
                                query["reason"])


@campaign_api.route(
    f"{_ITEM}/responses/<int:response_id>/restore", methods=["POST"],
    endpoint="restore_response",
)
@campaign_api.doc(operationId="restore_campaign_response")
@campaign_api.response(200, ResponseStatusSchema)
@_not_found
@campaign_api.alt_response(409, response="CONFLICT", description="Not deleted.")
def restore_response(campaign_id, response_id):
    """Restore a deleted response

    It counts in results and exports again.
    """
    campaign = _campaign(campaign_id)
    response = _response(campaign, response_id)
    responses_admin.restore(current_actor(), response)
    return _response_view(campaign, response)


# ----------------------------------------------------------------- erasure


@erasure_api.route("", methods=["POST"], endpoint="erase")
@erasure_api.doc(operationId="erase_person")
@erasure_api.arguments(ErasureRequestSchema)
@erasure_api.response(200, ErasureReportSchema)
@erasure_api.alt_response(404, response="NOT_FOUND",
                          description="No invitation has this link (or it was erased).")
def erase_person(data):
    """Erase a person's survey data

    Give `email` (every invitation sent to it) or `token` (a personal link or its
    token: that invitation and every invitation to the same address), not both.
    Responses linked to those invitations are deleted for good with their answers;
    the invitations keep only whether they were completed; the address leaves the
    email records and webhook deliveries, and joins the opt-out list as a hash (no
    survey email is sent to it again). Responses of anonymous campaigns were never
    linked to invitations and stay. The answer counts what was erased — nothing that
    identifies the person. Erasing an address twice erases nothing more.
    """
    report = responses_admin.erase_person(
        current_actor(), email=data.get("email"), token=data.get("token")
    )
    return report.to_dict()


# ----------------------------------------------------------------- wiring


def register_campaign_api(api) -> None:
    """Add the campaign endpoints to the API (after :func:`org.api.register_api`)."""
    for blueprint in API_BLUEPRINTS:
        register_api_blueprint(api, blueprint)
