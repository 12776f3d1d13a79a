"""JSON in and out for campaigns, invitations, progress, response status, results,
webhooks and erasure (marshmallow schemas for the API).

Schemas check shapes and document the API; the rules stay in the services
(:mod:`surveys.campaigns`, :mod:`surveys.invitations`, :mod:`surveys.results`,
:mod:`surveys.responses_admin`, :mod:`surveys.webhooks`).
"""

from __future__ import annotations

from marshmallow import INCLUDE, Schema, ValidationError, fields, validate

from surveys.campaigns import (
    HIDDEN_FIELD_MAX_LENGTH,
    MAX_GROUP_SIZE,
    MAX_HIDDEN_FIELDS,
    MAX_REMIND_DAYS,
    MAX_REMINDERS_LIMIT,
    MAX_RESPONSES_LIMIT,
    STATUSES,
    WEBHOOK_URL_MAX_LENGTH,
)
from surveys.definition import LOCALES
from surveys.responses_admin import MAX_REASON

AUDIENCES = ("public", "personal")
SUBJECT_TYPES = ("team", "vendor", "user")
SEND_STATUSES = ("pending", "queued", "sent", "failed", "opted_out")
MAX_INVITATION_ROWS = 5000


def _time(description: str, example: str | None, **kw) -> fields.AwareDateTime:
    return fields.AwareDateTime(
        metadata={"description": f"{description} ISO 8601 with a UTC offset; a time without "
                  "one is refused.", "example": example},
        **kw,
    )


# ----------------------------------------------------------------- campaigns


class SubjectSchema(Schema):
    type = fields.String(
        required=True, validate=validate.OneOf(SUBJECT_TYPES), metadata={"example": "vendor"}
    )
    id = fields.Integer(required=True, strict=True, metadata={"example": 4})
    name = fields.String(dump_only=True, metadata={"example": "Acme Outsourcing 艾克米外包"})

    class Meta:
        description = "What the answers are about: a team, a vendor or a person."


class CampaignSettingsSchema(Schema):
    """Settings that may change (send only those to change). Once a campaign is
    launched only `name`, `closes_at`, `max_responses`, `max_reminders`,
    `remind_days_before_close` and `min_group_size` may change."""

    name = fields.String(
        validate=validate.Length(min=1, max=200),
        metadata={"description": "Shown to admins only.", "example": "Helpdesk, March 2025"},
    )
    audience = fields.String(
        validate=validate.OneOf(AUDIENCES),
        metadata={"description": "`public`: one link (and QR code) for anyone; `personal`: "
                  "invitations with personal links.", "example": "personal"},
    )
    opens_at = _time("Answers are accepted from then on; null: from the launch.",
                     "2025-03-01T09:00:00+08:00", allow_none=True)
    closes_at = _time("The campaign closes automatically then; null: closed by hand.",
                      "2025-03-31T18:00:00+08:00", allow_none=True)
    max_responses = fields.Integer(
        strict=True, allow_none=True, validate=validate.Range(min=1, max=MAX_RESPONSES_LIMIT),
        metadata={"description": "Full after this many completed responses; null: no cap.",
                  "example": 500},
    )
    subject = fields.Nested(SubjectSchema, allow_none=True)
    default_locale = fields.String(
        allow_none=True, validate=validate.OneOf(LOCALES),
        metadata={"description": "Language of respondents whose own is unknown.",
                  "example": "zh_CN"},
    )
    anonymous = fields.Boolean(
        metadata={"description": "Responses are never linked to invitations (only "
                  "\"completed\" is recorded on the invitation), and no response times are "
                  "given out.", "example": False},
    )
    one_response_per_browser = fields.Boolean(metadata={"example": True})
    hidden_fields = fields.List(
        fields.String(validate=validate.Length(min=1, max=40)),
        validate=validate.Length(max=MAX_HIDDEN_FIELDS),
        metadata={"description": "Names of fields a public link may carry in its query "
                  f"string (values up to {HIDDEN_FIELD_MAX_LENGTH} characters), stored with "
                  "the response.", "example": ["ticket", "channel"]},
    )
    min_group_size = fields.Integer(
        strict=True, validate=validate.Range(min=1, max=MAX_GROUP_SIZE),
        metadata={"description": "Smallest group a results filter or a non-responder list "
                  "may show.", "example": 5},
    )
    max_reminders = fields.Integer(
        strict=True, validate=validate.Range(min=0, max=MAX_REMINDERS_LIMIT),
        metadata={"example": 2},
    )
    remind_days_before_close = fields.Integer(
        strict=True, allow_none=True, validate=validate.Range(min=1, max=MAX_REMIND_DAYS),
        metadata={"description": "Send a reminder automatically this many days before "
                  "`closes_at`; null: on demand only.", "example": 3},
    )


