"""Small questionnaire documents for the definition-engine tests (``test_definition*.py``)."""

from __future__ import annotations

import copy

from werkzeug.datastructures import MultiDict

from surveys.definition import Questionnaire, validate_document

HOSTILE_STRINGS = ("<script>alert(1)</script>", '"><svg onload=alert(1)>', "{{7*7}}")

OPTIONS = [
    {"value": "phone", "label": {"en": "Phone", "zh_CN": "电话"}},
    {"value": "email", "label": {"en": "Email", "zh_CN": "邮件"}},
    {"value": "chat", "label": {"en": "Chat", "zh_CN": "在线客服"}},
    {"value": "visit", "label": {"en": "Visit", "zh_CN": "上门"}},
]

#: One question of every type, with the fields that type needs.
EXAMPLES: dict[str, dict] = {
    "likert": {"type": "likert", "scale": {"points": 5, "not_applicable": True}},
    "matrix": {
        "type": "matrix",
        "scale": {"points": 4},
        "items": [
            {"key": "listens", "text": "Listens"},
            {"key": "explains", "text": "Explains", "reverse": True},
        ],
    },
    "nps": {"type": "nps"},
    "csat": {"type": "csat"},
    "ces": {"type": "ces"},
    "single_choice": {"type": "single_choice", "options": OPTIONS},
    "dropdown": {"type": "dropdown", "options": OPTIONS},
    "multiple_choice": {
        "type": "multiple_choice",
        "options": OPTIONS,
        "min_selections": 2,
        "max_selections": 3,
    },
    "ranking": {"type": "ranking", "options": OPTIONS[:3]},
    "short_text": {"type": "short_text", "max_length": 10},
    "long_text": {"type": "long_text"},
    "number": {"type": "number", "min": 1, "max": 10, "integer": True},
    "date": {"type": "date", "min": "2024-01-01", "max": "2024-12-31"},
    "text_block": {"type": "text_block"},
}


def question(key: str, type_: str, **fields) -> dict:
    """A question document of ``type_`` (from :data:`EXAMPLES`) with ``fields`` changed;
    a field given as ``None`` is left out."""
    doc = {"key": key, **copy.deepcopy(EXAMPLES[type_]), "text": {"en": key.title()}}
    doc.update(fields)
    return {name: value for name, value in doc.items() if value is not None}


def document(*pages: list[dict], **fields) -> dict:
    """A questionnaire document; each positional argument is a page's question list."""
    doc = {
        "format": "orbit.questionnaire/1",
        "key": "test",
        "title": {"en": "Test", "zh_CN": "测试"},
        "pages": [{"key": f"p{i + 1}", "questions": list(qs)} for i, qs in enumerate(pages)],
    }
    doc.update(fields)
    return doc


def questionnaire(*pages: list[dict], **fields) -> Questionnaire:
    return validate_document(document(*pages, **fields))


def one(type_: str, **fields):
    """The validated question of a one-question questionnaire."""
    return questionnaire([question("q", type_, **fields)]).questions[0]


def form(*pairs, **fields) -> MultiDict:
    """A submitted form: ``form(("q-a", "1"), ("q-a", "2"), b="x")`` → ``q-b=x`` too."""
    return MultiDict([*pairs, *((f"q-{k}", v) for k, v in fields.items())])
