"""JSON API under ``/api/v1`` for questionnaires, open links and responses.

Built like :mod:`org.api` and with its building blocks (:class:`org.api.ApiBlueprint`:
API-key authentication, read scope for GET and write scope for everything else, one
transaction per request, service errors as the one JSON error shape, pagination).
Endpoints are thin: they call :mod:`surveys.services`, exactly like the HTML pages,
and answers are checked by :mod:`surveys.definition`, exactly like the respondent's
form. ``org`` imports nothing from ``surveys``, so the app factory registers these
blueprints with :func:`register_survey_api`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC
from typing import Any

from flask import Response as HttpResponse
from flask import request, url_for
from flask_babel import gettext as _
from flask_smorest.error_handler import ErrorSchema
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import UnsupportedMediaType

from core.exceptions import ConflictError, NotFound, ServiceError
from core.extensions import db
from core.i18n import current_language, lazy_ngettext
from core.i18n import lazy_gettext as _l
from org.api import (
    MAX_PAGE_SIZE,
    PAGE_SIZE,
    ApiBlueprint,
    current_actor,
    page_items,
    register_api_blueprint,
)
from surveys import definition as qdef
from surveys import services
from surveys.models import Campaign, Questionnaire, QuestionnaireVersion, ResponseStatus
from surveys.models import Response as SurveyResponse
from surveys.schemas import (
    EXAMPLE_DOCUMENT,
    EXAMPLE_PROBLEMS,
    DraftSchema,
    ExportQuerySchema,
    LinkCreateSchema,
    LinkSchema,
    QuestionnaireDocumentSchema,
    QuestionnaireQuerySchema,
    QuestionnaireSchema,
    ResponseSchema,
    ResponseSubmitSchema,
    VersionSchema,
)

EXPORT_TYPES = {"yaml": "application/yaml", "json": "application/json"}
IMPORT_TYPES = {
    "application/yaml": "yaml",
    "application/x-yaml": "yaml",
    "text/yaml": "yaml",
    "text/x-yaml": "yaml",
    "application/json": "json",
}

questionnaires = ApiBlueprint(
    "questionnaires",
    __name__,
    url_prefix="/api/v1/questionnaires",
    description="Questionnaires: documents, drafts, published versions, import and export.",
)
links = ApiBlueprint(
    "links",
    __name__,
    url_prefix="/api/v1/links",
    description="Open links: a published version offered to respondents at a public URL.",
)
responses = ApiBlueprint(
    "responses",
    __name__,
    url_prefix="/api/v1/links",
    description="Responses collected through a link, and submitting responses collected "
    "elsewhere.",
)

API_BLUEPRINTS = (questionnaires, links, responses)

_DOCUMENT_BODY = {
    "required": True,
    "description": "The questionnaire document, as JSON.",
    "content": {
        "application/json": {"schema": QuestionnaireDocumentSchema, "example": EXAMPLE_DOCUMENT}
    },
}
_PROBLEMS_400 = {
    "description": "The document has problems: `errors` maps each path to its messages; "
    "nothing was written.",
    "content": {
        "application/json": {
            "schema": ErrorSchema,
            "example": {
                "code": 400,
                "status": "Bad Request",
                "message": "The questionnaire has 2 problems.",
                "errors": EXAMPLE_PROBLEMS,
            },
        }
    },
}


# ----------------------------------------------------------------- helpers


def _problems_by_path(problems) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for problem in problems:
        grouped.setdefault(problem.path or "(document)", []).append(str(problem.message))
    return grouped


def _document_from_body() -> dict:
    """The JSON document in the request body, read by the definition engine (so a key
    written twice, NaN or a file over 1 MB are refused like in an imported file)."""
    if request.mimetype != "application/json":
        raise UnsupportedMediaType(
            description=_("Send the document as JSON (Content-Type: application/json).")
        )
    try:
        return qdef.parse_document(request.get_data(), "json")
    except qdef.DefinitionError as exc:
        raise ServiceError(
            lazy_ngettext(
                "The questionnaire has %(num)d problem.",
                "The questionnaire has %(num)d problems.",
                len(exc.problems),
            ),
            errors=_problems_by_path(exc.problems),
        ) from None


def _questionnaire(questionnaire_id: int) -> Questionnaire:
    return services.get_questionnaire(current_actor(), questionnaire_id)


def _version(questionnaire: Questionnaire, number: int) -> QuestionnaireVersion:
    version = next((v for v in questionnaire.versions if v.number == number), None)
    if version is None:
        raise NotFound(_l("No such questionnaire version."))
    return version


def _draft_view(draft: QuestionnaireVersion) -> dict:
    view = {
        name: getattr(draft, name)
        for name in ("number", "status", "document_sha256", "created_at", "published_at",
                     "document")
    }
    view["problems"] = _problems_by_path(services.draft_problems(draft))
    return view


def _link(link_id: int) -> Campaign:
    return services.get_campaign(current_actor(), link_id)


def _link_view(campaign: Campaign) -> dict:
    counts = dict(
        db.session.execute(
            select(SurveyResponse.status, func.count())
            .where(SurveyResponse.campaign_id == campaign.id, SurveyResponse.deleted_at.is_(None))
            .group_by(SurveyResponse.status)
        ).all()
    )
    return {
        "id": campaign.id,
        "name": campaign.name,
        "questionnaire_id": campaign.version.questionnaire_id,
        "version": campaign.version.number,
        "slug": campaign.public_slug,
        "url": url_for("respond.answer", slug=campaign.public_slug, _external=True),
        "state": services.campaign_state(campaign),
        "opens_at": campaign.opens_at,
        "closes_at": campaign.closes_at,
        "max_responses": campaign.max_responses,
        "closed_at": campaign.closed_at,
        "created_at": campaign.created_at,
        "counts": {
            "completed": counts.get(ResponseStatus.COMPLETED.value, 0),
            "in_progress": counts.get(ResponseStatus.IN_PROGRESS.value, 0),
        },
    }


def _response_view(response: SurveyResponse, answers: dict | None = None) -> dict:
    return {
        "id": response.id,
        "link_id": response.campaign_id,
        "version": response.version.number,
        "status": response.status,
        "locale": response.locale,
        "idempotency_key": response.idempotency_key,
        "started_at": response.started_at,
        "submitted_at": response.submitted_at,
        "answers": services.load_answers(response) if answers is None else answers,
    }


# ----------------------------------------------------------------- answers


_BROKEN_TEXT = re.compile("[\x00\ud800-\udfff]")


def _text_ok(value: Any) -> bool:
    return isinstance(value, str) and not _BROKEN_TEXT.search(value)


def _point_field(value: Any) -> str | None:
    """A scale answer as the form sends it, or ``None`` when it is not a whole number or
    ``"na"`` (whether the scale has that point is for :func:`qdef.read_page` to say)."""
    if value == qdef.NA:
        return qdef.NA
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return None


def _form_fields(question: qdef.Question, value: Any) -> tuple[list[tuple[str, str]], Any]:
    """``(form fields, None)`` for an answer of the documented JSON type, else
    ``([], message)``. The fields are what the respondent's browser would send."""
    name, kind = f"q-{question.key}", question.type
    if question.is_scale and kind != "matrix":
        point = _point_field(value)
        if point is None:
            return [], _l("Give a point of the scale (a whole number), or “na”.")
        return [(name, point)], None
    if kind == "matrix":
        if not isinstance(value, Mapping):
            return [], _l("Give an object: each row's key and its point of the scale.")
        pairs = []
        for item, point in value.items():
            if question.item(item) is None:
                return [], _l("The matrix has no row “%(item)s”.", item=item)
            if point is None:
                continue
            field = _point_field(point)
            if field is None:
                return [], _l("Give a point of the scale (a whole number), or “na”, for "
                              "each row.")
            pairs.append((f"{name}-{item}", field))
        return pairs, None
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return [], _l("Give a number.")
        return [(name, str(value))], None
    if kind in ("multiple_choice", "ranking"):
        if not isinstance(value, list) or not all(_text_ok(v) for v in value):
            return [], _l("Give a list of option values.")
        if kind == "multiple_choice":
            return [(name, v) for v in value], None
        if value and (
            len(set(value)) != len(value) or any(question.option(v) is None for v in value)
        ):
            return [], _l("List each option of this question once, from first to last.")
        return [(f"{name}-{v}", str(rank)) for rank, v in enumerate(value, start=1)], None
    if not _text_ok(value):  # choices, texts and dates are text
        if isinstance(value, str):
            return [], _l("Text cannot contain NUL characters or broken Unicode.")
        return [], _l("Give text.")
    return [(name, value)], None


