"""Questionnaire definitions: the ``orbit.questionnaire/1`` document, checked and answered.

Pure logic, no database. The document format is specified in
``docs/questionnaire-format.md`` and ``surveys/questionnaire.schema.json``; this module

* reads and writes documents (:func:`parse_document`, :func:`dump_document`);
* checks them against the JSON Schema and Orbit's own rules, collecting every problem
  with the path to the bad element (:func:`validate_document`, :class:`DefinitionError`),
  and builds an immutable :class:`Questionnaire` whose :meth:`~Questionnaire.to_document`
  gives the document back exactly (absent optional fields stay absent);
* evaluates skip logic (:func:`condition_holds`, :func:`visible_pages`,
  :func:`visible_questions`, :func:`prune_hidden`);
* reads a respondent's page from a submitted form and validates it (:func:`read_page`;
  :func:`answer_to_form` is its inverse, for tests and load generators), and lists what
  is still missing before a response is submitted (:func:`unanswered_required`);
* maps answers to the long-format storage rows and back (:func:`answer_to_rows`,
  :func:`rows_to_answer`) and applies reverse keying (:func:`scored_value`).

Answers
-------
``Answers = dict[str, value]``, keyed by question key. A question without an answer has
no key (never ``None``, ``""``, ``[]`` or ``{}``). The value by question type:

==============================================  ==========================================
``likert``, ``nps``, ``csat``, ``ces``          ``int`` point of the scale, or ``"na"``
                                                ("not applicable", when the scale offers it)
``matrix``                                      ``dict[item_key, int | "na"]`` (answered
                                                items only, in item order)
``number``                                      ``int`` when whole (always for
                                                ``integer: true``), else ``float``
``single_choice``, ``dropdown``                 ``str``: the option value
``multiple_choice``                             ``list[str]``: selected option values in
                                                option order
``ranking``                                     ``list[str]``: every option value, ranked
                                                first to last
``short_text``, ``long_text``                   ``str`` (stripped, newlines as ``\\n``)
``date``                                        ``str``: ISO ``YYYY-MM-DD``
``text_block``                                  never answered
==============================================  ==========================================

Form fields (see :func:`read_page`): ``q-<key>`` holds a question's value (a
``multiple_choice`` sends it once per selected option), ``q-<key>-<item_key>`` one
matrix item, ``q-<key>-<option_value>`` the rank (1..n) given to one ranking option;
"not applicable" is sent as ``na``.

Messages (problems, validation errors) are lazy translations: they render in the
language of the request that shows them.
"""

from __future__ import annotations

import copy
import json
import math
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import cache, cached_property
from pathlib import Path
from typing import Any, Literal

import jsonschema
import yaml

from core.i18n import lazy_gettext as _l
from core.i18n import lazy_ngettext

__all__ = [
    "FORMAT",
    "MAX_DOCUMENT_BYTES",
    "NA",
    "SCHEMA_PATH",
    "Answers",
    "DefinitionError",
    "DefinitionProblem",
    "Dimension",
    "MatrixItem",
    "Option",
    "Page",
    "Question",
    "Questionnaire",
    "Scale",
    "answer_to_form",
    "answer_to_rows",
    "condition_holds",
    "dump_document",
    "localized",
    "parse_document",
    "prune_hidden",
    "read_page",
    "rows_to_answer",
    "schema",
    "scored_value",
    "unanswered_required",
    "validate_document",
    "visible_pages",
    "visible_questions",
]

FORMAT = "orbit.questionnaire/1"
SCHEMA_PATH = Path(__file__).with_name("questionnaire.schema.json")
MAX_DOCUMENT_BYTES = 1024 * 1024
MAX_DEPTH = 64  # nesting of mappings and lists in a document
MAX_NODES = 500_000  # values in a document, counting every use of a YAML alias
MAX_NUMBER = 1e15  # larger answers would lose digits in a float column
NA = "na"

LocalizedText = str | Mapping[str, str]
Condition = Mapping[str, Any]
Value = int | float | str | list[str] | dict[str, int | str]
Answers = dict[str, Value]
Row = tuple[str, float | None, str | None]

SCALE_TYPES = frozenset({"likert", "matrix", "nps", "csat", "ces"})
FIXED_SCALES = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}
CHOICE_TYPES = frozenset({"single_choice", "dropdown", "multiple_choice", "ranking"})
TEXT_TYPES = frozenset({"short_text", "long_text"})
DEFAULT_MAX_LENGTH = {"short_text": 200, "long_text": 5000}
LOCALES = ("en", "zh_CN")


# --------------------------------------------------------------------- problems


@dataclass(frozen=True)
class DefinitionProblem:
    """One thing wrong with a document: where (``pages[1].questions[3].show_if.op``; ``""``
    for the whole document) and what (a lazy translation)."""

    path: str
    message: Any

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else str(self.message)


class DefinitionError(Exception):
    """A document that cannot be used; ``problems`` lists everything found wrong."""

    def __init__(self, problems: Iterable[DefinitionProblem]):
        self.problems: list[DefinitionProblem] = list(problems)
        super().__init__(len(self.problems))

    def __str__(self) -> str:
        return "; ".join(str(p) for p in self.problems)


def _fail(message: Any, path: str = "") -> DefinitionError:
    return DefinitionError([DefinitionProblem(path, message)])


