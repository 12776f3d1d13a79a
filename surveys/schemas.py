"""JSON in and out for questionnaires, links and responses (marshmallow schemas for the API).

Schemas check shapes and document the API. A questionnaire document is checked by
:mod:`surveys.definition` (the JSON Schema and Orbit's rules, with the path to every
problem), and answers by the same functions as the respondent's form; the rules stay
in :mod:`surveys.services` and :mod:`surveys.definition`.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from surveys.definition import FORMAT, LOCALES

MAX_IDEMPOTENCY_KEY = 128

EXAMPLE_DOCUMENT = {
    "format": FORMAT,
    "key": "customer-satisfaction",
    "title": {"en": "Customer satisfaction", "zh_CN": "客户满意度调查"},
    "default_locale": "zh_CN",
    "dimensions": [
        {"key": "service", "name": {"en": "Service quality", "zh_CN": "服务质量"}, "kind": "kpi"}
    ],
    "pages": [
        {
            "key": "experience",
            "title": {"en": "Your experience", "zh_CN": "您的体验"},
            "questions": [
                {
                    "key": "csat",
                    "type": "csat",
                    "text": {"en": "How satisfied are you?", "zh_CN": "您对本次服务满意吗？"},
                    "required": True,
                    "dimension": "service",
                },
                {
                    "key": "why_unhappy",
                    "type": "long_text",
                    "text": {"en": "What went wrong?", "zh_CN": "哪里做得不好？"},
                    "show_if": {"question": "csat", "op": "less", "value": 3},
                },
            ],
        }
    ],
}

EXAMPLE_PROBLEMS = {
    "pages[0].questions[1].show_if.question": ["“nps” comes after this question."],
    "pages[1].questions[0].options": ["This field is required."],
}

DOCUMENT_DESCRIPTION = (
    f"A questionnaire document (`{FORMAT}`), as described in *Questionnaire format* "
    "(`docs/questionnaire-format.md`) and by the JSON Schema served at "
    "`GET /api/v1/questionnaires/schema`. Invalid documents are refused with "
    "`errors: {path: [messages]}`, the path naming the bad element "
    "(e.g. `pages[1].questions[3].show_if.question`; `(document)` for the whole document)."
)

ANSWERS_DESCRIPTION = """\
The answers, by question key. A question left unanswered is left out (or `null`).

| question type | answer | example |
|---|---|---|
| `likert`, `csat` (1–5), `ces` (1–7), `nps` (0–10) | a point of the scale (a whole \
number), or `"na"` if the scale offers "not applicable" | `4`, `"na"` |
| `matrix` | an object: item key → point (or `"na"`), answered items only \
| `{"speed": 5, "accuracy": "na"}` |
| `single_choice`, `dropdown` | the option value | `"phone"` |
| `multiple_choice` | a list of option values | `["chat", "email"]` |
| `ranking` | every option value, first to last | `["price", "speed", "quality"]` |
| `short_text`, `long_text` | text (trimmed; only spaces = unanswered) | `"Quick"` |
| `number` | a number | `42`, `3.5` |
| `date` | an ISO date `YYYY-MM-DD` | `"2025-03-01"` |
| `text_block` | takes no answer | |

