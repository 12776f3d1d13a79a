"""Campaigns: a published questionnaire version sent to an audience within a window.

A campaign is a *draft* until an admin launches it; then it is *scheduled* (before
``opens_at``), *open*, *full* (``max_responses`` completed responses) or *closed* —
by hand (:func:`close_campaign`), or automatically at ``closes_at`` (the periodic job
:func:`close_due_campaigns` records it). :func:`campaign_status` is the one place
these states are decided; the respondent's view (``surveys.services.campaign_state``)
is derived from it, and :func:`list_campaigns` filters by the same rules in SQL.

Services check access, validate, change objects and flush; the route or API endpoint
that called them commits once. Every change is audited.
"""

from __future__ import annotations

import json
import re
import secrets
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from urllib.parse import urlsplit

from flask import current_app, has_request_context, url_for
from sqlalchemy import Select, and_, false, func, not_, or_, select

from core.database import utcnow
from core.exceptions import ConflictError, NotFound, ServiceError
from core.extensions import db
from core.i18n import lazy_gettext as _l
from core.tasks import TaskRun, TaskStatus, every_minute
from core.tasks import retry as retry_task_run
from org import audit
from org.models import Team, User, Vendor
from org.services import clean_text, contains_pattern, require_admin
from surveys import services
from surveys.models import (
    Campaign,
    CampaignAudience,
    Invitation,
    Questionnaire,
    QuestionnaireVersion,
    Response,
    ResponseStatus,
)

STATUSES = ("draft", "scheduled", "open", "full", "closed")

MAX_RESPONSES_LIMIT = 10_000_000
MAX_GROUP_SIZE = 1000
MAX_REMINDERS_LIMIT = 10
MAX_REMIND_DAYS = 90
MAX_HIDDEN_FIELDS = 10
HIDDEN_FIELD_MAX_LENGTH = 200
HIDDEN_FIELDS_MAX_BYTES = 1500
HIDDEN_FIELD_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,39}$")
WEBHOOK_URL_MAX_LENGTH = 500

# What may still change once a campaign is launched; everything else is fixed then
# (respondents have seen it, or answers already depend on it).
EDITABLE_WHEN_LAUNCHED = frozenset({
    "name",
    "closes_at",
    "max_responses",
    "max_reminders",
    "remind_days_before_close",
    "webhook_url",
    "min_group_size",
})
SETTINGS = EDITABLE_WHEN_LAUNCHED | {
    "audience",
    "opens_at",
    "subject",
    "default_locale",
    "anonymous",
    "one_response_per_browser",
    "hidden_fields",
}

# Called with each campaign the moment it is launched, in the launching transaction
# (e.g. sending the invitations of a personal campaign). Register with @on_launched.
_launch_hooks: list[Callable[[Campaign], None]] = []


def on_launched(func):
    """Register ``func(campaign)`` to run (and flush) when a campaign is launched."""
    if func not in _launch_hooks:
        _launch_hooks.append(func)
    return func


# ----------------------------------------------------------------- status


def is_closed(campaign: Campaign, now: datetime | None = None) -> bool:
    """Closed by hand, or its closing time has come (whether or not the automatic
    close has recorded it yet)."""
    now = now or utcnow()
    return campaign.closed_at is not None or (
        campaign.closes_at is not None and now >= campaign.closes_at
    )


def closed_by_hand(campaign: Campaign) -> bool:
    """Whether an admin closed it before its closing time (the automatic close sets
    ``closed_at`` to ``closes_at``)."""
    return campaign.closed_at is not None and (
        campaign.closes_at is None or campaign.closed_at < campaign.closes_at
    )


def can_reopen(campaign: Campaign, now: datetime | None = None) -> bool:
    now = now or utcnow()
    return closed_by_hand(campaign) and (campaign.closes_at is None or campaign.closes_at > now)