def read_answers(
    definition: qdef.Questionnaire, answers: Mapping[str, Any], locale: str
) -> tuple[qdef.Answers, dict[str, list]]:
    """Check a whole response given as ``Answers`` (see :mod:`surveys.definition`), page by
    page with :func:`qdef.read_page`, exactly as the respondent's form is checked.

    Returns ``(answers, errors)``: the valid answers of the questions shown (hidden
    questions' answers are dropped) and the messages by question key. Keys that are not
    questions are errors; so are answers of the wrong JSON type, unless the question is
    hidden. ``null`` means unanswered.
    """
    errors: dict[str, list] = {}
    wrong_type: dict[str, list] = {}
    form: MultiDict = MultiDict()
    for key, value in answers.items():
        question = definition.question(key)
        if question is None:
            errors[key] = [_l("There is no question “%(key)s” in this questionnaire.", key=key)]
        elif not question.answerable:
            errors[key] = [_l("“%(key)s” is a text block; it takes no answer.", key=key)]
        elif value is not None:
            fields, problem = _form_fields(question, value)
            if problem is None:
                for field, text in fields:
                    form.add(field, text)
            else:
                wrong_type[key] = [problem]
    kept: qdef.Answers = {}
    for page in definition.pages:
        page_answers, page_errors = qdef.read_page(page, form, kept, locale)
        for question in qdef.visible_questions(page, {**kept, **page_answers}):
            if question.key in wrong_type:
                # Not passed on to the page, so it may be reported as missing: say why.
                for item in question.items:
                    page_errors.pop(f"{question.key}-{item.key}", None)
                page_errors[question.key] = wrong_type[question.key]
        errors.update(page_errors)
        kept.update(page_answers)
    return kept, errors