class CampaignCreateSchema(CampaignSettingsSchema):
    questionnaire_id = fields.Integer(required=True, strict=True, metadata={"example": 7})
    version = fields.Integer(
        strict=True,
        metadata={"description": "The published version to send; left out: the latest "
                  "published one.", "example": 2},
    )
    name = fields.String(
        required=True, validate=validate.Length(min=1, max=200),
        metadata={"description": "Shown to admins only.", "example": "Helpdesk, March 2025"},
    )
    webhook_url = fields.String(
        allow_none=True, validate=validate.Length(max=WEBHOOK_URL_MAX_LENGTH),
        metadata={"description": "Receives a signed POST for each completed response (see "
                  "`PUT /campaigns/{campaign_id}/webhook`). Its secret is in the answer, once.",
                  "example": "https://crm.example.com/hooks/orbit"},
    )
    launch = fields.Boolean(
        load_default=False,
        metadata={"description": "true: launch at once (personal invitations added later are "
                  "sent with `POST …/invitations/send`); false: a draft.", "example": False},
    )


class CampaignCountsSchema(Schema):
    completed = fields.Integer(metadata={"example": 42})
    in_progress = fields.Integer(metadata={"example": 3})


class CampaignSchema(Schema):
    """A campaign: a published questionnaire version sent to an audience, within a
    window. Every time is ISO 8601 with a UTC offset."""

    id = fields.Integer(metadata={"example": 12})
    name = fields.String(metadata={"example": "Helpdesk, March 2025"})
    questionnaire_id = fields.Integer(metadata={"example": 7})
    questionnaire_key = fields.String(metadata={"example": "customer-satisfaction"})
    version = fields.Integer(metadata={"description": "The version answered.", "example": 2})
    status = fields.String(
        metadata={"enum": list(STATUSES), "example": "open",
                  "description": "`draft` until launched, then `scheduled` (before "
                  "`opens_at`), `open`, `full` or `closed`."}
    )
    audience = fields.String(metadata={"enum": list(AUDIENCES), "example": "personal"})
    public_url = fields.String(
        metadata={"description": "The public link (public campaigns; personal campaigns are "
                  "answered through invitations).",
                  "example": "https://survey.example.com/s/Vq3yX0cXH2bW0d7mN1k9Zg"}
    )
    opens_at = fields.DateTime(allow_none=True, metadata={"example": "2025-03-01T01:00:00+00:00"})
    closes_at = fields.DateTime(
        allow_none=True, metadata={"example": "2025-03-31T10:00:00+00:00"}
    )
    launched_at = fields.DateTime(allow_none=True)
    closed_at = fields.DateTime(allow_none=True)
    max_responses = fields.Integer(allow_none=True, metadata={"example": 500})
    subject = fields.Nested(SubjectSchema, allow_none=True)
    default_locale = fields.String(allow_none=True, metadata={"example": "zh_CN"})
    anonymous = fields.Boolean()
    one_response_per_browser = fields.Boolean()
    hidden_fields = fields.List(fields.String(), metadata={"example": ["ticket"]})
    min_group_size = fields.Integer(metadata={"example": 5})
    max_reminders = fields.Integer(metadata={"example": 2})
    remind_days_before_close = fields.Integer(allow_none=True, metadata={"example": 3})
    webhook_url = fields.String(
        allow_none=True, metadata={"example": "https://crm.example.com/hooks/orbit"}
    )
    counts = fields.Nested(
        CampaignCountsSchema, metadata={"description": "Responses (deleted ones not counted)."}
    )
    created_at = fields.DateTime()


class CampaignCreatedSchema(CampaignSchema):
    webhook_secret = fields.String(
        metadata={"description": "Only when `webhook_url` was given, and only in this answer: "
                  "the secret that signs the webhook's requests.",
                  "example": "pX3m…"}
    )


