"""Questionnaires, versions, open links and the respondent flow.

Services validate, change objects and flush; routes and API endpoints commit once.
"""

from __future__ import annotations

import copy
import hashlib
import json
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.attributes import set_committed_value

from core.database import utcnow
from core.exceptions import CapacityReached, ConflictError, NotFound, ServiceError
from core.extensions import db
from core.i18n import lazy_gettext as _l
from core.i18n import lazy_ngettext
from org import audit
from org.services import require_admin
from surveys import definition as qdef
from surveys.models import (
    Answer,
    Campaign,
    Questionnaire,
    QuestionnaireVersion,
    Response,
    ResponsePageTime,
    ResponseStatus,
    VersionStatus,
)

LIBRARY = Path(__file__).resolve().parent / "library"


def document_sha256(document: dict) -> str:
    canonical = json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# ----------------------------------------------------------------- questionnaires


def list_questionnaires(actor, *, include_archived: bool = False):
    require_admin(actor)
    query = select(Questionnaire).order_by(Questionnaire.created_at.desc(), Questionnaire.id)
    if not include_archived:
        query = query.where(Questionnaire.archived_at.is_(None))
    return query


def get_questionnaire(actor, questionnaire_id: int) -> Questionnaire:
    require_admin(actor)
    questionnaire = db.session.get(Questionnaire, questionnaire_id)
    if questionnaire is None:
        raise NotFound(_l("No such questionnaire."))
    return questionnaire


def get_questionnaire_by_key(actor, key: str) -> Questionnaire:
    require_admin(actor)
    questionnaire = db.session.scalar(select(Questionnaire).where(Questionnaire.key == key))
    if questionnaire is None:
        raise NotFound(_l("No such questionnaire."))
    return questionnaire


def get_version(actor, version_id: int) -> QuestionnaireVersion:
    require_admin(actor)
    version = db.session.get(QuestionnaireVersion, version_id)
    if version is None:
        raise NotFound(_l("No such questionnaire version."))
    return version


def _problems_error(exc: qdef.DefinitionError) -> ServiceError:
    errors: dict[str, list[str]] = {}
    for problem in exc.problems:
        errors.setdefault(problem.path or "(document)", []).append(str(problem.message))
    return ServiceError(
        lazy_ngettext(
            "The questionnaire has %(num)d problem.",
            "The questionnaire has %(num)d problems.",
            len(exc.problems),
        ),
        errors=errors,
    )


def _checked(document: dict) -> qdef.Questionnaire:
    try:
        return qdef.validate_document(document)
    except qdef.DefinitionError as exc:
        raise _problems_error(exc) from None


def _new_version(questionnaire: Questionnaire, document: dict, actor) -> QuestionnaireVersion:
    number = (
        db.session.scalar(
            select(func.max(QuestionnaireVersion.number)).where(
                QuestionnaireVersion.questionnaire_id == questionnaire.id
            )
        )
        or 0
    ) + 1
    version = QuestionnaireVersion(
        questionnaire=questionnaire,
        number=number,
        status=VersionStatus.DRAFT.value,
        document=copy.deepcopy(document),
        created_by_id=getattr(actor, "id", None),
    )
    db.session.add(version)
    db.session.flush()
    return version


def create_questionnaire(actor, document: dict) -> Questionnaire:
    """A new questionnaire whose first draft is ``document`` (validated)."""
    require_admin(actor)
    parsed = _checked(document)
    if db.session.scalar(select(Questionnaire.id).where(Questionnaire.key == parsed.key)):
        raise ServiceError(
            _l("A questionnaire with the key “%(key)s” already exists.", key=parsed.key),
            field="key",
        )
    questionnaire = Questionnaire(key=parsed.key, created_by_id=getattr(actor, "id", None))
    db.session.add(questionnaire)
    db.session.flush()
    _new_version(questionnaire, parsed.to_document(), actor)
    audit.record("questionnaire.create", questionnaire, actor=actor, details={"key": parsed.key})
    return questionnaire


def create_blank(actor, *, key: str, title: dict) -> Questionnaire:
    """A new questionnaire with an empty first page, to fill in with the builder.

    The draft is not publishable until it has a question (publishing validates it).
    """
    require_admin(actor)
    if db.session.scalar(select(Questionnaire.id).where(Questionnaire.key == key)):
        raise ServiceError(
            _l("A questionnaire with the key “%(key)s” already exists.", key=key), field="key"
        )
    document = {
        "format": "orbit.questionnaire/1",
        "key": key,
        "title": title,
        "pages": [
            {"key": "page-1", "title": {"en": "Page 1", "zh_CN": "第 1 页"}, "questions": []}
        ],
    }
    questionnaire = Questionnaire(key=key, created_by_id=getattr(actor, "id", None))
    db.session.add(questionnaire)
    db.session.flush()
    _new_version(questionnaire, document, actor)
    audit.record("questionnaire.create", questionnaire, actor=actor, details={"key": key})
    return questionnaire


