"""The questionnaire builder's operations on a draft document.

A document is a dict in the format of ``docs/questionnaire-format.md``. Every
operation takes a document and returns a changed deep copy; the argument is never
modified. Bad input raises :class:`~core.exceptions.ServiceError` whose ``field``
names the form field at fault (an unknown page, question, option… raises
:class:`~core.exceptions.NotFound`), and nothing is changed.

The builder refuses the obvious mistakes at once — a malformed or duplicate key,
deleting a dimension or a question something still refers to — but a draft may
hold problems while it is being built (a choice question without options yet, a
condition on a later question). The full check is the definition engine's,
shown by ``services.draft_problems`` and run again before publishing.

Renaming a key (question, matrix item, option value, dimension) also renames the
references to it inside the draft, so the draft stays consistent.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Iterator
from datetime import date

import yaml
from flask_babel import lazy_gettext as _l

from core.exceptions import NotFound, ServiceError

KEY_PATTERN = re.compile(r"[a-z][a-z0-9_-]{0,63}")
LOCALES = ("en", "zh_CN")
TEXT_MAX = 20000

QUESTION_TYPES = (
    "likert", "matrix", "nps", "csat", "ces",
    "single_choice", "multiple_choice", "dropdown", "ranking",
    "short_text", "long_text", "number", "date", "text_block",
)  # fmt: skip
RATING_TYPES = frozenset({"likert", "matrix"})  # a scale of 2–11 points, numbered 1..points
FIXED_SCALES = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}
CHOICE_TYPES = frozenset({"single_choice", "multiple_choice", "dropdown", "ranking"})
TEXT_LIMITS = {"short_text": (200, 1000), "long_text": (5000, 20000)}  # (default, maximum)
NUMERIC_TYPES = frozenset({"likert", "nps", "csat", "ces", "number"})  # matrix items too
CONDITION_OPS = ("equals", "not_equals", "in", "not_in", "greater", "less", "answered")
COMBINATORS = ("all", "any")
DIMENSION_KINDS = ("competency", "kpi")

# Which fields each type has, besides key, type, text, help, required and show_if.
TYPE_FIELDS: dict[str, tuple[str, ...]] = {
    "likert": ("scale", "dimension", "weight", "reverse"),
    "matrix": ("scale", "items"),
    "nps": ("scale", "dimension", "weight"),
    "csat": ("scale", "dimension", "weight"),
    "ces": ("scale", "dimension", "weight"),
    "single_choice": ("options",),
    "dropdown": ("options",),
    "multiple_choice": ("options", "min_selections", "max_selections"),
    "ranking": ("options",),
    "short_text": ("max_length",),
    "long_text": ("max_length",),
    "number": ("min", "max", "integer"),
    "date": ("min", "max"),
    "text_block": (),
}
COMMON_FIELDS = ("key", "type", "text", "help", "required", "show_if")
TEXT_BLOCK_FIELDS = ("key", "type", "text", "show_if")  # never required, no help
# The order fields are written in, so documents read naturally when exported.
FIELD_ORDER = (
    "key", "type", "text", "help", "required", "show_if", "scale", "items", "options",
    "dimension", "weight", "reverse", "min_selections", "max_selections", "max_length",
    "min", "max", "integer",
)  # fmt: skip

MAX_PAGES = 200
MAX_QUESTIONS_PER_PAGE = 500
MAX_OPTIONS = 100
MAX_ITEMS = 100
MAX_LEAVES = 50


# ----------------------------------------------------------------- texts and keys


def text_parts(text) -> tuple[str, str]:
    """``(en, zh_CN)`` of a bilingual text, for the two inputs of a form.

    A plain string is the same text in both languages.
    """
    if text is None:
        return "", ""
    if isinstance(text, str):
        return text, text
    if isinstance(text, dict):
        return str(text.get("en") or ""), str(text.get("zh_CN") or "")
    return str(text), str(text)


def bilingual(en: str | None, zh: str | None, *, previous=None, field: str = "text_en"):
    """The text typed in the two inputs as a document text, or ``None`` if both are empty.

    An unchanged plain-string text stays a plain string, so editing something else
    does not rewrite it.
    """
    en, zh = (en or "").strip(), (zh or "").strip()
    if len(en) > TEXT_MAX or len(zh) > TEXT_MAX:
        raise ServiceError(_l("Use at most %(n)d characters.", n=TEXT_MAX), field=field)
    if isinstance(previous, str) and en == zh == previous:
        return previous
    text = {}
    if en:
        text["en"] = en
    if zh:
        text["zh_CN"] = zh
    return text or None


def _required_text(en, zh, *, previous=None, field="text_en"):
    text = bilingual(en, zh, previous=previous, field=field)
    if text is None:
        raise ServiceError(_l("Give a text in at least one language."), field=field)
    return text


def _set(mapping: dict, name: str, value) -> None:
    """Set ``mapping[name]``, or remove it when ``value`` is ``None``."""
    if value is None:
        mapping.pop(name, None)
    else:
        mapping[name] = value


def _check_key(key: str, field: str = "key") -> str:
    key = (key or "").strip()
    if not KEY_PATTERN.fullmatch(key):
        raise ServiceError(
            _l("Use 1–64 characters of a-z, 0-9, - and _, starting with a letter."), field=field
        )
    return key


def _slug(text: str) -> str:
    """A key made of an English text (``"On-site visit"`` → ``on_site_visit``)."""
    slug = re.sub(r"[^a-z0-9]+", "_", (text or "").lower()).strip("_")
    slug = re.sub(r"^[^a-z]+", "", slug)[:64].rstrip("_")
    return slug


def _free_key(taken: set[str], prefix: str, start: int = 1, *, bare: bool = False) -> str:
    """``prefix`` (when ``bare``) or the first free ``prefix<n>`` with n ≥ start."""
    if bare and prefix not in taken:
        return prefix
    n = max(start, 1)
    while f"{prefix}{n}" in taken:
        n += 1
    return f"{prefix}{n}"


def suggest_question_key(document: dict, question_type: str = "") -> str:
    """A free key for a new question: the type's name for NPS, CSAT and CES (they are
    usually alone and read well in exports), else ``q1``, ``q2``…"""
    taken = set(question_keys(document))
    if question_type in FIXED_SCALES:
        return _free_key(taken, question_type, 2, bare=True)
    return _free_key(taken, "q", len(taken) + 1)


def suggest_page_key(document: dict) -> str:
    taken = {p.get("key") for p in document.get("pages", [])}
    return _free_key(taken, "page-", len(taken) + 1)


def _suggest_value(taken: set[str], label_en: str, prefix: str) -> str:
    slug = _slug(label_en)
    if slug:
        return _free_key(taken, slug, 2, bare=True) if len(slug) < 60 else slug
    return _free_key(taken, prefix, len(taken) + 1)


# ----------------------------------------------------------------- finding things


def question_keys(document: dict) -> list[str]:
    return [q.get("key") for _page, q in iter_questions(document)]


def iter_questions(document: dict) -> Iterator[tuple[dict, dict]]:
    """``(page, question)`` for every question, in order."""
    for page in document.get("pages") or []:
        for question in page.get("questions") or []:
            yield page, question


def _page_index(document: dict, page_key: str) -> int:
    for index, page in enumerate(document.get("pages") or []):
        if page.get("key") == page_key:
            return index
    raise NotFound(_l("There is no page “%(key)s” in the draft.", key=page_key))


def _question_index(document: dict, question_key: str) -> tuple[int, int]:
    for p, page in enumerate(document.get("pages") or []):
        for q, question in enumerate(page.get("questions") or []):
            if question.get("key") == question_key:
                return p, q
    raise NotFound(_l("There is no question “%(key)s” in the draft.", key=question_key))


def find_page(document: dict, page_key: str) -> dict:
    return document["pages"][_page_index(document, page_key)]


def find_question(document: dict, question_key: str) -> tuple[dict, dict]:
    """``(page, question)`` of the question with this key."""
    p, q = _question_index(document, question_key)
    page = document["pages"][p]
    return page, page["questions"][q]


def _dimension_index(document: dict, key: str) -> int:
    for index, dimension in enumerate(document.get("dimensions") or []):
        if dimension.get("key") == key:
            return index
    raise NotFound(_l("There is no dimension “%(key)s” in the draft.", key=key))


def _entry_index(entries: list, name: str, value: str, message) -> int:
    for index, entry in enumerate(entries):
        if entry.get(name) == value:
            return index
    raise NotFound(message)


def _moved(sequence: list, index: int, direction: str) -> None:
    """Swap ``sequence[index]`` with its neighbour above (``up``) or below (``down``)."""
    if direction not in ("up", "down"):
        raise ServiceError(_l("Move up or down."), field="direction")
    other = index - 1 if direction == "up" else index + 1
    if 0 <= other < len(sequence):
        sequence[index], sequence[other] = sequence[other], sequence[index]


_PATH = re.compile(r"^(?P<head>\w+)(?:\[(?P<i>\d+)\])?(?:\.(?P<sub>\w+)\[(?P<j>\d+)\])?")


def problem_target(document: dict, path: str) -> tuple[str, str | None]:
    """What a problem's path (``pages[1].questions[3].show_if…``) is about:
    ``("question", key)``, ``("page", key)``, ``("dimension", key)`` or
    ``("settings", None)`` — for linking the problem to the place to fix it."""
    match = _PATH.match(path or "")
    if match is None:
        return "settings", None
    head, i, sub, j = match["head"], match["i"], match["sub"], match["j"]
    try:
        if head == "pages" and i is not None:
            page = document["pages"][int(i)]
            if sub == "questions" and j is not None:
                key = page["questions"][int(j)].get("key")
                if isinstance(key, str) and key:
                    return "question", key
            key = page.get("key")
            if isinstance(key, str) and key:
                return "page", key
        if head == "dimensions" and i is not None:
            key = document["dimensions"][int(i)].get("key")
            if isinstance(key, str) and key:
                return "dimension", key
    except (IndexError, KeyError, TypeError, AttributeError):
        pass
    return "settings", None


# ----------------------------------------------------------------- conditions


def iter_leaves(condition) -> Iterator[dict]:
    """Every ``{question, op, value}`` test inside a condition."""
    if not isinstance(condition, dict):
        return
    for combinator in COMBINATORS:
        if combinator in condition:
            for part in condition.get(combinator) or []:
                yield from iter_leaves(part)
            return
    yield condition


def _refers_to(leaf: dict, question_key: str) -> bool:
    ref = leaf.get("question")
    return isinstance(ref, str) and (ref == question_key or ref.startswith(question_key + "."))


def _conditions(document: dict) -> Iterator[tuple[str, dict]]:
    """``(what, holder)`` for every page and question, where ``what`` names it for messages."""
    for page in document.get("pages") or []:
        yield str(_l("page “%(key)s”", key=page.get("key"))), page
        for question in page.get("questions") or []:
            yield f"“{question.get('key')}”", question


def referrers(document: dict, question_key: str) -> list[str]:
    """Keys of the pages and questions whose condition refers to this question."""
    found = []
    for what, holder in _conditions(document):
        if holder.get("key") == question_key and "type" in holder:
            continue
        if any(_refers_to(leaf, question_key) for leaf in iter_leaves(holder.get("show_if"))):
            found.append(what)
    return found


def _rename_references(document: dict, old: str, new: str) -> None:
    """Point conditions at question ``new`` (or its items) instead of ``old``, in place."""
    for _what, holder in _conditions(document):
        for leaf in iter_leaves(holder.get("show_if")):
            ref = leaf.get("question")
            if ref == old:
                leaf["question"] = new
            elif isinstance(ref, str) and ref.startswith(old + "."):
                leaf["question"] = new + ref[len(old):]


def _rename_values(document: dict, question_ref: str, old: str, new: str) -> None:
    """Replace the option value ``old`` by ``new`` in the conditions on ``question_ref``."""
    for _what, holder in _conditions(document):
        for leaf in iter_leaves(holder.get("show_if")):
            if leaf.get("question") != question_ref:
                continue
            value = leaf.get("value")
            if value == old:
                leaf["value"] = new
            elif isinstance(value, list):
                leaf["value"] = [new if v == old else v for v in value]


def simple_condition(condition) -> tuple[str, list[dict]] | None:
    """``(combinator, leaves)`` if the structured editor can show the condition — none,
    one test, or tests combined with all/any — else ``None`` (edit it as YAML)."""
    if condition is None:
        return "all", []
    if not isinstance(condition, dict):
        return None
    for combinator in COMBINATORS:
        if combinator in condition:
            parts = condition.get(combinator)
            if (
                len(condition) == 1
                and isinstance(parts, list)
                and all(_is_leaf(p) for p in parts)
            ):
                return combinator, list(parts)
            return None
    return ("all", [condition]) if _is_leaf(condition) else None


def _is_leaf(condition) -> bool:
    return (
        isinstance(condition, dict)
        and set(condition) == {"question", "op", "value"}
        and isinstance(condition["question"], str)
        and condition["op"] in CONDITION_OPS
    )


def condition_value_text(value) -> str:
    """A leaf's value as typed in the editor: ``3``, ``phone``, ``a, b``, ``true``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(condition_value_text(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None else str(value)