class CampaignQuerySchema(Schema):
    status = fields.String(validate=validate.OneOf(STATUSES))
    questionnaire_id = fields.Integer()
    q = fields.String(metadata={"description": "Part of the name or the questionnaire key."})


# ----------------------------------------------------------------- webhook


class WebhookSetSchema(Schema):
    url = fields.String(
        required=True, validate=validate.Length(min=1, max=WEBHOOK_URL_MAX_LENGTH),
        metadata={"description": "An http:// or https:// address.",
                  "example": "https://crm.example.com/hooks/orbit"},
    )


class WebhookSchema(Schema):
    url = fields.String(metadata={"example": "https://crm.example.com/hooks/orbit"})
    secret = fields.String(
        metadata={"description": "Signs every request (`X-Orbit-Signature`). Shown only "
                  "now: keep it in your receiver. Setting the webhook again makes a new one.",
                  "example": "pX3mQ9…"}
    )


class DeliverySchema(Schema):
    id = fields.Integer(metadata={"example": 301})
    event = fields.String(metadata={"example": "response.completed"})
    response_id = fields.Integer(allow_none=True, metadata={"example": 901})
    status = fields.String(metadata={"enum": ["pending", "delivered", "failed"],
                                     "example": "delivered"})
    attempts = fields.Integer(metadata={"example": 1})
    last_status_code = fields.Integer(allow_none=True, metadata={"example": 200})
    last_error = fields.String(allow_none=True)
    created_at = fields.DateTime(allow_none=True)
    delivered_at = fields.DateTime(allow_none=True)


# ----------------------------------------------------------------- invitations


def _row_errors(messages, rows) -> dict[str, list[str]]:
    """Marshmallow's ``{index: {field: [messages]}}`` as ``{"row N": ["field: message"]}``,
    the shape the service's row errors have."""
    errors: dict[str, list[str]] = {}
    if not isinstance(messages, dict):
        return {"(body)": [str(m) for m in messages]}
    for index, problems in messages.items():
        where = f"row {int(index) + 1}" if str(index).isdigit() else str(index)
        items = problems.items() if isinstance(problems, dict) else [("", problems)]
        for name, texts in items:
            for text in texts if isinstance(texts, list) else [texts]:
                errors.setdefault(where, []).append(f"{name}: {text}" if name else str(text))
    return errors


class InvitationRowSchema(Schema):
    email = fields.String(required=True, metadata={"example": "li.na@example.com"})
    name = fields.String(allow_none=True, metadata={"example": "李娜 Li Na"})
    locale = fields.String(
        allow_none=True,
        metadata={"description": "`en` or `zh_CN` (English, 中文… are understood too); null: "
                  "the campaign's language.", "example": "zh_CN"},
    )
    custom_fields = fields.Dict(
        keys=fields.String(), values=fields.String(), data_key="fields", attribute="fields",
        metadata={"description": "Custom fields, used to filter results and group the "
                  "dashboard (e.g. region).", "example": {"region": "East 华东"}},
    )

    def handle_error(self, error: ValidationError, data, *, many: bool, **kwargs):
        raise ValidationError(_row_errors(error.messages, data))


class InvitationSchema(Schema):
    id = fields.Integer(metadata={"example": 55})
    email = fields.String(metadata={"example": "li.na@example.com"})
    name = fields.String(allow_none=True, metadata={"example": "李娜 Li Na"})
    locale = fields.String(allow_none=True, metadata={"example": "zh_CN"})
    custom_fields = fields.Dict(
        data_key="fields", attribute="fields", metadata={"example": {"region": "East 华东"}}
    )
    send_status = fields.String(metadata={"enum": list(SEND_STATUSES), "example": "sent"})
    send_attempts = fields.Integer(metadata={"example": 1})
    last_error = fields.String(allow_none=True)
    sent_at = fields.DateTime(allow_none=True)
    reminders_sent = fields.Integer(metadata={"example": 0})
    last_reminded_at = fields.DateTime(allow_none=True)
    revoked_at = fields.DateTime(allow_none=True)
    opted_out_at = fields.DateTime(allow_none=True)
    opened_at = fields.DateTime(allow_none=True)
    started_at = fields.DateTime(allow_none=True)
    completed_at = fields.DateTime(
        allow_none=True,
        metadata={"description": "In an anonymous campaign with fewer completed invitations "
                  "than its minimum group size, `opened_at`, `started_at` and `completed_at` "
                  "are always null (who answered would tell whose answers are shown)."},
    )
    created_at = fields.DateTime()