_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _path(parts: Iterable[str | int]) -> str:
    """``["pages", 1, "questions"]`` → ``pages[1].questions``."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENTIFIER.match(part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part, ensure_ascii=False)}]"
    return out


# --------------------------------------------------------------------- reading and writing


class _RejectedError(ValueError):
    """A loaded document that is not a plain tree of JSON values."""

    def __init__(self, message: Any):
        super().__init__(str(message))
        self.message = message


class _DuplicateKeyError(Exception):
    def __init__(self, key: str, mark):
        super().__init__(key)
        self.key, self.mark = key, mark


class _YamlLoader(yaml.SafeLoader):
    """YAML 1.1 safe loader with three changes that keep documents plain JSON values:

    * dates stay strings (``min: 2024-01-01`` is the text the JSON Schema expects);
    * only ``true`` / ``false`` are booleans: ``yes``, ``no``, ``on``, ``off`` are text,
      so an option ``value: no`` is not turned into ``false``;
    * a key that appears twice in one mapping is an error, not silently overwritten.
    """

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen = set()
            for key_node, _value in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    duplicate = key in seen
                except TypeError:
                    continue  # unhashable: the base class reports it
                if duplicate:
                    raise _DuplicateKeyError(str(key), key_node.start_mark)
                seen.add(key)
        return super().construct_mapping(node, deep=deep)


_BOOL_TAG = "tag:yaml.org,2002:bool"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_YamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in (_BOOL_TAG, _TIMESTAMP_TAG)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_YamlLoader.add_implicit_resolver(
    _BOOL_TAG, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


class _YamlDumper(yaml.SafeDumper):
    def ignore_aliases(self, data):
        return True  # write every value out; never emit anchors


def _represent_str(dumper: yaml.SafeDumper, data: str):
    if _ODD_BREAKS.search(data):
        # PyYAML's plain and single-quoted styles turn these into spaces or "\n" on
        # reading; the double-quoted style escapes them.
        style = '"'
    elif "\n" in data.rstrip("\n"):
        # Several lines read best as a literal block; PyYAML falls back to a quoted
        # scalar by itself when a block cannot hold the text exactly.
        style = "|"
    else:
        style = None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_ODD_BREAKS = re.compile("[\r\x85\u2028\u2029\ufeff]")
_YamlDumper.add_representer(str, _represent_str)


def _plain(value: Any, depth: int, budget: list[int], active: set[int]) -> Any:
    """A fresh copy of a loaded document made of dict / list / str / int / float / bool /
    None only, with text keys; rejects alias bombs, cycles and non-finite numbers."""
    budget[0] -= 1
    if budget[0] < 0:
        raise _RejectedError(_l("The document is too large once its YAML aliases are expanded."))
    if depth > MAX_DEPTH:
        raise _RejectedError(_l("The document is nested too deeply."))
    if isinstance(value, dict):
        if id(value) in active:
            raise _RejectedError(_l("The document refers to itself (a recursive YAML alias)."))
        active.add(id(value))
        out = {}
        for key, item in value.items():
            if isinstance(key, bool) or not isinstance(key, str | int):
                raise _RejectedError(_l("Mapping keys must be text; found %(key)s.", key=repr(key)))
            name = str(key)
            if name in out:
                raise _RejectedError(_duplicate_key(name))
            out[name] = _plain(item, depth + 1, budget, active)
        active.discard(id(value))
        return out
    if isinstance(value, list):
        if id(value) in active:
            raise _RejectedError(_l("The document refers to itself (a recursive YAML alias)."))
        active.add(id(value))
        out_list = [_plain(item, depth + 1, budget, active) for item in value]
        active.discard(id(value))
        return out_list
    if isinstance(value, float) and not math.isfinite(value):
        raise _RejectedError(_l("Numbers must be finite (no infinity or NaN)."))
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise _RejectedError(
        _l("Values of type %(type)s are not supported.", type=type(value).__name__)
    )


def _duplicate_key(key: str):
    return _l("The key “%(key)s” appears twice in one mapping.", key=key)


def _json_object(pairs):
    out = {}
    for key, value in pairs:
        if key in out:
            raise _RejectedError(_duplicate_key(key))
        out[key] = value
    return out


def _json_constant(name):
    raise _RejectedError(_l("Numbers must be finite (no infinity or NaN)."))


def parse_document(text: str | bytes, fmt: Literal["yaml", "json"]) -> dict:
    """The document in ``text`` (UTF-8 when bytes), as plain JSON values.

    Raises :class:`DefinitionError` for a file over :data:`MAX_DOCUMENT_BYTES`, text that
    is not UTF-8, a syntax error (with its line and column), YAML tags other than the
    plain ones, duplicate keys, a YAML alias bomb, a top level that is not a mapping.
    """
    if fmt not in ("yaml", "json"):
        raise ValueError(f"unknown document format {fmt!r}")
    size = len(text)  # characters: a lower bound of the bytes, cheap to get
    if size <= MAX_DOCUMENT_BYTES and isinstance(text, str):
        size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_DOCUMENT_BYTES:
        raise _fail(_l("The file is larger than %(size)s MB.", size=MAX_DOCUMENT_BYTES // 2**20))
    if isinstance(text, bytes | bytearray):
        try:
            text = bytes(text).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise _fail(
                _l("The file is not UTF-8 text (bad byte at position %(pos)s).", pos=exc.start)
            ) from None
    text = text.removeprefix("\ufeff")
    try:
        if fmt == "json":
            data = json.loads(text, object_pairs_hook=_json_object, parse_constant=_json_constant)
        else:
            data = yaml.load(text, Loader=_YamlLoader)  # noqa: S506 - a SafeLoader subclass
        data = _plain(data, 0, [MAX_NODES], set())
    except _RejectedError as exc:
        raise _fail(exc.message) from None
    except _DuplicateKeyError as exc:
        raise _fail(_l(
            "The key “%(key)s” appears twice in one mapping (line %(line)s, column %(column)s).",
            key=exc.key, line=exc.mark.line + 1, column=exc.mark.column + 1,
        )) from None
    except json.JSONDecodeError as exc:
        raise _fail(
            _l(
                "JSON syntax error at line %(line)s, column %(column)s: %(problem)s",
                line=exc.lineno,
                column=exc.colno,
                problem=exc.msg,
            )
        ) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = " ".join(p for p in (exc.context, exc.problem) if p) or "invalid YAML"
        if mark is None:
            raise _fail(_l("YAML syntax error: %(problem)s", problem=problem)) from None
        raise _fail(
            _l(
                "YAML syntax error at line %(line)s, column %(column)s: %(problem)s",
                line=mark.line + 1,
                column=mark.column + 1,
                problem=problem,
            )
        ) from None
    except yaml.YAMLError as exc:
        raise _fail(_l("YAML syntax error: %(problem)s", problem=str(exc))) from None
    except RecursionError:
        raise _fail(_l("The document is nested too deeply.")) from None
    except ValueError as exc:  # e.g. an integer with thousands of digits
        raise _fail(_l("A value cannot be read: %(problem)s", problem=str(exc))) from None
    if not isinstance(data, dict):
        raise _fail(_l("The document must be a mapping (key: value pairs) at the top level."))
    return data


def dump_document(doc: Mapping, fmt: Literal["yaml", "json"]) -> str:
    """``doc`` as YAML or JSON text that :func:`parse_document` reads back unchanged.

    Chinese stays readable (no ``\\u`` escapes); keys keep their order.
    """
    if fmt == "json":
        return json.dumps(doc, ensure_ascii=False, indent=2, allow_nan=False) + "\n"
    if fmt == "yaml":
        return yaml.dump(
            doc, Dumper=_YamlDumper, allow_unicode=True, sort_keys=False, width=100, indent=2
        )
    raise ValueError(f"unknown document format {fmt!r}")


# --------------------------------------------------------------------- bilingual text


def localized(text: LocalizedText | None, locale: str) -> str:
    """``text`` in ``locale`` (``en`` / ``zh_CN``; ``zh``, ``zh-CN`` … count as Chinese),
    else in the other language, else ``""``."""
    if text is None:
        return ""
    if isinstance(text, str):
        return text
    wanted = "zh_CN" if str(locale).lower().replace("-", "_").startswith("zh") else "en"
    for code in (wanted, *LOCALES):
        value = text.get(code)
        if value:
            return value
    return ""


# --------------------------------------------------------------------- the definition


def _emit(doc: dict, name: str, value: Any, default: Any, explicit: frozenset[str]) -> None:
    """Write an optional field when the document had it or it differs from the default."""
    if name in explicit or (value is not None and value != default):
        doc[name] = value


def _text_copy(text: LocalizedText | None) -> LocalizedText | None:
    return dict(text) if isinstance(text, Mapping) else text


@dataclass(frozen=True)
class Scale:
    """The points a rating can take: ``values`` = ``range(min, max + 1)``."""

    min: int
    max: int
    labels: Mapping[str, LocalizedText] = field(default_factory=dict)
    not_applicable: bool = False
    #: ``points`` as written for ``likert`` / ``matrix``; ``None`` for the fixed scales.
    points: int | None = None
    explicit: frozenset[str] = field(default=frozenset(), repr=False)

    @property
    def values(self) -> range:
        return range(self.min, self.max + 1)

    def label(self, point: int) -> LocalizedText | None:
        return self.labels.get(str(point))

    def accepts(self, value: Any) -> bool:
        """Whether ``value`` is an answer on this scale (a point, or ``"na"`` if offered)."""
        if value == NA:
            return self.not_applicable
        return _is_number(value) and value == int(value) and self.min <= value <= self.max

    def to_document(self) -> dict:
        doc: dict[str, Any] = {}
        if self.points is not None:
            doc["points"] = self.points
        if self.labels or "labels" in self.explicit:
            doc["labels"] = {k: _text_copy(v) for k, v in self.labels.items()}
        _emit(doc, "not_applicable", self.not_applicable, False, self.explicit)
        return doc


@dataclass(frozen=True)
class Option:
    value: str
    label: LocalizedText

    def to_document(self) -> dict:
        return {"value": self.value, "label": _text_copy(self.label)}


@dataclass(frozen=True)
class MatrixItem:
    key: str
    text: LocalizedText
    dimension: str | None = None
    weight: float = 1
    reverse: bool = False
    explicit: frozenset[str] = field(default=frozenset(), repr=False)

    def to_document(self) -> dict:
        doc: dict[str, Any] = {"key": self.key, "text": _text_copy(self.text)}
        _emit(doc, "dimension", self.dimension, None, self.explicit)
        _emit(doc, "weight", self.weight, 1, self.explicit)
        _emit(doc, "reverse", self.reverse, False, self.explicit)
        return doc


@dataclass(frozen=True)
class Dimension:
    key: str
    name: LocalizedText
    description: LocalizedText | None = None
    kind: str = "competency"
    weight: float = 1
    explicit: frozenset[str] = field(default=frozenset(), repr=False)

    def to_document(self) -> dict:
        doc: dict[str, Any] = {"key": self.key, "name": _text_copy(self.name)}
        _emit(doc, "description", _text_copy(self.description), None, self.explicit)
        _emit(doc, "kind", self.kind, "competency", self.explicit)
        _emit(doc, "weight", self.weight, 1, self.explicit)
        return doc


@dataclass(frozen=True)
class Question:
    """A question (or a ``text_block``) of any type; fields that a type does not use keep
    their defaults. ``max_length`` is the effective limit (defaults applied); date
    ``min`` / ``max`` are :class:`datetime.date`."""

    key: str
    type: str
    text: LocalizedText
    help: LocalizedText | None = None
    required: bool = False
    show_if: Condition | None = None
    scale: Scale | None = None
    items: tuple[MatrixItem, ...] = ()
    options: tuple[Option, ...] = ()
    min_selections: int | None = None
    max_selections: int | None = None
    max_length: int | None = None
    min: float | date | None = None
    max: float | date | None = None
    integer: bool = False
    dimension: str | None = None
    weight: float = 1
    reverse: bool = False
    #: key of the page the question is on
    page_key: str = ""
    explicit: frozenset[str] = field(default=frozenset(), repr=False)

    @property
    def answerable(self) -> bool:
        return self.type != "text_block"

    @property
    def is_scale(self) -> bool:
        return self.type in SCALE_TYPES

    @property
    def is_choice(self) -> bool:
        return self.type in CHOICE_TYPES

    @cached_property
    def _options(self) -> dict[str, int]:
        return {o.value: i for i, o in enumerate(self.options)}

    @cached_property
    def _items(self) -> dict[str, int]:
        return {item.key: i for i, item in enumerate(self.items)}

    def option(self, value: str) -> Option | None:
        index = self._options.get(value)
        return None if index is None else self.options[index]

    def item(self, key: str) -> MatrixItem | None:
        index = self._items.get(key)
        return None if index is None else self.items[index]

    @property
    def field_names(self) -> tuple[str, ...]:
        """The form fields the question is answered through (see :func:`read_page`)."""
        if self.type == "matrix":
            return tuple(f"q-{self.key}-{item.key}" for item in self.items)
        if self.type == "ranking":
            return tuple(f"q-{self.key}-{o.value}" for o in self.options)
        if self.type == "text_block":
            return ()
        return (f"q-{self.key}",)

    def input_hint(self, locale: str = "en"):
        """What the answer must look like, as shown under the question (or ``None``).

        The same sentence is the error when an answer breaks the rule.
        """
        if self.type == "number":
            return _number_rule(self, locale) if (
                self.integer or self.min is not None or self.max is not None
            ) else None
        if self.type == "date":
            return _date_rule(self, locale) if (
                self.min is not None or self.max is not None
            ) else None
        if self.type == "multiple_choice":
            return _selection_rule(self)
        if self.type == "ranking":
            return _ranking_rule(self)
        if self.type in TEXT_TYPES:
            return lazy_ngettext(
                "Up to %(num)s character.", "Up to %(num)s characters.", self.max_length
            )
        return None

    def to_document(self) -> dict:
        doc: dict[str, Any] = {"key": self.key, "type": self.type, "text": _text_copy(self.text)}
        if self.help is not None:
            doc["help"] = _text_copy(self.help)
        if self.answerable:
            _emit(doc, "required", self.required, False, self.explicit)
        if self.show_if is not None:
            doc["show_if"] = copy.deepcopy(dict(self.show_if))
        t = self.type
        if t in ("likert", "matrix"):
            doc["scale"] = self.scale.to_document()
        elif t in FIXED_SCALES:
            scale = self.scale.to_document()
            if scale or "scale" in self.explicit:
                doc["scale"] = scale
        if t == "matrix":
            doc["items"] = [item.to_document() for item in self.items]
        if t in CHOICE_TYPES:
            doc["options"] = [o.to_document() for o in self.options]
        if t == "multiple_choice":
            _emit(doc, "min_selections", self.min_selections, None, self.explicit)
            _emit(doc, "max_selections", self.max_selections, None, self.explicit)
        if t in TEXT_TYPES:
            _emit(doc, "max_length", self.max_length, DEFAULT_MAX_LENGTH[t], self.explicit)
        if t == "number":
            _emit(doc, "min", self.min, None, self.explicit)
            _emit(doc, "max", self.max, None, self.explicit)
            _emit(doc, "integer", self.integer, False, self.explicit)
        if t == "date":
            for name in ("min", "max"):
                value = getattr(self, name)
                if value is not None:
                    doc[name] = value.isoformat()
        if t in ("likert", *FIXED_SCALES):
            _emit(doc, "dimension", self.dimension, None, self.explicit)
            _emit(doc, "weight", self.weight, 1, self.explicit)
        if t == "likert":
            _emit(doc, "reverse", self.reverse, False, self.explicit)
        return doc


@dataclass(frozen=True)
class Page:
    key: str
    questions: tuple[Question, ...]
    title: LocalizedText | None = None
    description: LocalizedText | None = None
    show_if: Condition | None = None

    def to_document(self) -> dict:
        doc: dict[str, Any] = {"key": self.key}
        if self.title is not None:
            doc["title"] = _text_copy(self.title)
        if self.description is not None:
            doc["description"] = _text_copy(self.description)
        if self.show_if is not None:
            doc["show_if"] = copy.deepcopy(dict(self.show_if))
        doc["questions"] = [q.to_document() for q in self.questions]
        return doc


@dataclass(frozen=True)
class Questionnaire:
    """A validated questionnaire (see :func:`validate_document`)."""

    key: str
    title: LocalizedText
    pages: tuple[Page, ...]
    description: LocalizedText | None = None
    default_locale: str | None = None
    dimensions: tuple[Dimension, ...] = ()
    format: str = FORMAT
    explicit: frozenset[str] = field(default=frozenset(), repr=False)

    @cached_property
    def questions(self) -> tuple[Question, ...]:
        """Every question and text block, in order, over all pages."""
        return tuple(q for page in self.pages for q in page.questions)

    @cached_property
    def _question_index(self) -> dict[str, int]:
        return _first_positions(q.key for q in self.questions)

    @cached_property
    def _page_index(self) -> dict[str, int]:
        return _first_positions(page.key for page in self.pages)

    def question(self, key: str) -> Question | None:
        index = self._question_index.get(key)
        return None if index is None else self.questions[index]

    def page(self, key: str) -> Page | None:
        index = self._page_index.get(key)
        return None if index is None else self.pages[index]

    def page_index(self, key: str) -> int | None:
        """Position (0-based) of page ``key``, or ``None``."""
        return self._page_index.get(key)

    def dimension(self, key: str) -> Dimension | None:
        return next((d for d in self.dimensions if d.key == key), None)

    def to_document(self) -> dict:
        doc: dict[str, Any] = {"format": self.format, "key": self.key}
        doc["title"] = _text_copy(self.title)
        if self.description is not None:
            doc["description"] = _text_copy(self.description)
        if self.default_locale is not None:
            doc["default_locale"] = self.default_locale
        if self.dimensions or "dimensions" in self.explicit:
            doc["dimensions"] = [d.to_document() for d in self.dimensions]
        doc["pages"] = [page.to_document() for page in self.pages]
        return doc


def _first_positions(keys: Iterable[str]) -> dict[str, int]:
    positions: dict[str, int] = {}
    for i, key in enumerate(keys):
        positions.setdefault(key, i)
    return positions


# --------------------------------------------------------------------- validation


@cache
def schema() -> dict:
    """The JSON Schema of the format (``surveys/questionnaire.schema.json``)."""
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


@cache
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema())


def validate_document(doc: Any) -> Questionnaire:
    """Check ``doc`` and build its :class:`Questionnaire`.

    The JSON Schema is checked first; when the document does not match it, its problems
    (all of them, sorted by path) are raised without the further rules, which assume the
    document's shape. Then every rule of "Rules checked on import and before publishing"
    in ``docs/questionnaire-format.md`` is checked and every problem is collected.
    Raises :class:`DefinitionError`.
    """
    problems = _schema_problems(doc) + _text_problems(doc, [])
    if problems:
        raise DefinitionError(sorted(problems, key=lambda p: _path_sort_key(p.path)))
    problems = []
    questionnaire = _build(doc, problems)
    problems.extend(_rule_problems(questionnaire))
    if problems:
        raise DefinitionError(sorted(problems, key=lambda p: _path_sort_key(p.path)))
    return questionnaire


def _sort_key(parts: Sequence[str | int]) -> tuple:
    return tuple((0, p, "") if isinstance(p, int) else (1, 0, p) for p in parts)


_PATH_PART = re.compile(r'\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]|\.?([A-Za-z_][A-Za-z0-9_]*)')


def _path_sort_key(path: str) -> tuple:
    """Sort key of a path made by :func:`_path`, in document order of its parts."""
    parts: list[str | int] = []
    for index, quoted, name in _PATH_PART.findall(path):
        parts.append(int(index) if index else json.loads(quoted) if quoted else name)
    return _sort_key(parts)


_KEY_PATTERN = "^[a-z][a-z0-9_-]{0,63}$"
_TYPE_MESSAGES = {
    "string": _l("Must be text."),
    "integer": _l("Must be a whole number."),
    "number": _l("Must be a number."),
    "boolean": _l("Must be true or false."),
    "object": _l("Must be a mapping (key: value pairs)."),
    "array": _l("Must be a list."),
}


def _schema_problems(doc: Any) -> list[DefinitionProblem]:
    found: dict[tuple, DefinitionProblem] = {}
    errors = sorted(_validator().iter_errors(doc), key=lambda e: _sort_key(list(e.absolute_path)))
    for error in errors:
        for parts, message in _describe(error):
            problem = DefinitionProblem(_path(parts), message)
            found.setdefault((_sort_key(parts), str(message)), problem)
    return [found[k] for k in sorted(found, key=lambda k: k)]


def _text_problems(node: Any, parts: list) -> list[DefinitionProblem]:
    """Text that cannot be stored: NUL characters (PostgreSQL refuses them) and broken
    Unicode (lone surrogates, from ``\\ud800`` escapes in JSON)."""
    if isinstance(node, str):
        if "\x00" in node or _SURROGATE.search(node):
            return [DefinitionProblem(_path(parts), _l(
                "Text cannot contain NUL characters or broken Unicode."
            ))]
        return []
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in _text_problems(v, [*parts, str(k)])]
    if isinstance(node, list):
        return [p for i, v in enumerate(node) for p in _text_problems(v, [*parts, i])]
    return []


_SURROGATE = re.compile("[\ud800-\udfff]")


def _describe(error: jsonschema.ValidationError) -> list[tuple[list, Any]]:
    """Readable, translatable problems for one JSON Schema error."""
    parts = list(error.absolute_path)
    kind, expected, instance = error.validator, error.validator_value, error.instance
    if kind == "required":
        missing = [p for p in expected if isinstance(instance, dict) and p not in instance]
        name = next((p for p in missing if repr(p) in error.message), None)
        return [([*parts, name] if name else parts, _l("This field is required."))]
    if kind == "additionalProperties" and isinstance(instance, dict):
        known = set(error.schema.get("properties", {}))
        patterns = list(error.schema.get("patternProperties", {}))
        question_type = instance.get("type") if "text" in known else None
        out = []
        for extra in instance:
            if extra in known or any(re.search(p, extra) for p in patterns):
                continue
            if isinstance(question_type, str):
                message = _l("A %(type)s question has no field “%(name)s”.",
                             type=question_type, name=extra)
            else:
                message = _l("Unknown field “%(name)s”.", name=extra)
            out.append(([*parts, extra], message))
        return out
    if kind == "type":
        types = [expected] if isinstance(expected, str) else list(expected)
        if set(types) == {"string", "object"}:
            return [(parts, _l("Must be text, or a mapping with “en” and/or “zh_CN”."))]
        if set(types) == {"number", "string"}:
            return [(parts, _l("Must be a number or an option value."))]
        return [(parts, _TYPE_MESSAGES.get(types[0], _l("Has the wrong type.")))]
    if kind == "pattern":
        if expected == _KEY_PATTERN:
            return [(parts, _l(
                "Must be 1–64 characters of a–z, 0–9, “_” and “-”, starting with a letter."
            ))]
        if "[0-9]{4}" in expected:
            return [(parts, _l("Must be a date written YYYY-MM-DD."))]
        if expected.endswith(")?$"):
            return [(parts, _l(
                "Must be a question key, or MATRIX_KEY.ITEM_KEY for a matrix item."
            ))]
        return [(parts, _l("Does not have the expected form."))]
    if kind == "enum":
        choices = ", ".join(str(v) for v in expected)
        return [(parts, _l("Must be one of: %(choices)s.", choices=choices))]
    if kind == "const":
        return [(parts, _l("Must be “%(value)s”.", value=expected))]
    if kind == "minimum":
        return [(parts, _l("Must be at least %(limit)s.", limit=expected))]
    if kind == "maximum":
        return [(parts, _l("Must be at most %(limit)s.", limit=expected))]
    if kind == "exclusiveMinimum":
        return [(parts, _l("Must be greater than %(limit)s.", limit=expected))]
    if kind == "minItems":
        return [(parts, lazy_ngettext(
            "Needs at least %(num)s entry.", "Needs at least %(num)s entries.", expected
        ))]
    if kind == "maxItems":
        return [(parts, lazy_ngettext(
            "Can have at most %(num)s entry.", "Can have at most %(num)s entries.", expected
        ))]
    if kind == "maxLength":
        return [(parts, _l("Is too long: at most %(num)s characters.", num=expected))]
    if kind == "minProperties":
        return [(parts, _l("Must not be empty."))]
    return [(parts, error.message)]


def _parse_date(value: str | None, path: str, problems: list) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        problems.append(DefinitionProblem(path, _l("“%(value)s” is not a real date.", value=value)))
        return None


def _build(doc: dict, problems: list) -> Questionnaire:
    """The dataclasses of a document that matches the JSON Schema."""
    pages = []
    for i, page in enumerate(doc["pages"]):
        questions = tuple(
            _build_question(q, page["key"], f"pages[{i}].questions[{j}]", problems)
            for j, q in enumerate(page["questions"])
        )
        pages.append(
            Page(
                key=page["key"],
                questions=questions,
                title=_text_copy(page.get("title")),
                description=_text_copy(page.get("description")),
                show_if=copy.deepcopy(page.get("show_if")),
            )
        )
    dimensions = tuple(
        Dimension(
            key=d["key"],
            name=_text_copy(d["name"]),
            description=_text_copy(d.get("description")),
            kind=d.get("kind", "competency"),
            weight=d.get("weight", 1),
            explicit=frozenset(d),
        )
        for d in doc.get("dimensions", ())
    )
    return Questionnaire(
        key=doc["key"],
        title=_text_copy(doc["title"]),
        pages=tuple(pages),
        description=_text_copy(doc.get("description")),
        default_locale=doc.get("default_locale"),
        dimensions=dimensions,
        format=doc["format"],
        explicit=frozenset(doc),
    )


def _build_scale(q: dict) -> Scale | None:
    t = q["type"]
    given = q.get("scale", {})
    common = {
        "labels": {k: _text_copy(v) for k, v in given.get("labels", {}).items()},
        "not_applicable": given.get("not_applicable", False),
        "explicit": frozenset(given),
    }
    if t in ("likert", "matrix"):
        return Scale(1, given["points"], points=given["points"], **common)
    if t in FIXED_SCALES:
        low, high = FIXED_SCALES[t]
        return Scale(low, high, **common)
    return None


def _build_question(q: dict, page_key: str, path: str, problems: list) -> Question:
    t = q["type"]
    low, high = q.get("min"), q.get("max")
    if t == "date":
        low = _parse_date(low, f"{path}.min", problems)
        high = _parse_date(high, f"{path}.max", problems)
    return Question(
        key=q["key"],
        type=t,
        text=_text_copy(q["text"]),
        help=_text_copy(q.get("help")),
        required=q.get("required", False),
        show_if=copy.deepcopy(q.get("show_if")),
        scale=_build_scale(q),
        items=tuple(
            MatrixItem(
                key=item["key"],
                text=_text_copy(item["text"]),
                dimension=item.get("dimension"),
                weight=item.get("weight", 1),
                reverse=item.get("reverse", False),
                explicit=frozenset(item),
            )
            for item in q.get("items", ())
        ),
        options=tuple(Option(o["value"], _text_copy(o["label"])) for o in q.get("options", ())),
        min_selections=q.get("min_selections"),
        max_selections=q.get("max_selections"),
        max_length=q.get("max_length", DEFAULT_MAX_LENGTH[t]) if t in TEXT_TYPES else None,
        min=low,
        max=high,
        integer=q.get("integer", False),
        dimension=q.get("dimension"),
        weight=q.get("weight", 1),
        reverse=q.get("reverse", False),
        page_key=page_key,
        explicit=frozenset(q),
    )


def _rule_problems(qn: Questionnaire) -> list[DefinitionProblem]:
    """Orbit's rules beyond the JSON Schema (see the format documentation)."""
    problems: list[DefinitionProblem] = []

    def problem(path: str, message) -> None:
        problems.append(DefinitionProblem(path, message))

    def unique(path: str, key: str, seen: dict[str, str]) -> None:
        if key in seen:
            problem(path, _l("“%(key)s” is already used at %(other)s.", key=key, other=seen[key]))
        else:
            seen[key] = path

    dimension_keys: dict[str, str] = {}
    for i, d in enumerate(qn.dimensions):
        unique(f"dimensions[{i}].key", d.key, dimension_keys)

    def known_dimension(path: str, key: str | None) -> None:
        if key is not None and key not in dimension_keys:
            problem(path, _l("There is no dimension “%(key)s”.", key=key))

    page_keys: dict[str, str] = {}
    question_keys: dict[str, str] = {}
    fields: dict[str, str] = {}
    position = _first_positions(q.key for q in qn.questions)
    first_on_page = 0
    for i, page in enumerate(qn.pages):
        unique(f"pages[{i}].key", page.key, page_keys)
        if page.show_if is not None:
            _check_condition(
                qn, page.show_if, f"pages[{i}].show_if", first_on_page, None, position, problem
            )
        for j, q in enumerate(page.questions):
            base = f"pages[{i}].questions[{j}]"
            unique(f"{base}.key", q.key, question_keys)
            for name in dict.fromkeys((f"q-{q.key}", *q.field_names)):
                if name in fields and fields[name] != q.key:
                    problem(f"{base}.key", _l(
                        "The form field “%(field)s” of this question is also used by “%(other)s”;"
                        " choose another key.", field=name, other=fields[name],
                    ))
                fields.setdefault(name, q.key)
            known_dimension(f"{base}.dimension", q.dimension)
            _check_question(q, base, problem, known_dimension)
            if q.show_if is not None:
                _check_condition(
                    qn, q.show_if, f"{base}.show_if", first_on_page + j, q.key, position, problem
                )
        first_on_page += len(page.questions)

    if not any(q.answerable for q in qn.questions):
        problem("pages", _l("The questionnaire has no question that can be answered."))
    return problems


