"""Questionnaire documents: reading, writing, the JSON Schema and Orbit's own rules.

Answers, skip logic and storage are in ``test_definition_answers.py``, the respondent
form's HTML in ``test_definition_render.py``, generated documents in
``test_definition_properties.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from surveys.definition import (
    MAX_DOCUMENT_BYTES,
    SCHEMA_PATH,
    DefinitionError,
    dump_document,
    localized,
    parse_document,
    validate_document,
)
from tests.surveys.definition_factory import (
    EXAMPLES,
    HOSTILE_STRINGS,
    OPTIONS,
    document,
    question,
)

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = sorted((ROOT / "surveys" / "library").glob("*.yaml"))


def problems_of(doc) -> dict[str, list[str]]:
    """Every problem of ``doc`` as {path: [message, …]}; fails if the document is valid."""
    with pytest.raises(DefinitionError) as caught:
        validate_document(doc)
    found: dict[str, list[str]] = {}
    for problem in caught.value.problems:
        found.setdefault(problem.path, []).append(str(problem.message))
    return found


def only_problem(doc) -> tuple[str, str]:
    found = problems_of(doc)
    assert len(found) == 1, found
    (path, messages), = found.items()
    assert len(messages) == 1, found
    return path, messages[0]


# --------------------------------------------------------------------- handmade examples

#: The example of docs/questionnaire-format.md, with its placeholders filled in.
FORMAT_DOC_EXAMPLE = """
format: orbit.questionnaire/1
key: customer-satisfaction            # stable identifier: a-z, 0-9, "-" and "_"
title: {en: Customer satisfaction, zh_CN: 客户满意度调查}
description:
  en: Two minutes about your last contact.
  zh_CN: 请花两分钟评价您最近一次的服务体验。
default_locale: zh_CN
dimensions:
  - key: service
    name: {en: Service quality, zh_CN: 服务质量}
    kind: kpi
    weight: 1
pages:
  - key: experience
    title: {en: Your experience, zh_CN: 您的体验}
    description: {en: About your last contact, zh_CN: 关于您最近一次联系}
    questions:
      - key: csat
        type: csat
        text: {en: "How satisfied are you with the service?", zh_CN: 您对本次服务满意吗？}
        help: {en: "1 = very dissatisfied, 5 = very satisfied"}
        required: true
        dimension: service
      - key: why_unhappy
        type: long_text
        text: {en: "What went wrong?", zh_CN: 哪里做得不好？}
        show_if: {question: csat, op: less, value: 3}
        max_length: 2000
  - key: loyalty
    show_if: {question: csat, op: answered, value: true}
    questions:
      - key: nps
        type: nps
        text: {en: "How likely are you to recommend us?", zh_CN: 您向朋友推荐我们的可能性有多大？}
