"""Personal invitations: who is invited to a campaign, their links, the emails sent to
them (invitation, reminders) and opt-outs.

**Tokens.** A personal link carries a 256-bit token that the database never holds:
an invitation stores a random ``token_nonce`` and ``token_hash`` = SHA-256 of the
token, where the token is HMAC-SHA256(``SECRET_KEY``, nonce) in URL-safe base64. The
server can therefore put the same link in every reminder, while someone who reads
the database cannot. Rotating ``SECRET_KEY`` invalidates every outstanding link;
:func:`reissue` gives one invitation a new one.

**Sending** never happens in a web request: :func:`send_invitations` and
:func:`send_reminders` mark the invitations *queued* and hand batches of
``MAIL_BATCH_SIZE`` ids to the background job ``surveys.send_emails``. The job
records each attempt (:class:`EmailMessage`, without the body) and the invitation's
send status; a temporary failure leaves the invitation queued and the job raises,
so the queue retries it — a retry sends only what is still queued. After the last
attempt the invitation is *failed* with the error shown to admins.

Services check access, validate, change objects and flush; routes commit.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from pathlib import Path

from flask import current_app, g, has_request_context, url_for
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import func, select, update

from core import tasks
from core.database import utcnow
from core.exceptions import ConflictError, ServiceError
from core.extensions import db
from core.i18n import lazy_gettext as _l
from core.i18n import lazy_ngettext
from org import audit, orgchart
from org.models import AuditEvent, Team, User, normalise_email
from org.services import reporting_line_ids, require_admin
from surveys import mail, services
from surveys.models import (
    Campaign,
    EmailMessage,
    EmailOptOut,
    Invitation,
    Response,
    SendStatus,
)

log = logging.getLogger(__name__)

SEND_JOB = "surveys.send_emails"
SCHEDULE_JOB = "surveys.scheduled_reminders"
REMINDERS_SCHEDULED = "campaign.reminders_scheduled"
MAX_ROWS = orgchart.MAX_ROWS
MAX_FIELDS = 30
MAX_FIELD_NAME = 64
MAX_FIELD_VALUE = 500
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")
_IN_CHUNK = 500

LANGUAGE_ALIASES = {
    "en": "en", "en_us": "en", "en_gb": "en", "english": "en", "英文": "en", "英语": "en",
    "zh": "zh_CN", "zh_cn": "zh_CN", "zh_hans": "zh_CN", "zh_hans_cn": "zh_CN", "cn": "zh_CN",
    "chinese": "zh_CN", "中文": "zh_CN", "简体中文": "zh_CN", "汉语": "zh_CN",
}
_HEADER_ALIASES = {
    **{alias: "email" for alias in ("email", "e_mail", "email_address", "mail", "邮箱",
                                    "电子邮箱", "电子邮件", "邮件", "邮件地址")},
    **{alias: "name" for alias in ("name", "display_name", "full_name", "姓名", "名字",
                                   "名称")},
    **{alias: "language" for alias in ("language", "lang", "locale", "语言")},
}
_FIELD_PREFIX = "field:"


# ----------------------------------------------------------------- tokens


def _derive(nonce: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    digest = hmac.new(key, b"orbit.invitation-link\x00" + nonce.encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()


def _issue_token(invitation: Invitation) -> str:
    invitation.token_nonce = secrets.token_urlsafe(32)
    token = _derive(invitation.token_nonce)
    invitation.token_hash = services.token_hash(token)
    invitation.token_issued_at = utcnow()
    return token


def link_token(invitation: Invitation) -> str:
    """The token of the invitation's current link, derived again from its nonce."""
    if not invitation.token_nonce:
        raise ConflictError(_l("This invitation has no link."))
    return _derive(invitation.token_nonce)


def _email_hash(email: str) -> str:
    return hashlib.sha256(normalise_email(email).encode()).hexdigest()


def _unsubscriber() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="orbit.unsubscribe")


def unsubscribe_token(invitation: Invitation) -> str:
    """A signed token naming the invitation's address (as a hash) for the opt-out link."""
    return _unsubscriber().dumps([invitation.id, _email_hash(invitation.email or "")])


def read_unsubscribe_token(token: str) -> tuple[int, str] | None:
    try:
        invitation_id, email_hash = _unsubscriber().loads(token)
    except (BadSignature, ValueError, TypeError):
        return None
    if not isinstance(invitation_id, int) or not re.fullmatch(r"[0-9a-f]{64}", str(email_hash)):
        return None
    return invitation_id, email_hash


# ----------------------------------------------------------------- access and validation


def get_invitation(actor, campaign: Campaign, invitation_id: int) -> Invitation:
    from core.exceptions import NotFound

    require_admin(actor)
    invitation = db.session.get(Invitation, invitation_id)
    if invitation is None or invitation.campaign_id != campaign.id:
        raise NotFound(_l("No such invitation."))
    return invitation