def campaign_status(
    campaign: Campaign, now: datetime | None = None, *, completed: int | None = None
) -> str:
    """``draft``, ``scheduled``, ``open``, ``full`` or ``closed`` — what admins see.
    ``completed``: the campaign's completed responses, if the caller counted them."""
    now = now or utcnow()
    if campaign.launched_at is None:
        return "draft"
    if is_closed(campaign, now):
        return "closed"
    if campaign.opens_at is not None and now < campaign.opens_at:
        return "scheduled"
    if campaign.max_responses:
        if completed is None:
            completed = services.completed_count(campaign)
        if completed >= campaign.max_responses:
            return "full"
    return "open"


def _completed_subquery():
    return (
        select(func.count())
        .select_from(Response)
        .where(
            Response.campaign_id == Campaign.id,
            Response.status == ResponseStatus.COMPLETED,
            Response.deleted_at.is_(None),
        )
        .correlate(Campaign)
        .scalar_subquery()
    )


def _status_condition(status: str, now: datetime):
    """A SQL condition true for campaigns in ``status`` at ``now`` (the rules of
    :func:`campaign_status`)."""
    launched = Campaign.launched_at.is_not(None)
    closed = or_(
        Campaign.closed_at.is_not(None),
        and_(Campaign.closes_at.is_not(None), Campaign.closes_at <= now),
    )
    waiting = and_(Campaign.opens_at.is_not(None), Campaign.opens_at > now)
    full = and_(
        Campaign.max_responses.is_not(None), _completed_subquery() >= Campaign.max_responses
    )
    return {
        "draft": not_(launched),
        "closed": and_(launched, closed),
        "scheduled": and_(launched, not_(closed), waiting),
        "full": and_(launched, not_(closed), not_(waiting), full),
        "open": and_(launched, not_(closed), not_(waiting), not_(full)),
    }[status]


# ----------------------------------------------------------------- queries


def list_campaigns(
    actor,
    *,
    status: str | None = None,
    questionnaire_id: int | None = None,
    q: str | None = None,
    now: datetime | None = None,
) -> Select:
    """Campaigns, newest first; ``status`` one of :data:`STATUSES` (else all), ``q``
    matches the name or the questionnaire key."""
    require_admin(actor)
    query = select(Campaign)
    if status in STATUSES:
        query = query.where(_status_condition(status, now or utcnow()))
    elif status:
        query = query.where(false())
    if questionnaire_id:
        query = query.where(
            Campaign.version_id.in_(
                select(QuestionnaireVersion.id).where(
                    QuestionnaireVersion.questionnaire_id == questionnaire_id
                )
            )
        )
    if q and q.strip():
        like = contains_pattern(q)
        query = query.where(
            or_(
                func.lower(Campaign.name).like(like, escape="\\"),
                Campaign.version_id.in_(
                    select(QuestionnaireVersion.id)
                    .join(Questionnaire)
                    .where(func.lower(Questionnaire.key).like(like, escape="\\"))
                ),
            )
        )
    return query.order_by(Campaign.created_at.desc(), Campaign.id.desc())


def get_campaign(actor, campaign_id: int) -> Campaign:
    require_admin(actor)
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound(_l("No such campaign."))
    return campaign


def completed_counts(campaign_ids: Iterable[int]) -> dict[int, int]:
    """Completed (not deleted) responses per campaign, in one query."""
    ids = list(campaign_ids)
    if not ids:
        return {}
    return dict(
        db.session.execute(
            select(Response.campaign_id, func.count())
            .where(
                Response.campaign_id.in_(ids),
                Response.status == ResponseStatus.COMPLETED,
                Response.deleted_at.is_(None),
            )
            .group_by(Response.campaign_id)
        ).all()
    )


def campaign_subject(campaign: Campaign) -> Team | Vendor | User | None:
    """The team, vendor or person the answers are about, if any."""
    if campaign.subject_team_id:
        return db.session.get(Team, campaign.subject_team_id)
    if campaign.subject_vendor_id:
        return db.session.get(Vendor, campaign.subject_vendor_id)
    if campaign.subject_user_id:
        return db.session.get(User, campaign.subject_user_id)
    return None


