"""Generated questionnaires and answers (Hypothesis): whatever an admin writes and a
respondent answers survives export/import, the form and the database unchanged."""

from __future__ import annotations

import dataclasses
from datetime import date

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from surveys.definition import (
    NA,
    Page,
    Question,
    answer_to_form,
    answer_to_rows,
    dump_document,
    parse_document,
    read_page,
    rows_to_answer,
    validate_document,
)
from tests.surveys.definition_factory import form

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

KEY_TAIL = st.from_regex(r"[a-z0-9_]{0,6}", fullmatch=True)
OPTION_VALUE = st.from_regex(r"[a-z][a-z0-9_-]{0,8}", fullmatch=True)
# Any text a person can type or paste, including Chinese, emoji, quotes, markup and
# YAML/JSON syntax (not NUL or lone surrogates, which documents refuse).
TEXT = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=24)
LOCALIZED = st.one_of(
    TEXT,
    st.fixed_dictionaries({}, optional={"en": TEXT, "zh_CN": TEXT}).filter(bool),
)
WEIGHT = st.one_of(st.integers(1, 10), st.floats(0.01, 100, allow_nan=False))
NUMBER = st.one_of(st.integers(-10**6, 10**6), st.floats(-1e6, 1e6, allow_nan=False))
DATES = st.dates(date(2000, 1, 1), date(2050, 12, 31))

TYPES = ["likert", "matrix", "nps", "csat", "ces", "single_choice", "dropdown",
         "multiple_choice", "ranking", "short_text", "long_text", "number", "date",
         "text_block"]
FIXED = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}


def maybe(draw, doc: dict, name: str, strategy) -> None:
    """Set ``doc[name]`` from ``strategy``, or leave the optional field out."""
    if draw(st.booleans()):
        doc[name] = draw(strategy)


def unique_values(draw, strategy, low: int, high: int) -> list:
    return draw(st.lists(strategy, min_size=low, max_size=high, unique=True))


@st.composite
def scale_labels(draw, low: int, high: int):
    points = draw(st.lists(st.integers(low, high), unique=True, max_size=3))
    return {str(p): draw(LOCALIZED) for p in points}


@st.composite
def condition_on(draw, target: dict):
    """A valid leaf condition on an earlier question (document form)."""
    t = target["type"]
    key = target["key"]
    if t in ("likert", "matrix", *FIXED):
        scale = target.get("scale", {})
        low, high = FIXED.get(t, (1, scale.get("points")))
        points = list(range(low, high + 1)) + ([NA] if scale.get("not_applicable") else [])
        if t == "matrix":
            key = f"{key}.{draw(st.sampled_from([i['key'] for i in target['items']]))}"
        op = draw(st.sampled_from(["equals", "not_equals", "in", "not_in", "greater", "less",
                                   "answered"]))
        if op in ("greater", "less"):
            value = draw(st.integers(low, high))
        elif op in ("in", "not_in"):
            value = draw(st.lists(st.sampled_from(points), min_size=1, max_size=3))
        elif op == "answered":
            value = draw(st.booleans())
        else:
            value = draw(st.sampled_from(points))
    elif t == "number":
        op = draw(st.sampled_from(["equals", "not_equals", "greater", "less", "in", "answered"]))
        value = (draw(st.booleans()) if op == "answered"
                 else draw(st.lists(NUMBER, min_size=1, max_size=2)) if op == "in"
                 else draw(NUMBER))
    elif t in ("single_choice", "dropdown", "multiple_choice"):
        values = [o["value"] for o in target["options"]]
        op = draw(st.sampled_from(["equals", "not_equals", "in", "not_in", "answered"]))
        value = (draw(st.booleans()) if op == "answered"
                 else draw(st.lists(st.sampled_from(values), min_size=1, max_size=2))
                 if op in ("in", "not_in") else draw(st.sampled_from(values)))
    else:
        op, value = "answered", draw(st.booleans())
    return {"question": key, "op": op, "value": value}


@st.composite
def condition(draw, earlier: list[dict]):
    """A leaf, an all/any of leaves, or an all/any nested in the other."""

    def leaf():
        return draw(condition_on(draw(st.sampled_from(earlier))))

    shape = draw(st.sampled_from(["leaf", "all", "any", "nested"]))
    if shape == "leaf":
        return leaf()
    leaves = [leaf() for _ in range(draw(st.integers(1, 2)))]
    if shape == "nested":
        inner = draw(st.sampled_from(["all", "any"]))
        return {"any" if inner == "all" else "all": [{inner: leaves}, leaf()]}
    return {shape: leaves}