def _require_personal(campaign: Campaign) -> None:
    if not campaign.is_personal:
        raise ServiceError(_l("Only campaigns with personal links have invitations."))


def _require_not_closed(campaign: Campaign) -> None:
    if services.campaign_state(campaign) == "closed":
        raise ConflictError(_l("The campaign is closed."))


def _clean(value) -> str:
    return re.sub(r"[\x00-\x1f\x7f]", " ", str(value or "")).strip()


def normalise_language(value: str | None) -> str | None:
    """``en`` or ``zh_CN`` for what a person types (English, 中文, zh-CN…); None if empty.

    Raises :class:`ValueError` for anything else."""
    key = re.sub(r"[\s\-]+", "_", (value or "").strip().lower())
    if not key:
        return None
    if key in LANGUAGE_ALIASES:
        return LANGUAGE_ALIASES[key]
    raise ValueError(value)


@dataclass
class RowCheck:
    """One row as it will be stored, with its problems."""

    row: int
    email: str
    name: str | None
    locale: str | None
    fields: dict[str, str]
    errors: list = field(default_factory=list)
    user_id: int | None = None
    team_id: int | None = None


def check_rows(campaign: Campaign, rows: Iterable[dict]) -> list[RowCheck]:
    """Validate rows (``email``, ``name``, ``locale``, ``fields``, optional ``row``
    number) against each other and the campaign's invitations. Writes nothing."""
    checks: list[RowCheck] = []
    first_row_of: dict[str, int] = {}
    for position, raw in enumerate(rows, start=1):
        number = int(raw.get("row") or position)
        email = normalise_email(_clean(raw.get("email")))
        check = RowCheck(number, email, _clean(raw.get("name")) or None, None, {})
        if not email:
            check.errors.append(_l("The email address is missing."))
        elif len(email) > 254 or not orgchart.valid_email(email):
            check.errors.append(_l("“%(email)s” is not a valid email address.", email=email))
        elif email in first_row_of:
            check.errors.append(
                _l("This address is also on row %(row)d.", row=first_row_of[email])
            )
        else:
            first_row_of[email] = number
        if check.name and len(check.name) > 200:
            check.errors.append(_l("The name is longer than %(n)d characters.", n=200))
        try:
            check.locale = normalise_language(raw.get("locale"))
        except ValueError:
            check.errors.append(
                _l("Unknown language “%(value)s”: use en or zh_CN (English or 中文).",
                   value=_clean(raw.get("locale")))
            )
        fields = raw.get("fields") or {}
        if len(fields) > MAX_FIELDS:
            check.errors.append(_l("At most %(n)d custom fields.", n=MAX_FIELDS))
        for key, value in fields.items():
            key, value = _clean(key), _clean(value)
            if not key or not value:
                continue
            if len(key) > MAX_FIELD_NAME or len(value) > MAX_FIELD_VALUE:
                check.errors.append(
                    _l("The field “%(field)s” is too long.", field=key[:MAX_FIELD_NAME])
                )
                continue
            check.fields[key] = value
        check.user_id = raw.get("user_id")
        check.team_id = raw.get("team_id")
        checks.append(check)
    if len(checks) > MAX_ROWS:
        raise ServiceError(
            _l("At most %(n)d people at a time. Split the list.", n=MAX_ROWS), field="file"
        )
    taken = _invited_emails(campaign, list(first_row_of))
    for check in checks:
        if check.email in taken and first_row_of.get(check.email) == check.row:
            check.errors.append(_l("%(email)s is already invited.", email=check.email))
    return checks


def _chunks(items: list, size: int = _IN_CHUNK) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _invited_emails(campaign: Campaign, emails: list[str]) -> set[str]:
    taken: set[str] = set()
    for chunk in _chunks(emails):
        taken.update(db.session.scalars(
            select(Invitation.email).where(
                Invitation.campaign_id == campaign.id, Invitation.email.in_(chunk)
            )
        ))
    return taken


def row_errors(checks: list[RowCheck]) -> dict[str, list[str]]:
    return {f"row {c.row}": [str(m) for m in c.errors] for c in checks if c.errors}


def _create(actor, campaign: Campaign, checks: list[RowCheck], source: str) -> list[Invitation]:
    invitations = []
    for check in checks:
        invitation = Invitation(
            campaign_id=campaign.id,
            email=check.email,
            name=check.name,
            locale=check.locale,
            fields=dict(check.fields),
            user_id=check.user_id,
            team_id=check.team_id,
            send_status=SendStatus.PENDING.value,
        )
        _issue_token(invitation)
        invitations.append(invitation)
    db.session.add_all(invitations)
    db.session.flush()
    _mark_opted_out([i for i in invitations])
    audit.record(
        "campaign.invite", campaign, actor=actor,
        details={"source": source, "count": len(invitations)},
    )
    return invitations