def _closed_message(state: str, campaign: Campaign):
    if state == "not_open_yet":
        return _l("This link is not open yet: it opens at %(when)s.",
                  when=campaign.opens_at.isoformat())
    if state == "full":
        return _l("This link has all the responses it accepts (%(n)d).",
                  n=campaign.max_responses)
    return _l("This link is closed: it accepts no more responses.")


def _submitted(campaign: Campaign, idempotency_key: str) -> SurveyResponse | None:
    """The response already stored for the link with this idempotency key."""
    return db.session.scalar(
        select(SurveyResponse).where(
            SurveyResponse.campaign_id == campaign.id,
            SurveyResponse.idempotency_key == idempotency_key,
        )
    )


def _replayed(response: SurveyResponse):
    if response.deleted_at is not None:
        raise ConflictError(
            _l("The response sent with this idempotency key has been deleted."),
            field="idempotency_key",
        )
    return _response_view(response), 200


# ----------------------------------------------------------------- questionnaires


@questionnaires.route("", methods=["GET"], endpoint="list")
@questionnaires.doc(operationId="list_questionnaires")
@questionnaires.arguments(QuestionnaireQuerySchema, location="query")
@questionnaires.response(200, QuestionnaireSchema(many=True))
@questionnaires.paginate(page_size=PAGE_SIZE, max_page_size=MAX_PAGE_SIZE)
def list_questionnaires(query, pagination_parameters):
    """List questionnaires

    Newest first. Archived questionnaires only with `include_archived=true`.
    """
    search = services.list_questionnaires(
        current_actor(), include_archived=query["include_archived"]
    ).options(selectinload(Questionnaire.versions))
    return page_items(search, pagination_parameters)


@questionnaires.route("", methods=["POST"], endpoint="create")
@questionnaires.doc(
    operationId="create_questionnaire",
    requestBody=_DOCUMENT_BODY,
    responses={400: _PROBLEMS_400, 415: "UNSUPPORTED_MEDIA_TYPE"},
)
@questionnaires.response(201, QuestionnaireSchema)
def create_questionnaire():
    """Create a questionnaire

    The body is a questionnaire document (JSON); it becomes the draft of a new
    questionnaire (version 1), to publish with `POST /questionnaires/{id}/publish`.
    The key must not be in use. An invalid document is refused whole, with every
    problem and its path.
    """
    questionnaire = services.create_questionnaire(current_actor(), _document_from_body())
    return questionnaire, {
        "Location": url_for("questionnaires.get", questionnaire_id=questionnaire.id)
    }