def condition_yaml(condition) -> str:
    if condition is None:
        return ""
    return yaml.safe_dump(condition, allow_unicode=True, sort_keys=False, default_flow_style=False)


def condition_sources(document: dict, kind: str, key: str) -> list[dict]:
    """What a condition of page or question ``key`` may test: the questions before it
    (and each item of a matrix), as ``{ref, question, item}`` dicts in order."""
    stop = (_page_index(document, key), -1) if kind == "page" else _question_index(document, key)
    sources = []
    for p, page in enumerate(document.get("pages") or []):
        for q, question in enumerate(page.get("questions") or []):
            if (p, q) >= stop:
                return sources
            if question.get("type") == "text_block" or not question.get("key"):
                continue
            sources.append({"ref": question["key"], "question": question, "item": None})
            if question.get("type") == "matrix":  # a whole matrix: only "answered"
                for item in question.get("items") or []:
                    sources.append(
                        {"ref": f"{question['key']}.{item.get('key')}", "question": question,
                         "item": item}
                    )
    return sources


def _source_question(document: dict, ref: str) -> tuple[dict | None, bool]:
    """The question a condition refers to and whether it is a matrix item."""
    key, _dot, item = ref.partition(".")
    for _page, question in iter_questions(document):
        if question.get("key") == key:
            return question, bool(item)
    return None, bool(item)