def add_invitations(actor, campaign: Campaign, rows: Iterable[dict], *,
                    source: str = "list") -> list[Invitation]:
    """Invite everyone in ``rows`` — or nobody: any bad row raises :class:`ServiceError`
    with ``errors`` keyed ``"row N"``."""
    require_admin(actor)
    _require_personal(campaign)
    _require_not_closed(campaign)
    checks = check_rows(campaign, rows)
    if not checks:
        raise ServiceError(_l("Enter at least one email address."))
    errors = row_errors(checks)
    if errors:
        raise ServiceError(
            lazy_ngettext(
                "%(num)d row has a problem. Nobody was invited.",
                "%(num)d rows have problems. Nobody was invited.",
                len(errors),
            ),
            errors=errors,
        )
    return _create(actor, campaign, checks, source)


_ANGLE = re.compile(r"^(?P<name>.*?)\s*<(?P<email>[^<>]+)>\s*$")
_SEPARATORS = re.compile(r"[,，;；\t]")


def parse_pasted(text: str) -> list[dict]:
    """Rows from pasted text, one person per line: ``email``, ``Name <email>``,
    ``email, name`` or ``name, email`` (Chinese commas and semicolons too)."""
    rows = []
    for number, line in enumerate((text or "").splitlines(), start=1):
        line = line.strip().strip("\ufeff")
        if not line:
            continue
        name, email = "", line
        match = _ANGLE.match(line)
        if match:
            name = match["name"].strip().strip("\"'“”‘’").strip()
            email = match["email"].strip()
        elif _SEPARATORS.search(line):
            first, rest = (part.strip() for part in _SEPARATORS.split(line, maxsplit=1))
            if "@" in first or "@" not in rest:
                email, name = first, rest
            else:
                email, name = rest, first
        rows.append({"row": number, "email": email, "name": name, "locale": None, "fields": {}})
    return rows


# ----------------------------------------------------------------- files


def _file_error(message) -> ServiceError:
    return ServiceError(message, field="file")


def parse_file(filename: str, data: bytes) -> orgchart.ParsedFile:
    """Read an invitation list: columns ``email`` (required), ``name``, ``language``
    (or 邮箱, 姓名, 语言); every other named column becomes a custom field."""
    header: dict[int, str] | None = None
    rows: list[orgchart.ParsedRow] = []
    custom: list[str] = []
    for number, record in orgchart.read_records(filename, data):
        cells = [_clean(c) for c in record[:orgchart.MAX_COLUMNS]]
        if not any(cells):
            continue
        if header is None:
            header = {}
            for index, raw in enumerate(cells):
                if not raw:
                    continue
                column = _HEADER_ALIASES.get(orgchart.header_key(raw))
                if column is None:
                    if len(raw) > MAX_FIELD_NAME:
                        raise _file_error(
                            _l("The column name “%(column)s” is too long.",
                               column=raw[:MAX_FIELD_NAME])
                        )
                    column = _FIELD_PREFIX + raw
                    custom.append(raw)
                if column in header.values():
                    raise _file_error(
                        _l("The column “%(column)s” appears twice in the first row.", column=raw)
                    )
                header[index] = column
            if "email" not in header.values():
                raise _file_error(
                    _l("The first row must name the columns; “email” (邮箱) is missing.")
                )
            continue
        if len(rows) >= MAX_ROWS:
            raise _file_error(
                _l("The file has more than %(n)d rows. Split it into several files.", n=MAX_ROWS)
            )
        values = {column: (cells[index] if index < len(cells) else "")
                  for index, column in header.items()}
        rows.append(orgchart.ParsedRow(number, values))
    if header is None:
        raise _file_error(_l("The file is empty."))
    if not rows:
        raise _file_error(_l("The file has a header row but nobody below it."))
    columns = tuple(c for c in ("email", "name", "language") if c in header.values())
    return orgchart.ParsedFile(
        Path(filename or "").name[:255], columns + tuple(custom), (), rows
    )


def file_rows(parsed: orgchart.ParsedFile) -> list[dict]:
    return [
        {
            "row": r.row,
            "email": r.values.get("email", ""),
            "name": r.values.get("name", ""),
            "locale": r.values.get("language", ""),
            "fields": {k[len(_FIELD_PREFIX):]: v for k, v in r.values.items()
                       if k.startswith(_FIELD_PREFIX)},
        }
        for r in parsed.rows
    ]


def plan_digest(campaign: Campaign, checks: list[RowCheck]) -> str:
    """A fingerprint of what confirming will write (and for which campaign)."""
    import json

    payload = [campaign.id, [[c.row, c.email, c.name, c.locale, c.fields, len(c.errors)]
                             for c in checks]]
    encoded = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(encoded.encode()).hexdigest()


def template_csv(chinese_headers: bool = False) -> bytes:
    import codecs
    import csv
    import io

    headers = ["邮箱", "姓名", "语言", "地区"] if chinese_headers else [
        "email", "name", "language", "region"]
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\r\n").writerow(headers)
    return codecs.BOM_UTF8 + out.getvalue().encode("utf-8")