@questionnaires.route("/import", methods=["POST"], endpoint="import")
@questionnaires.doc(
    operationId="import_questionnaire",
    requestBody={
        "required": True,
        "description": "The file's text: YAML (`Content-Type: application/yaml` or "
        "`text/yaml`) or JSON (`application/json`), UTF-8, at most 1 MB.",
        "content": {
            "application/yaml": {
                "schema": {"type": "string"},
                "example": qdef.dump_document(EXAMPLE_DOCUMENT, "yaml"),
            },
            "text/yaml": {"schema": {"type": "string"}},
            "application/json": {"schema": QuestionnaireDocumentSchema},
        },
    },
    responses={
        200: {"description": "A new draft of the questionnaire with the same key.",
              "content": {"application/json": {"schema": QuestionnaireSchema}}},
        400: _PROBLEMS_400,
        415: "UNSUPPORTED_MEDIA_TYPE",
    },
)
@questionnaires.response(201, QuestionnaireSchema, description="A new questionnaire.")
def import_questionnaire():
    """Import a questionnaire file

    Send the YAML or JSON file as the request body, as exported. A new key makes a new
    questionnaire (201); the key of an existing questionnaire makes its new draft (200;
    published versions never change). All or nothing: a file with a problem is refused
    whole, with every problem and its path.
    """
    fmt = IMPORT_TYPES.get(request.mimetype)
    if fmt is None:
        raise UnsupportedMediaType(
            description=_("Send the file as application/yaml, text/yaml or application/json.")
        )
    questionnaire, created = services.import_questionnaire(
        current_actor(), request.get_data(), fmt
    )
    location = url_for("questionnaires.get", questionnaire_id=questionnaire.id)
    return questionnaire, 201 if created else 200, {"Location": location}


@questionnaires.route("/schema", methods=["GET"], endpoint="schema")
@questionnaires.doc(
    operationId="get_questionnaire_schema",
    responses={200: {"description": "The JSON Schema (draft 2020-12) of the document.",
                     "content": {"application/schema+json": {"schema": {"type": "object"}}}}},
)
def questionnaire_schema():
    """Get the JSON Schema of questionnaire documents

    Orbit checks further rules after the schema (unique keys, known dimensions,
    conditions on earlier questions…); see *Questionnaire format*.
    """
    body = qdef.SCHEMA_PATH.read_text(encoding="utf-8")
    return HttpResponse(body, mimetype="application/schema+json")


@questionnaires.route("/<int:questionnaire_id>", methods=["GET"], endpoint="get")
@questionnaires.doc(operationId="get_questionnaire")
@questionnaires.response(200, QuestionnaireSchema)
@questionnaires.alt_response(404, response="NOT_FOUND")
def get_questionnaire(questionnaire_id):
    """Get a questionnaire and its versions"""
    return _questionnaire(questionnaire_id)


@questionnaires.route("/<int:questionnaire_id>", methods=["DELETE"], endpoint="archive")
@questionnaires.doc(operationId="archive_questionnaire")
@questionnaires.response(204)
@questionnaires.alt_response(404, response="NOT_FOUND")
def archive_questionnaire(questionnaire_id):
    """Archive a questionnaire

    Nothing is deleted: versions, links and responses are kept, and the questionnaire
    can still be read by id; it leaves the list (see `include_archived`). Archiving
    twice changes nothing.
    """
    questionnaire = _questionnaire(questionnaire_id)
    if questionnaire.archived_at is None:
        services.archive(current_actor(), questionnaire)


@questionnaires.route("/<int:questionnaire_id>/draft", methods=["GET"], endpoint="draft")
@questionnaires.doc(operationId="get_draft")
@questionnaires.response(200, DraftSchema)
@questionnaires.alt_response(404, response="NOT_FOUND", description="No such questionnaire, "
                             "or it has no draft.")
def get_draft(questionnaire_id):
    """Get the draft

    The draft's document and what must be fixed before it can be published.
    """
    draft = _questionnaire(questionnaire_id).draft
    if draft is None:
        raise NotFound(_l("This questionnaire has no draft."))
    return _draft_view(draft)