def _check_question(q: Question, base: str, problem, known_dimension) -> None:
    if q.scale is not None:
        for point in q.scale.labels:
            if int(point) not in q.scale.values:
                problem(
                    f'{base}.scale.labels["{point}"]',
                    _l("The scale has no point %(point)s (it runs from %(min)s to %(max)s).",
                       point=point, min=q.scale.min, max=q.scale.max),
                )
    seen: dict[str, str] = {}
    for k, item in enumerate(q.items):
        path = f"{base}.items[{k}]"
        if item.key in seen:
            problem(f"{path}.key", _l("“%(key)s” is already used at %(other)s.",
                                      key=item.key, other=seen[item.key]))
        seen.setdefault(item.key, f"{path}.key")
        known_dimension(f"{path}.dimension", item.dimension)
    seen = {}
    for k, option in enumerate(q.options):
        path = f"{base}.options[{k}].value"
        if option.value in seen:
            problem(path, _l("“%(key)s” is already used at %(other)s.",
                             key=option.value, other=seen[option.value]))
        seen.setdefault(option.value, path)
    if q.type == "multiple_choice":
        count = len(q.options)
        low, high = q.min_selections, q.max_selections
        if high is not None and high > count:
            problem(f"{base}.max_selections", _l(
                "Cannot be more than the number of options (%(num)s).", num=count))
        if low is not None and low > count:
            problem(f"{base}.min_selections", _l(
                "Cannot be more than the number of options (%(num)s).", num=count))
        if low is not None and high is not None and low > high:
            problem(f"{base}.min_selections", _l(
                "Cannot be more than max_selections (%(num)s).", num=high))
    if q.type in ("number", "date") and q.min is not None and q.max is not None and q.min > q.max:
        problem(f"{base}.min", _l("Cannot be more than max (%(max)s).", max=_plain_value(q.max)))


