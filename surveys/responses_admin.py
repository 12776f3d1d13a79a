"""Response administration: listing, soft deletion and restoring, and erasing a
person's data on request.

*Soft deletion* keeps the response (and its answers) but leaves it out of every
count, summary, dashboard and export: they all read live data and skip rows with
``deleted_at``. An administrator can restore it. Both are audited.

*Erasure* is for a person who asks for their data to be removed. It is final: the
responses linked to their invitations are deleted with their answers and page times,
the invitations are scrubbed (only "completed" is kept, so response rates stay
right), the addresses are removed from the email log and from webhook deliveries,
and only a SHA-256 of the address is kept in the opt-out list so that no survey email
reaches them again. The audit event records counts, never the address or the name.

Responses of *anonymous* campaigns were never linked to an invitation, so they
cannot be found from a person and stay (they hold nothing that identifies anyone);
only the invitation is scrubbed.

Services check access, validate, change and flush; the caller commits.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from flask import current_app
from sqlalchemy import Select, String, cast, delete, event, func, or_, select
from sqlalchemy.orm import Session

from core.database import utcnow
from core.exceptions import ConflictError, NotFound, ServiceError
from core.extensions import db
from core.i18n import lazy_gettext as _l
from org import audit
from org.models import AuditEvent, normalise_email
from org.services import clean_text, contains_pattern, is_valid_email, require_admin
from surveys import definition as qdef
from surveys import mail, services
from surveys.models import (
    Answer,
    Campaign,
    EmailMessage,
    EmailOptOut,
    Invitation,
    Response,
    ResponsePageTime,
    ResponseStatus,
    WebhookDelivery,
)

MAX_REASON = 500
# What the response list can show: completed, in progress, or the deleted ones.
STATUS_FILTERS = ("completed", "in_progress", "deleted")
ERASED = "[erased]"
ERASED_NOT_SENT = "Not sent: the respondent's data was erased."


# ----------------------------------------------------------------- listing


def list_responses(
    actor, campaign: Campaign, *, status: str | None = None, deleted: bool = False
) -> Select:
    """The campaign's responses, last submitted (or started) first.

    ``deleted`` lists only the soft-deleted ones (the admin's "deleted" view); otherwise
    they are left out. ``status`` is ``completed`` or ``in_progress`` (``None``: both).
    """
    require_admin(actor)
    query = select(Response).where(Response.campaign_id == campaign.id)
    if deleted:
        query = query.where(Response.deleted_at.is_not(None))
    else:
        query = query.where(Response.deleted_at.is_(None))
    if status is not None:
        if status not in (ResponseStatus.COMPLETED, ResponseStatus.IN_PROGRESS):
            raise ServiceError(_l("Unknown response status."), field="status")
        query = query.where(Response.status == status)
    return query.order_by(
        func.coalesce(Response.submitted_at, Response.started_at).desc(), Response.id.desc()
    )


def status_counts(campaign: Campaign) -> dict[str, int]:
    """How many responses each filter of :func:`list_responses` shows."""
    rows = db.session.execute(
        select(Response.status, Response.deleted_at.is_not(None), func.count())
        .where(Response.campaign_id == campaign.id)
        .group_by(Response.status, Response.deleted_at.is_not(None))
    ).all()
    counts = dict.fromkeys(STATUS_FILTERS, 0)
    for status, deleted, n in rows:
        counts["deleted" if deleted else status] += n
    return counts


def get_response(actor, campaign: Campaign, response_id: int) -> Response:
    """A response of ``campaign`` (deleted ones included), else :class:`NotFound`."""
    require_admin(actor)
    response = db.session.get(Response, response_id)
    if response is None or response.campaign_id != campaign.id:
        raise NotFound(_l("No such response."))
    return response


# ----------------------------------------------------------------- soft delete / restore


def soft_delete(actor, response: Response, reason: str | None) -> Response:
    """Leave ``response`` out of every count and result, keeping it for restoring.

    A reason is required (it goes into the audit trail).
    """
    require_admin(actor)
    reason = clean_text(reason, "reason", required=True, max_length=MAX_REASON)
    if response.deleted_at is not None:
        raise ConflictError(_l("This response is already deleted."))
    response.deleted_at = utcnow()
    response.deleted_by_id = getattr(actor, "id", None)
    db.session.flush()
    audit.record(
        "response.delete",
        response,
        actor=actor,
        details={"campaign_id": response.campaign_id, "reason": reason},
    )
    return response


def restore(actor, response: Response) -> Response:
    """Bring a soft-deleted response back into counts and results."""
    require_admin(actor)
    if response.deleted_at is None:
        raise ConflictError(_l("This response is not deleted."))
    response.deleted_at = None
    response.deleted_by_id = None
    db.session.flush()
    audit.record("response.restore", response, actor=actor,
                 details={"campaign_id": response.campaign_id})
    return response


# ----------------------------------------------------------------- erasure


@dataclass
class ErasureReport:
    """What an erasure removed: counts only (nothing that identifies the person)."""

    invitations: int = 0
    campaigns: int = 0
    responses: int = 0
    # Invitations of anonymous campaigns: their responses are not linked, so they stay.
    anonymous_invitations: int = 0
    email_messages: int = 0
    webhook_deliveries: int = 0
    # Copies in the development outbox (MAIL_BACKEND "outbox"), removed on commit.
    outbox_files: int = 0
    opted_out: bool = False
    campaign_ids: list[int] = field(default_factory=list)

    @property
    def found(self) -> bool:
        return self.invitations > 0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("campaign_ids")
        return data


def address_hash(email: str) -> str:
    """The SHA-256 of a lower-cased, trimmed address, as the opt-out list keeps it."""
    return hashlib.sha256(normalise_email(email).encode("utf-8")).hexdigest()


def token_from_link(value: str) -> str:
    """The token of a personal link, whether the admin pasted the token or the link."""
    value = (value or "").strip()
    if "/" not in value and "?" not in value:
        return value
    parts = urlsplit(value)
    for name in ("token", "t"):
        found = parse_qs(parts.query).get(name)
        if found:
            return found[0]
    segments = [s for s in parts.path.split("/") if s]
    return segments[-1] if segments else ""


def _invitations_of(email: str | None, token: str | None) -> tuple[list[Invitation], str | None]:
    if token is not None:
        token = token_from_link(token)
        invitation = (
            db.session.scalar(
                select(Invitation).where(Invitation.token_hash == services.token_hash(token))
            )
            if token and len(token) <= 200
            else None
        )
        if invitation is None:
            raise NotFound(_l("No invitation has this link. It may have been erased already."),
                           field="token")
        email = invitation.email
        if not email:
            return [invitation], None
    query = select(Invitation).where(func.lower(Invitation.email) == email)
    return list(db.session.scalars(query.order_by(Invitation.id))), email


def _scrubbed(value: Any, secrets: Iterable[str]) -> Any:
    """``value`` (JSON) with every string containing one of ``secrets`` replaced."""
    if isinstance(value, dict):
        return {k: _scrubbed(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrubbed(v, secrets) for v in value]
    if isinstance(value, str):
        lowered = value.lower()
        if any(s.lower() in lowered for s in secrets):
            return ERASED
    return value


def _scrub_text(value: str | None, secrets: Iterable[str]) -> str | None:
    if value is None:
        return None
    for secret in secrets:
        start = value.lower().find(secret.lower())
        while start >= 0:
            value = value[:start] + ERASED + value[start + len(secret):]
            start = value.lower().find(secret.lower(), start + len(ERASED))
    return value


def _person(email: str | None, token: str | None) -> tuple[list[Invitation], str | None]:
    """The invitations of the person named by ``email`` or ``token``, and their address."""
    if email is not None and token is not None:
        raise ServiceError(_l("Give an email address or a personal link, not both."))
    if email is None and token is None:
        raise ServiceError(_l("Give an email address or a personal link."))
    if email is not None:
        email = normalise_email(email)
        if not email:
            raise ServiceError(_l("This field is required."), field="email")
        if not is_valid_email(email):
            raise ServiceError(_l("This is not a valid email address."), field="email")
    elif not (token or "").strip():
        raise ServiceError(_l("This field is required."), field="token")
    return _invitations_of(email, token)


def _linked_response_ids(invitation_ids: list[int]) -> list[int]:
    if not invitation_ids:
        return []
    return list(
        db.session.scalars(select(Response.id).where(Response.invitation_id.in_(invitation_ids)))
    )


def _report_for(invitations: list[Invitation]) -> ErasureReport:
    campaigns = {inv.campaign_id: inv.campaign for inv in invitations}
    return ErasureReport(
        invitations=len(invitations),
        campaigns=len(campaigns),
        campaign_ids=sorted(campaigns),
        anonymous_invitations=sum(1 for c in (i.campaign for i in invitations) if c.anonymous),
    )


def preview_erasure(
    actor, *, email: str | None = None, token: str | None = None
) -> ErasureReport:
    """What :func:`erase_person` would remove (counts), changing nothing: the admin
    confirms before anything is erased."""
    require_admin(actor)
    invitations, email = _person(email, token)
    report = _report_for(invitations)
    ids = [inv.id for inv in invitations]
    response_ids = _linked_response_ids(ids)
    report.responses = len(response_ids)
    if response_ids:
        report.webhook_deliveries = db.session.scalar(
            select(func.count())
            .select_from(WebhookDelivery)
            .where(WebhookDelivery.response_id.in_(response_ids))
        )
    report.email_messages = len(_email_log_of(ids, email)) if ids or email else 0
    report.outbox_files = len(_outbox_files_of(email))
    report.opted_out = bool(email) and not _opted_out(email)
    return report


def erase_person(actor, *, email: str | None = None, token: str | None = None) -> ErasureReport:
    """Erase a person's survey data, found by email address or by a personal-link token.

    By email: every invitation sent to that address, in every campaign. By token: the
    invitation of that link, and with it every invitation to the same address.
    Responses linked to those invitations are deleted for good (answers and page times
    with them; webhook deliveries about them lose their link and their payload). The
    invitations keep only their campaign and whether they completed (so response
    rates do not change); address, name, custom fields, the link's token and every
    timestamp of what the person did are removed. Sent-email records keep their
    status but lose the address. The address's SHA-256 joins the opt-out list, so the
    person receives no further survey emails (an erased address would otherwise be
    invited again by the next upload). Audited with counts only.

    People with an Orbit account keep it: erasure covers survey data.
    """
    require_admin(actor)
    invitations, email = _person(email, token)
    report = _report_for(invitations)
    ids = [inv.id for inv in invitations]
    # Names as short as two characters (李娜) are names too.
    secrets = [s for s in {email, *(inv.name for inv in invitations)} if s and len(s) >= 2]
    if ids:
        report.responses = _delete_linked_responses(ids, report)
    report.email_messages = _scrub_email_log(ids, email, secrets)
    if ids:
        _scrub_audit_trail(ids, email, secrets)
        now = utcnow()
        for invitation in invitations:
            _scrub_invitation(invitation, now)
        db.session.flush()
    if email and not _opted_out(email):
        db.session.add(EmailOptOut(email_hash=address_hash(email)))
        report.opted_out = True
    files = _outbox_files_of(email)
    report.outbox_files = len(files)
    db.session.info.setdefault(_OUTBOX_DOOMED, []).extend(files)
    db.session.flush()
    audit.record(
        "person.erase",
        None,
        actor=actor,
        details={"by": "email" if token is None else "token", **report.to_dict()},
    )
    return report


_OUTBOX_DOOMED = "orbit_erased_outbox_files"


def _outbox_files_of(email: str | None) -> list[Path]:
    """The development outbox's copies of emails sent to ``email`` (they hold the
    name and the personal link)."""
    if not email or current_app.config.get("MAIL_BACKEND") != "outbox":
        return []
    entries = mail.outbox_entries(mail.outbox_names())
    directory = mail.outbox_dir()
    return [directory / e.name for e in entries if email in e.to.lower()]


@event.listens_for(Session, "after_commit")
def _remove_outbox_files(session: Session) -> None:
    # Files are removed only once the erasure is committed (a rollback keeps them).
    for path in session.info.pop(_OUTBOX_DOOMED, ()):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


@event.listens_for(Session, "after_rollback")
def _keep_outbox_files(session: Session) -> None:
    session.info.pop(_OUTBOX_DOOMED, None)


def _opted_out(email: str) -> bool:
    return db.session.scalar(
        select(EmailOptOut.id).where(EmailOptOut.email_hash == address_hash(email))
    ) is not None


def _delete_linked_responses(invitation_ids: list[int], report: ErasureReport) -> int:
    response_ids = _linked_response_ids(invitation_ids)
    if not response_ids:
        return 0
    deliveries = list(
        db.session.scalars(
            select(WebhookDelivery).where(WebhookDelivery.response_id.in_(response_ids))
        )
    )
    for delivery in deliveries:
        delivery.payload = erased_payload(delivery)
        delivery.response_id = None
        if delivery.status == "pending":
            # Never send the person's data after they asked for its removal.
            delivery.status = "failed"
            delivery.last_error = ERASED_NOT_SENT
    report.webhook_deliveries = len(deliveries)
    db.session.flush()
    db.session.execute(delete(Answer).where(Answer.response_id.in_(response_ids)))
    db.session.execute(
        delete(ResponsePageTime).where(ResponsePageTime.response_id.in_(response_ids))
    )
    db.session.execute(
        delete(Response).where(Response.id.in_(response_ids)),
        execution_options={"synchronize_session": "fetch"},
    )
    return len(response_ids)


def erased_payload(delivery: WebhookDelivery) -> dict:
    """A delivery's payload once the response it described is erased."""
    campaign = (delivery.payload or {}).get("campaign") or {"id": delivery.campaign_id}
    return {"event": delivery.event, "campaign": campaign, "erased": True}