@questionnaires.route("/<int:questionnaire_id>/draft", methods=["PUT"], endpoint="save_draft")
@questionnaires.doc(
    operationId="save_draft",
    requestBody=_DOCUMENT_BODY,
    responses={400: _PROBLEMS_400, 415: "UNSUPPORTED_MEDIA_TYPE"},
)
@questionnaires.response(200, DraftSchema)
@questionnaires.alt_response(404, response="NOT_FOUND")
def save_draft(questionnaire_id):
    """Replace the draft

    The body is the whole new document (JSON); its `key` must stay the questionnaire's.
    Without a draft, one is made first (the next version number): published versions
    never change. An invalid document is refused whole, with every problem and its path.
    """
    questionnaire = _questionnaire(questionnaire_id)
    document = _document_from_body()
    draft = services.save_draft(current_actor(), questionnaire, document, validate=True)
    return _draft_view(draft)


@questionnaires.route("/<int:questionnaire_id>/publish", methods=["POST"], endpoint="publish")
@questionnaires.doc(operationId="publish_questionnaire", responses={400: _PROBLEMS_400})
@questionnaires.response(200, VersionSchema)
@questionnaires.alt_response(404, response="NOT_FOUND")
@questionnaires.alt_response(409, response="CONFLICT", description="There is no draft.")
def publish(questionnaire_id):
    """Publish the draft

    The draft becomes a published version, which never changes again; links and
    responses refer to it. A draft with problems is refused (400, by path).
    """
    return services.publish(current_actor(), _questionnaire(questionnaire_id))


@questionnaires.route(
    "/<int:questionnaire_id>/versions/<int:number>", methods=["GET"], endpoint="version"
)
@questionnaires.doc(operationId="get_questionnaire_version")
@questionnaires.response(200, VersionSchema)
@questionnaires.alt_response(404, response="NOT_FOUND")
def get_version(questionnaire_id, number):
    """Get a version with its document"""
    return _version(_questionnaire(questionnaire_id), number)