@st.composite
def question_doc(draw, key: str, earlier: list[dict], dimensions: list[str], answerable=False):
    t = draw(st.sampled_from(TYPES[:-1] if answerable else TYPES))
    doc: dict = {"key": key, "type": t, "text": draw(LOCALIZED)}
    if t != "text_block":
        maybe(draw, doc, "help", LOCALIZED)
        maybe(draw, doc, "required", st.booleans())
    if earlier and draw(st.booleans()):
        doc["show_if"] = draw(condition(earlier))
    dimension = st.sampled_from(dimensions) if dimensions else st.nothing()
    if t in ("likert", "matrix"):
        points = draw(st.integers(2, 11))
        scale = {"points": points}
        maybe(draw, scale, "labels", scale_labels(1, points))
        maybe(draw, scale, "not_applicable", st.booleans())
        doc["scale"] = scale
    if t in FIXED and draw(st.booleans()):
        scale = {}
        maybe(draw, scale, "labels", scale_labels(*FIXED[t]))
        maybe(draw, scale, "not_applicable", st.booleans())
        doc["scale"] = scale
    if t in ("likert", *FIXED):
        if dimensions:
            maybe(draw, doc, "dimension", dimension)
        maybe(draw, doc, "weight", WEIGHT)
    if t == "likert":
        maybe(draw, doc, "reverse", st.booleans())
    if t == "matrix":
        doc["items"] = []
        for item_key in unique_values(draw, OPTION_VALUE, 1, 4):
            item = {"key": item_key, "text": draw(LOCALIZED)}
            if dimensions:
                maybe(draw, item, "dimension", dimension)
            maybe(draw, item, "weight", WEIGHT)
            maybe(draw, item, "reverse", st.booleans())
            doc["items"].append(item)
    if t in ("single_choice", "dropdown", "multiple_choice", "ranking"):
        values = unique_values(draw, OPTION_VALUE, 2 if t == "ranking" else 1, 5)
        doc["options"] = [{"value": v, "label": draw(LOCALIZED)} for v in values]
    if t == "multiple_choice":
        count = len(doc["options"])
        high = draw(st.integers(1, count))
        maybe(draw, doc, "max_selections", st.just(high))
        maybe(draw, doc, "min_selections", st.integers(0, high))
    if t in ("short_text", "long_text"):
        maybe(draw, doc, "max_length", st.integers(1, 1000 if t == "short_text" else 20000))
    if t == "number":
        low, high = sorted(draw(st.lists(NUMBER, min_size=2, max_size=2)))
        maybe(draw, doc, "min", st.just(low))
        maybe(draw, doc, "max", st.just(high))
        maybe(draw, doc, "integer", st.booleans())
        if doc.get("integer") and "min" in doc and "max" in doc and int(high) - int(low) < 1:
            doc["max"] = int(low) + 1
    if t == "date":
        low, high = sorted(draw(st.lists(DATES, min_size=2, max_size=2)))
        maybe(draw, doc, "min", st.just(low.isoformat()))
        maybe(draw, doc, "max", st.just(high.isoformat()))
    return doc


@st.composite
def documents(draw):
    dimensions = [f"d{n}{draw(KEY_TAIL)}" for n in range(draw(st.integers(0, 3)))]
    doc: dict = {"format": "orbit.questionnaire/1", "key": f"k{draw(KEY_TAIL)}",
                 "title": draw(LOCALIZED)}
    maybe(draw, doc, "description", LOCALIZED)
    maybe(draw, doc, "default_locale", st.sampled_from(["en", "zh_CN"]))
    if dimensions or draw(st.booleans()):
        doc["dimensions"] = []
        for key in dimensions:
            dim = {"key": key, "name": draw(LOCALIZED)}
            maybe(draw, dim, "description", LOCALIZED)
            maybe(draw, dim, "kind", st.sampled_from(["competency", "kpi"]))
            maybe(draw, dim, "weight", WEIGHT)
            doc["dimensions"].append(dim)
    pages, earlier, n = [], [], 0
    for page_number in range(draw(st.integers(1, 3))):
        page: dict = {"key": f"p{page_number}{draw(KEY_TAIL)}"}
        maybe(draw, page, "title", LOCALIZED)
        maybe(draw, page, "description", LOCALIZED)
        answerable_before = [q for q in earlier if q["type"] != "text_block"]
        if answerable_before and draw(st.booleans()):
            page["show_if"] = draw(condition(answerable_before))
        page["questions"] = []
        for _ in range(draw(st.integers(1, 4))):
            n += 1
            targets = [q for q in earlier if q["type"] != "text_block"]
            q = draw(question_doc(f"q{n}{draw(KEY_TAIL)}", targets, dimensions,
                                  answerable=n == 1))
            page["questions"].append(q)
            earlier.append(q)
        pages.append(page)
    doc["pages"] = pages
    return doc