class InvitationQuerySchema(Schema):
    send_status = fields.String(validate=validate.OneOf(SEND_STATUSES))
    revoked = fields.Boolean()


class SendIdsSchema(Schema):
    invitation_ids = fields.List(
        fields.Integer(strict=True), allow_none=True,
        metadata={"description": "Only these invitations; left out: everyone not sent one "
                  "yet.", "example": [55, 56]},
    )


class QueuedSchema(Schema):
    queued = fields.Integer(metadata={"description": "Emails queued for sending.",
                                      "example": 120})


class ReissuedSchema(Schema):
    invitation = fields.Nested(InvitationSchema)
    link = fields.String(
        metadata={"description": "The new personal link. Shown only now; the old link no "
                  "longer works.", "example": "https://survey.example.com/i/3q…"}
    )


# ----------------------------------------------------------------- progress


class TimelineDaySchema(Schema):
    date = fields.String(metadata={"example": "2025-03-02"})
    completed = fields.Integer(metadata={"example": 12})
    cumulative = fields.Integer(metadata={"example": 40})


class GroupRowSchema(Schema):
    name = fields.String(allow_none=True, metadata={"example": "East 华东"})
    invited = fields.Integer(allow_none=True, metadata={"example": 20})
    completed = fields.Integer(metadata={"example": 15})
    rate = fields.Float(allow_none=True, metadata={"example": 0.75})
    groups = fields.Integer(metadata={"description": "In `other`: how many groups it merges."})


class BreakdownSchema(Schema):
    kind = fields.String(metadata={"enum": ["team", "field"]})
    field = fields.String(allow_none=True, metadata={"example": "region"})
    groups = fields.List(fields.Nested(GroupRowSchema))
    other = fields.Nested(
        GroupRowSchema, allow_none=True,
        metadata={"description": "Groups merged: too small to show alone in an anonymous "
                  "campaign, or beyond the 30 largest."},
    )
    hidden_groups = fields.Integer(
        metadata={"description": "Groups not shown at all (together still too small)."}
    )


class NonResponderSchema(Schema):
    invitation_id = fields.Integer()
    name = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    team = fields.String(allow_none=True)
    send_status = fields.String()
    opened = fields.Boolean()
    started = fields.Boolean()
    reminders_sent = fields.Integer()
    last_reminded_at = fields.String(allow_none=True)


class NonRespondersSchema(Schema):
    shown = fields.Boolean()
    reason = fields.String(allow_none=True, metadata={"example": None})
    total = fields.Integer(allow_none=True)
    people = fields.List(fields.Nested(NonResponderSchema))


class ProgressSchema(Schema):
    """How the campaign is going (the dashboard's figures). Personal campaigns have the
    invitation figures; public ones `cap` and `cap_share`."""

    campaign_id = fields.Integer()
    audience = fields.String(metadata={"enum": list(AUDIENCES)})
    anonymous = fields.Boolean()
    min_group_size = fields.Integer()
    time_zone = fields.String(
        metadata={"description": "The zone days are counted in (`tz`).", "example": "UTC"}
    )
    completed = fields.Integer(
        metadata={"description": "Completed responses (not deleted).", "example": 42}
    )
    partial = fields.Integer(metadata={"description": "Started, not submitted.", "example": 5})
    timeline = fields.List(fields.Nested(TimelineDaySchema))
    invited = fields.Integer()
    invitations_completed = fields.Integer()
    revoked = fields.Integer()
    emails = fields.Dict(keys=fields.String(), values=fields.Integer(),
                         metadata={"example": {"sent": 100, "failed": 2, "opted_out": 1}})
    opened = fields.Integer()
    started = fields.Integer()
    response_rate = fields.Float(allow_none=True, metadata={"example": 0.42})
    breakdowns = fields.List(fields.Nested(BreakdownSchema))
    non_responders = fields.Nested(NonRespondersSchema)
    cap = fields.Integer(allow_none=True)
    cap_share = fields.Float(allow_none=True)