Answers are checked exactly like the respondent's form: every question shown must be
answered correctly (required, scale points, options, selection limits, text length,
number and date ranges). Answers to questions that skip logic hides are discarded;
keys that are not questions of the link's questionnaire are refused. Errors come as
`errors: {question_key: [messages]}` (a matrix row's also under `question_key-item_key`).
"""

EXAMPLE_ANSWERS = {
    "csat": 4,
    "nps": 9,
    "ces": 6,
    "agree": "na",
    "grid": {"speed": 5, "accuracy": 4},
    "channel": "phone",
    "features": ["chat", "email"],
    "priorities": ["price", "speed", "quality"],
    "comment": "客服很耐心 Quick and friendly",
    "visits": 3,
    "visit_date": "2025-03-01",
}


def _text(description: str, example, **kw) -> fields.Raw:
    return fields.Raw(
        metadata={
            "description": f"{description} Text, or an object with `en` and/or `zh_CN`.",
            "example": example,
        },
        **kw,
    )


# ----------------------------------------------------------------- questionnaires


class QuestionnaireDocumentSchema(Schema):
    """A questionnaire document. Used to document request bodies; the document is read
    and checked by the definition engine (duplicate keys, NaN and every rule included)."""

    format = fields.String(required=True, metadata={"enum": [FORMAT]})
    key = fields.String(
        required=True,
        metadata={"description": "Stable identifier: 1–64 of a–z 0–9 _ -, starting with a "
                  "letter.", "example": "customer-satisfaction"},
    )
    title = _text("Title.", EXAMPLE_DOCUMENT["title"], required=True)
    description = _text(
        "Introduction shown on the first page.",
        {"en": "Two minutes about your last contact.", "zh_CN": "请花两分钟评价您的服务体验。"},
    )
    default_locale = fields.String(metadata={"enum": list(LOCALES)})
    dimensions = fields.List(
        fields.Dict(), metadata={"description": "Competencies or KPIs that items feed."}
    )
    pages = fields.List(
        fields.Dict(),
        required=True,
        metadata={"description": "Pages of questions, shown in this order."},
    )

    class Meta:
        description = DOCUMENT_DESCRIPTION


class QuestionnaireQuerySchema(Schema):
    include_archived = fields.Boolean(
        load_default=False,
        metadata={"description": "true: archived questionnaires too; left out or false: "
                  "only those in use."},
    )


class VersionSummarySchema(Schema):
    number = fields.Integer(metadata={"example": 1})
    status = fields.String(metadata={"enum": ["draft", "published"], "example": "published"})
    document_sha256 = fields.String(
        allow_none=True,
        metadata={"description": "SHA-256 of the canonical JSON of a published document.",
                  "example": "9f2c…"},
    )
    created_at = fields.DateTime(metadata={"example": "2025-01-31T08:00:00+00:00"})
    published_at = fields.DateTime(
        allow_none=True, metadata={"example": "2025-02-01T09:30:00+00:00"}
    )


def _number(version) -> int | None:
    return version.number if version is not None else None


class QuestionnaireSchema(Schema):
    id = fields.Integer(metadata={"example": 7})
    key = fields.String(metadata={"example": "customer-satisfaction"})
    title = fields.Function(
        lambda q: q.current.document.get("title"),
        metadata={"description": "Title of the draft, else of the latest published version.",
                  "example": {"en": "Customer satisfaction", "zh_CN": "客户满意度调查"}},
    )
    draft_version = fields.Function(
        lambda q: _number(q.draft),
        allow_none=True,
        metadata={"description": "Number of the draft version; null when there is none.",
                  "example": 2},
    )
    published_version = fields.Function(
        lambda q: _number(q.latest_published),
        allow_none=True,
        metadata={"description": "Number of the latest published version; null before the "
                  "first publication.", "example": 1},
    )
    archived_at = fields.DateTime(allow_none=True, metadata={"example": None})
    created_at = fields.DateTime(metadata={"example": "2025-01-31T08:00:00+00:00"})
    versions = fields.List(fields.Nested(VersionSummarySchema))


class VersionSchema(VersionSummarySchema):
    """One version with its document. A published version never changes."""

    document = fields.Dict(
        metadata={"description": "The questionnaire document.", "example": EXAMPLE_DOCUMENT}
    )


class DraftSchema(VersionSchema):
    problems = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.String()),
        metadata={"description": "What must be fixed before publishing, by path "
                  "(empty when the draft can be published).", "example": {}},
    )


class ExportQuerySchema(Schema):
    format = fields.String(
        load_default="yaml",
        validate=validate.OneOf(("yaml", "json")),
        metadata={"description": "`yaml` (default) or `json`."},
    )


# ----------------------------------------------------------------- links


class LinkCreateSchema(Schema):
    name = fields.String(
        required=True,
        validate=validate.Length(min=1, max=200),
        metadata={"description": "Shown to admins only.", "example": "Service desk, March"},
    )
    opens_at = fields.AwareDateTime(
        allow_none=True,
        metadata={"description": "ISO 8601 with a UTC offset; answers are accepted from then "
                  "on. Left out: open at once.", "example": "2025-03-01T09:00:00+08:00"},
    )
    closes_at = fields.AwareDateTime(
        allow_none=True,
        metadata={"description": "ISO 8601 with a UTC offset, after `opens_at`. Left out: "
                  "open until closed.", "example": "2025-03-31T18:00:00+08:00"},
    )
    max_responses = fields.Integer(
        strict=True,
        allow_none=True,
        validate=validate.Range(min=1),
        metadata={"description": "The link is full after this many completed responses.",
                  "example": 500},
    )


class LinkCountsSchema(Schema):
    completed = fields.Integer(metadata={"example": 42})
    in_progress = fields.Integer(metadata={"example": 3})


class LinkSchema(Schema):
    """An open link: the latest published version when it was made, offered through a
    public URL, within a window and up to a number of responses."""

    id = fields.Integer(metadata={"example": 12})
    name = fields.String(metadata={"example": "Service desk, March"})
    questionnaire_id = fields.Integer(metadata={"example": 7})
    version = fields.Integer(
        metadata={"description": "The questionnaire version answered.", "example": 1}
    )
    slug = fields.String(
        metadata={"description": "The last part of the public URL; submit responses to "
                  "`/api/v1/links/{slug}/responses`.", "example": "Vq3yX0cXH2bW0d7mN1k9Zg"}
    )
    url = fields.String(
        metadata={"description": "The public link respondents open (no login).",
                  "example": "https://orbit.example.com/s/Vq3yX0cXH2bW0d7mN1k9Zg"}
    )
    state = fields.String(
        metadata={"enum": ["open", "not_open_yet", "closed", "full"], "example": "open"}
    )
    opens_at = fields.DateTime(allow_none=True, metadata={"example": None})
    closes_at = fields.DateTime(allow_none=True, metadata={"example": "2025-03-31T10:00:00+00:00"})
    max_responses = fields.Integer(allow_none=True, metadata={"example": 500})
    closed_at = fields.DateTime(
        allow_none=True, metadata={"description": "When the link was closed by hand."}
    )
    created_at = fields.DateTime(metadata={"example": "2025-02-28T08:00:00+00:00"})
    counts = fields.Nested(
        LinkCountsSchema,
        metadata={"description": "Responses (deleted ones not counted)."},
    )


# ----------------------------------------------------------------- responses


class ResponseSubmitSchema(Schema):
    answers = fields.Dict(
        keys=fields.String(),
        values=fields.Raw(allow_none=True),
        required=True,
        metadata={"description": ANSWERS_DESCRIPTION, "example": EXAMPLE_ANSWERS},
    )
    locale = fields.String(
        allow_none=True,
        validate=validate.OneOf(LOCALES),
        metadata={"description": "The language the respondent answered in.",
                  "example": "zh_CN"},
    )
    idempotency_key = fields.String(
        required=True,
        validate=validate.Length(min=1, max=MAX_IDEMPOTENCY_KEY),
        metadata={
            "description": "Your identifier of this response (e.g. the id in your system), "
            "unique per link. Sending the same key again stores nothing new and returns the "
            "response stored the first time (the new body is not looked at).",
            "example": "crm-ticket-88213",
        },
    )


class ResponseSchema(Schema):
    id = fields.Integer(metadata={"example": 901})
    link_id = fields.Integer(metadata={"example": 12})
    version = fields.Integer(
        metadata={"description": "The questionnaire version answered.", "example": 1}
    )
    status = fields.String(metadata={"enum": ["completed"], "example": "completed"})
    locale = fields.String(allow_none=True, metadata={"example": "zh_CN"})
    idempotency_key = fields.String(allow_none=True, metadata={"example": "crm-ticket-88213"})
    started_at = fields.DateTime(metadata={"example": "2025-03-02T01:15:00+00:00"})
    submitted_at = fields.DateTime(
        allow_none=True, metadata={"example": "2025-03-02T01:15:00+00:00"}
    )
    answers = fields.Dict(
        metadata={"description": "The stored answers, in the representation described for "
                  "submitting (hidden questions' answers were discarded).",
                  "example": {"csat": 4, "channel": "phone", "features": ["chat", "email"]}}
    )