def subject_name(subject) -> str | None:
    if subject is None:
        return None
    return subject.display_name if isinstance(subject, User) else subject.name


def subject_kind(subject) -> str | None:
    return {Team: "team", Vendor: "vendor", User: "user"}.get(type(subject))


# ----------------------------------------------------------------- validation


def _whole_number(value, field: str, *, low: int, high: int, optional: bool) -> int | None:
    if value is None or value == "":
        if optional:
            return None
        raise ServiceError(_l("This field is required."), field=field)
    if isinstance(value, bool):
        raise ServiceError(_l("Enter a whole number."), field=field)
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ServiceError(_l("Enter a whole number."), field=field) from None
    if number != value and not isinstance(value, str):
        raise ServiceError(_l("Enter a whole number."), field=field)
    if not low <= number <= high:
        raise ServiceError(
            _l("Enter a number from %(low)d to %(high)d.", low=low, high=high), field=field
        )
    return number


def _moment(value, field: str) -> datetime | None:
    if value is None or value == "":
        return None
    if not isinstance(value, datetime):
        raise ServiceError(_l("Not a valid date and time."), field=field)
    if value.tzinfo is None or value.utcoffset() is None:
        raise ServiceError(_l("Give the time zone of this time."), field=field)
    return value.astimezone(UTC)


def _audience(value) -> str:
    try:
        return CampaignAudience(value).value
    except ValueError:
        raise ServiceError(
            _l("Choose a public link or personal links."), field="audience"
        ) from None


def _locale(value) -> str | None:
    if not value:
        return None
    if value not in current_app.config["LANGUAGES"]:
        raise ServiceError(_l("Unknown language."), field="default_locale")
    return value


def parse_hidden_field_names(value) -> list[str]:
    """Declared hidden field names from a list or from text separated by commas,
    spaces or lines; duplicates dropped, order kept."""
    if value is None:
        return []
    if isinstance(value, str):
        value = re.split(r"[\s,;，；]+", value)
    names: list[str] = []
    for raw in value:
        name = str(raw).strip()
        if not name:
            continue
        if not HIDDEN_FIELD_NAME.match(name):
            raise ServiceError(
                _l(
                    "“%(name)s” is not a valid field name: use up to 40 letters, digits, "
                    "- and _, starting with a letter.",
                    name=name[:60],
                ),
                field="hidden_fields",
            )
        if name not in names:
            names.append(name)
    if len(names) > MAX_HIDDEN_FIELDS:
        raise ServiceError(
            _l("Declare at most %(n)d hidden fields.", n=MAX_HIDDEN_FIELDS), field="hidden_fields"
        )
    return names


def _webhook_url(value) -> str | None:
    url = (value or "").strip()
    if not url:
        return None
    if len(url) > WEBHOOK_URL_MAX_LENGTH:
        raise ServiceError(
            _l("Use at most %(n)d characters.", n=WEBHOOK_URL_MAX_LENGTH), field="webhook_url"
        )
    parts = urlsplit(url)
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or any(c.isspace() or unicodedata.category(c) == "Cc" for c in url)
    ):
        raise ServiceError(
            _l("Enter a full web address starting with https:// or http://."),
            field="webhook_url",
        )
    return url


def _subject_columns(subject) -> dict[str, int | None]:
    columns = {"subject_team_id": None, "subject_vendor_id": None, "subject_user_id": None}
    if subject is None:
        return columns
    kind = subject_kind(subject)
    if kind is None or getattr(subject, "id", None) is None:
        raise ServiceError(_l("Choose a team, a vendor or a person."), field="subject")
    columns[f"subject_{kind}_id"] = subject.id
    return columns


def _check_subject_active(subject) -> None:
    if subject is not None and not subject.active:
        raise ServiceError(
            _l("“%(name)s” is deactivated: choose another subject.", name=subject_name(subject)),
            field="subject",
        )