class ProgressQuerySchema(Schema):
    tz = fields.String(
        metadata={"description": "IANA time zone for the timeline's days (default: the "
                  "server's).", "example": "Asia/Shanghai"}
    )


# ----------------------------------------------------------------- responses


class ResponseStatusSchema(Schema):
    id = fields.Integer(metadata={"example": 901})
    status = fields.String(metadata={"enum": ["completed", "in_progress"]})
    version = fields.Integer(metadata={"example": 2})
    locale = fields.String(allow_none=True, metadata={"example": "zh_CN"})
    custom_fields = fields.Dict(
        allow_none=True, data_key="fields", attribute="fields",
        metadata={"description": "Hidden fields of the link and custom fields of the "
                  "invitation.", "example": {"ticket": "T-88"}},
    )
    started_at = fields.DateTime(
        allow_none=True, metadata={"description": "Null in anonymous campaigns."}
    )
    submitted_at = fields.DateTime(
        allow_none=True,
        metadata={"description": "Null until submitted, and always in anonymous campaigns."},
    )
    invitation_id = fields.Integer(
        allow_none=True,
        metadata={"description": "The invitation answered; null for public links and always "
                  "in anonymous campaigns."},
    )
    deleted_at = fields.DateTime(allow_none=True)


class ResponseQuerySchema(Schema):
    status = fields.String(validate=validate.OneOf(("completed", "in_progress")))
    deleted = fields.Boolean(
        load_default=False,
        metadata={"description": "true: only the deleted responses (restorable)."},
    )


class DeleteQuerySchema(Schema):
    reason = fields.String(
        required=True, validate=validate.Length(min=1, max=MAX_REASON),
        metadata={"description": "Why (kept in the audit trail).", "example": "duplicate"},
    )


# ----------------------------------------------------------------- results


class ResultsQuerySchema(Schema):
    date_from = fields.Date(
        data_key="from",
        metadata={"description": "First day (YYYY-MM-DD, in `tz`) of submissions counted."},
    )
    date_to = fields.Date(
        data_key="to",
        metadata={"description": "Last day (YYYY-MM-DD, in `tz`) of submissions counted."},
    )
    tz = fields.String(metadata={"example": "Asia/Shanghai"})

    class Meta:
        unknown = INCLUDE  # field.<name>=value filters


class ResultsSchema(Schema):
    campaign_id = fields.Integer()
    responses = fields.Integer(metadata={"description": "Completed responses matching the "
                                         "filters.", "example": 120})
    total_responses = fields.Integer(metadata={"example": 310})
    few_responses = fields.Boolean()
    few_responses_below = fields.Integer()
    min_group_size = fields.Integer()
    confidence = fields.Float(metadata={"example": 0.95})
    filters = fields.Dict()
    versions = fields.List(fields.Integer())
    questions = fields.List(
        fields.Dict(),
        metadata={"description": "One summary per question: `key`, `type`, `text`, `n`, "
                  "`few_responses` and the figures of its type (counts and shares of choices; "
                  "distribution, mean and 95 % interval of scales; CSAT / NPS / CES; words of "
                  "free text) — see *Results* in the documentation."},
    )


# ----------------------------------------------------------------- erasure


class ErasureRequestSchema(Schema):
    email = fields.String(
        validate=validate.Length(min=1, max=254),
        metadata={"description": "Every invitation sent to this address.",
                  "example": "li.na@example.com"},
    )
    token = fields.String(
        validate=validate.Length(min=1, max=2000),
        metadata={"description": "A personal link (or its token): its invitation, and every "
                  "invitation to the same address."},
    )


class ErasureReportSchema(Schema):
    invitations = fields.Integer(metadata={"example": 2})
    campaigns = fields.Integer(metadata={"example": 2})
    responses = fields.Integer(
        metadata={"description": "Responses deleted for good.", "example": 1}
    )
    anonymous_invitations = fields.Integer(
        metadata={"description": "Invitations of anonymous campaigns: their responses were "
                  "never linked, so they stay (identifying no one).", "example": 1}
    )
    email_messages = fields.Integer(metadata={"example": 3})
    webhook_deliveries = fields.Integer(metadata={"example": 1})
    outbox_files = fields.Integer(metadata={"example": 0})
    opted_out = fields.Boolean(
        metadata={"description": "The address was added to the opt-out list (as a hash)."}
    )