def _plain_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def _answer_kind(q: Question, item: str) -> str:
    """What a condition compares: ``point``, ``number``, ``choice``, ``choices`` or
    ``other`` (only ``answered`` applies)."""
    if item or (q.is_scale and q.type != "matrix"):
        return "point"
    if q.type == "number":
        return "number"
    if q.type in ("single_choice", "dropdown"):
        return "choice"
    if q.type == "multiple_choice":
        return "choices"
    return "other"


def _check_condition(qn, cond, path, position, own_key, positions, problem) -> None:
    """Problems of a condition at ``path``; it may refer only to questions before
    ``position`` (global question index)."""
    for combinator in ("all", "any"):
        if combinator in cond:
            for k, sub in enumerate(cond[combinator]):
                _check_condition(
                    qn, sub, f"{path}.{combinator}[{k}]", position, own_key, positions, problem
                )
            return
    ref, op, value = cond["question"], cond["op"], cond["value"]
    key, _, item = ref.partition(".")
    target = qn.question(key)
    where = f"{path}.question"
    if target is None:
        problem(where, _l("There is no question “%(key)s”.", key=key))
        return
    if key == own_key:
        problem(where, _l("A question cannot depend on its own answer."))
        return
    if positions[key] >= position:
        if own_key is None:
            problem(where, _l("“%(key)s” is not on an earlier page.", key=key))
        else:
            problem(where, _l("“%(key)s” comes after this question.", key=key))
        return
    if not target.answerable:
        problem(where, _l("“%(key)s” is a text block; it has no answer.", key=key))
        return
    if item:
        if target.type != "matrix":
            problem(where, _l("“%(key)s” is not a matrix; it has no items.", key=key))
            return
        if target.item(item) is None:
            problem(where, _l("The matrix “%(key)s” has no item “%(item)s”.", key=key, item=item))
            return
    kind = _answer_kind(target, item)
    if op == "answered":
        return
    if kind == "other":
        if target.type == "matrix":
            problem(f"{path}.op", _l(
                "A whole matrix can only be tested with “answered”; to compare an answer, "
                "name one item as %(key)s.ITEM_KEY.", key=key))
        else:
            problem(f"{path}.op", _l(
                "A %(type)s question can only be tested with “answered”.", type=target.type))
        return
    if op in ("greater", "less") and kind not in ("point", "number"):
        problem(f"{path}.op", _l(
            "“%(op)s” works only with numbers and rating scales, not with a %(type)s question.",
            op=op, type=target.type))
        return
    values = value if isinstance(value, list) else [value]
    for n, v in enumerate(values):
        where = f"{path}.value[{n}]" if isinstance(value, list) else f"{path}.value"
        if kind == "point":
            scale = target.scale
            if op in ("greater", "less"):
                ok = _is_number(v) and scale.min <= v <= scale.max
            else:
                ok = scale.accepts(v)
            if not ok:
                problem(where, _l(
                    "%(value)s is not a point of the scale of “%(key)s” (%(min)s–%(max)s%(na)s).",
                    value=json.dumps(v, ensure_ascii=False), key=ref, min=scale.min,
                    max=scale.max, na=", na" if scale.not_applicable else ""))
        elif kind == "number":
            if not _is_number(v):
                problem(where, _l("Compare the answer of “%(key)s” with a number.", key=key))
        elif not isinstance(v, str) or target.option(v) is None:
            problem(where, _l("%(value)s is not an option of “%(key)s”.",
                              value=json.dumps(v, ensure_ascii=False), key=key))