# ----------------------------------------------------------------- from the org chart


def invite_from_org(actor, campaign: Campaign, *, team_ids=(), manager_id: int | None = None,
                    everyone: bool = False) -> tuple[list[Invitation], int]:
    """Invite the active people of some teams, of a manager's reporting line, or
    everyone. People invited already are skipped. Returns ``(invited, skipped)``."""
    require_admin(actor)
    _require_personal(campaign)
    _require_not_closed(campaign)
    team_ids = [int(t) for t in team_ids or ()]
    if not (everyone or team_ids or manager_id):
        raise ServiceError(_l("Choose teams, a manager or everyone."))
    query = select(User).where(User.active.is_(True), User.email.is_not(None))
    if not everyone:
        conditions = []
        if team_ids:
            conditions.append(User.team_id.in_(team_ids))
        if manager_id:
            conditions.append(User.id.in_(reporting_line_ids(int(manager_id))))
        from sqlalchemy import or_

        query = query.where(or_(*conditions))
    people = db.session.scalars(query.order_by(User.display_name, User.id)).all()
    if not people:
        raise ServiceError(_l("Nobody active matches this choice."))
    teams = {t.id: t.name for t in db.session.scalars(select(Team))}
    taken = _invited_emails(campaign, [p.email for p in people])
    rows = [
        {
            "email": p.email, "name": p.display_name, "locale": p.locale,
            "fields": {"team": teams[p.team_id]} if p.team_id else {},
            "user_id": p.id, "team_id": p.team_id,
        }
        for p in people if p.email not in taken
    ]
    if not rows:
        return [], len(people)
    checks = check_rows(campaign, rows)
    errors = row_errors(checks)
    if errors:  # an address in the org chart that is not valid for sending
        raise ServiceError(_l("Some people cannot be invited."), errors=errors)
    return _create(actor, campaign, checks, "org"), len(people) - len(rows)


# ----------------------------------------------------------------- revoke, reissue


def revoke(actor, invitation: Invitation) -> None:
    """Kill the invitation's link (a browser that opened it loses access too). An
    answer already given is kept."""
    require_admin(actor)
    if invitation.revoked_at is None:
        invitation.revoked_at = utcnow()
        if invitation.send_status == SendStatus.QUEUED:
            invitation.send_status = _settled_status(invitation)
        db.session.flush()
        audit.record("invitation.revoke", invitation, actor=actor,
                     details={"campaign": invitation.campaign_id})


def reissue(actor, invitation: Invitation) -> str:
    """A new link for the invitation; the old one stops working at once. A revoked
    invitation becomes valid again. Returns the new token."""
    require_admin(actor)
    if invitation.completed_at is not None:
        raise ConflictError(_l("This person has already answered."))
    if invitation.email is None:
        raise ConflictError(_l("This invitation was erased."))
    _require_not_closed(invitation.campaign)
    token = _issue_token(invitation)
    invitation.revoked_at = None
    invitation.sent_at = None
    invitation.send_attempts = 0
    invitation.last_error = None
    if invitation.send_status != SendStatus.OPTED_OUT:
        invitation.send_status = SendStatus.PENDING.value
    db.session.flush()
    audit.record("invitation.reissue", invitation, actor=actor,
                 details={"campaign": invitation.campaign_id})
    return token


# ----------------------------------------------------------------- the respondent's side


def exchange_token(token: str) -> Invitation | None:
    """The invitation a link token opens, or None if it is not valid now (unknown,
    revoked, expired, erased, already answered, or its campaign closed). Notes when it
    was first opened."""
    if not isinstance(token, str) or not _TOKEN_RE.match(token):
        return None
    invitation = db.session.scalar(
        select(Invitation).where(Invitation.token_hash == services.token_hash(token))
    )
    if invitation is None or not usable(invitation) or invitation.completed_at is not None:
        return None
    if services.campaign_state(invitation.campaign) == "closed":
        return None
    if invitation.opened_at is None:
        invitation.opened_at = _stamp(invitation.campaign)
        db.session.flush()
    return invitation


def usable(invitation: Invitation, now: datetime | None = None) -> bool:
    """Whether the invitation's link may still be used (answered ones included)."""
    now = now or utcnow()
    return (
        invitation.revoked_at is None
        and invitation.erased_at is None
        and invitation.token_hash is not None
        and (invitation.expires_at is None or now < invitation.expires_at)
        and invitation.campaign.is_personal
    )


def _stamp(campaign: Campaign) -> datetime:
    """Now — or, in an anonymous campaign, today's date at 00:00 UTC: exact times on
    the invitation could be matched with the response's own times."""
    now = utcnow()
    if campaign.anonymous:
        return datetime.combine(now.date(), time(0), tzinfo=now.tzinfo)
    return now