def import_questionnaire(actor, text: str | bytes, fmt: str) -> tuple[Questionnaire, bool]:
    """Import a YAML/JSON document: a new questionnaire, or a new draft of the
    questionnaire with the same key (published versions are never touched).

    Returns ``(questionnaire, created)``; nothing is written when the file has a problem.
    """
    require_admin(actor)
    try:
        document = qdef.parse_document(text, fmt)
    except qdef.DefinitionError as exc:
        raise _problems_error(exc) from None
    parsed = _checked(document)
    existing = db.session.scalar(select(Questionnaire).where(Questionnaire.key == parsed.key))
    if existing is None:
        return create_questionnaire(actor, document), True
    save_draft(actor, existing, parsed.to_document(), validate=True)
    audit.record("questionnaire.import", existing, actor=actor, details={"key": parsed.key})
    return existing, False


def export_version(version: QuestionnaireVersion, fmt: str) -> str:
    return qdef.dump_document(version.document, fmt)


def library_templates() -> list[dict]:
    """The bundled templates: key, title and the document."""
    templates = []
    for path in sorted(LIBRARY.glob("*.yaml")):
        document = qdef.parse_document(path.read_text(encoding="utf-8"), "yaml")
        templates.append({"key": path.stem, "document": document})
    return templates


def create_from_template(actor, template_key: str) -> Questionnaire:
    """Copy a library template into a new questionnaire (a fresh key if taken)."""
    require_admin(actor)
    path = LIBRARY / f"{template_key}.yaml"
    if not template_key.replace("-", "").replace("_", "").isalnum() or not path.exists():
        raise NotFound(_l("No such template."))
    document = qdef.parse_document(path.read_text(encoding="utf-8"), "yaml")
    base, n = document["key"], 1
    while db.session.scalar(select(Questionnaire.id).where(Questionnaire.key == document["key"])):
        n += 1
        document["key"] = f"{base}-{n}"
    return create_questionnaire(actor, document)


def ensure_draft(actor, questionnaire: Questionnaire) -> QuestionnaireVersion:
    """The questionnaire's draft, creating one from the latest published version."""
    require_admin(actor)
    draft = questionnaire.draft
    if draft is not None:
        return draft
    source = questionnaire.latest_published
    version = _new_version(questionnaire, source.document, actor)
    db.session.refresh(questionnaire)
    audit.record(
        "questionnaire.new_draft", questionnaire, actor=actor, details={"number": version.number}
    )
    return version


def save_draft(actor, questionnaire: Questionnaire, document: dict, *, validate: bool = False):
    """Replace the draft's document (a draft may hold problems; publishing refuses them).

    The questionnaire key cannot change: answers and exports refer to it.
    """
    require_admin(actor)
    if validate:
        document = _checked(document).to_document()
    if document.get("key") != questionnaire.key:
        raise ServiceError(_l("The questionnaire key cannot be changed."), field="key")
    draft = ensure_draft(actor, questionnaire)
    draft.document = copy.deepcopy(document)
    db.session.flush()
    return draft


def draft_problems(version: QuestionnaireVersion) -> list[qdef.DefinitionProblem]:
    try:
        qdef.validate_document(version.document)
    except qdef.DefinitionError as exc:
        return list(exc.problems)
    return []


def publish(actor, questionnaire: Questionnaire) -> QuestionnaireVersion:
    """Freeze the draft as a published version; it can never change again."""
    require_admin(actor)
    draft = questionnaire.draft
    if draft is None:
        raise ConflictError(_l("There is no draft to publish."))
    parsed = _checked(draft.document)
    draft.document = parsed.to_document()
    draft.document_sha256 = document_sha256(draft.document)
    draft.status = VersionStatus.PUBLISHED.value
    draft.published_at = utcnow()
    draft.published_by_id = getattr(actor, "id", None)
    db.session.flush()
    audit.record(
        "questionnaire.publish", questionnaire, actor=actor, details={"number": draft.number}
    )
    return draft


def archive(actor, questionnaire: Questionnaire) -> None:
    require_admin(actor)
    questionnaire.archived_at = utcnow()
    db.session.flush()
    audit.record("questionnaire.archive", questionnaire, actor=actor)