def _clean(settings: Mapping, campaign: Campaign | None) -> dict:
    """Validated column values for the settings given (``campaign``: its current
    values fill in what is not given, for the rules that span several settings)."""
    values: dict = {}
    for key, value in settings.items():
        if key == "name":
            values["name"] = clean_text(value, "name", required=True, max_length=200)
        elif key == "audience":
            values["audience"] = _audience(value)
        elif key in ("opens_at", "closes_at"):
            values[key] = _moment(value, key)
        elif key == "max_responses":
            values[key] = _whole_number(
                value, key, low=1, high=MAX_RESPONSES_LIMIT, optional=True
            )
        elif key == "subject":
            columns = _subject_columns(value)
            if campaign is None or campaign_subject(campaign) is not value:
                _check_subject_active(value)
            values.update(columns)
        elif key == "default_locale":
            values[key] = _locale(value)
        elif key in ("anonymous", "one_response_per_browser"):
            values[key] = bool(value)
        elif key == "hidden_fields":
            values[key] = parse_hidden_field_names(value)
        elif key == "min_group_size":
            values[key] = _whole_number(value, key, low=1, high=MAX_GROUP_SIZE, optional=False)
        elif key == "max_reminders":
            values[key] = _whole_number(
                value, key, low=0, high=MAX_REMINDERS_LIMIT, optional=False
            )
        elif key == "remind_days_before_close":
            values[key] = _whole_number(value, key, low=1, high=MAX_REMIND_DAYS, optional=True)
        elif key == "webhook_url":
            values[key] = _webhook_url(value)
        else:
            raise TypeError(f"unknown campaign setting {key!r}")

    def final(name):
        if name in values:
            return values[name]
        return getattr(campaign, name) if campaign is not None else None

    opens_at, closes_at = final("opens_at"), final("closes_at")
    window_given = "opens_at" in values or "closes_at" in values
    if window_given and opens_at and closes_at and closes_at <= opens_at:
        raise ServiceError(_l("The campaign must close after it opens."), field="closes_at")
    if final("remind_days_before_close") is not None and closes_at is None:
        raise ServiceError(
            _l("Automatic reminders need a closing time: set one, or leave this empty."),
            field="remind_days_before_close",
        )
    return values


def _jsonable(value):
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _changes(campaign: Campaign, values: dict) -> dict:
    return {
        key: [_jsonable(getattr(campaign, key)), _jsonable(value)]
        for key, value in values.items()
        if getattr(campaign, key) != value
    }


# ----------------------------------------------------------------- changes


def create_campaign(
    actor,
    version: QuestionnaireVersion,
    *,
    name: str,
    audience: str = "public",
    opens_at: datetime | None = None,
    closes_at: datetime | None = None,
    max_responses: int | None = None,
    subject=None,
    default_locale: str | None = None,
    anonymous: bool = False,
    one_response_per_browser: bool = True,
    hidden_fields: Iterable[str] | str = (),
    min_group_size: int = 5,
    max_reminders: int = 2,
    remind_days_before_close: int | None = None,
    webhook_url: str | None = None,
    launch: bool = False,
    allow_past_close: bool = False,
) -> Campaign:
    """A new campaign of ``version`` (which must be published), a draft unless
    ``launch``. ``subject`` is a Team, Vendor or User (or None). A webhook URL gets a
    new secret (``campaign.webhook_secret``).

    ``allow_past_close`` keeps the original open-link API: a closing time that has
    already passed then makes a link that is closed at once instead of an error.
    """
    require_admin(actor)
    if version is None or not version.is_published:
        raise ServiceError(_l("Publish the questionnaire before sharing it."))
    values = _clean(
        {
            "name": name,
            "audience": audience,
            "opens_at": opens_at,
            "closes_at": closes_at,
            "max_responses": max_responses,
            "subject": subject,
            "default_locale": default_locale,
            "anonymous": anonymous,
            "one_response_per_browser": one_response_per_browser,
            "hidden_fields": hidden_fields,
            "min_group_size": min_group_size,
            "max_reminders": max_reminders,
            "remind_days_before_close": remind_days_before_close,
            "webhook_url": webhook_url,
        },
        None,
    )
    if not allow_past_close:
        _refuse_past_close(values["closes_at"])
    url = values.pop("webhook_url")
    campaign = Campaign(
        version=version,
        public_slug=secrets.token_urlsafe(16),
        created_by_id=getattr(actor, "id", None),
        **values,
    )
    db.session.add(campaign)
    db.session.flush()
    audit.record(
        "campaign.create",
        campaign,
        actor=actor,
        details={"version": version.id, "name": campaign.name, "audience": campaign.audience},
    )
    if url:
        set_webhook(actor, campaign, url)
    if launch:
        _launch(actor, campaign, allow_past_close=allow_past_close)
    return campaign