def response_of(invitation: Invitation) -> Response | None:
    """The invitation's response (never found in anonymous campaigns: not linked)."""
    return db.session.scalar(
        select(Response)
        .where(Response.invitation_id == invitation.id, Response.deleted_at.is_(None))
        .order_by(Response.id.desc())
        .limit(1)
    )


def _shared_fields(invitation: Invitation) -> dict[str, str]:
    """The custom fields an anonymous response may carry: values that at least
    ``min_group_size`` invitations of the campaign share (a rarer value would single
    the person out)."""
    mine = invitation.fields or {}
    if not mine:
        return {}
    counts: dict[tuple[str, str], int] = {}
    for fields in db.session.scalars(
        select(Invitation.fields).where(Invitation.campaign_id == invitation.campaign_id)
    ):
        for key, value in (fields or {}).items():
            if key in mine and mine[key] == value:
                counts[(key, value)] = counts.get((key, value), 0) + 1
    limit = invitation.campaign.min_group_size
    return {k: v for k, v in mine.items() if counts.get((k, v), 0) >= limit}


@services.on_started
def attach_response(response: Response, invitation: Invitation | None) -> None:
    """When an invitee's response is created: link it (not in anonymous campaigns),
    copy the custom fields, note that the invitee started."""
    if invitation is None:
        return
    campaign = invitation.campaign
    if campaign.anonymous:
        fields = _shared_fields(invitation)
    else:
        response.invitation_id = invitation.id
        fields = dict(invitation.fields or {})
        if invitation.team_id and "team" not in fields:
            team = db.session.get(Team, invitation.team_id)
            if team is not None:
                fields["team"] = team.name
    if fields:
        response.fields = {**(response.fields or {}), **fields}
    if invitation.started_at is None:
        invitation.started_at = _stamp(campaign)
    db.session.flush()


def _invitation_answering(response: Response) -> Invitation | None:
    if response.invitation_id is not None:
        return db.session.get(Invitation, response.invitation_id)
    if has_request_context():
        invitation = g.get("orbit_invitation")
        if invitation is not None and invitation.campaign_id == response.campaign_id:
            return invitation
    return None