# Validated definitions by document SHA-256, shared by the requests of a process:
# checking a document against the JSON Schema costs far more than the rest of a
# respondent's request (about 80 ms for 30 questions), and a published document never
# changes (``_published_versions_are_immutable``; its hash is set on publishing).
DEFINITIONS_CACHED = 256
_definitions: OrderedDict[str, qdef.Questionnaire] = OrderedDict()
_definitions_lock = threading.Lock()


def parsed_version(version: QuestionnaireVersion) -> qdef.Questionnaire:
    """The validated definition of a version, cached per process by document hash
    (least recently used dropped first): validating a document is costly, and a
    published one never changes."""
    digest = version.document_sha256 if version.is_published else None
    digest = digest or document_sha256(version.document)
    with _definitions_lock:
        parsed = _definitions.get(digest)
        if parsed is not None:
            _definitions.move_to_end(digest)
            return parsed
    parsed = qdef.validate_document(version.document)
    with _definitions_lock:
        _definitions[digest] = parsed
        while len(_definitions) > DEFINITIONS_CACHED:
            _definitions.popitem(last=False)
    return parsed


# ----------------------------------------------------------------- open links


def create_campaign(actor, version: QuestionnaireVersion, *, name: str, **settings) -> Campaign:
    """An open link, launched at once (the original API; see
    :func:`surveys.campaigns.create_campaign` for drafts and every setting). A closing
    time that has already passed makes a link that is closed from the start."""
    from surveys import campaigns

    settings.setdefault("launch", True)
    settings.setdefault("allow_past_close", True)
    return campaigns.create_campaign(actor, version, name=name, **settings)


def get_campaign(actor, campaign_id: int) -> Campaign:
    require_admin(actor)
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound(_l("No such link."))
    return campaign


def close_campaign(actor, campaign: Campaign) -> None:
    """Stop accepting answers now (see :func:`surveys.campaigns.close_campaign`)."""
    from surveys import campaigns

    campaigns.close_campaign(actor, campaign)


def find_campaign(slug: str) -> Campaign | None:
    """The campaign with its version, in one query (the version's document is loaded
    only when :func:`parsed_version` does not have its definition yet)."""
    if not slug or len(slug) > 43:
        return None
    return db.session.scalar(
        select(Campaign)
        .where(Campaign.public_slug == slug)
        .options(joinedload(Campaign.version).defer(QuestionnaireVersion.document))
    )


def completed_count(campaign: Campaign) -> int:
    return db.session.scalar(
        select(func.count())
        .select_from(Response)
        .where(
            Response.campaign_id == campaign.id,
            Response.status == ResponseStatus.COMPLETED,
            Response.deleted_at.is_(None),
        )
    )


def campaign_state(campaign: Campaign, now: datetime | None = None) -> str:
    """``open``, ``not_open_yet`` (a draft or a scheduled campaign), ``closed`` or
    ``full`` — what a respondent is told: the admin's
    :func:`surveys.campaigns.campaign_status` with draft and scheduled merged."""
    from surveys.campaigns import campaign_status

    status = campaign_status(campaign, now)
    return "not_open_yet" if status in ("draft", "scheduled") else status


def may_show_response_status(campaign: Campaign, completed: int) -> bool:
    """Whether per-person "has (not) responded" may be shown for a group of invitees
    in which ``completed`` people have finished.

    In an anonymous campaign a list of who has not answered also tells who has; with
    fewer than ``min_group_size`` respondents in the group, that would tie the
    group's answers to a handful of named people — so the list is hidden. Campaigns
    that are not anonymous show it always.
    """
    return not campaign.anonymous or completed >= campaign.min_group_size


# ----------------------------------------------------------------- responses

# Called with each response the moment it is completed, in the submitting
# transaction (invitation bookkeeping, webhooks). Register with @on_completed.
_completion_hooks: list = []


def on_completed(func):
    """Register ``func(response)`` to run (and flush) when a response is completed."""
    if func not in _completion_hooks:
        _completion_hooks.append(func)
    return func


def _completed(response: Response) -> None:
    for hook in _completion_hooks:
        hook(response)


# Called with each new response and the invitation it answers (None for a public
# link), before anything else sees the response. Register with @on_started.
_start_hooks: list = []


def on_started(func):
    """Register ``func(response, invitation)`` to run (and flush) when a response is
    created."""
    if func not in _start_hooks:
        _start_hooks.append(func)
    return func


def _started(response: Response, invitation) -> None:
    for hook in _start_hooks:
        hook(response, invitation)


@dataclass
class SubmitResult:
    response: Response
    already_submitted: bool