def _number(text: str):
    try:
        number = float(text)
    except ValueError:
        return None
    if not math.isfinite(number):
        return None
    return int(number) if number.is_integer() else number


def _leaf_value(document: dict, ref: str, op: str, raw: str, field: str):
    question, is_item = _source_question(document, ref)
    qtype = question.get("type") if question else None
    numeric = is_item or qtype in NUMERIC_TYPES
    raw = (raw or "").strip()
    if op == "answered":
        lowered = raw.lower()
        if lowered in ("", "true", "yes", "1"):
            return True
        if lowered in ("false", "no", "0"):
            return False
        raise ServiceError(_l("Write true or false."), field=field)
    parts = [p.strip() for p in raw.split(",")] if op in ("in", "not_in") else [raw]
    if not all(parts):
        raise ServiceError(_l("Give the value to compare the answer with."), field=field)
    if op in ("greater", "less") and not numeric:
        raise ServiceError(
            _l("Greater and less work only on questions answered with a number."), field=field
        )
    values = []
    for part in parts:
        if numeric and not (part == "na" and op in ("equals", "not_equals", "in", "not_in")):
            number = _number(part)
            if number is None:
                raise ServiceError(_l("“%(value)s” is not a number.", value=part), field=field)
            values.append(number)
        else:
            if qtype in CHOICE_TYPES:
                known = {o.get("value") for o in question.get("options") or []}
                if part not in known:
                    raise ServiceError(
                        _l("“%(value)s” is not an option value of this question.", value=part),
                        field=field,
                    )
            values.append(part)
    return values if op in ("in", "not_in") else values[0]


def build_condition(document: dict, combinator: str, rows: list[tuple[str, str, str]]):
    """A condition from the structured editor's rows of ``(question, op, value)``.

    Rows without a question are ignored; no rows means no condition (``None``). One
    row is a plain test; several are combined with ``combinator`` (``all`` / ``any``).
    Errors name the row's field, e.g. ``rows-1-value``.
    """
    if combinator not in COMBINATORS:
        raise ServiceError(_l("Choose all or any."), field="combinator")
    leaves = []
    for index, (ref, op, raw) in enumerate(rows):
        ref = (ref or "").strip()
        if not ref:
            continue
        if not re.fullmatch(r"[a-z][a-z0-9_-]{0,63}(\.[a-z][a-z0-9_-]{0,63})?", ref):
            raise ServiceError(_l("Choose a question."), field=f"rows-{index}-question")
        if op not in CONDITION_OPS:
            raise ServiceError(_l("Choose a comparison."), field=f"rows-{index}-op")
        value = _leaf_value(document, ref, op, raw, f"rows-{index}-value")
        leaves.append({"question": ref, "op": op, "value": value})
    if len(leaves) > MAX_LEAVES:
        raise ServiceError(_l("Use at most %(n)d tests.", n=MAX_LEAVES), field="combinator")
    if not leaves:
        return None
    if len(leaves) == 1:
        return leaves[0]
    return {combinator: leaves}


def parse_condition_yaml(text: str, field: str = "yaml"):
    """A condition written in YAML (or JSON), checked for shape; empty text is none."""
    if not (text or "").strip():
        return None
    try:
        condition = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        message = (
            _l("This is not valid YAML (line %(line)d).", line=mark.line + 1)
            if mark is not None
            else _l("This is not valid YAML.")
        )
        raise ServiceError(message, field=field) from None
    if condition is None:
        return None
    _check_condition_shape(condition, field)
    return condition