@services.on_completed
def _mark_completed(response: Response) -> None:
    """One response per invitation: the first completed one uses the invitation up;
    a second one (another browser of the same anonymous invitee) is refused."""
    invitation = _invitation_answering(response)
    if invitation is None:
        return
    stamp = _stamp(invitation.campaign)
    claimed = db.session.execute(
        update(Invitation)
        .where(Invitation.id == invitation.id, Invitation.completed_at.is_(None))
        .values(completed_at=stamp, started_at=func.coalesce(Invitation.started_at, stamp))
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed != 1:
        raise ConflictError(_l("This invitation has already been answered."))
    db.session.expire(invitation, ["completed_at", "started_at"])


# ----------------------------------------------------------------- opt-out


def is_opted_out(email: str | None) -> bool:
    if not email:
        return False
    return db.session.scalar(
        select(EmailOptOut.id).where(EmailOptOut.email_hash == _email_hash(email))
    ) is not None


def opt_out_hash(email_hash: str, email: str | None = None) -> None:
    """Record that the address with this hash wants no more survey emails."""
    known = select(EmailOptOut.id).where(EmailOptOut.email_hash == email_hash)
    if db.session.scalar(known) is None:
        db.session.add(EmailOptOut(email_hash=email_hash))
    now = utcnow()
    if email:
        email = normalise_email(email)
        db.session.execute(
            update(Invitation)
            .where(Invitation.email == email, Invitation.opted_out_at.is_(None))
            .values(opted_out_at=now)
            .execution_options(synchronize_session=False)
        )
        db.session.execute(
            update(Invitation)
            .where(
                Invitation.email == email,
                Invitation.send_status.in_(
                    [SendStatus.PENDING, SendStatus.QUEUED, SendStatus.FAILED]
                ),
            )
            .values(send_status=SendStatus.OPTED_OUT.value)
            .execution_options(synchronize_session=False)
        )
    db.session.flush()
    if email:
        for obj in list(db.session.identity_map.values()):
            if isinstance(obj, Invitation) and obj.email == email:
                db.session.expire(obj)
    audit.record("email.opt_out", details={"email_sha256": email_hash})


def opt_out(email: str) -> None:
    """No survey email goes to ``email`` any more (in any campaign)."""
    opt_out_hash(_email_hash(email), email)


def unsubscribe(token: str) -> bool:
    """Apply an unsubscribe link; False if the token is not one of ours."""
    read = read_unsubscribe_token(token)
    if read is None:
        return False
    invitation_id, email_hash = read
    invitation = db.session.get(Invitation, invitation_id)
    email = invitation.email if invitation is not None else None
    if email and _email_hash(email) != email_hash:
        email = None  # the invitation was erased or changed: the hash still counts
    opt_out_hash(email_hash, email)
    return True


def _mark_opted_out(invitations: list[Invitation]) -> None:
    emails = [i.email for i in invitations if i.email]
    if not emails:
        return
    hashes = {_email_hash(e): e for e in emails}
    opted = set()
    for chunk in _chunks(list(hashes)):
        opted.update(db.session.scalars(
            select(EmailOptOut.email_hash).where(EmailOptOut.email_hash.in_(chunk))
        ))
    now = utcnow()
    for invitation in invitations:
        if invitation.email and _email_hash(invitation.email) in opted:
            invitation.opted_out_at = invitation.opted_out_at or now
            invitation.send_status = SendStatus.OPTED_OUT.value


# ----------------------------------------------------------------- sending


def _settled_status(invitation: Invitation) -> str:
    if invitation.opted_out_at is not None:
        return SendStatus.OPTED_OUT.value
    return SendStatus.SENT.value if invitation.sent_at is not None else SendStatus.PENDING.value


def _base_url() -> str | None:
    configured = current_app.config.get("PUBLIC_BASE_URL")
    if configured:
        return configured.rstrip("/")
    if has_request_context():
        from flask import request

        return request.host_url.rstrip("/") + (request.script_root or "")
    return None


def _queue(actor, campaign: Campaign, kind: str, items: list[tuple[Invitation, int]],
           base_url: str | None) -> int:
    """Mark the invitations queued and hand them to the send job in batches."""
    if not items:
        return 0
    if base_url is None:
        raise ServiceError(_l("Set PUBLIC_BASE_URL so that emails can carry links."))
    for invitation, _number in items:
        invitation.send_status = SendStatus.QUEUED.value
        invitation.send_attempts = 0
        invitation.last_error = None
    db.session.flush()
    size = max(1, int(current_app.config.get("MAIL_BATCH_SIZE") or 100))
    for start in range(0, len(items), size):
        batch = [[i.id, n] for i, n in items[start:start + size]]
        tasks.enqueue(SEND_JOB, campaign_id=campaign.id, actor=actor, campaign=campaign.id,
                      kind=kind, items=batch, base_url=base_url)
    return len(items)


def _sendable():
    return (
        Invitation.revoked_at.is_(None),
        Invitation.erased_at.is_(None),
        Invitation.completed_at.is_(None),
        Invitation.email.is_not(None),
        Invitation.opted_out_at.is_(None),
        Invitation.send_status != SendStatus.QUEUED,
    )


def unsent_count(campaign: Campaign) -> int:
    return db.session.scalar(
        select(func.count()).select_from(Invitation).where(
            Invitation.campaign_id == campaign.id, Invitation.sent_at.is_(None), *_sendable()
        )
    )


def _require_launched(campaign: Campaign) -> None:
    if campaign.launched_at is None:
        raise ConflictError(_l("Launch the campaign before sending emails."))


def send_invitations(actor, campaign: Campaign, invitation_ids=None) -> int:
    """Queue the invitation email for everyone not sent one yet (or only
    ``invitation_ids``); returns how many were queued. Opted-out addresses, revoked,
    answered and already sent invitations are left out."""
    require_admin(actor)
    _require_personal(campaign)
    _require_launched(campaign)
    _require_not_closed(campaign)
    query = select(Invitation).where(
        Invitation.campaign_id == campaign.id, Invitation.sent_at.is_(None), *_sendable()
    ).order_by(Invitation.id)
    if invitation_ids is not None:
        query = query.where(Invitation.id.in_([int(i) for i in invitation_ids]))
    invitations = db.session.scalars(query).all()
    _mark_opted_out(invitations)
    items = [(i, 0) for i in invitations if i.send_status != SendStatus.OPTED_OUT]
    count = _queue(actor, campaign, "invitation", items, _base_url())
    if count:
        audit.record("campaign.send_invitations", campaign, actor=actor, details={"count": count})
    return count


def _reminder_candidates(campaign: Campaign, *, before: datetime | None = None):
    query = select(Invitation).where(
        Invitation.campaign_id == campaign.id,
        Invitation.sent_at.is_not(None),
        Invitation.reminders_sent < campaign.max_reminders,
        *_sendable(),
    ).order_by(Invitation.id)
    if before is not None:  # not reminded since this moment
        from sqlalchemy import or_

        query = query.where(
            or_(Invitation.last_reminded_at.is_(None), Invitation.last_reminded_at < before)
        )
    return db.session.scalars(query).all()


def reminder_count(campaign: Campaign) -> int:
    return db.session.scalar(
        select(func.count()).select_from(Invitation).where(
            Invitation.campaign_id == campaign.id,
            Invitation.sent_at.is_not(None),
            Invitation.reminders_sent < campaign.max_reminders,
            *_sendable(),
        )
    )


def _queue_reminders(actor, campaign: Campaign, base_url: str | None, *,
                     before: datetime | None = None) -> int:
    invitations = _reminder_candidates(campaign, before=before)
    _mark_opted_out(invitations)
    items = [(i, i.reminders_sent + 1) for i in invitations
             if i.send_status != SendStatus.OPTED_OUT]
    return _queue(actor, campaign, "reminder", items, base_url)


def send_reminders(actor, campaign: Campaign) -> int:
    """Queue one reminder for everyone invited who has not answered, has not opted
    out, was not revoked and has had fewer than ``max_reminders``."""
    require_admin(actor)
    _require_personal(campaign)
    if services.campaign_state(campaign) != "open":
        raise ConflictError(_l("Reminders can be sent only while the campaign is open."))
    count = _queue_reminders(actor, campaign, _base_url())
    if count:
        audit.record("campaign.send_reminders", campaign, actor=actor, details={"count": count})
    return count


def _last_base_url(campaign: Campaign) -> str | None:
    run = db.session.scalar(
        select(tasks.TaskRun)
        .where(tasks.TaskRun.campaign_id == campaign.id, tasks.TaskRun.name == SEND_JOB)
        .order_by(tasks.TaskRun.id.desc())
        .limit(1)
    )
    return (run.args or {}).get("base_url") if run is not None else None


def reminder_due_at(campaign: Campaign) -> datetime | None:
    if campaign.remind_days_before_close is None or campaign.closes_at is None:
        return None
    return campaign.closes_at - timedelta(days=campaign.remind_days_before_close)


def _already_scheduled(campaign: Campaign, due: datetime) -> bool:
    details = db.session.scalars(
        select(AuditEvent.details).where(
            AuditEvent.action == REMINDERS_SCHEDULED,
            AuditEvent.object_type == "Campaign",
            AuditEvent.object_id == campaign.id,
        )
    )
    return any((d or {}).get("due") == due.isoformat() for d in details)


@tasks.every_minute(SCHEDULE_JOB)
def scheduled_reminders() -> int:
    """Send the automatic reminder of each personal campaign once, as soon as
    ``closes_at - remind_days_before_close`` has passed (while it is open)."""
    now = utcnow()
    campaigns = db.session.scalars(
        select(Campaign).where(
            Campaign.audience == "personal",
            Campaign.remind_days_before_close.is_not(None),
            Campaign.launched_at.is_not(None),
            Campaign.closed_at.is_(None),
            Campaign.closes_at > now,
        )
    ).all()
    queued = 0
    for campaign in campaigns:
        due = reminder_due_at(campaign)
        if due is None or now < due or _already_scheduled(campaign, due):
            continue
        if services.campaign_state(campaign, now) != "open":
            continue
        base_url = _base_url() or _last_base_url(campaign)
        if base_url is None:
            log.warning("campaign %s: no PUBLIC_BASE_URL for its scheduled reminder", campaign.id)
            continue
        count = _queue_reminders(None, campaign, base_url, before=due)
        audit.record(REMINDERS_SCHEDULED, campaign, details={"due": due.isoformat(),
                                                             "count": count})
        queued += count
    db.session.flush()
    return queued


class DeliveryIncomplete(Exception):
    """Some emails of a batch failed for now; the queue runs the batch again."""


def _checkpoint() -> None:
    """Keep each delivery's record even if a later one fails: the worker commits per
    message (a retry then resends only what failed); in eager mode (tests) the
    caller's transaction holds everything."""
    if current_app.config.get("TASKS_EAGER"):
        db.session.flush()
    else:
        db.session.commit()


def _message_for(invitation: Invitation, kind: str, base_url: str):
    campaign = invitation.campaign
    language = mail.language_of(invitation.locale, campaign.default_locale
                                or current_app.config.get("BABEL_DEFAULT_LOCALE"))
    with current_app.test_request_context("/", base_url=base_url):
        link = url_for("invitations.open", token=link_token(invitation), _external=True)
        unsubscribe_link = url_for(
            "invitations.unsubscribe", token=unsubscribe_token(invitation), _external=True
        )
    rendered = mail.render(
        mail.template_of(campaign, kind, language),
        language=language,
        name=invitation.name,
        campaign_name=campaign.name,
        link=link,
        unsubscribe_link=unsubscribe_link,
        closes_at=campaign.closes_at,
    )
    message = mail.build_message(
        rendered, to_address=invitation.email, to_name=invitation.name,
        unsubscribe_link=unsubscribe_link,
    )
    return rendered, message


@tasks.job(SEND_JOB)
def send_emails(*, campaign: int, kind: str, items: list, base_url: str) -> dict:
    """Send one batch: ``items`` are ``[invitation_id, n]`` (``n`` = the reminder's
    number, 0 for the invitation). Safe to run again: what was sent is skipped."""
    if kind not in mail.KINDS:
        raise ValueError(f"unknown email kind {kind!r}")
    numbers = {int(i): int(n) for i, n in items}
    max_attempts = int(current_app.config.get("TASK_RETRIES", 0)) + 1
    invitations = []
    for chunk in _chunks(sorted(numbers)):
        invitations += db.session.scalars(
            select(Invitation).where(Invitation.id.in_(chunk)).order_by(Invitation.id)
        ).all()
    result = {"sent": 0, "skipped": 0, "failed": 0, "retrying": 0}
    last_error = None
    exhausted = 0  # temporary failures out of attempts: the run fails, visibly
    with mail.connection() as connection:
        for invitation in invitations:
            if invitation.campaign_id != campaign or invitation.send_status != SendStatus.QUEUED:
                result["skipped"] += 1  # done by an earlier run, revoked, failed for good
                continue
            number = numbers[invitation.id]
            done = (invitation.sent_at is not None if kind == "invitation"
                    else invitation.reminders_sent >= number)
            if (done or invitation.revoked_at or invitation.erased_at or invitation.completed_at
                    or not invitation.email):
                invitation.send_status = _settled_status(invitation)
                result["skipped"] += 1
                _checkpoint()
                continue
            if invitation.opted_out_at is not None or is_opted_out(invitation.email):
                invitation.opted_out_at = invitation.opted_out_at or utcnow()
                invitation.send_status = SendStatus.OPTED_OUT.value
                result["skipped"] += 1
                _checkpoint()
                continue
            rendered, message = _message_for(invitation, kind, base_url)
            invitation.send_attempts += 1
            error = None
            try:
                connection.send(message)
            except mail.PermanentMailError as exc:
                # Refused for good (unknown mailbox): retrying cannot help.
                error, final = str(exc), True
            except mail.MailError as exc:
                error, final = str(exc), invitation.send_attempts >= max_attempts
                exhausted += int(final)
            now = utcnow()
            db.session.add(EmailMessage(
                campaign_id=invitation.campaign_id, invitation_id=invitation.id, kind=kind,
                to_address=invitation.email, subject=rendered.subject[:300],
                status="failed" if error else "sent", error=error,
            ))
            if error is None:
                invitation.send_status = SendStatus.SENT.value
                invitation.last_error = None
                if kind == "invitation":
                    invitation.sent_at = now
                else:
                    invitation.reminders_sent = number
                    invitation.last_reminded_at = now
                result["sent"] += 1
            else:
                invitation.last_error = error[:2000]
                last_error = error
                if final:
                    invitation.send_status = SendStatus.FAILED.value
                    result["failed"] += 1
                else:
                    result["retrying"] += 1
            _checkpoint()
    if result["retrying"] or exhausted:
        raise DeliveryIncomplete(
            f"{result['retrying'] + exhausted} of {len(invitations)} emails could not "
            f"be sent: {last_error}"
        )
    return result


# ----------------------------------------------------------------- email templates


def set_email_template(actor, campaign: Campaign, kind: str, language: str,
                       subject: str, body: str) -> None:
    """Use this subject and body for ``kind`` emails in ``language``; raises
    :class:`ServiceError` (with ``errors`` by field) for an unusable template."""
    require_admin(actor)
    _require_personal(campaign)
    if kind not in mail.KINDS or language not in mail.LANGUAGES:
        raise ServiceError(_l("Unknown email."))
    subject, body = (subject or "").strip(), (body or "").replace("\r\n", "\n").strip()
    problems = mail.check_template(subject, body)
    if problems:
        first = next(iter(problems))
        raise ServiceError(problems[first][0], field=first, errors=problems)
    templates = {k: dict(v) for k, v in (campaign.email_templates or {}).items()}
    templates.setdefault(kind, {})[language] = {"subject": subject, "body": body}
    campaign.email_templates = templates  # a new object: JSON columns track assignment
    db.session.flush()
    audit.record("campaign.email_template", campaign, actor=actor,
                 details={"kind": kind, "language": language})


def reset_email_template(actor, campaign: Campaign, kind: str, language: str) -> None:
    """Go back to the default email for ``kind`` in ``language``."""
    require_admin(actor)
    templates = {k: dict(v) for k, v in (campaign.email_templates or {}).items()}
    if templates.get(kind, {}).pop(language, None) is None:
        return
    templates = {k: v for k, v in templates.items() if v}
    campaign.email_templates = templates or None
    db.session.flush()
    audit.record("campaign.email_template_reset", campaign, actor=actor,
                 details={"kind": kind, "language": language})


def _send_on_launch(campaign: Campaign) -> None:
    """Launching a personal campaign sends the invitations added before."""
    if campaign.is_personal and _base_url() is not None:
        invitations = db.session.scalars(
            select(Invitation).where(
                Invitation.campaign_id == campaign.id, Invitation.sent_at.is_(None),
                *_sendable(),
            ).order_by(Invitation.id)
        ).all()
        _mark_opted_out(invitations)
        items = [(i, 0) for i in invitations if i.send_status != SendStatus.OPTED_OUT]
        _queue(None, campaign, "invitation", items, _base_url())


def _register_launch_hook() -> None:
    try:
        from surveys.campaigns import on_launched
    except ImportError:  # pragma: no cover - the campaign pages are not installed
        return
    on_launched(_send_on_launch)


_register_launch_hook()