"""

ALL_TYPES = document(
    [question(f"{t.replace('_', '-')}-q", t, required=True if t != "text_block" else None)
     for t in EXAMPLES],
    [
        question("again", "likert", scale={"points": 7, "labels": {"1": "No", "7": "Yes"}},
                 reverse=True, weight=2, dimension="care"),
    ],
    dimensions=[{"key": "care", "name": "Care"}],
    description="Every question type once.",
)

CHINESE_ONLY = {
    "format": "orbit.questionnaire/1",
    "key": "zh-only",
    "title": {"zh_CN": "供应商季度评价"},
    "default_locale": "zh_CN",
    "pages": [
        {
            "key": "basics",
            "title": {"zh_CN": "基本情况"},
            "questions": [
                {"key": "vendor", "type": "dropdown", "text": {"zh_CN": "供应商"},
                 "options": [{"value": "acme", "label": {"zh_CN": "甲公司"}},
                             {"value": "bolt", "label": {"zh_CN": "乙公司"}}]},
                {"key": "score", "type": "likert", "text": {"zh_CN": "总体评分"},
                 "scale": {"points": 5,
                           "labels": {"1": {"zh_CN": "很差"}, "5": {"zh_CN": "很好"}}}},
            ],
        },
        {
            "key": "issues",
            "show_if": {"any": [
                {"question": "score", "op": "less", "value": 3},
                {"all": [{"question": "vendor", "op": "equals", "value": "acme"},
                         {"question": "score", "op": "not_in", "value": [4, 5]}]},
            ]},
            "questions": [
                {"key": "what", "type": "long_text", "text": {"zh_CN": "存在哪些问题？"},
                 "required": True, "max_length": 20000},
            ],
        },
    ],
}

HOSTILE = document(
    [
        {"key": "evil", "type": "single_choice", "text": HOSTILE_STRINGS[0],
         "help": {"en": HOSTILE_STRINGS[1], "zh_CN": HOSTILE_STRINGS[2]},
         "options": [{"value": "a", "label": HOSTILE_STRINGS[2]},
                     {"value": "b", "label": "'; DROP TABLE answers; --"}]},
    ],
    title=" ".join(HOSTILE_STRINGS),
)

HANDMADE = {
    "format-doc example": parse_document(FORMAT_DOC_EXAMPLE, "yaml"),
    "every type": ALL_TYPES,
    "Chinese only, nested conditions": CHINESE_ONLY,
    "hostile text": HOSTILE,
}


@pytest.mark.parametrize("doc", HANDMADE.values(), ids=HANDMADE.keys())
def test_handmade_documents_are_valid_and_give_themselves_back(doc):
    qn = validate_document(doc)
    assert qn.to_document() == doc
    assert validate_document(qn.to_document()).to_document() == qn.to_document()


@pytest.mark.parametrize("doc", HANDMADE.values(), ids=HANDMADE.keys())
@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_export_then_import_round_trips_exactly(doc, fmt):
    exported = dump_document(validate_document(doc).to_document(), fmt)
    imported = parse_document(exported, fmt)
    assert imported == doc
    assert validate_document(imported).to_document() == doc


@pytest.mark.parametrize("path", LIBRARY, ids=[p.stem for p in LIBRARY])
def test_library_templates_round_trip_through_both_formats(path):
    doc = parse_document(path.read_bytes(), "yaml")
    qn = validate_document(doc)
    assert qn.to_document() == doc
    for fmt in ("yaml", "json"):
        assert parse_document(dump_document(doc, fmt), fmt) == doc


def test_absent_optional_fields_stay_absent_and_explicit_defaults_stay():
    doc = document([
        question("a", "short_text", max_length=None),  # the default applies, is not written
        question("b", "long_text", required=False, max_length=5000),  # defaults, written
    ])
    qn = validate_document(doc)
    assert qn.questions[0].max_length == 200
    assert qn.questions[1].max_length == 5000
    out = qn.to_document()["pages"][0]["questions"]
    assert "max_length" not in out[0] and "required" not in out[0]
    assert out[1]["max_length"] == 5000 and out[1]["required"] is False


def test_model_exposes_pages_questions_and_defaults():
    qn = validate_document(parse_document(FORMAT_DOC_EXAMPLE, "yaml"))
    assert [q.key for q in qn.questions] == ["csat", "why_unhappy", "nps"]
    assert qn.question("nps").page_key == "loyalty"
    assert qn.question("missing") is None
    assert qn.page("loyalty").questions[0].key == "nps"
    assert qn.page_index("loyalty") == 1 and qn.page_index("nope") is None
    assert qn.question("csat").scale.values == range(1, 6)
    assert qn.question("nps").scale.values == range(0, 11)
    assert qn.question("why_unhappy").max_length == 2000
    assert qn.dimension("service").kind == "kpi"
    all_types = validate_document(ALL_TYPES)
    assert all_types.question("ces-q").scale.values == range(1, 8)
    assert all_types.question("likert-q").scale.values == range(1, 6)
    assert all_types.question("again").scale.label(7) == "Yes"


# --------------------------------------------------------------------- bilingual text


@pytest.mark.parametrize(
    ("text", "locale", "expected"),
    [
        ({"en": "Hello", "zh_CN": "你好"}, "en", "Hello"),
        ({"en": "Hello", "zh_CN": "你好"}, "zh_CN", "你好"),
        ({"en": "Hello", "zh_CN": "你好"}, "zh-CN", "你好"),
        ({"zh_CN": "你好"}, "en", "你好"),  # missing English falls back to Chinese
        ({"en": "Hello"}, "zh_CN", "Hello"),
        ({"en": "", "zh_CN": "你好"}, "en", "你好"),
        ("Same in both", "zh_CN", "Same in both"),
        (None, "en", ""),
        ({}, "en", ""),
    ],
)
def test_localized_falls_back_to_the_other_language(text, locale, expected):
    assert localized(text, locale) == expected


# --------------------------------------------------------------------- reading files


def test_yaml_syntax_error_names_line_and_column():
    with pytest.raises(DefinitionError) as caught:
        parse_document("format: orbit.questionnaire/1\nkey: [unclosed\ntitle: x\n", "yaml")
    message = str(caught.value)
    assert "line 3" in message and "column" in message


def test_json_syntax_error_names_line_and_column():
    with pytest.raises(DefinitionError) as caught:
        parse_document('{\n  "key": "a",\n  "title": }', "json")
    assert "line 3, column 12" in str(caught.value)


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_files_over_one_megabyte_are_refused_before_parsing(fmt):
    text = "k: " + "x" * MAX_DOCUMENT_BYTES if fmt == "yaml" else json.dumps(
        {"k": "x" * MAX_DOCUMENT_BYTES}
    )
    with pytest.raises(DefinitionError, match="larger than 1 MB"):
        parse_document(text.encode(), fmt)


@pytest.mark.parametrize(
    ("text", "fmt"),
    [("- a\n- b\n", "yaml"), ("just text", "yaml"), ("", "yaml"), ("[1, 2]", "json"),
     ("42", "json")],
)
def test_top_level_must_be_a_mapping(text, fmt):
    with pytest.raises(DefinitionError, match="must be a mapping"):
        parse_document(text, fmt)


def test_yaml_alias_bomb_is_refused():
    bomb = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in "bcdefghi":
        previous = chr(ord(level) - 1)
        bomb.append(f"{level}: &{level} [{', '.join(['*' + previous] * 9)}]")
    with pytest.raises(DefinitionError, match="too large once its YAML aliases are expanded"):
        parse_document("\n".join(bomb), "yaml")


def test_yaml_recursive_alias_is_refused():
    with pytest.raises(DefinitionError, match="refers to itself"):
        parse_document("a: &x [1, *x]\n", "yaml")


def test_yaml_aliases_are_expanded_into_independent_copies():
    doc = parse_document(
        "scales:\n  - &agree {points: 5, labels: {'1': No}}\n  - *agree\n", "yaml"
    )
    first, second = doc["scales"]
    assert first == second == {"points": 5, "labels": {"1": "No"}}
    first["points"] = 7
    assert second["points"] == 5


def test_yaml_tags_that_build_python_objects_are_refused():
    with pytest.raises(DefinitionError, match="YAML syntax error"):
        parse_document("key: !!python/object/apply:os.system ['echo pwned']\n", "yaml")
    with pytest.raises(DefinitionError, match="not supported"):
        parse_document("key: !!binary aGVsbG8=\n", "yaml")


@pytest.mark.parametrize(
    ("text", "fmt"),
    [("a: 1\na: 2\n", "yaml"), ('{"a": 1, "a": 2}', "json"), ("a:\n  b: 1\n  b: 1\n", "yaml")],
)
def test_duplicate_keys_are_refused_not_overwritten(text, fmt):
    with pytest.raises(DefinitionError, match="twice"):
        parse_document(text, fmt)


@pytest.mark.parametrize(
    ("text", "fmt"), [("a: .inf\n", "yaml"), ("a: .nan\n", "yaml"), ('{"a": NaN}', "json"),
                      ('{"a": 1e999}', "json")],
)
def test_infinite_and_nan_numbers_are_refused(text, fmt):
    with pytest.raises(DefinitionError, match="finite"):
        parse_document(text, fmt)


def test_yaml_plain_words_and_dates_stay_text():
    doc = parse_document("a: no\nb: yes\nc: on\nd: 2024-01-31\ne: true\nf: 1\n", "yaml")
    assert doc == {"a": "no", "b": "yes", "c": "on", "d": "2024-01-31", "e": True, "f": 1}


def test_yaml_number_keys_of_scale_labels_become_text():
    doc = parse_document("labels:\n  1: Bad\n  5: Good\n", "yaml")
    assert doc == {"labels": {"1": "Bad", "5": "Good"}}


def test_utf8_bytes_with_bom_are_read_and_other_encodings_refused():
    assert parse_document("\ufefftitle: 满意度\n".encode(), "yaml") == {"title": "满意度"}
    with pytest.raises(DefinitionError, match="not UTF-8"):
        parse_document("title: 满意度\n".encode("gb18030"), "yaml")


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_deeply_nested_documents_are_refused(fmt):
    text = "[" * 5000 + "]" * 5000
    with pytest.raises(DefinitionError, match="nested too deeply"):
        parse_document(f'{{"a": {text}}}', fmt)


# --------------------------------------------------------------------- writing files


def test_yaml_export_keeps_chinese_readable_and_key_order():
    text = dump_document(CHINESE_ONLY, "yaml")
    assert "供应商季度评价" in text and "\\u" not in text
    assert text.index("format:") < text.index("key:") < text.index("title:") < text.index("pages:")


def test_json_export_keeps_chinese_readable_and_is_indented():
    text = dump_document(CHINESE_ONLY, "json")
    assert "供应商季度评价" in text and "\\u" not in text
    assert text.startswith('{\n  "format"')


def test_multiline_text_is_exported_as_a_readable_block():
    doc = {"key": "k", "text": "First line\nsecond line\n"}
    text = dump_document(doc, "yaml")
    assert "text: |" in text
    assert parse_document(text, "yaml") == doc


@pytest.mark.parametrize("fmt", ["yaml", "json"])
@pytest.mark.parametrize(
    "value",
    [*HOSTILE_STRINGS, "no", "2024-01-01", "null", "~", "1e3", "- item", "# not a comment",
     "key: value", "'quoted'", '"', "\\", "\t tab", " leading space", "trailing space ",
     "a\r\nb", "\x85\u2028\u2029", "\ufeffbom", "😀 表情", "", "0o17", "0x1F", "<<"],
)
def test_tricky_text_survives_dump_and_parse_verbatim(fmt, value):
    doc = {"title": value, "labels": {value or "x": value}}
    assert parse_document(dump_document(doc, fmt), fmt) == doc


def test_hostile_text_is_kept_verbatim_through_import_and_export():
    for fmt in ("yaml", "json"):
        qn = validate_document(parse_document(dump_document(HOSTILE, fmt), fmt))
        evil = qn.question("evil")
        assert evil.text == "<script>alert(1)</script>"
        assert evil.help == {"en": '"><svg onload=alert(1)>', "zh_CN": "{{7*7}}"}
        assert evil.options[0].label == "{{7*7}}"


# --------------------------------------------------------------------- the JSON Schema


def test_schema_is_a_valid_draft_2020_12_schema_with_descriptions():
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    for name in [f"{t}_question" for t in EXAMPLES] + ["condition", "scale", "text", "key"]:
        assert schema["$defs"][name]["description"], name


def test_schema_problems_name_the_path_and_come_sorted():
    doc = document([
        question("ok", "csat"),
        {"key": "x", "type": "likert", "text": "X"},  # no scale
        question("y", "number", integer="yes"),
        question("Bad Key", "short_text"),
    ])
    del doc["title"]
    found = problems_of(doc)
    assert list(found) == [
        "pages[0].questions[1].scale",
        "pages[0].questions[2].integer",
        "pages[0].questions[3].key",
        "title",
    ]
    assert found["title"] == ["This field is required."]
    assert found["pages[0].questions[1].scale"] == ["This field is required."]
    assert found["pages[0].questions[2].integer"] == ["Must be true or false."]
    assert found["pages[0].questions[3].key"] == [
        "Must be 1–64 characters of a–z, 0–9, “_” and “-”, starting with a letter."
    ]


def test_schema_problem_inside_a_nested_condition_has_the_full_path():
    doc = document([
        question("a", "nps"),
        question("b", "short_text", show_if={"all": [
            {"question": "a", "op": "equals", "value": 3},
            {"any": [{"question": "a", "op": "bigger", "value": 1}]},
            {"question": "a.", "op": "in", "value": []},
        ]}),
    ])
    found = problems_of(doc)
    base = "pages[0].questions[1].show_if.all"
    assert found[f"{base}[1].any[0].op"] == [
        "Must be one of: equals, not_equals, in, not_in, greater, less, answered."
    ]
    assert found[f"{base}[2].question"] == [
        "Must be a question key, or MATRIX_KEY.ITEM_KEY for a matrix item."
    ]
    assert found[f"{base}[2].value"] == ["Needs at least 1 entry."]


def test_schema_rejects_fields_a_type_does_not_have():
    doc = document([question("a", "nps", options=OPTIONS, reverse=True)])
    found = problems_of(doc)
    assert found == {
        "pages[0].questions[0].options": ["A nps question has no field “options”."],
        "pages[0].questions[0].reverse": ["A nps question has no field “reverse”."],
    }


def test_schema_rejects_unknown_type_and_language():
    doc = document([question("a", "csat", type="stars", text={"en": "A", "fr": "A"})])
    found = problems_of(doc)
    assert list(found) == ["pages[0].questions[0].type"]
    assert found["pages[0].questions[0].type"][0].startswith("Must be one of: likert, matrix")
    doc = document([question("a", "csat", text={"en": "A", "fr": "A"})])
    assert only_problem(doc) == ("pages[0].questions[0].text.fr", "Unknown field “fr”.")


def test_schema_rejects_a_fixed_scale_with_points():
    doc = document([question("a", "nps", scale={"points": 5})])
    assert only_problem(doc) == ("pages[0].questions[0].scale.points", "Unknown field “points”.")


def test_rules_are_not_checked_while_the_schema_fails():
    doc = document([question("a", "csat"), question("a", "csat")])  # duplicate key …
    doc["pages"][0]["questions"][1]["required"] = "yes"  # … and a schema problem
    assert list(problems_of(doc)) == ["pages[0].questions[1].required"]


def test_text_that_cannot_be_stored_is_refused_with_its_path():
    doc = document([question("a", "csat", text={"en": "nul\x00byte"})], title="\ud800broken")
    assert problems_of(doc) == {
        "pages[0].questions[0].text.en": ["Text cannot contain NUL characters or broken Unicode."],
        "title": ["Text cannot contain NUL characters or broken Unicode."],
    }
    assert parse_document('{"title": "\\ud800"}', "json") == {"title": "\ud800"}


def test_validating_something_that_is_not_a_mapping_is_a_problem_not_a_crash():
    assert problems_of(["not", "a", "document"]) == {"": ["Must be a mapping (key: value pairs)."]}


# --------------------------------------------------------------------- Orbit's rules (one each)


def test_rule_question_keys_are_unique_across_pages():
    doc = document([question("same", "csat")], [question("same", "nps")])
    assert only_problem(doc) == (
        "pages[1].questions[0].key", "“same” is already used at pages[0].questions[0].key."
    )


def test_rule_page_keys_are_unique():
    doc = document([question("a", "csat")], [question("b", "csat")])
    doc["pages"][1]["key"] = "p1"
    assert only_problem(doc) == ("pages[1].key", "“p1” is already used at pages[0].key.")


def test_rule_dimension_keys_are_unique():
    doc = document([question("a", "csat")], dimensions=[
        {"key": "d", "name": "D"}, {"key": "d", "name": "D again"}])
    assert only_problem(doc) == ("dimensions[1].key", "“d” is already used at dimensions[0].key.")


def test_rule_matrix_item_keys_are_unique_in_their_matrix():
    items = [{"key": "i", "text": "I"}, {"key": "i", "text": "I again"}]
    doc = document([question("m", "matrix", items=items)])
    assert only_problem(doc) == (
        "pages[0].questions[0].items[1].key",
        "“i” is already used at pages[0].questions[0].items[0].key.",
    )


def test_rule_option_values_are_unique_in_their_question():
    options = [*OPTIONS[:2], {"value": "phone", "label": "Phone again"}]
    doc = document([question("c", "single_choice", options=options)])
    assert only_problem(doc) == (
        "pages[0].questions[0].options[2].value",
        "“phone” is already used at pages[0].questions[0].options[0].value.",
    )


def test_rule_a_question_names_an_existing_dimension():
    doc = document([question("a", "likert", dimension="care")])
    assert only_problem(doc) == (
        "pages[0].questions[0].dimension", "There is no dimension “care”."
    )


def test_rule_a_matrix_item_names_an_existing_dimension():
    items = [{"key": "i", "text": "I", "dimension": "care"}]
    doc = document([question("m", "matrix", items=items)], dimensions=[{"key": "x", "name": "X"}])
    assert only_problem(doc) == (
        "pages[0].questions[0].items[0].dimension", "There is no dimension “care”."
    )


@pytest.mark.parametrize("type_", ["single_choice", "dropdown", "multiple_choice"])
def test_rule_a_choice_question_has_an_option(type_):
    doc = document([question("c", type_, options=[], min_selections=None, max_selections=None)])
    assert only_problem(doc) == ("pages[0].questions[0].options", "Needs at least 1 entry.")


def test_rule_a_ranking_has_two_to_twenty_options():
    doc = document([question("r", "ranking", options=OPTIONS[:1])])
    assert only_problem(doc) == ("pages[0].questions[0].options", "Needs at least 2 entries.")
    many = [{"value": f"o{i}", "label": str(i)} for i in range(21)]
    doc = document([question("r", "ranking", options=many)])
    assert only_problem(doc) == ("pages[0].questions[0].options", "Can have at most 20 entries.")


def test_rule_min_selections_at_most_max_selections():
    doc = document([question("c", "multiple_choice", min_selections=3, max_selections=2)])
    assert only_problem(doc) == (
        "pages[0].questions[0].min_selections", "Cannot be more than max_selections (2)."
    )


def test_rule_max_selections_at_most_the_number_of_options():
    doc = document([question("c", "multiple_choice", min_selections=None, max_selections=5)])
    assert only_problem(doc) == (
        "pages[0].questions[0].max_selections",
        "Cannot be more than the number of options (4).",
    )


def test_rule_number_min_at_most_max():
    doc = document([question("n", "number", min=10, max=1)])
    assert only_problem(doc) == ("pages[0].questions[0].min", "Cannot be more than max (1).")


def test_rule_date_min_at_most_max_and_real_dates():
    doc = document([question("d", "date", min="2025-01-01", max="2024-01-01")])
    assert only_problem(doc) == (
        "pages[0].questions[0].min", "Cannot be more than max (2024-01-01)."
    )
    doc = document([question("d", "date", min="2024-02-30")])
    assert only_problem(doc) == ("pages[0].questions[0].min", "“2024-02-30” is not a real date.")


def test_rule_scale_labels_name_points_of_the_scale():
    doc = document([question("a", "likert", scale={"points": 5, "labels": {"7": "Top"}})])
    assert only_problem(doc) == (
        'pages[0].questions[0].scale.labels["7"]',
        "The scale has no point 7 (it runs from 1 to 5).",
    )
    doc = document([question("n", "nps", scale={"labels": {"0": "Never", "10": "Surely"}})])
    assert validate_document(doc).question("n").scale.label(0) == "Never"


def test_rule_condition_names_an_existing_question():
    doc = document([question("a", "csat", show_if={"question": "ghost", "op": "answered",
                                                   "value": True})])
    assert only_problem(doc) == (
        "pages[0].questions[0].show_if.question", "There is no question “ghost”."
    )


def test_rule_condition_does_not_point_at_its_own_question():
    doc = document([question("a", "csat", show_if={"question": "a", "op": "answered",
                                                   "value": True})])
    assert only_problem(doc) == (
        "pages[0].questions[0].show_if.question", "A question cannot depend on its own answer."
    )


def test_rule_condition_points_at_an_earlier_question_on_the_same_page():
    doc = document([
        question("a", "csat", show_if={"question": "b", "op": "answered", "value": True}),
        question("b", "csat"),
    ])
    assert only_problem(doc) == (
        "pages[0].questions[0].show_if.question", "“b” comes after this question."
    )


def test_rule_condition_points_at_an_earlier_page_not_a_later_one():
    doc = document(
        [question("a", "csat"), question("b", "short_text", show_if={
            "all": [{"question": "nps", "op": "greater", "value": 8}]})],
        [question("nps", "nps")],
    )
    assert only_problem(doc) == (
        "pages[0].questions[1].show_if.all[0].question", "“nps” comes after this question."
    )


def test_rule_page_condition_refers_to_earlier_pages_only():
    doc = document([question("a", "csat")], [question("b", "csat")])
    doc["pages"][1]["show_if"] = {"question": "b", "op": "answered", "value": True}
    assert only_problem(doc) == ("pages[1].show_if.question", "“b” is not on an earlier page.")
    doc["pages"][1]["show_if"] = {"question": "a", "op": "answered", "value": True}
    validate_document(doc)


def test_rule_condition_does_not_point_at_a_text_block():
    doc = document([question("t", "text_block"), question("a", "csat", show_if={
        "question": "t", "op": "answered", "value": True})])
    assert only_problem(doc) == (
        "pages[0].questions[1].show_if.question", "“t” is a text block; it has no answer."
    )


def test_rule_condition_names_an_existing_matrix_item():
    doc = document([question("m", "matrix"), question("a", "csat", show_if={
        "question": "m.ghost", "op": "equals", "value": 1})])
    assert only_problem(doc) == (
        "pages[0].questions[1].show_if.question", "The matrix “m” has no item “ghost”."
    )
    doc["pages"][0]["questions"][1]["show_if"]["question"] = "m.listens"
    validate_document(doc)


def test_rule_condition_items_only_on_a_matrix():
    doc = document([question("c", "csat"), question("a", "csat", show_if={
        "question": "c.item", "op": "equals", "value": 1})])
    assert only_problem(doc) == (
        "pages[0].questions[1].show_if.question", "“c” is not a matrix; it has no items."
    )


@pytest.mark.parametrize("type_", ["single_choice", "dropdown", "multiple_choice"])
def test_rule_greater_and_less_only_on_numeric_questions(type_):
    doc = document([question("c", type_), question("a", "csat", show_if={
        "question": "c", "op": "greater", "value": 1})])
    assert only_problem(doc) == (
        "pages[0].questions[1].show_if.op",
        f"“greater” works only with numbers and rating scales, not with a {type_} question.",
    )


@pytest.mark.parametrize("type_", ["short_text", "long_text", "date", "ranking"])
def test_rule_text_date_and_ranking_answers_can_only_be_tested_for_answered(type_):
    doc = document([question("c", type_), question("a", "csat", show_if={
        "question": "c", "op": "equals", "value": "x"})])
    assert only_problem(doc) == (
        "pages[0].questions[1].show_if.op",
        f"A {type_} question can only be tested with “answered”.",
    )
    doc["pages"][0]["questions"][1]["show_if"] = {"question": "c", "op": "answered",
                                                  "value": False}
    validate_document(doc)


def test_rule_a_whole_matrix_can_only_be_tested_for_answered():
    doc = document([question("m", "matrix"), question("a", "csat", show_if={
        "question": "m", "op": "less", "value": 2})])
    path, message = only_problem(doc)
    assert path == "pages[0].questions[1].show_if.op"
    assert "name one item as m.ITEM_KEY" in message


def test_rule_condition_values_are_options_of_the_question():
    doc = document([question("c", "single_choice"), question("a", "csat", show_if={
        "question": "c", "op": "in", "value": ["phone", "fax"]})])
    assert only_problem(doc) == (
        "pages[0].questions[1].show_if.value[1]", '"fax" is not an option of “c”.'
    )


def test_rule_condition_values_are_points_of_the_scale():
    doc = document([question("n", "nps"), question("a", "csat", show_if={
        "question": "n", "op": "equals", "value": 11})])
    assert only_problem(doc) == (
        "pages[0].questions[1].show_if.value",
        "11 is not a point of the scale of “n” (0–10).",
    )


def test_rule_not_applicable_is_a_condition_value_only_where_the_scale_offers_it():
    with_na = document([question("l", "likert"), question("a", "csat", show_if={
        "question": "l", "op": "equals", "value": "na"})])
    validate_document(with_na)  # the example likert offers "not applicable"
    without = document([question("l", "csat"), question("a", "csat", show_if={
        "question": "l", "op": "equals", "value": "na"})])
    assert only_problem(without) == (
        "pages[0].questions[1].show_if.value",
        '"na" is not a point of the scale of “l” (1–5).',
    )


def test_rule_number_conditions_compare_with_numbers():
    doc = document([question("n", "number"), question("a", "csat", show_if={
        "question": "n", "op": "equals", "value": "five"})])
    assert only_problem(doc) == (
        "pages[0].questions[1].show_if.value", "Compare the answer of “n” with a number."
    )


def test_rule_at_least_one_question_can_be_answered():
    doc = document([question("t", "text_block")])
    assert only_problem(doc) == ("pages", "The questionnaire has no question that can be answered.")


def test_rule_form_fields_of_two_questions_do_not_clash():
    doc = document([question("m", "matrix"), question("m-listens", "csat")])
    assert only_problem(doc) == (
        "pages[0].questions[1].key",
        "The form field “q-m-listens” of this question is also used by “m”; choose another key.",
    )


def test_every_problem_is_reported_at_once_in_document_order():
    doc = document(
        [question("a", "likert", dimension="ghost"), question("a", "nps")],
        [question("c", "multiple_choice", max_selections=9),
         question("d", "short_text", show_if={"question": "zzz", "op": "answered",
                                              "value": True})],
    )
    assert list(problems_of(doc)) == [
        "pages[0].questions[0].dimension",
        "pages[0].questions[1].key",
        "pages[1].questions[0].max_selections",
        "pages[1].questions[1].show_if.question",
    ]


def test_problem_messages_render_as_path_and_message():
    with pytest.raises(DefinitionError) as caught:
        validate_document(document([question("a", "csat", dimension="x")]))
    assert str(caught.value.problems[0]) == (
        "pages[0].questions[0].dimension: There is no dimension “x”."
    )
    assert "There is no dimension" in str(caught.value)