def _check_condition_shape(condition, field: str, depth: int = 0) -> None:
    if depth > 10:
        raise ServiceError(_l("The condition is nested too deeply."), field=field)
    if not isinstance(condition, dict):
        raise ServiceError(
            _l("A condition is a test {question, op, value} or {all: […]} / {any: […]}."),
            field=field,
        )
    for combinator in COMBINATORS:
        if combinator in condition:
            parts = condition[combinator]
            if len(condition) != 1 or not isinstance(parts, list) or not parts:
                raise ServiceError(
                    _l("“%(name)s” takes a non-empty list of conditions and nothing else.",
                       name=combinator),
                    field=field,
                )
            for part in parts:
                _check_condition_shape(part, field, depth + 1)
            return
    if set(condition) != {"question", "op", "value"}:
        raise ServiceError(
            _l("A test has exactly the fields question, op and value."), field=field
        )
    if condition["op"] not in CONDITION_OPS:
        raise ServiceError(
            _l("Unknown comparison “%(op)s”.", op=str(condition["op"])), field=field
        )
    if not isinstance(condition["question"], str):
        raise ServiceError(_l("“question” is the key of a question."), field=field)


def set_condition(document: dict, kind: str, key: str, condition) -> dict:
    """Set (or with ``None`` remove) the ``show_if`` of page or question ``key``."""
    doc = copy.deepcopy(document)
    holder = find_page(doc, key) if kind == "page" else find_question(doc, key)[1]
    if condition is not None:
        _check_condition_shape(condition, "combinator")
        if kind == "question" and any(_refers_to(l, key) for l in iter_leaves(condition)):  # noqa: E741
            raise ServiceError(
                _l("A question cannot depend on its own answer."), field="combinator"
            )
        condition = copy.deepcopy(condition)
    _set(holder, "show_if", condition)
    if kind == "page":
        _reorder_page(doc, _page_index(doc, key))
    else:
        p, q = _question_index(doc, key)
        doc["pages"][p]["questions"][q] = _ordered(holder)
    return doc


# ----------------------------------------------------------------- questionnaire


def update_settings(
    document: dict,
    *,
    title_en: str,
    title_zh: str,
    description_en: str = "",
    description_zh: str = "",
    default_locale: str = "",
) -> dict:
    """Title, description and the language the questionnaire is written in."""
    doc = copy.deepcopy(document)
    title = _required_text(title_en, title_zh, previous=doc.get("title"), field="title_en")
    description = bilingual(
        description_en, description_zh, previous=doc.get("description"), field="description_en"
    )
    if default_locale and default_locale not in LOCALES:
        raise ServiceError(_l("Choose English or Chinese."), field="default_locale")
    ordered = {}
    for name in ("format", "key"):
        if name in doc:
            ordered[name] = doc[name]
    ordered["title"] = title
    if description is not None:
        ordered["description"] = description
    if default_locale:
        ordered["default_locale"] = default_locale
    for name, value in doc.items():
        if name not in ("format", "key", "title", "description", "default_locale"):
            ordered[name] = value
    return ordered


# ----------------------------------------------------------------- dimensions


def _weight(value, field: str = "weight"):
    if value is None or value == "":
        return None
    try:
        weight = float(value)
    except (TypeError, ValueError):
        weight = math.nan
    if not math.isfinite(weight) or weight <= 0:
        raise ServiceError(_l("The weight is a number greater than 0."), field=field)
    return int(weight) if weight.is_integer() else weight


def _dimension(*, key, name_en, name_zh, description_en, description_zh, kind, weight,
               previous=None):
    previous = previous or {}
    if kind and kind not in DIMENSION_KINDS:
        raise ServiceError(_l("Choose competency or KPI."), field="kind")
    dimension = {
        "key": key,
        "name": _required_text(name_en, name_zh, previous=previous.get("name"),
                               field="name_en"),
    }
    description = bilingual(description_en, description_zh,
                            previous=previous.get("description"), field="description_en")
    if description is not None:
        dimension["description"] = description
    if kind:
        dimension["kind"] = kind
    weight = _weight(weight)
    if weight is not None:
        dimension["weight"] = weight
    return dimension


def add_dimension(
    document: dict,
    *,
    key: str = "",
    name_en: str = "",
    name_zh: str = "",
    description_en: str = "",
    description_zh: str = "",
    kind: str = "",
    weight=None,
) -> dict:
    doc = copy.deepcopy(document)
    dimensions = doc.setdefault("dimensions", [])
    taken = {d.get("key") for d in dimensions}
    if (key or "").strip():
        key = _check_key(key)
        if key in taken:
            raise ServiceError(
                _l("There is already a dimension with the key “%(key)s”.", key=key), field="key"
            )
    else:
        key = _suggest_value(taken, name_en, "dimension-")
    dimensions.append(
        _dimension(key=key, name_en=name_en, name_zh=name_zh,
                   description_en=description_en, description_zh=description_zh,
                   kind=kind, weight=weight)
    )
    return _reorder_document(doc)


def update_dimension(
    document: dict,
    dimension_key: str,
    *,
    key: str,
    name_en: str = "",
    name_zh: str = "",
    description_en: str = "",
    description_zh: str = "",
    kind: str = "",
    weight=None,
) -> dict:
    """Change a dimension; a new key is also given to the questions and items using it."""
    doc = copy.deepcopy(document)
    index = _dimension_index(doc, dimension_key)
    key = _check_key(key)
    if key != dimension_key and any(d.get("key") == key for d in doc["dimensions"]):
        raise ServiceError(
            _l("There is already a dimension with the key “%(key)s”.", key=key), field="key"
        )
    doc["dimensions"][index] = _dimension(
        key=key, name_en=name_en, name_zh=name_zh, description_en=description_en,
        description_zh=description_zh, kind=kind, weight=weight,
        previous=doc["dimensions"][index],
    )
    if key != dimension_key:
        for holder in _dimension_users(doc, dimension_key):
            holder["dimension"] = key
    return doc


def _dimension_users(document: dict, key: str) -> list[dict]:
    users = []
    for _page, question in iter_questions(document):
        if question.get("dimension") == key:
            users.append(question)
        for item in question.get("items") or []:
            if isinstance(item, dict) and item.get("dimension") == key:
                users.append(item)
    return users