def find_response(campaign: Campaign, resume_token: str | None) -> Response | None:
    if not resume_token or len(resume_token) > 100:
        return None
    return db.session.scalar(
        select(Response).where(
            Response.campaign_id == campaign.id,
            Response.resume_token_hash == token_hash(resume_token),
            Response.deleted_at.is_(None),
        )
    )


def start_response(
    campaign: Campaign,
    *,
    locale: str | None,
    token: str | None = None,
    fields: dict | None = None,
    invitation=None,
) -> tuple[Response, str]:
    """A new partial response and the resume token to keep in the respondent's browser
    (``token`` if given: the one chosen when the form was shown).

    ``fields``: validated hidden fields of the link; ``invitation``: the personal
    invitation being answered (its bookkeeping is done by the start hooks).
    """
    token = token or secrets.token_urlsafe(32)
    response = Response(
        campaign=campaign,
        version_id=campaign.version_id,
        resume_token_hash=token_hash(token),
        status=ResponseStatus.IN_PROGRESS.value,
        locale=locale,
        fields=dict(fields) if fields else None,
    )
    db.session.add(response)
    db.session.flush()
    _started(response, invitation)
    return response, token


def load_answers(response: Response) -> dict:
    """The response's answers in the definition engine's representation."""
    return load_answers_of([response])[response.id]


def load_answers_of(responses: list[Response]) -> dict[int, dict]:
    """Answers of several responses in one query, by response id."""
    rows: dict[int, dict[str, list[tuple[str, float | None, str | None]]]] = {
        r.id: {} for r in responses
    }
    if rows:
        for response_id, key, item, num, text in db.session.execute(
            select(
                Answer.response_id,
                Answer.question_key,
                Answer.item_key,
                Answer.value_num,
                Answer.value_text,
            )
            .where(Answer.response_id.in_(list(rows)))
            .order_by(Answer.id)
        ):
            rows[response_id].setdefault(key, []).append((item, num, text))
    result = {}
    for response in responses:
        definition = parsed_version(response.version)
        answers = {}
        for key, question_rows in rows[response.id].items():
            question = definition.question(key)
            if question is not None:
                answers[key] = qdef.rows_to_answer(question, question_rows)
        result[response.id] = answers
    return result


def _answer_rows(response_id: int, definition, answers: dict, keys) -> list[dict]:
    """Long-format rows (one per answer, matrix item, selected or ranked option)."""
    return [
        {
            "response_id": response_id,
            "question_key": key,
            "item_key": item_key,
            "value_num": value_num,
            "value_text": value_text,
        }
        for key in keys
        if answers.get(key) is not None
        for item_key, value_num, value_text in qdef.answer_to_rows(
            definition.question(key), answers[key]
        )
    ]


def _write_answers(response: Response, keys: list[str], answers: dict) -> None:
    """Replace the stored answers of questions ``keys`` with ``answers``."""
    if keys:
        db.session.execute(
            delete(Answer).where(Answer.response_id == response.id, Answer.question_key.in_(keys))
        )
    rows = _answer_rows(response.id, parsed_version(response.version), answers, keys)
    if rows:
        db.session.execute(Answer.__table__.insert(), rows)


def _clamp_seconds(seconds: float) -> float:
    return max(0.0, min(float(seconds), 6 * 3600.0))  # ignore absurd clocks


def _record_time(response: Response, page_key: str, seconds: float | None) -> None:
    if seconds is None:
        return
    seconds = _clamp_seconds(seconds)
    row = db.session.scalar(
        select(ResponsePageTime).where(
            ResponsePageTime.response_id == response.id, ResponsePageTime.page_key == page_key
        )
    )
    if row is None:
        db.session.add(
            ResponsePageTime(response=response, page_key=page_key, seconds=seconds, visits=1)
        )
    else:
        row.seconds += seconds
        row.visits += 1


def _store_page(
    response: Response, page_key: str, page_answers: dict, stored: dict | None
) -> dict:
    """Replace the page's stored answers with ``page_answers`` (which may also hold
    answers to other pages' questions), drop answers of
    questions that these answers now hide, and return all answers kept.

    ``stored`` are the response's answers before this page, if the caller has
    them already (saves loading them again).
    """
    definition = parsed_version(response.version)
    page = definition.page(page_key)
    answers = dict(load_answers(response) if stored is None else stored)
    answers.update(page_answers)
    for question in page.questions:
        if question.key not in page_answers:
            answers.pop(question.key, None)
    kept = qdef.prune_hidden(definition, answers)
    # The page's questions, any other question given (the API sends a whole
    # response at once), and answers now hidden.
    keys = {q.key for q in page.questions} | set(page_answers)
    keys |= {key for key in answers if key not in kept}
    _write_answers(response, sorted(keys), kept)
    return kept