def _email_log_of(invitation_ids: list[int], email: str | None) -> list[EmailMessage]:
    conditions = []
    if invitation_ids:
        conditions.append(EmailMessage.invitation_id.in_(invitation_ids))
    if email:
        conditions.append(func.lower(EmailMessage.to_address) == email)
    if not conditions:
        return []
    return list(db.session.scalars(select(EmailMessage).where(or_(*conditions))))


def _scrub_email_log(invitation_ids: list[int], email: str | None, secrets: list[str]) -> int:
    messages = _email_log_of(invitation_ids, email)
    for message in messages:
        message.to_address = None
        message.subject = _scrub_text(message.subject, secrets) or ""
        message.error = _scrub_text(message.error, secrets)
    return len(messages)


def _scrub_audit_trail(invitation_ids: list[int], email: str | None, secrets: list[str]) -> None:
    """Replace the address and name in audit events about the invitations (or that
    quote the address); the events themselves stay."""
    conditions = [
        (AuditEvent.object_type == "Invitation") & AuditEvent.object_id.in_(invitation_ids)
    ]
    if email:
        pattern = contains_pattern(email)
        conditions.append(func.lower(cast(AuditEvent.details, String)).like(pattern, "\\"))
        conditions.append(func.lower(AuditEvent.note).like(pattern, "\\"))
    for logged in db.session.scalars(select(AuditEvent).where(or_(*conditions))):
        if logged.details is not None:
            logged.details = _scrubbed(logged.details, secrets)
        logged.note = _scrub_text(logged.note, secrets)