def dimension_usage(document: dict, key: str) -> list[str]:
    """Keys of the questions (``matrix.item`` for items) that feed dimension ``key``."""
    used = []
    for _page, question in iter_questions(document):
        if question.get("dimension") == key:
            used.append(str(question.get("key")))
        for item in question.get("items") or []:
            if isinstance(item, dict) and item.get("dimension") == key:
                used.append(f"{question.get('key')}.{item.get('key')}")
    return used


def delete_dimension(document: dict, key: str) -> dict:
    """Remove a dimension no question or item feeds any more."""
    doc = copy.deepcopy(document)
    index = _dimension_index(doc, key)
    used = dimension_usage(doc, key)
    if used:
        raise ServiceError(
            _l("The dimension “%(key)s” is still used by %(questions)s. Move those questions "
               "to another dimension first.", key=key, questions=", ".join(used)),
            field="key",
        )
    del doc["dimensions"][index]
    if not doc["dimensions"]:
        del doc["dimensions"]
    return doc


def move_dimension(document: dict, key: str, direction: str) -> dict:
    doc = copy.deepcopy(document)
    _moved(doc["dimensions"], _dimension_index(doc, key), direction)
    return doc


# ----------------------------------------------------------------- pages


def _reorder_page(doc: dict, index: int) -> None:
    page = doc["pages"][index]
    order = ("key", "title", "description", "show_if", "questions")
    ordered = {name: page[name] for name in order if name in page}
    ordered.update({k: v for k, v in page.items() if k not in ordered})
    doc["pages"][index] = ordered


def _reorder_document(doc: dict) -> dict:
    order = ("format", "key", "title", "description", "default_locale", "dimensions", "pages")
    ordered = {name: doc[name] for name in order if name in doc}
    ordered.update({k: v for k, v in doc.items() if k not in ordered})
    return ordered


def add_page(
    document: dict,
    *,
    key: str = "",
    title_en: str = "",
    title_zh: str = "",
    description_en: str = "",
    description_zh: str = "",
) -> dict:
    """A new empty page at the end."""
    doc = copy.deepcopy(document)
    pages = doc.setdefault("pages", [])
    if len(pages) >= MAX_PAGES:
        raise ServiceError(_l("A questionnaire has at most %(n)d pages.", n=MAX_PAGES))
    key = _new_page_key(doc, key)
    page = {"key": key}
    title = bilingual(title_en, title_zh, field="title_en")
    if title is not None:
        page["title"] = title
    description = bilingual(description_en, description_zh, field="description_en")
    if description is not None:
        page["description"] = description
    page["questions"] = []
    pages.append(page)
    return _reorder_document(doc)


def _new_page_key(doc: dict, key: str, current: str | None = None) -> str:
    if not (key or "").strip():
        return suggest_page_key(doc)
    key = _check_key(key)
    if key != current and any(p.get("key") == key for p in doc.get("pages") or []):
        raise ServiceError(
            _l("There is already a page with the key “%(key)s”.", key=key), field="key"
        )
    return key


def update_page(
    document: dict,
    page_key: str,
    *,
    key: str,
    title_en: str = "",
    title_zh: str = "",
    description_en: str = "",
    description_zh: str = "",
) -> dict:
    doc = copy.deepcopy(document)
    index = _page_index(doc, page_key)
    page = doc["pages"][index]
    key = _check_key(key)
    if key != page_key and any(p.get("key") == key for p in doc["pages"]):
        raise ServiceError(
            _l("There is already a page with the key “%(key)s”.", key=key), field="key"
        )
    page["key"] = key
    _set(page, "title", bilingual(title_en, title_zh, previous=page.get("title"),
                                  field="title_en"))
    _set(page, "description", bilingual(description_en, description_zh,
                                        previous=page.get("description"),
                                        field="description_en"))
    _reorder_page(doc, index)
    return doc


def delete_page(document: dict, page_key: str, *, with_questions: bool = False) -> dict:
    """Remove a page. One with questions goes only when ``with_questions`` says so, and
    never while a condition elsewhere still tests one of them."""
    doc = copy.deepcopy(document)
    index = _page_index(doc, page_key)
    if len(doc["pages"]) == 1:
        raise ServiceError(_l("A questionnaire needs at least one page."))
    page = doc["pages"][index]
    questions = page.get("questions") or []
    if questions and not with_questions:
        raise ServiceError(
            _l("The page has questions. Tick the box to delete them with the page."),
            field="with_questions",
        )
    del doc["pages"][index]
    for question in questions:
        users = referrers(doc, question.get("key"))
        if users:
            raise ServiceError(
                _l("“%(key)s” on this page is used by the condition of %(users)s. "
                   "Change that condition first.",
                   key=question.get("key"), users=", ".join(users)),
                field="with_questions",
            )
    return doc


def move_page(document: dict, page_key: str, direction: str) -> dict:
    doc = copy.deepcopy(document)
    _moved(doc["pages"], _page_index(doc, page_key), direction)
    return doc


# ----------------------------------------------------------------- questions


def _ordered(question: dict) -> dict:
    ordered = {name: question[name] for name in FIELD_ORDER if name in question}
    ordered.update({k: v for k, v in question.items() if k not in ordered})
    return ordered


def _new_question_key(doc: dict, key: str, question_type: str, current: str | None = None):
    if not (key or "").strip():
        return suggest_question_key(doc, question_type)
    key = _check_key(key)
    if key != current and key in question_keys(doc):
        raise ServiceError(
            _l("There is already a question with the key “%(key)s”.", key=key), field="key"
        )
    return key


def new_question(question_type: str, key: str, text) -> dict:
    """A question of ``question_type`` with the fields its type needs."""
    if question_type not in QUESTION_TYPES:
        raise ServiceError(_l("Choose a question type."), field="type")
    question = {"key": key, "type": question_type}
    if text is not None:
        question["text"] = text
    if question_type in RATING_TYPES:
        question["scale"] = {"points": 5}
    if question_type == "matrix":
        question["items"] = []
    if question_type in CHOICE_TYPES:
        question["options"] = []
    return _ordered(question)