@SETTINGS
@given(documents())
def test_generated_documents_validate_and_give_themselves_back(doc):
    qn = validate_document(doc)
    assert qn.to_document() == doc


@SETTINGS
@given(documents(), st.sampled_from(["yaml", "json"]))
def test_generated_documents_round_trip_through_export_and_import(doc, fmt):
    text = dump_document(doc, fmt)
    assert parse_document(text, fmt) == doc
    assert parse_document(text.encode("utf-8"), fmt) == doc


# --------------------------------------------------------------------- answers


def answers_for(q: Question):
    """Valid answers of ``q`` in the engine's representation."""
    t = q.type
    if t == "matrix":
        points = list(q.scale.values) + ([NA] if q.scale.not_applicable else [])
        keys = [i.key for i in q.items]
        # a required matrix needs every row; an optional one any of them
        rows = st.just(keys) if q.required else st.lists(
            st.sampled_from(keys), min_size=1, unique=True
        )
        return rows.flatmap(
            lambda chosen: st.fixed_dictionaries({
                k: st.sampled_from(points) for k in keys if k in chosen
            })
        )
    if q.is_scale:
        return st.sampled_from(list(q.scale.values) + ([NA] if q.scale.not_applicable else []))
    values = [o.value for o in q.options]
    if t in ("single_choice", "dropdown"):
        return st.sampled_from(values)
    if t == "multiple_choice":
        low = max(q.min_selections or 0, 1)
        high = q.max_selections or len(values)
        return st.lists(st.sampled_from(values), min_size=low, max_size=high, unique=True).map(
            lambda chosen: [v for v in values if v in chosen]
        )
    if t == "ranking":
        return st.permutations(values)
    if t in ("short_text", "long_text"):
        typed = st.characters(exclude_categories=("Cs", "Cc")) if t == "short_text" else (
            st.one_of(st.characters(exclude_categories=("Cs", "Cc")), st.sampled_from("\n\t"))
        )
        return st.text(typed, min_size=1, max_size=min(q.max_length, 60)).map(str.strip).filter(
            lambda s: s and len(s) <= q.max_length
        )
    if t == "number":
        low = q.min if q.min is not None else -1e9
        high = q.max if q.max is not None else 1e9
        whole = [st.integers(int(-(-low // 1)), int(high // 1))] if (
            -(-low // 1) <= high // 1
        ) else []
        if q.integer:
            return whole[0]
        fractional = st.floats(low, high, allow_nan=False).filter(lambda f: not f.is_integer())
        return st.one_of(*whole, fractional) if low < high else whole[0] if whole else (
            st.just(float(low))
        )
    if t == "date":
        return st.dates(q.min or date(1900, 1, 1), q.max or date(2100, 12, 31)).map(
            date.isoformat
        )
    raise AssertionError(t)


@SETTINGS
@given(documents(), st.data())
def test_every_answer_round_trips_through_the_form_and_the_storage_rows(doc, data):
    qn = validate_document(doc)
    for q in qn.questions:
        if not q.answerable:
            continue
        value = data.draw(answers_for(q), label=q.key)
        back = rows_to_answer(q, answer_to_rows(q, value))
        assert back == value and type(back) is type(value)
        alone = Page(key="p", questions=(dataclasses.replace(q, show_if=None),))
        assert read_page(alone, form(*answer_to_form(q, value)), {}, "en") == ({q.key: value}, {})
