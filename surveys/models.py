"""Questionnaires, their immutable published versions, open links and responses.

Answers are stored long-format: one :class:`Answer` row per answer (per matrix item,
per selected option, per ranked option), never one column per question.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    event,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.database import UTCDateTime, utcnow
from core.extensions import db


class VersionStatus(enum.StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"


class ResponseStatus(enum.StrEnum):
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"


class Questionnaire(db.Model):
    __tablename__ = "questionnaires"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    versions: Mapped[list[QuestionnaireVersion]] = relationship(
        back_populates="questionnaire",
        order_by="QuestionnaireVersion.number",
        cascade="all, delete-orphan",
    )

    @property
    def draft(self) -> QuestionnaireVersion | None:
        return next((v for v in self.versions if v.status == VersionStatus.DRAFT), None)

    @property
    def latest_published(self) -> QuestionnaireVersion | None:
        published = [v for v in self.versions if v.status == VersionStatus.PUBLISHED]
        return published[-1] if published else None

    @property
    def current(self) -> QuestionnaireVersion:
        """The draft if there is one, else the latest published version."""
        return self.draft or self.latest_published or self.versions[-1]


class QuestionnaireVersion(db.Model):
    """One version of a questionnaire. Once published its document never changes."""

    __tablename__ = "questionnaire_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    questionnaire_id: Mapped[int] = mapped_column(ForeignKey("questionnaires.id"))
    number: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default=VersionStatus.DRAFT.value)
    document: Mapped[dict] = mapped_column(JSON)
    document_sha256: Mapped[str | None] = mapped_column(String(64))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    questionnaire: Mapped[Questionnaire] = relationship(back_populates="versions")

    __table_args__ = (
        UniqueConstraint("questionnaire_id", "number", name="uq_questionnaire_versions_number"),
        CheckConstraint("status IN ('draft', 'published')", name="status"),
        # At most one draft per questionnaire.
        Index(
            "uq_questionnaire_versions_one_draft",
            "questionnaire_id",
            unique=True,
            sqlite_where=db.text("status = 'draft'"),
            postgresql_where=db.text("status = 'draft'"),
        ),
    )

    @property
    def is_published(self) -> bool:
        return self.status == VersionStatus.PUBLISHED


@event.listens_for(QuestionnaireVersion, "before_update")
def _published_versions_are_immutable(mapper, connection, target):
    from sqlalchemy import inspect

    state = inspect(target)
    status_history = state.attrs.status.history
    was_published = (
        status_history.deleted and status_history.deleted[0] == VersionStatus.PUBLISHED
    ) or (not status_history.has_changes() and target.status == VersionStatus.PUBLISHED)
    if was_published and (
        state.attrs.document.history.has_changes() or status_history.has_changes()
    ):
        raise ValueError("a published questionnaire version cannot be changed")


class CampaignAudience(enum.StrEnum):
    PUBLIC = "public"  # one open link (and QR code) for anyone
    PERSONAL = "personal"  # invitations with personal token links


class Campaign(db.Model):
    """A published version sent to an audience through a public link or personal
    invitations, within a window, optionally capped and about a subject.

    States (see :func:`surveys.services.campaign_state`): ``draft`` until launched,
    then ``scheduled`` before ``opens_at``, ``open``, and ``closed`` once closed by
    hand, by the automatic close at ``closes_at``, or full.
    """

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    version_id: Mapped[int] = mapped_column(ForeignKey("questionnaire_versions.id"), index=True)
    public_slug: Mapped[str] = mapped_column(String(43), unique=True)
    audience: Mapped[str] = mapped_column(String(16), default=CampaignAudience.PUBLIC.value)
    opens_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closes_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    max_responses: Mapped[int | None] = mapped_column(Integer)
    # None while a draft; set when the admin launches it.
    launched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # What the answers are about (at most one).
    subject_team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), index=True)
    subject_vendor_id: Mapped[int | None] = mapped_column(ForeignKey("vendors.id"), index=True)
    subject_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    default_locale: Mapped[str | None] = mapped_column(String(10))
    # Anonymous: no link from a response to its invitation (only "completed").
    anonymous: Mapped[bool] = mapped_column(Boolean, default=False)
    one_response_per_browser: Mapped[bool] = mapped_column(Boolean, default=True)
    # Names of hidden fields accepted from the public link's query string.
    hidden_fields: Mapped[list] = mapped_column(JSON, default=list)
    # Smallest group a results filter or a non-responder list may show.
    min_group_size: Mapped[int] = mapped_column(Integer, default=5)
    max_reminders: Mapped[int] = mapped_column(Integer, default=2)
    # Automatic reminder this many days before closes_at (None: on demand only).
    remind_days_before_close: Mapped[int | None] = mapped_column(Integer)
    # {"invitation"|"reminder": {"en"|"zh_CN": {"subject": ..., "body": ...}}}; None: defaults.
    email_templates: Mapped[dict | None] = mapped_column(JSON)
    webhook_url: Mapped[str | None] = mapped_column(String(500))
    webhook_secret: Mapped[str | None] = mapped_column(String(128))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    version: Mapped[QuestionnaireVersion] = relationship()

    __table_args__ = (
        CheckConstraint("max_responses IS NULL OR max_responses > 0", name="max_responses"),
        CheckConstraint(
            "closes_at IS NULL OR opens_at IS NULL OR closes_at > opens_at", name="window"
        ),
        CheckConstraint("audience IN ('public', 'personal')", name="audience"),
        CheckConstraint(
            "(CASE WHEN subject_team_id IS NULL THEN 0 ELSE 1 END)"
            " + (CASE WHEN subject_vendor_id IS NULL THEN 0 ELSE 1 END)"
            " + (CASE WHEN subject_user_id IS NULL THEN 0 ELSE 1 END) <= 1",
            name="one_subject",
        ),
        CheckConstraint("min_group_size >= 1", name="min_group_size"),
        CheckConstraint("max_reminders >= 0", name="max_reminders"),
    )

    @property
    def is_personal(self) -> bool:
        return self.audience == CampaignAudience.PERSONAL


class SendStatus(enum.StrEnum):
    PENDING = "pending"  # not sent yet (or not queued)
    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"  # retries exhausted; last_error says why
    OPTED_OUT = "opted_out"  # the address unsubscribed; nothing is sent


class Invitation(db.Model):
    """One person invited to a personal-link campaign.

    The link's token is never stored: ``token_hash`` is its SHA-256. The token is
    derived from ``token_nonce`` with the server's secret key (HMAC), so reminders can
    carry the same link without the database ever holding it.
    """

    __tablename__ = "invitations"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    email: Mapped[str | None] = mapped_column(String(254))  # None once erased
    name: Mapped[str | None] = mapped_column(String(200))
    locale: Mapped[str | None] = mapped_column(String(10))
    # Custom fields from the upload (e.g. {"region": "East"}), used by filters.
    fields: Mapped[dict] = mapped_column(JSON, default=dict)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id"), index=True)
    token_nonce: Mapped[str | None] = mapped_column(String(64))
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    token_issued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    send_status: Mapped[str] = mapped_column(String(16), default=SendStatus.PENDING.value)
    send_attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reminders_sent: Mapped[int] = mapped_column(Integer, default=0)
    last_reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    opted_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    campaign: Mapped[Campaign] = relationship()

    __table_args__ = (
        UniqueConstraint("campaign_id", "email", name="uq_invitations_email"),
        CheckConstraint(
            "send_status IN ('pending', 'queued', 'sent', 'failed', 'opted_out')",
            name="send_status",
        ),
        Index("ix_invitations_campaign_completed", "campaign_id", "completed_at"),
    )


class EmailOptOut(db.Model):
    """An address that asked not to receive survey emails (stored as a SHA-256 of the
    lower-cased address)."""

    __tablename__ = "email_opt_outs"

    id: Mapped[int] = mapped_column(primary_key=True)
    email_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class EmailMessage(db.Model):
    """A record of one email sent (or attempted). The body is not kept: it holds a
    personal link."""

    __tablename__ = "email_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"), index=True)
    invitation_id: Mapped[int | None] = mapped_column(
        ForeignKey("invitations.id", ondelete="SET NULL"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))  # invitation, reminder, test
    to_address: Mapped[str | None] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(16))  # sent, failed
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookDelivery(db.Model):
    """One "response completed" notification to a campaign's webhook, retried."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    response_id: Mapped[int | None] = mapped_column(
        ForeignKey("responses.id", ondelete="SET NULL")
    )
    event: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending/delivered/failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Response(db.Model):
    """One respondent's answers to one version, partial until submitted."""

    __tablename__ = "responses"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"), index=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("questionnaire_versions.id"), index=True)
    # SHA-256 of the respondent's resume token (kept in their browser), never the token.
    resume_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    # Client-chosen key making API submissions idempotent.
    idempotency_key: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16), default=ResponseStatus.IN_PROGRESS.value)
    current_page: Mapped[str | None] = mapped_column(String(64))
    locale: Mapped[str | None] = mapped_column(String(10))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_saved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    deleted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # The invitation answered (never set in anonymous campaigns).
    invitation_id: Mapped[int | None] = mapped_column(
        ForeignKey("invitations.id", ondelete="SET NULL"), index=True
    )
    # Validated hidden fields of the link and the invitation's custom fields.
    fields: Mapped[dict | None] = mapped_column(JSON)

    version: Mapped[QuestionnaireVersion] = relationship()
    campaign: Mapped[Campaign | None] = relationship()
    answers: Mapped[list[Answer]] = relationship(
        back_populates="response", cascade="all, delete-orphan", order_by="Answer.id"
    )
    page_times: Mapped[list[ResponsePageTime]] = relationship(
        back_populates="response", cascade="all, delete-orphan"
    )

    __table_args__ = (
        CheckConstraint("status IN ('in_progress', 'completed')", name="status"),
        UniqueConstraint("campaign_id", "idempotency_key", name="uq_responses_idempotency"),
        Index("ix_responses_campaign_status", "campaign_id", "status"),
        Index("ix_responses_campaign_submitted", "campaign_id", "submitted_at"),
    )

    @property
    def is_completed(self) -> bool:
        return self.status == ResponseStatus.COMPLETED