def add_question(
    document: dict,
    page_key: str,
    *,
    question_type: str,
    key: str = "",
    text_en: str = "",
    text_zh: str = "",
) -> dict:
    """A new question at the end of a page (its key suggested when not given)."""
    doc = copy.deepcopy(document)
    page = find_page(doc, page_key)
    questions = page.setdefault("questions", [])
    if len(questions) >= MAX_QUESTIONS_PER_PAGE:
        raise ServiceError(
            _l("A page has at most %(n)d questions.", n=MAX_QUESTIONS_PER_PAGE)
        )
    if question_type not in QUESTION_TYPES:
        raise ServiceError(_l("Choose a question type."), field="type")
    key = _new_question_key(doc, key, question_type)
    text = _required_text(text_en, text_zh)
    questions.append(new_question(question_type, key, text))
    return doc


def update_question(
    document: dict,
    question_key: str,
    *,
    key: str,
    text_en: str = "",
    text_zh: str = "",
    help_en: str = "",
    help_zh: str = "",
    required: bool = False,
    dimension: str | None = None,
    weight=None,
    reverse: bool = False,
    max_length: int | None = None,
    minimum=None,
    maximum=None,
    integer: bool = False,
    min_selections: int | None = None,
    max_selections: int | None = None,
) -> dict:
    """Change a question's common fields and those of its type (others are ignored).

    A new key is also given to the conditions that test the question.
    """
    doc = copy.deepcopy(document)
    p, q = _question_index(doc, question_key)
    question = doc["pages"][p]["questions"][q]
    qtype = question.get("type")
    key = _new_question_key(doc, key, qtype, current=question_key)
    fields = TYPE_FIELDS.get(qtype, ())
    question["key"] = key
    question["text"] = _required_text(text_en, text_zh, previous=question.get("text"))
    if qtype == "text_block":
        question.pop("help", None)
        question.pop("required", None)
    else:
        _set(question, "help", bilingual(help_en, help_zh, previous=question.get("help"),
                                         field="help_en"))
        _set(question, "required", True if required else None)
    if "dimension" in fields:
        dimension = (dimension or "").strip() or None
        if dimension is not None and dimension not in {
            d.get("key") for d in doc.get("dimensions") or []
        }:
            raise ServiceError(_l("Choose one of the questionnaire's dimensions."),
                               field="dimension")
        _set(question, "dimension", dimension)
        _set(question, "weight", _weight(weight))
    if "reverse" in fields:
        _set(question, "reverse", True if reverse else None)
    if "max_length" in fields:
        _set(question, "max_length", _max_length(qtype, max_length))
    if qtype == "number":
        low, high = _number_or_none(minimum, "minimum"), _number_or_none(maximum, "maximum")
        if low is not None and high is not None and low > high:
            raise ServiceError(_l("The minimum cannot be above the maximum."), field="minimum")
        _set(question, "min", low)
        _set(question, "max", high)
        _set(question, "integer", True if integer else None)
    if qtype == "date":
        low, high = _date_or_none(minimum, "minimum"), _date_or_none(maximum, "maximum")
        if low is not None and high is not None and low > high:
            raise ServiceError(_l("The earliest date cannot be after the latest."),
                               field="minimum")
        _set(question, "min", low)
        _set(question, "max", high)
    if qtype == "multiple_choice":
        low = _count_or_none(min_selections, 0, "min_selections")
        high = _count_or_none(max_selections, 1, "max_selections")
        if low is not None and high is not None and low > high:
            raise ServiceError(
                _l("The minimum cannot be above the maximum."), field="min_selections"
            )
        options = len(question.get("options") or [])
        if high is not None and options and high > options:
            raise ServiceError(
                _l("The question has only %(n)d options.", n=options), field="max_selections"
            )
        _set(question, "min_selections", low)
        _set(question, "max_selections", high)
    if key != question_key:
        _rename_references(doc, question_key, key)
    doc["pages"][p]["questions"][q] = _ordered(question)
    return doc


def _max_length(qtype: str, value) -> int | None:
    if value is None or value == "":
        return None
    _default, limit = TEXT_LIMITS[qtype]
    try:
        value = int(value)
    except (TypeError, ValueError):
        value = 0
    if not 1 <= value <= limit:
        raise ServiceError(_l("Enter a number from 1 to %(n)d.", n=limit), field="max_length")
    return value


def _number_or_none(value, field: str):
    if value is None or value == "":
        return None
    number = _number(str(value))
    if number is None:
        raise ServiceError(_l("Enter a number."), field=field)
    return number


def _date_or_none(value, field: str):
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value.isoformat()
    try:
        return date.fromisoformat(str(value).strip()).isoformat()
    except ValueError:
        raise ServiceError(_l("Enter a date as YYYY-MM-DD."), field=field) from None


def _count_or_none(value, minimum: int, field: str):
    if value is None or value == "":
        return None
    try:
        value = int(value)
    except (TypeError, ValueError):
        value = -1
    if value < minimum:
        raise ServiceError(_l("Enter a whole number of at least %(n)d.", n=minimum), field=field)
    return value


def delete_question(document: dict, question_key: str) -> dict:
    """Remove a question no condition tests."""
    doc = copy.deepcopy(document)
    p, q = _question_index(doc, question_key)
    users = referrers(doc, question_key)
    if users:
        raise ServiceError(
            _l("“%(key)s” is used by the condition of %(users)s. Change that condition first.",
               key=question_key, users=", ".join(users))
        )
    del doc["pages"][p]["questions"][q]
    return doc


def move_question(document: dict, question_key: str, direction: str) -> dict:
    """Move a question up or down; past the top or bottom of its page it goes to the end
    of the page before or the start of the page after."""
    if direction not in ("up", "down"):
        raise ServiceError(_l("Move up or down."), field="direction")
    doc = copy.deepcopy(document)
    p, q = _question_index(doc, question_key)
    pages = doc["pages"]
    questions = pages[p]["questions"]
    if (direction == "up" and q > 0) or (direction == "down" and q < len(questions) - 1):
        _moved(questions, q, direction)
    elif direction == "up" and p > 0:
        pages[p - 1].setdefault("questions", []).append(questions.pop(q))
    elif direction == "down" and p < len(pages) - 1:
        pages[p + 1].setdefault("questions", []).insert(0, questions.pop(q))
    return doc