def _refuse_past_close(closes_at: datetime | None, now: datetime | None = None) -> None:
    if closes_at is not None and closes_at <= (now or utcnow()):
        raise ServiceError(
            _l("This closing time has already passed: choose a later one."), field="closes_at"
        )


def update_campaign(actor, campaign: Campaign, **settings) -> Campaign:
    """Change settings of ``campaign`` (keyword names of :func:`create_campaign`).

    A draft may change everything but its questionnaire version. Once launched only
    the name, closing time, response cap, reminder settings, webhook and minimum group
    size may change (a setting given with its current value is accepted): a closing
    time that has passed closes the campaign now, a cap below the responses already
    completed is refused, and a campaign that reached its closing time stays closed.
    A changed webhook URL gets a new secret (see :func:`set_webhook`).
    """
    require_admin(actor)
    if "version" in settings or "version_id" in settings:
        raise ServiceError(
            _l("A campaign's questionnaire version cannot change: create a new campaign."),
            field="version",
        )
    unknown = set(settings) - SETTINGS
    if unknown:
        raise TypeError(f"unknown campaign settings: {', '.join(sorted(unknown))}")
    now = utcnow()
    launched = campaign.launched_at is not None
    if launched:
        for key in sorted(set(settings) - EDITABLE_WHEN_LAUNCHED):
            if _differs(campaign, key, settings[key]):
                raise ServiceError(
                    _l("This setting cannot change once the campaign is launched."), field=key
                )
            del settings[key]
    close_now = False
    if launched and "closes_at" in settings:
        new_close = _moment(settings["closes_at"], "closes_at")
        if new_close != campaign.closes_at:
            if is_closed(campaign, now) and not closed_by_hand(campaign):
                raise ServiceError(
                    _l("The campaign closed at its closing time; that can no longer change."),
                    field="closes_at",
                )
            if new_close is not None and new_close <= now:
                # "Close at a time that has passed" means "close now".
                close_now = True
                del settings["closes_at"]
    values = _clean(settings, campaign)
    if not launched and "closes_at" in values and values["closes_at"] != campaign.closes_at:
        _refuse_past_close(values["closes_at"], now)
    if launched and values.get("max_responses") is not None:
        done = services.completed_count(campaign)
        if values["max_responses"] < done:
            raise ServiceError(
                _l(
                    "%(n)d responses are already completed: the cap cannot be lower.",
                    n=done,
                ),
                field="max_responses",
            )
    if "audience" in values and values["audience"] != campaign.audience:
        has_invitations = db.session.scalar(
            select(Invitation.id).where(Invitation.campaign_id == campaign.id).limit(1)
        )
        if has_invitations:
            raise ServiceError(
                _l("This campaign has invitations: remove them before changing the audience."),
                field="audience",
            )
    url = values.pop("webhook_url", campaign.webhook_url)
    changes = _changes(campaign, values)
    for key, value in values.items():
        setattr(campaign, key, value)
    db.session.flush()
    if changes:
        audit.record("campaign.update", campaign, actor=actor, details=changes)
    if url != campaign.webhook_url:
        set_webhook(actor, campaign, url)
    if close_now:
        close_campaign(actor, campaign, reason="closing time in the past")
    return campaign