# --------------------------------------------------------------------- skip logic


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _same(answer: Any, expected: Any) -> bool:
    if _is_number(answer) and _is_number(expected):
        return answer == expected
    if isinstance(answer, str) and isinstance(expected, str):
        return answer == expected
    return False


def _matches(answer: Any, expected: Any) -> bool:
    if isinstance(answer, list):  # multiple choice: among the selections
        return any(_same(a, expected) for a in answer)
    return _same(answer, expected)


def condition_holds(condition: Condition | None, answers: Mapping[str, Any]) -> bool:
    """Whether a ``show_if`` condition holds for ``answers`` (``None`` always holds).

    An unanswered question (or matrix item) makes every operator false except
    ``answered: false``, ``not_equals`` and ``not_in``. ``"na"`` is an answer, but not a
    number: ``greater`` / ``less`` are false for it. For a multiple-choice answer,
    ``equals`` means "among the selections" and ``in`` "any selection is in the list".
    """
    if condition is None:
        return True
    if "all" in condition:
        return all(condition_holds(c, answers) for c in condition["all"])
    if "any" in condition:
        return any(condition_holds(c, answers) for c in condition["any"])
    key, _, item = condition["question"].partition(".")
    answer = answers.get(key)
    if item:
        answer = answer.get(item) if isinstance(answer, Mapping) else None
    if _is_empty(answer):
        answer = None
    op, value = condition["op"], condition["value"]
    if op == "answered":
        return (answer is not None) == bool(value)
    if answer is None:
        return op in ("not_equals", "not_in")
    if op == "equals":
        return _matches(answer, value)
    if op == "not_equals":
        return not _matches(answer, value)
    if op == "in":
        return any(_matches(answer, v) for v in value)
    if op == "not_in":
        return not any(_matches(answer, v) for v in value)
    if op in ("greater", "less") and _is_number(answer) and _is_number(value):
        return answer > value if op == "greater" else answer < value
    return False