def _scrub_invitation(invitation: Invitation, now) -> None:
    invitation.email = None
    invitation.name = None
    invitation.locale = None
    invitation.fields = {}
    invitation.user_id = None
    invitation.team_id = None
    invitation.token_nonce = None
    invitation.token_hash = None
    invitation.token_issued_at = None
    invitation.revoked_at = invitation.revoked_at or now
    invitation.last_error = None
    invitation.sent_at = None
    invitation.opened_at = None
    invitation.started_at = None
    invitation.last_reminded_at = None
    invitation.opted_out_at = None
    invitation.erased_at = now


# ----------------------------------------------------------------- showing answers


@dataclass(frozen=True)
class ShownAnswer:
    """One question and its answer as an admin reads them."""

    key: str
    text: str
    # One line per value: a point and its label, a choice's label, ranked options...
    values: tuple[str, ...] = ()
    # Matrix rows: (row text, value).
    rows: tuple[tuple[str, str], ...] = ()
    answered: bool = False


@dataclass(frozen=True)
class ShownPage:
    title: str
    answers: tuple[ShownAnswer, ...]


def shown_answers(response: Response, locale: str) -> list[ShownPage]:
    """The response's answers under their pages and question texts (in ``locale``),
    with option and scale labels instead of stored codes."""
    from flask_babel import format_date, format_decimal

    definition = services.parsed_version(response.version)
    answers = services.load_answers(response)

    def point(question: qdef.Question, value: Any) -> str:
        if value == qdef.NA:
            return str(_l("Not applicable"))
        scale = question.scale
        label = scale.label(value) if scale else None
        text = qdef.localized(label, locale) if label else ""
        if text:
            return f"{value} — {text}"
        return f"{value} ({scale.min}–{scale.max})" if scale else str(value)

    def option(question: qdef.Question, value: str) -> str:
        found = question.option(value)
        return qdef.localized(found.label, locale) if found else value

    def display(question: qdef.Question, value: Any) -> ShownAnswer:
        text = qdef.localized(question.text, locale)
        if value is None:
            return ShownAnswer(question.key, text)
        t = question.type
        if t == "matrix":
            rows = tuple(
                (qdef.localized(item.text, locale), point(question, value[item.key]))
                for item in question.items
                if item.key in value
            )
            return ShownAnswer(question.key, text, rows=rows, answered=True)
        if question.is_scale:
            values = (point(question, value),)
        elif t in ("single_choice", "dropdown"):
            values = (option(question, value),)
        elif t == "multiple_choice":
            values = tuple(option(question, v) for v in value)
        elif t == "ranking":
            values = tuple(f"{rank}. {option(question, v)}" for rank, v in enumerate(value, 1))
        elif t == "number":
            values = (format_decimal(value),)
        elif t == "date":
            try:
                from datetime import date

                values = (format_date(date.fromisoformat(value), "medium"),)
            except ValueError:
                values = (value,)
        else:
            values = (str(value),)
        return ShownAnswer(question.key, text, values=values, answered=True)

    pages = []
    for number, page in enumerate(definition.pages, start=1):
        shown = tuple(
            display(question, answers.get(question.key))
            for question in page.questions
            if question.answerable
        )
        if shown:
            title = qdef.localized(page.title, locale) or str(_l("Page %(n)d", n=number))
            pages.append(ShownPage(title, shown))
    return pages