def move_question_to_page(document: dict, question_key: str, page_key: str) -> dict:
    """Move a question to the end of another page."""
    doc = copy.deepcopy(document)
    p, q = _question_index(doc, question_key)
    target = find_page(doc, page_key)
    if target is doc["pages"][p]:
        return doc
    target.setdefault("questions", []).append(doc["pages"][p]["questions"].pop(q))
    return doc


def set_question_type(document: dict, question_key: str, question_type: str) -> dict:
    """Change a question's type, keeping what the new type can use.

    Options stay between choice types, the scale between rating types (labels outside
    the new range are dropped), a likert question becomes the first item of a matrix
    and back, the maximum length between the text types when it fits. Fields the new
    type does not have are dropped.
    """
    if question_type not in QUESTION_TYPES:
        raise ServiceError(_l("Choose a question type."), field="type")
    doc = copy.deepcopy(document)
    p, q = _question_index(doc, question_key)
    old = doc["pages"][p]["questions"][q]
    old_type = old.get("type")
    if old_type == question_type:
        return doc
    allowed = TEXT_BLOCK_FIELDS if question_type == "text_block" else COMMON_FIELDS
    new = {name: old[name] for name in allowed if name in old}
    new["type"] = question_type
    fields = TYPE_FIELDS[question_type]
    scored = {name: old[name] for name in ("dimension", "weight", "reverse") if name in old}
    if "scale" in fields:
        new["scale"] = _converted_scale(old.get("scale"), old_type, question_type)
        if not new["scale"]:
            del new["scale"]
    if question_type == "matrix":
        items = old.get("items") if old_type == "matrix" else None
        if items is None:
            item = {"key": "item1", "text": old.get("text") or {"en": "Item 1"}}
            item.update(scored)
            items = [item] if old_type == "likert" else []
        new["items"] = items
    elif old_type == "matrix" and question_type in ("likert",):
        first = (old.get("items") or [{}])[0]
        scored = {n: first[n] for n in ("dimension", "weight", "reverse") if n in first}
    for name in ("dimension", "weight", "reverse"):
        if name in fields and name in scored:
            new[name] = scored[name]
    if "options" in fields:
        new["options"] = list(old.get("options") or [])
    if question_type == "multiple_choice":
        for name in ("min_selections", "max_selections"):
            if name in old:
                new[name] = old[name]
    if "max_length" in fields and old.get("max_length", math.inf) <= TEXT_LIMITS[question_type][1]:
        new["max_length"] = old["max_length"]
    doc["pages"][p]["questions"][q] = _ordered(new)
    return doc


def scale_range(question: dict) -> tuple[int, int]:
    """The lowest and highest point of a question's scale."""
    qtype = question.get("type")
    if qtype in FIXED_SCALES:
        return FIXED_SCALES[qtype]
    points = (question.get("scale") or {}).get("points") or 5
    return 1, int(points)


def _converted_scale(scale, old_type: str, new_type: str) -> dict:
    scale = dict(scale or {})
    labels = dict(scale.get("labels") or {})
    if old_type == "nps" and new_type in RATING_TYPES:
        # 0–10 becomes 1–11: the same eleven points, shifted by one.
        labels = {str(int(k) + 1): v for k, v in labels.items() if k.isdigit()}
    if new_type in FIXED_SCALES:
        scale.pop("points", None)
        low, high = FIXED_SCALES[new_type]
    else:
        if old_type in FIXED_SCALES:
            scale["points"] = FIXED_SCALES[old_type][1] - FIXED_SCALES[old_type][0] + 1
        scale.setdefault("points", 5)
        low, high = 1, scale["points"]
    labels = {k: v for k, v in labels.items() if k.isdigit() and low <= int(k) <= high}
    if labels:
        scale["labels"] = labels
    else:
        scale.pop("labels", None)
    if not scale.get("not_applicable"):
        scale.pop("not_applicable", None)
    order = ("points", "labels", "not_applicable")
    return {name: scale[name] for name in order if name in scale}


def update_scale(
    document: dict,
    question_key: str,
    *,
    points: int | None = None,
    labels: dict[str, tuple[str, str]] | None = None,
    not_applicable: bool = False,
) -> dict:
    """A rating question's scale: points (likert and matrix, 2–11), a label per point
    (``{"1": (en, zh), …}``; empty labels are removed) and "not applicable"."""
    doc = copy.deepcopy(document)
    p, q = _question_index(doc, question_key)
    question = doc["pages"][p]["questions"][q]
    qtype = question.get("type")
    if qtype not in RATING_TYPES and qtype not in FIXED_SCALES:
        raise ServiceError(_l("Only rating questions have a scale."))
    old = question.get("scale") or {}
    scale = {}
    if qtype in RATING_TYPES:
        try:
            points = int(points)
        except (TypeError, ValueError):
            points = 0
        if not 2 <= points <= 11:
            raise ServiceError(_l("A scale has 2 to 11 points."), field="points")
        scale["points"] = points
        low, high = 1, points
    else:
        low, high = FIXED_SCALES[qtype]
    old_labels = old.get("labels") or {}
    new_labels = {}
    for point in range(low, high + 1):
        name = str(point)
        en, zh = (labels or {}).get(name, ("", ""))
        label = bilingual(en, zh, previous=old_labels.get(name), field=f"label_{name}_en")
        if label is not None:
            new_labels[name] = label
    if new_labels:
        scale["labels"] = new_labels
    if not_applicable:
        scale["not_applicable"] = True
    if scale:
        question["scale"] = scale
    else:
        question.pop("scale", None)
    doc["pages"][p]["questions"][q] = _ordered(question)
    return doc


# ----------------------------------------------------------------- options


def _choice_question(doc: dict, question_key: str) -> dict:
    _page, question = find_question(doc, question_key)
    if question.get("type") not in CHOICE_TYPES:
        raise ServiceError(_l("Only choice questions have options."))
    return question