def _walk(qn: Questionnaire, answers: Mapping[str, Any]):
    """Visible pages with their visible questions, and the answers that count.

    Pages and questions are taken in order and each condition sees only the answers of
    earlier *visible* questions. Conditions may only refer to earlier questions, so this
    one pass reaches the fixed point: hiding a question hides, in turn, whatever
    depends on it.
    """
    kept: dict[str, Any] = {}
    pages: list[tuple[Page, list[Question]]] = []
    for page in qn.pages:
        if not condition_holds(page.show_if, kept):
            continue
        shown = []
        for question in page.questions:
            if not condition_holds(question.show_if, kept):
                continue
            shown.append(question)
            if question.answerable and not _is_empty(answers.get(question.key)):
                kept[question.key] = answers[question.key]
        if shown:
            pages.append((page, shown))
    return pages, kept


def visible_pages(q: Questionnaire, answers: Mapping[str, Any]) -> list[Page]:
    """The pages shown for ``answers``, in order. A page is shown when its ``show_if``
    holds and at least one of its questions (or text blocks) is shown."""
    return [page for page, _shown in _walk(q, answers)[0]]


def visible_questions(page: Page, answers: Mapping[str, Any]) -> list[Question]:
    """The questions of ``page`` shown for ``answers``; none if the page is hidden.

    Questions are taken in order; a hidden one counts as unanswered for the conditions
    after it. ``answers`` of earlier pages should already be pruned
    (:func:`prune_hidden`), as stored answers are.
    """
    if not condition_holds(page.show_if, answers):
        return []
    working = dict(answers)
    shown = []
    for question in page.questions:
        if condition_holds(question.show_if, working):
            shown.append(question)
        else:
            working.pop(question.key, None)
    return shown