def _differs(campaign: Campaign, key: str, value) -> bool:
    """Whether ``value`` would change setting ``key`` (as normalised by :func:`_clean`)."""
    if key == "subject":
        return subject_kind(value) != subject_kind(campaign_subject(campaign)) or (
            value is not None and value.id != campaign_subject(campaign).id
        )
    try:
        cleaned = _clean({key: value}, None)[key]
    except ServiceError:
        return True
    return cleaned != getattr(campaign, key)


def _launch(actor, campaign: Campaign, *, allow_past_close: bool = False) -> None:
    closes_at = campaign.closes_at
    if not allow_past_close and closes_at is not None and closes_at <= utcnow():
        raise ServiceError(
            _l("The closing time has already passed: change it in the settings first."),
            field="closes_at",
        )
    campaign.launched_at = utcnow()
    db.session.flush()
    audit.record("campaign.launch", campaign, actor=actor)
    for hook in _launch_hooks:
        hook(campaign)
        db.session.flush()


def launch_campaign(actor, campaign: Campaign) -> Campaign:
    """Make a draft live: it opens at ``opens_at`` (at once if none)."""
    require_admin(actor)
    if campaign.launched_at is not None:
        raise ConflictError(_l("This campaign is already launched."))
    if not campaign.version.is_published:
        raise ServiceError(_l("Publish the questionnaire before sharing it."))
    _launch(actor, campaign)
    return campaign


def close_campaign(actor, campaign: Campaign, *, reason: str | None = None) -> Campaign:
    """Stop accepting answers now. Closing a closed campaign changes nothing."""
    require_admin(actor)
    if campaign.launched_at is None:
        raise ConflictError(_l("A draft is not open: there is nothing to close."))
    now = utcnow()
    if is_closed(campaign, now):
        return campaign
    campaign.closed_at = now
    db.session.flush()
    audit.record(
        "campaign.close", campaign, actor=actor, details={"reason": reason} if reason else None
    )
    return campaign


def reopen_campaign(actor, campaign: Campaign) -> Campaign:
    """Open again a campaign closed by hand before its closing time."""
    require_admin(actor)
    now = utcnow()
    if campaign.closed_at is None:
        raise ConflictError(_l("This campaign is not closed."))
    if not closed_by_hand(campaign):
        raise ConflictError(
            _l("This campaign closed at its closing time and cannot be reopened.")
        )
    if campaign.closes_at is not None and campaign.closes_at <= now:
        raise ConflictError(
            _l("Its closing time has passed since it was closed: it cannot be reopened.")
        )
    campaign.closed_at = None
    db.session.flush()
    audit.record("campaign.reopen", campaign, actor=actor)
    return campaign


def set_webhook(actor, campaign: Campaign, url: str | None) -> str | None:
    """Register ``url`` for "response completed" notifications with a new 32-byte
    signing secret, returned to show the admin once; ``None`` removes the webhook."""
    require_admin(actor)
    url = _webhook_url(url)
    if url is None:
        had = campaign.webhook_url is not None
        campaign.webhook_url = None
        campaign.webhook_secret = None
        db.session.flush()
        if had:
            audit.record("campaign.webhook_remove", campaign, actor=actor)
        return None
    secret = secrets.token_urlsafe(32)
    campaign.webhook_url = url
    campaign.webhook_secret = secret
    db.session.flush()
    audit.record("campaign.webhook", campaign, actor=actor, details={"url": url})
    return secret