def save_page(
    response: Response,
    page_key: str,
    page_answers: dict,
    *,
    next_page: str | None,
    seconds: float | None = None,
    stored: dict | None = None,
) -> None:
    """Store a page's answers (replacing earlier ones), drop answers of questions that
    are now hidden, and move the respondent to ``next_page``."""
    if response.is_completed:
        raise ConflictError(_l("This response has already been submitted."))
    _store_page(response, page_key, page_answers, stored)
    _record_time(response, page_key, seconds)
    response.current_page = next_page or page_key
    response.last_saved_at = utcnow()
    db.session.flush()


def _refuse_beyond_cap(campaign: Campaign | None) -> None:
    """Called after this transaction has written its completed response: refuse it if
    the link's cap is now exceeded.

    On SQLite the write lock is already held (writes are serialised); on PostgreSQL the
    campaign row is locked so that concurrent submits count one after the other.
    """
    if campaign is None or not campaign.max_responses:
        return
    db.session.execute(
        select(Campaign.id).where(Campaign.id == campaign.id).with_for_update()
    )
    if completed_count(campaign) > campaign.max_responses:
        raise CapacityReached(_l("This survey has all the answers it needs."))


def submit_new_response(
    campaign: Campaign,
    page_key: str,
    page_answers: dict,
    *,
    locale: str | None,
    token: str | None = None,
    seconds: float | None = None,
    fields: dict | None = None,
    invitation=None,
) -> tuple[Response, str]:
    """Start and complete a response in one step: the respondent's first save is the
    final submit (a one-page survey). The checks are those of :func:`submit_response`
    for a response without saved answers; they all run before the first write, and
    the writes are three INSERTs, so a SQLite write lock is held only briefly.

    ``fields`` and ``invitation`` as for :func:`start_response`.

    Returns the response and its resume token (``token`` if given). Of two calls with
    the same token (a double click) one stores the response; the other fails on the
    unique token hash (``IntegrityError``).
    """
    definition = parsed_version(campaign.version)
    kept = qdef.prune_hidden(definition, page_answers)
    problems = qdef.unanswered_required(definition, kept, locale or "en")
    if problems:
        raise ServiceError(_l("Some required questions are not answered yet."), errors=problems)
    token = token or secrets.token_urlsafe(32)
    now = utcnow()
    response = Response(
        campaign_id=campaign.id,
        version_id=campaign.version_id,
        resume_token_hash=token_hash(token),
        status=ResponseStatus.COMPLETED.value,
        locale=locale,
        started_at=now,
        last_saved_at=now,
        submitted_at=now,
        fields=dict(fields) if fields else None,
    )
    db.session.add(response)
    if seconds is not None:
        db.session.add(
            ResponsePageTime(
                response=response, page_key=page_key, seconds=_clamp_seconds(seconds), visits=1
            )
        )
    db.session.flush()
    _started(response, invitation)
    _refuse_beyond_cap(campaign)
    rows = _answer_rows(response.id, definition, kept, list(kept))
    if rows:
        db.session.execute(Answer.__table__.insert(), rows)
    _completed(response)
    return response, token


def submit_response(
    response: Response,
    page_key: str,
    page_answers: dict,
    *,
    seconds: float | None = None,
    locale: str | None = None,
    stored: dict | None = None,
) -> SubmitResult:
    """Save the last page and complete the response — exactly once.

    The status flips with a conditional UPDATE, so of two concurrent submits of the
    same response only one completes it; the other learns it was already submitted.
    """
    now = utcnow()
    claimed = db.session.execute(
        update(Response)
        .where(Response.id == response.id, Response.status == ResponseStatus.IN_PROGRESS)
        .values(status=ResponseStatus.COMPLETED.value, submitted_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed != 1:
        db.session.refresh(response)
        return SubmitResult(response, already_submitted=True)
    set_committed_value(response, "status", ResponseStatus.COMPLETED.value)
    set_committed_value(response, "submitted_at", now)
    definition = parsed_version(response.version)
    kept = _store_page(response, page_key, page_answers, stored)
    problems = qdef.unanswered_required(definition, kept, locale or "en")
    if problems:
        raise ServiceError(_l("Some required questions are not answered yet."), errors=problems)
    _refuse_beyond_cap(response.campaign)
    _record_time(response, page_key, seconds)
    response.current_page = None
    response.last_saved_at = now
    db.session.flush()
    _completed(response)
    return SubmitResult(response, already_submitted=False)