def prune_hidden(q: Questionnaire, answers: Mapping[str, Any]) -> Answers:
    """``answers`` without the answers of hidden questions (and of unknown keys, and
    empty values), to the fixed point: a dropped answer hides what depended on it."""
    return _walk(q, answers)[1]


def unanswered_required(
    q: Questionnaire, answers: Mapping[str, Any], locale: str = "en"
) -> dict[str, list]:
    """The required questions that are shown for ``answers`` but not (fully) answered,
    with the messages :func:`read_page` gives (a matrix: by row too) — the check before a
    response is submitted."""
    pages, kept = _walk(q, answers)
    errors: dict[str, list] = {}
    for _page, shown in pages:
        for question in shown:
            errors.update(_required_problems(question, kept.get(question.key), locale))
    return errors


# --------------------------------------------------------------------- reading a page


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_NUMBER = re.compile(r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]{1,3})?$")
_GROUPED = re.compile(r"^[+-]?[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]*)?$")
_ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")

def _format_number(value: Any, locale: str) -> str:
    from babel.numbers import format_decimal

    try:
        return format_decimal(value, locale=locale)
    except Exception:  # an unknown locale must not break validation
        return str(value)


def _format_date(value: date, locale: str) -> str:
    from babel.dates import format_date

    try:
        return format_date(value, format="long", locale=locale)
    except Exception:
        return value.isoformat()


def _number_rule(q: Question, locale: str):
    low = None if q.min is None else _format_number(q.min, locale)
    high = None if q.max is None else _format_number(q.max, locale)
    if q.integer:
        if low is not None and high is not None:
            return _l("Enter a whole number between %(min)s and %(max)s.", min=low, max=high)
        if low is not None:
            return _l("Enter a whole number of at least %(min)s.", min=low)
        if high is not None:
            return _l("Enter a whole number of at most %(max)s.", max=high)
        return _l("Enter a whole number.")
    if low is not None and high is not None:
        return _l("Enter a number between %(min)s and %(max)s.", min=low, max=high)
    if low is not None:
        return _l("Enter a number of at least %(min)s.", min=low)
    if high is not None:
        return _l("Enter a number of at most %(max)s.", max=high)
    return _l("Enter a number.")


def _date_rule(q: Question, locale: str):
    low = None if q.min is None else _format_date(q.min, locale)
    high = None if q.max is None else _format_date(q.max, locale)
    if low is not None and high is not None:
        return _l("Enter a date between %(min)s and %(max)s.", min=low, max=high)
    if low is not None:
        return _l("Enter a date on or after %(min)s.", min=low)
    if high is not None:
        return _l("Enter a date on or before %(max)s.", max=high)
    return _l("Enter a date as YYYY-MM-DD.")


def _selection_rule(q: Question):
    low, high = q.min_selections or 0, q.max_selections
    if high is not None and low == high:
        return lazy_ngettext(
            "Choose exactly %(num)s option.", "Choose exactly %(num)s options.", high
        )
    if high is not None and low > 1:
        return _l("Choose between %(min)s and %(max)s options.", min=low, max=high)
    if high is not None:
        return lazy_ngettext(
            "Choose at most %(num)s option.", "Choose at most %(num)s options.", high
        )
    if low > 1:
        return lazy_ngettext(
            "Choose at least %(num)s option.", "Choose at least %(num)s options.", low
        )
    return None


def _ranking_rule(q: Question):
    return _l("Give each option a different rank from 1 to %(num)s (1 = first).",
              num=len(q.options))


def _clean_text(raw: str | None) -> str:
    return (raw or "").replace("\r\n", "\n").replace("\r", "\n").strip()


def _read_point(scale: Scale, raw: str | None) -> tuple[Any, bool]:
    """(value or None, valid) of one submitted scale field."""
    text = _clean_text(raw)
    if not text:
        return None, True
    if text == NA:
        return (NA, True) if scale.not_applicable else (None, False)
    if re.fullmatch(r"-?[0-9]{1,3}", text) and int(text) in scale.values:
        return int(text), True
    return None, False


def _read_number(q: Question, raw: str | None, locale: str) -> tuple[Any, Any]:
    """(value or None, error or None)."""
    text = unicodedata.normalize("NFKC", raw or "").strip().replace("\u2212", "-")
    if not text:
        return None, None
    if _GROUPED.match(text):
        text = text.replace(",", "")
    if not _NUMBER.match(text):
        return None, _number_rule(q, locale)
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None, _number_rule(q, locale)
    if abs(number) > MAX_NUMBER:
        return None, _l("This number is too large.")
    whole = number == number.to_integral_value()
    if q.integer and not whole:
        return None, _number_rule(q, locale)
    value = int(number) if whole else float(number)
    if (q.min is not None and value < q.min) or (q.max is not None and value > q.max):
        return None, _number_rule(q, locale)
    return value, None


def _read_date(q: Question, raw: str | None, locale: str) -> tuple[Any, Any]:
    text = unicodedata.normalize("NFKC", raw or "").strip()
    if not text:
        return None, None
    if not _ISO_DATE.match(text):
        return None, _l("Enter a date as YYYY-MM-DD.")
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return None, _l("This date does not exist.")
    if (q.min is not None and day < q.min) or (q.max is not None and day > q.max):
        return None, _date_rule(q, locale)
    return day.isoformat(), None


def _read_text(q: Question, raw: str | None, locale: str) -> tuple[Any, Any]:
    text = _clean_text(raw)
    if not text:
        return None, None
    if _CONTROL.search(text):
        return None, _l("Remove the control characters from your answer.")
    if q.type == "short_text" and "\n" in text:
        return None, _l("Keep this answer on one line.")
    if len(text) > q.max_length:
        return None, _l("Use at most %(max)s characters (you used %(used)s).",
                        max=q.max_length, used=len(text))
    return text, None


def _required_message(q: Question, locale: str):
    """What to do about a required question left unanswered."""
    t = q.type
    if t == "multiple_choice":
        return _selection_rule(q) if (q.min_selections or 0) > 1 else _l(
            "Choose at least one option."
        )
    if t == "ranking":
        return _ranking_rule(q)
    if t == "number":
        return _number_rule(q, locale)
    if t == "date":
        return _date_rule(q, locale) if (q.min or q.max) else _l("Enter a date.")
    if t in TEXT_TYPES:
        return _l("Enter an answer.")
    return _l("Choose an answer.")


def _required_problems(q: Question, value: Any, locale: str) -> dict[str, list]:
    """Errors of a required question whose answer is missing, or for a matrix
    incomplete (every row needs an answer); ``{}`` when there is nothing to say."""
    if not q.required or not q.answerable:
        return {}
    if q.type == "matrix":
        answered = value if isinstance(value, Mapping) else {}
        missing = [item.key for item in q.items if item.key not in answered]
        if not missing:
            return {}
        errors = {f"{q.key}-{k}": [_l("Choose an answer for this row.")] for k in missing}
        errors[q.key] = [lazy_ngettext(
            "%(num)s row still needs an answer.", "%(num)s rows still need an answer.",
            len(missing),
        )]
        return errors
    return {q.key: [_required_message(q, locale)]} if _is_empty(value) else {}