@questionnaires.route(
    "/<int:questionnaire_id>/versions/<int:number>/export", methods=["GET"], endpoint="export"
)
@questionnaires.doc(
    operationId="export_questionnaire_version",
    responses={
        200: {
            "description": "The document as a file: YAML or JSON (UTF-8).",
            "content": {
                "application/yaml": {"schema": {"type": "string"}},
                "application/json": {"schema": QuestionnaireDocumentSchema},
            },
        },
        404: "NOT_FOUND",
    },
)
@questionnaires.arguments(ExportQuerySchema, location="query")
def export_version(query, questionnaire_id, number):
    """Export a version as YAML or JSON

    Importing the file gives back exactly the same document.
    """
    questionnaire = _questionnaire(questionnaire_id)
    version = _version(questionnaire, number)
    fmt = query["format"]
    filename = f"{questionnaire.key}-v{version.number}.{fmt}"
    return HttpResponse(
        services.export_version(version, fmt),
        mimetype=EXPORT_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


# ----------------------------------------------------------------- links


@questionnaires.route("/<int:questionnaire_id>/links", methods=["POST"], endpoint="create_link")
@questionnaires.doc(operationId="create_link")
@questionnaires.arguments(LinkCreateSchema)
@questionnaires.response(201, LinkSchema)
@questionnaires.alt_response(404, response="NOT_FOUND")
def create_link(data, questionnaire_id):
    """Create an open link

    Offers the latest published version at a public URL (no login), from `opens_at`
    until `closes_at` or until it has `max_responses` completed responses. Times are
    ISO 8601 with a UTC offset; times without one are refused.
    """
    questionnaire = _questionnaire(questionnaire_id)
    version = questionnaire.latest_published or questionnaire.current  # the service refuses drafts
    for name in ("opens_at", "closes_at"):
        if data.get(name) is not None:
            data[name] = data[name].astimezone(UTC)  # as stored, and shown back
    campaign = services.create_campaign(current_actor(), version, **data)
    return _link_view(campaign), {"Location": url_for("links.get", link_id=campaign.id)}


@links.route("/<int:link_id>", methods=["GET"], endpoint="get")
@links.doc(operationId="get_link")
@links.response(200, LinkSchema)
@links.alt_response(404, response="NOT_FOUND")
def get_link(link_id):
    """Get a link, its state and response counts"""
    return _link_view(_link(link_id))


@links.route("/<int:link_id>/close", methods=["POST"], endpoint="close")
@links.doc(operationId="close_link")
@links.response(200, LinkSchema)
@links.alt_response(404, response="NOT_FOUND")
def close_link(link_id):
    """Close a link

    It accepts no more responses, from the browser or the API. Closing twice changes
    nothing.
    """
    campaign = _link(link_id)
    services.close_campaign(current_actor(), campaign)
    return _link_view(campaign)


# ----------------------------------------------------------------- responses


@responses.route("/<int:link_id>/responses", methods=["GET"], endpoint="list")
@responses.doc(operationId="list_responses")
@responses.response(200, ResponseSchema(many=True))
@responses.paginate(page_size=PAGE_SIZE, max_page_size=MAX_PAGE_SIZE)
@responses.alt_response(404, response="NOT_FOUND")
def list_responses(pagination_parameters, link_id):
    """List a link's completed responses

    In the order they were submitted, with their answers. Responses still in progress
    and deleted responses are left out.
    """
    campaign = _link(link_id)
    query = (
        select(SurveyResponse)
        .where(
            SurveyResponse.campaign_id == campaign.id,
            SurveyResponse.status == ResponseStatus.COMPLETED.value,
            SurveyResponse.deleted_at.is_(None),
        )
        .order_by(SurveyResponse.submitted_at, SurveyResponse.id)
    )
    page = list(page_items(query, pagination_parameters))
    answers = services.load_answers_of(page)
    return [_response_view(r, answers[r.id]) for r in page]


@responses.route("/<slug>/responses", methods=["POST"], endpoint="submit")
@responses.doc(
    operationId="submit_response",
    responses={
        400: {"description": "Some answers are missing or not valid: `errors` maps question "
              "keys to messages. Nothing was stored.",
              "content": {"application/json": {"schema": ErrorSchema, "example": {
                  "code": 400, "status": "Bad Request",
                  "message": "Some answers are missing or not valid.",
                  "errors": {"csat": ["Choose an answer."],
                             "channel": ["Choose one of the options shown."]}}}}},
    },
)
@responses.arguments(ResponseSubmitSchema)
@responses.response(201, ResponseSchema, description="The response is stored.")
@responses.alt_response(
    200, schema=ResponseSchema,
    description="A response with this idempotency key was stored before: that response; "
    "nothing new is stored.",
)
@responses.alt_response(404, response="NOT_FOUND", description="No link with this slug.")
@responses.alt_response(
    409, response="CONFLICT",
    description="The link is closed, not open yet or full (or the response sent with this "
    "idempotency key was deleted).",
)
def submit_response(data, slug):
    """Submit a complete response

    For responses collected elsewhere (needs a write key; respondents use the public
    link, without a key). `slug` is the last part of the link's public URL. The answers
    are checked exactly like the respondent's form, all pages at once; answers to
    questions that skip logic hides are discarded. The response is stored against the
    link's version. Safe to retry: the same `idempotency_key` stores one response.
    """
    campaign = services.find_campaign(slug)
    if campaign is None:
        raise NotFound(_l("No such link."))
    key = data["idempotency_key"]
    existing = _submitted(campaign, key)
    if existing is not None:
        return _replayed(existing)
    state = services.campaign_state(campaign)
    if state != "open":
        raise ConflictError(_closed_message(state, campaign))
    definition = services.parsed_version(campaign.version)
    answers, errors = read_answers(definition, data["answers"], current_language())
    if errors:
        raise ServiceError(_l("Some answers are missing or not valid."), errors=errors)
    try:
        response, _token = services.start_response(campaign, locale=data.get("locale"))
        response.idempotency_key = key
        db.session.flush()
    except IntegrityError:
        # A request with the same key committed meanwhile: return what it stored.
        db.session.rollback()
        existing = _submitted(campaign, key)
        if existing is None:
            raise
        return _replayed(existing)
    pages = qdef.visible_pages(definition, answers)
    last_page = pages[-1] if pages else definition.pages[-1]
    result = services.submit_response(response, last_page.key, answers)
    return _response_view(result.response), 201


# ----------------------------------------------------------------- wiring


def register_survey_api(api) -> None:
    """Add the questionnaire, link and response endpoints to the API (after
    :func:`org.api.register_api` has set it up)."""
    for blueprint in API_BLUEPRINTS:
        register_api_blueprint(api, blueprint)