class Answer(db.Model):
    __tablename__ = "answers"

    id: Mapped[int] = mapped_column(primary_key=True)
    response_id: Mapped[int] = mapped_column(ForeignKey("responses.id", ondelete="CASCADE"))
    question_key: Mapped[str] = mapped_column(String(64))
    item_key: Mapped[str] = mapped_column(String(64), default="")
    value_num: Mapped[float | None] = mapped_column(Float)
    value_text: Mapped[str | None] = mapped_column(Text)

    response: Mapped[Response] = relationship(back_populates="answers")

    __table_args__ = (
        UniqueConstraint("response_id", "question_key", "item_key", name="uq_answers_item"),
        Index("ix_answers_question", "question_key"),
    )


class ResponsePageTime(db.Model):
    """Seconds a respondent spent on a page (summed over visits), for speeding checks."""

    __tablename__ = "response_page_times"

    id: Mapped[int] = mapped_column(primary_key=True)
    response_id: Mapped[int] = mapped_column(ForeignKey("responses.id", ondelete="CASCADE"))
    page_key: Mapped[str] = mapped_column(String(64))
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    visits: Mapped[int] = mapped_column(Integer, default=0)

    response: Mapped[Response] = relationship(back_populates="page_times")

    __table_args__ = (
        UniqueConstraint("response_id", "page_key", name="uq_response_page_times_page"),
    )