def _read_question(q: Question, form, locale: str) -> tuple[Any, dict[str, list]]:
    """(value or None, errors by key) of one visible question."""
    key, name = q.key, f"q-{q.key}"
    errors: dict[str, list] = {}

    def fail(message, where: str = key) -> None:
        errors.setdefault(where, []).append(message)

    value: Any = None
    t = q.type
    if t in SCALE_TYPES and t != "matrix":
        value, ok = _read_point(q.scale, form.get(name))
        if not ok:
            fail(_l("Choose one of the points shown."))
    elif t == "matrix":
        answered = {}
        for item in q.items:
            point, ok = _read_point(q.scale, form.get(f"{name}-{item.key}"))
            if not ok:
                fail(_l("Choose one of the points shown."), f"{key}-{item.key}")
            elif point is not None:
                answered[item.key] = point
        if errors:
            fail(_l("Choose one of the points shown for each row."))
        # Valid rows are kept even when others have errors, so nothing given is lost.
        value = answered or None
    elif t in ("single_choice", "dropdown"):
        text = _clean_text(form.get(name))
        if text and q.option(text) is None:
            fail(_l("Choose one of the options shown."))
        elif text:
            value = text
    elif t == "multiple_choice":
        chosen = {_clean_text(v) for v in form.getlist(name)} - {""}
        if any(q.option(v) is None for v in chosen):
            fail(_l("Choose from the options shown."))
        elif chosen:
            low, high = q.min_selections or 0, q.max_selections
            if len(chosen) < low or (high is not None and len(chosen) > high):
                fail(_selection_rule(q))
            else:
                value = [o.value for o in q.options if o.value in chosen]
    elif t == "ranking":
        ranks = {o.value: _clean_text(form.get(f"{name}-{o.value}")) for o in q.options}
        given = {v: r for v, r in ranks.items() if r}
        count = len(q.options)
        numbers = sorted(int(r) for r in given.values() if re.fullmatch(r"[0-9]{1,2}", r))
        # All or nothing: a partial ranking says nothing about the options left out.
        if given and (len(given) != count or numbers != list(range(1, count + 1))):
            fail(_ranking_rule(q))
        elif given:
            value = sorted(given, key=lambda v: int(given[v]))
    else:
        reader = {"number": _read_number, "date": _read_date}.get(t, _read_text)
        value, error = reader(q, form.get(name), locale)
        if error is not None:
            fail(error)
    if not errors:
        errors = _required_problems(q, value, locale)
    return value, errors


def read_page(
    page: Page, form, answers_so_far: Mapping[str, Any], locale: str
) -> tuple[Answers, dict[str, list]]:
    """Read and check the answers of ``page`` from a submitted ``form``.

    ``form`` is a :class:`werkzeug.datastructures.MultiDict` (only ``get`` and ``getlist``
    are used); field names are described in the module docstring. Visibility is decided
    question by question with ``answers_so_far`` (the stored answers; this page's old
    answers are ignored) and the answers read so far on this page, since a question may
    depend on one above it. Hidden questions are neither read nor required.

    Returns ``(answers, errors)``: the valid answers of the page's visible questions
    (a matrix keeps its valid rows even when others have errors), and the error
    messages by question key; a matrix row's errors are also under
    ``"<key>-<item_key>"``. A ranking is all or nothing: either no option is ranked
    (unanswered) or every option has a different rank from 1 to n. ``locale`` formats
    the numbers and dates quoted in messages.
    """
    own = {q.key for q in page.questions}
    context = {k: v for k, v in answers_so_far.items() if k not in own}
    answers: Answers = {}
    errors: dict[str, list] = {}
    if not condition_holds(page.show_if, context):
        return answers, errors
    for question in page.questions:
        if not question.answerable or not condition_holds(question.show_if, context):
            continue
        value, problems = _read_question(question, form, locale)
        errors.update(problems)
        if value is not None:
            answers[question.key] = value
            context[question.key] = value
    return answers, errors


def answer_to_form(question: Question, value: Value | None) -> list[tuple[str, str]]:
    """The form fields a browser submits for ``value`` (the inverse of :func:`read_page`)."""
    if value is None or not question.answerable:
        return []
    name = f"q-{question.key}"
    if question.type == "matrix":
        return [(f"{name}-{item}", str(point)) for item, point in value.items()]
    if question.type == "ranking":
        return [(f"{name}-{option}", str(rank)) for rank, option in enumerate(value, start=1)]
    if question.type == "multiple_choice":
        return [(name, option) for option in value]
    return [(name, str(value))]


# --------------------------------------------------------------------- storage rows


def answer_to_rows(question: Question, value: Value | None) -> list[Row]:
    """The long-format rows ``(item_key, value_num, value_text)`` storing ``value``.

    ``item_key`` is ``""`` unless the answer has parts: a matrix has one row per
    answered item, a multiple choice one per selected option (``value_text`` = the
    option), a ranking one per option (``value_num`` = its rank). Points and numbers go
    in ``value_num``; ``"na"``, choices, text and dates in ``value_text``.
    """
    if value is None or not question.answerable:
        return []
    t = question.type
    if t == "matrix":
        return [_point_row(item, point) for item, point in value.items()]
    if t in SCALE_TYPES:
        return [_point_row("", value)]
    if t == "number":
        return [("", float(value), None)]
    if t == "multiple_choice":
        return [(option, None, option) for option in value]
    if t == "ranking":
        return [(option, float(rank), None) for rank, option in enumerate(value, start=1)]
    return [("", None, str(value))]


def _point_row(item: str, point: Any) -> Row:
    return (item, None, NA) if point == NA else (item, float(point), None)


def _point(value_num: float | None, value_text: str | None) -> Any:
    return NA if value_num is None and value_text == NA else round(value_num)


def rows_to_answer(question: Question, rows: Iterable[Sequence]) -> Value | None:
    """The answer stored in ``rows`` (exact inverse of :func:`answer_to_rows`); rows
    may come in any order. ``None`` when there are none."""
    rows = [tuple(r) for r in rows]
    if not rows or not question.answerable:
        return None
    t = question.type
    if t == "matrix":
        order = {item.key: i for i, item in enumerate(question.items)}
        rows.sort(key=lambda r: order.get(r[0], len(order)))
        return {item: _point(num, text) for item, num, text in rows}
    if t in SCALE_TYPES:
        _item, num, text = rows[0]
        return _point(num, text)
    if t == "number":
        number = rows[0][1]
        return int(number) if question.integer or float(number).is_integer() else float(number)
    if t == "multiple_choice":
        order = {o.value: i for i, o in enumerate(question.options)}
        return sorted((r[2] or r[0] for r in rows), key=lambda v: order.get(v, len(order)))
    if t == "ranking":
        return [r[0] for r in sorted(rows, key=lambda r: r[1])]
    return rows[0][2]


def scored_value(question: Question, value: Any, item: str | None = None) -> float | None:
    """The value that enters scores: a point of a rating scale, reverse-keyed when the
    question (or matrix ``item``) is ``reverse`` — ``min + max − value``, i.e.
    ``1 + points − value`` on a 1..points scale. ``None`` for "not applicable", no
    answer, and questions that are not rating scales.

    For a matrix give ``item``; ``value`` may be that item's point or the whole answer.
    """
    if not question.is_scale:
        return None
    reverse = question.reverse
    if question.type == "matrix":
        entry = question.item(item) if item is not None else None
        if entry is None:
            raise ValueError(f"matrix {question.key!r} has no item {item!r}")
        if isinstance(value, Mapping):
            value = value.get(item)
        reverse = entry.reverse
    if value is None or value == NA or not _is_number(value):
        return None
    scale = question.scale
    return float(scale.min + scale.max - value) if reverse else float(value)