@every_minute("surveys.close_due_campaigns")
def close_due_campaigns(now: datetime | None = None) -> int:
    """Record the automatic close of launched campaigns whose closing time has come
    (``closed_at = closes_at``). Idempotent; returns how many it closed."""
    now = now or utcnow()
    due = db.session.scalars(
        select(Campaign)
        .where(
            Campaign.launched_at.is_not(None),
            Campaign.closed_at.is_(None),
            Campaign.closes_at.is_not(None),
            Campaign.closes_at <= now,
        )
        .order_by(Campaign.id)
        .with_for_update(skip_locked=True)
    ).all()
    for campaign in due:
        campaign.closed_at = campaign.closes_at
        audit.record(
            "campaign.auto_close",
            campaign,
            details={"closes_at": campaign.closes_at.isoformat()},
        )
    db.session.flush()
    return len(due)


# ----------------------------------------------------------------- the public link


def public_url(campaign: Campaign) -> str:
    """The absolute public link: ``PUBLIC_BASE_URL`` if configured, else the host of
    the current request."""
    base = current_app.config.get("PUBLIC_BASE_URL")
    if base:
        path = current_app.url_map.bind("localhost").build(
            "respond.answer", {"slug": campaign.public_slug}
        )
        return base.rstrip("/") + path
    if not has_request_context():
        raise RuntimeError("set PUBLIC_BASE_URL to build links outside a web request")
    return url_for("respond.answer", slug=campaign.public_slug, _external=True)


# Bidirectional-text controls can make a value display differently from what it is.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")


def _clean_hidden_value(value: str) -> str:
    return "".join(
        c for c in value if unicodedata.category(c) != "Cc" and c not in _BIDI_CONTROLS
    ).strip()


def read_hidden_fields(campaign: Campaign, args) -> dict[str, str]:
    """The declared hidden fields found in ``args`` (a query string's MultiDict or a
    dict): control characters are stripped; a value longer than
    :data:`HIDDEN_FIELD_MAX_LENGTH` characters is refused (left out, never cut);
    names the campaign does not declare are ignored; fields past
    :data:`HIDDEN_FIELDS_MAX_BYTES` (as JSON, all together) are left out."""
    fields: dict[str, str] = {}
    size = 0
    for name in campaign.hidden_fields or ():
        raw = args.get(name)
        if raw is None:
            continue
        value = _clean_hidden_value(str(raw))
        if not value or len(value) > HIDDEN_FIELD_MAX_LENGTH:
            continue
        # They wait in the respondent's session cookie until the response exists:
        # keep them well below a cookie's 4 KB (Chinese text takes 6 bytes a character).
        size += len(json.dumps({name: value}))
        if size > HIDDEN_FIELDS_MAX_BYTES:
            break
        fields[name] = value
    return fields


def has_hidden_fields(campaign: Campaign, args) -> bool:
    """Whether the query string carries any of the campaign's declared fields."""
    return any(name in args for name in campaign.hidden_fields or ())


# ----------------------------------------------------------------- background jobs


def list_task_runs(
    actor, *, status: str | None = None, campaign_id: int | None = None
) -> Select:
    """Recorded background jobs, newest first."""
    require_admin(actor)
    query = select(TaskRun)
    if status:
        query = query.where(TaskRun.status == status)
    if campaign_id:
        query = query.where(TaskRun.campaign_id == campaign_id)
    return query.order_by(TaskRun.created_at.desc(), TaskRun.id.desc())


def get_task_run(actor, run_id: int) -> TaskRun:
    require_admin(actor)
    run = db.session.get(TaskRun, run_id)
    if run is None:
        raise NotFound(_l("No such job."))
    return run


def retry_failed_run(actor, run: TaskRun) -> TaskRun:
    """Queue a failed job again: a new run with the same arguments."""
    require_admin(actor)
    if run.status != TaskStatus.FAILED:
        raise ConflictError(_l("Only a job that failed can be run again."))
    new = retry_task_run(run)
    if getattr(actor, "id", None) is not None and new.created_by_id is None:
        new.created_by_id = actor.id
    db.session.flush()
    audit.record("task.retry", run, actor=actor, details={"name": run.name, "new_run": new.id})
    return new