def _option_index(question: dict, value: str) -> int:
    return _entry_index(
        question.get("options") or [], "value", value,
        _l("There is no option “%(value)s” in this question.", value=value),
    )


def add_option(
    document: dict, question_key: str, *, value: str = "", label_en: str = "", label_zh: str = ""
) -> dict:
    """A new option at the end (its value made from the English label when not given)."""
    doc = copy.deepcopy(document)
    question = _choice_question(doc, question_key)
    options = question.setdefault("options", [])
    if len(options) >= MAX_OPTIONS:
        raise ServiceError(_l("A question has at most %(n)d options.", n=MAX_OPTIONS))
    label = _required_text(label_en, label_zh, field="label_en")
    taken = {o.get("value") for o in options}
    if (value or "").strip():
        value = _check_key(value, "value")
        if value in taken:
            raise ServiceError(
                _l("The question already has an option “%(value)s”.", value=value),
                field="value",
            )
    else:
        value = _suggest_value(taken, label_en, "option-")
    options.append({"value": value, "label": label})
    return doc


def update_option(
    document: dict,
    question_key: str,
    option_value: str,
    *,
    value: str,
    label_en: str = "",
    label_zh: str = "",
) -> dict:
    """Change an option; a new value is also given to the conditions comparing with it."""
    doc = copy.deepcopy(document)
    question = _choice_question(doc, question_key)
    index = _option_index(question, option_value)
    option = question["options"][index]
    value = _check_key(value, "value")
    if value != option_value and any(o.get("value") == value for o in question["options"]):
        raise ServiceError(
            _l("The question already has an option “%(value)s”.", value=value), field="value"
        )
    label = _required_text(label_en, label_zh, previous=option.get("label"), field="label_en")
    question["options"][index] = {"value": value, "label": label}
    if value != option_value:
        _rename_values(doc, question_key, option_value, value)
    return doc


def delete_option(document: dict, question_key: str, option_value: str) -> dict:
    doc = copy.deepcopy(document)
    question = _choice_question(doc, question_key)
    del question["options"][_option_index(question, option_value)]
    return doc


def move_option(document: dict, question_key: str, option_value: str, direction: str) -> dict:
    doc = copy.deepcopy(document)
    question = _choice_question(doc, question_key)
    _moved(question["options"], _option_index(question, option_value), direction)
    return doc


# ----------------------------------------------------------------- matrix items


def _matrix(doc: dict, question_key: str) -> dict:
    _page, question = find_question(doc, question_key)
    if question.get("type") != "matrix":
        raise ServiceError(_l("Only matrix questions have items."))
    return question


def _item_index(question: dict, key: str) -> int:
    return _entry_index(
        question.get("items") or [], "key", key,
        _l("There is no item “%(key)s” in this matrix.", key=key),
    )


def _item(doc, *, key, text_en, text_zh, dimension, weight, reverse, previous=None):
    item = {
        "key": key,
        "text": _required_text(text_en, text_zh, previous=(previous or {}).get("text")),
    }
    dimension = (dimension or "").strip() or None
    if dimension is not None:
        if dimension not in {d.get("key") for d in doc.get("dimensions") or []}:
            raise ServiceError(_l("Choose one of the questionnaire's dimensions."),
                               field="dimension")
        item["dimension"] = dimension
    weight = _weight(weight)
    if weight is not None:
        item["weight"] = weight
    if reverse:
        item["reverse"] = True
    return item


def add_item(
    document: dict,
    question_key: str,
    *,
    key: str = "",
    text_en: str = "",
    text_zh: str = "",
    dimension: str | None = None,
    weight=None,
    reverse: bool = False,
) -> dict:
    """A new item at the end of a matrix (key ``item<n>`` when not given)."""
    doc = copy.deepcopy(document)
    question = _matrix(doc, question_key)
    items = question.setdefault("items", [])
    if len(items) >= MAX_ITEMS:
        raise ServiceError(_l("A matrix has at most %(n)d items.", n=MAX_ITEMS))
    taken = {i.get("key") for i in items}
    if (key or "").strip():
        key = _check_key(key)
        if key in taken:
            raise ServiceError(
                _l("The matrix already has an item “%(key)s”.", key=key), field="key"
            )
    else:
        key = _free_key(taken, "item", len(items) + 1)
    items.append(_item(doc, key=key, text_en=text_en, text_zh=text_zh, dimension=dimension,
                       weight=weight, reverse=reverse))
    return doc


def update_item(
    document: dict,
    question_key: str,
    item_key: str,
    *,
    key: str,
    text_en: str = "",
    text_zh: str = "",
    dimension: str | None = None,
    weight=None,
    reverse: bool = False,
) -> dict:
    doc = copy.deepcopy(document)
    question = _matrix(doc, question_key)
    index = _item_index(question, item_key)
    key = _check_key(key)
    if key != item_key and any(i.get("key") == key for i in question["items"]):
        raise ServiceError(_l("The matrix already has an item “%(key)s”.", key=key), field="key")
    question["items"][index] = _item(
        doc, key=key, text_en=text_en, text_zh=text_zh, dimension=dimension, weight=weight,
        reverse=reverse, previous=question["items"][index],
    )
    if key != item_key:
        _rename_references(doc, f"{question_key}.{item_key}", f"{question_key}.{key}")
    return doc


def delete_item(document: dict, question_key: str, item_key: str) -> dict:
    doc = copy.deepcopy(document)
    question = _matrix(doc, question_key)
    index = _item_index(question, item_key)
    users = referrers(doc, f"{question_key}.{item_key}")
    if users:
        raise ServiceError(
            _l("“%(key)s” is used by the condition of %(users)s. Change that condition first.",
               key=f"{question_key}.{item_key}", users=", ".join(users))
        )
    del question["items"][index]
    return doc


def move_item(document: dict, question_key: str, item_key: str, direction: str) -> dict:
    doc = copy.deepcopy(document)
    question = _matrix(doc, question_key)
    _moved(question["items"], _item_index(question, item_key), direction)
    return doc
