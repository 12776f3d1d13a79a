"""Questionnaires, their immutable published versions, open links and responses.

Answers are stored long-format: one :class:`Answer` row per answer (per matrix item,
per selected option, per ranked option), never one column per question.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    JSON,
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


class Campaign(db.Model):
    """A published version offered to respondents through a link, with a window and a cap."""

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    version_id: Mapped[int] = mapped_column(ForeignKey("questionnaire_versions.id"), index=True)
    public_slug: Mapped[str] = mapped_column(String(43), unique=True)
    opens_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closes_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    max_responses: Mapped[int | None] = mapped_column(Integer)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    version: Mapped[QuestionnaireVersion] = relationship()

    __table_args__ = (
        CheckConstraint("max_responses IS NULL OR max_responses > 0", name="max_responses"),
        CheckConstraint(
            "closes_at IS NULL OR opens_at IS NULL OR closes_at > opens_at", name="window"
        ),
    )


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
