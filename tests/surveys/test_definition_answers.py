"""Answering a questionnaire: reading a page from the form, skip logic, storage rows and
reverse keying (``surveys/definition.py``)."""

from __future__ import annotations

import dataclasses

import pytest

from surveys.definition import (
    NA,
    answer_to_form,
    answer_to_rows,
    condition_holds,
    prune_hidden,
    read_page,
    rows_to_answer,
    scored_value,
    unanswered_required,
    validate_document,
    visible_pages,
    visible_questions,
)
from tests.surveys.definition_factory import form, one, question, questionnaire


def page_of(type_: str, **fields):
    return questionnaire([question("q", type_, **fields)]).pages[0]


def read(type_: str, *pairs, locale: str = "en", **fields):
    """(answer or None, {key: [message, …]}) of one question of ``type_``."""
    answers, errors = read_page(page_of(type_, **fields), form(*pairs), {}, locale)
    return answers.get("q"), {k: [str(m) for m in v] for k, v in errors.items()}


# --------------------------------------------------------------------- valid answers by type


@pytest.mark.parametrize(
    ("type_", "pairs", "expected"),
    [
        ("likert", [("q-q", "4")], 4),
        ("likert", [("q-q", "na")], NA),
        ("nps", [("q-q", "0")], 0),
        ("nps", [("q-q", "10")], 10),
        ("csat", [("q-q", "5")], 5),
        ("ces", [("q-q", "7")], 7),
        ("matrix", [("q-q-listens", "4"), ("q-q-explains", "1")], {"listens": 4, "explains": 1}),
        ("single_choice", [("q-q", "email")], "email"),
        ("dropdown", [("q-q", "chat")], "chat"),
        ("multiple_choice", [("q-q", "visit"), ("q-q", "phone")], ["phone", "visit"]),
        ("ranking", [("q-q-phone", "3"), ("q-q-email", "1"), ("q-q-chat", "2")],
         ["email", "chat", "phone"]),
        ("short_text", [("q-q", "  fine  ")], "fine"),
        ("long_text", [("q-q", "line one\r\nline two\ttabbed")], "line one\nline two\ttabbed"),
        ("number", [("q-q", "7")], 7),
        ("number", [("q-q", "７")], 7),  # full-width digits from a Chinese keyboard
        ("number", [("q-q", "5.0")], 5),
        ("date", [("q-q", "2024-06-30")], "2024-06-30"),
    ],
)
def test_valid_answer_is_read_in_the_engine_representation(type_, pairs, expected):
    value, errors = read(type_, *pairs)
    assert errors == {}
    assert value == expected
    assert type(value) is type(expected)


def test_decimal_numbers_and_grouping_commas_are_read_when_allowed():
    assert read("number", ("q-q", "1,234.5"), integer=None, min=None, max=None) == (1234.5, {})
    assert read("number", ("q-q", "-3"), integer=None, min=None, max=None) == (-3, {})


@pytest.mark.parametrize("type_", ["likert", "matrix", "nps", "csat", "ces", "single_choice",
                                   "dropdown", "multiple_choice", "ranking", "short_text",
                                   "long_text", "number", "date"])
def test_optional_question_left_empty_has_no_answer_and_no_error(type_):
    kept = {"min_selections": None} if type_ == "multiple_choice" else {}
    assert read(type_, **kept) == (None, {})


def test_whitespace_only_text_counts_as_empty():
    assert read("short_text", ("q-q", " \u3000 \t ")) == (None, {})
    assert read("long_text", ("q-q", "\r\n\r\n"), required=True) == (
        None, {"q": ["Enter an answer."]}
    )


# --------------------------------------------------------------------- required


@pytest.mark.parametrize(
    ("type_", "message"),
    [
        ("likert", "Choose an answer."),
        ("nps", "Choose an answer."),
        ("csat", "Choose an answer."),
        ("ces", "Choose an answer."),
        ("single_choice", "Choose an answer."),
        ("dropdown", "Choose an answer."),
        ("multiple_choice", "Choose between 2 and 3 options."),
        ("ranking", "Give each option a different rank from 1 to 3 (1 = first)."),
        ("short_text", "Enter an answer."),
        ("long_text", "Enter an answer."),
        ("number", "Enter a whole number between 1 and 10."),
        ("date", "Enter a date between January 1, 2024 and December 31, 2024."),
    ],
)
def test_required_question_left_empty_says_what_to_do(type_, message):
    assert read(type_, required=True) == (None, {"q": [message]})


def test_required_multiple_choice_without_minimum_asks_for_one_option():
    assert read("multiple_choice", required=True, min_selections=None) == (
        None, {"q": ["Choose at least one option."]}
    )


def test_required_matrix_flags_each_missing_row_and_keeps_the_answered_ones():
    value, errors = read("matrix", ("q-q-listens", "2"), required=True)
    assert value == {"listens": 2}  # kept, so the respondent does not lose it
    assert errors == {
        "q-explains": ["Choose an answer for this row."],
        "q": ["1 row still needs an answer."],
    }


def test_optional_matrix_may_be_partly_answered():
    assert read("matrix", ("q-q-explains", "3")) == ({"explains": 3}, {})


# --------------------------------------------------------------------- invalid answers


@pytest.mark.parametrize(
    ("type_", "pairs", "message"),
    [
        ("likert", [("q-q", "6")], "Choose one of the points shown."),
        ("likert", [("q-q", "three")], "Choose one of the points shown."),
        ("csat", [("q-q", "na")], "Choose one of the points shown."),  # csat offers no n/a
        ("nps", [("q-q", "-1")], "Choose one of the points shown."),
        ("single_choice", [("q-q", "fax")], "Choose one of the options shown."),
        ("dropdown", [("q-q", "<script>")], "Choose one of the options shown."),
        ("multiple_choice", [("q-q", "phone"), ("q-q", "fax")], "Choose from the options shown."),
        ("multiple_choice", [("q-q", "phone")], "Choose between 2 and 3 options."),
        ("multiple_choice", [("q-q", v) for v in ("phone", "email", "chat", "visit")],
         "Choose between 2 and 3 options."),
        ("number", [("q-q", "11")], "Enter a whole number between 1 and 10."),
        ("number", [("q-q", "0")], "Enter a whole number between 1 and 10."),
        ("number", [("q-q", "2.5")], "Enter a whole number between 1 and 10."),
        ("number", [("q-q", "ten")], "Enter a whole number between 1 and 10."),
        ("number", [("q-q", "0x1")], "Enter a whole number between 1 and 10."),
        ("date", [("q-q", "2023-12-31")],
         "Enter a date between January 1, 2024 and December 31, 2024."),
        ("date", [("q-q", "2024-02-30")], "This date does not exist."),
        ("date", [("q-q", "30/06/2024")], "Enter a date as YYYY-MM-DD."),
        ("short_text", [("q-q", "x" * 11)], "Use at most 10 characters (you used 11)."),
        ("short_text", [("q-q", "two\nlines")], "Keep this answer on one line."),
        ("short_text", [("q-q", "nul\x00byte")], "Remove the control characters from your answer."),
        ("long_text", [("q-q", "escape \x1b[31m")],
         "Remove the control characters from your answer."),
    ],
)
def test_invalid_answer_is_refused_with_a_specific_message(type_, pairs, message):
    assert read(type_, *pairs) == (None, {"q": [message]})


@pytest.mark.parametrize(
    ("fields", "pairs", "message"),
    [
        ({"min_selections": None, "max_selections": 1},
         [("q-q", "phone"), ("q-q", "email")], "Choose at most 1 option."),
        ({"min_selections": 3, "max_selections": None}, [("q-q", "phone")],
         "Choose at least 3 options."),
        ({"min_selections": 2, "max_selections": 2}, [("q-q", "phone")],
         "Choose exactly 2 options."),
    ],
)
def test_selection_limits_are_stated_exactly(fields, pairs, message):
    assert read("multiple_choice", *pairs, **fields) == (None, {"q": [message]})


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"integer": None}, "Enter a number between 1 and 10."),
        ({"max": None}, "Enter a whole number of at least 1."),
        ({"min": None, "max": 0}, "Enter a whole number of at most 0."),
        ({"min": None, "max": None, "integer": None}, "Enter a number."),
    ],
)
def test_number_messages_state_the_rule(fields, message):
    assert read("number", ("q-q", "abc"), **fields) == (None, {"q": [message]})


def test_number_messages_format_limits_for_the_locale():
    assert read("number", ("q-q", "1"), min=1000, max=100000, integer=None) == (
        None, {"q": ["Enter a number between 1,000 and 100,000."]}
    )


def test_dates_in_messages_are_written_for_the_locale():
    assert read("date", ("q-q", "2023-12-31"), locale="zh_CN") == (
        None, {"q": ["Enter a date between 2024年1月1日 and 2024年12月31日."]}
    )


def test_huge_numbers_are_refused_instead_of_losing_digits():
    assert read("number", ("q-q", "12345678901234567"), min=None, max=None, integer=None) == (
        None, {"q": ["This number is too large."]}
    )


@pytest.mark.parametrize(
    "pairs",
    [
        [("q-q-phone", "1")],  # partial: all or nothing
        [("q-q-phone", "1"), ("q-q-email", "1"), ("q-q-chat", "2")],  # a rank used twice
        [("q-q-phone", "1"), ("q-q-email", "2"), ("q-q-chat", "4")],  # out of range
        [("q-q-phone", "1"), ("q-q-email", "2"), ("q-q-chat", "x")],
    ],
)
def test_ranking_needs_every_option_once(pairs):
    assert read("ranking", *pairs) == (
        None, {"q": ["Give each option a different rank from 1 to 3 (1 = first)."]}
    )


def test_matrix_row_with_a_value_off_the_scale_is_flagged_on_that_row():
    value, errors = read("matrix", ("q-q-listens", "9"), ("q-q-explains", "2"))
    assert value == {"explains": 2}
    assert errors == {
        "q-listens": ["Choose one of the points shown."],
        "q": ["Choose one of the points shown for each row."],
    }


def test_matrix_not_applicable_only_when_the_scale_offers_it():
    assert read("matrix", ("q-q-listens", "na"))[1]["q-listens"] == [
        "Choose one of the points shown."
    ]
    scale = {"points": 4, "not_applicable": True}
    assert read("matrix", ("q-q-listens", "na"), scale=scale) == ({"listens": NA}, {})


# --------------------------------------------------------------------- conditions


ANSWERS = {
    "nps": 9,
    "csat": NA,
    "channel": "email",
    "topics": ["billing", "speed"],
    "amount": 2.5,
    "grid": {"tone": 4, "speed": NA},
    "comment": "ok",
}


@pytest.mark.parametrize(
    ("condition", "holds"),
    [
        ({"question": "nps", "op": "equals", "value": 9}, True),
        ({"question": "nps", "op": "equals", "value": 9.0}, True),
        ({"question": "nps", "op": "equals", "value": 8}, False),
        ({"question": "nps", "op": "not_equals", "value": 8}, True),
        ({"question": "nps", "op": "not_equals", "value": 9}, False),
        ({"question": "nps", "op": "in", "value": [9, 10]}, True),
        ({"question": "nps", "op": "in", "value": [0, 6]}, False),
        ({"question": "nps", "op": "not_in", "value": [0, 6]}, True),
        ({"question": "nps", "op": "not_in", "value": [9]}, False),
        ({"question": "nps", "op": "greater", "value": 8}, True),
        ({"question": "nps", "op": "greater", "value": 9}, False),
        ({"question": "nps", "op": "less", "value": 10}, True),
        ({"question": "nps", "op": "less", "value": 9}, False),
        ({"question": "nps", "op": "answered", "value": True}, True),
        ({"question": "nps", "op": "answered", "value": False}, False),
        ({"question": "amount", "op": "greater", "value": 2}, True),
        ({"question": "amount", "op": "less", "value": 2.5}, False),
        ({"question": "channel", "op": "equals", "value": "email"}, True),
        ({"question": "channel", "op": "in", "value": ["phone", "chat"]}, False),
        ({"question": "channel", "op": "not_in", "value": ["phone", "chat"]}, True),
        # multiple choice: equals = among the selections, in = any selection in the list
        ({"question": "topics", "op": "equals", "value": "speed"}, True),
        ({"question": "topics", "op": "equals", "value": "price"}, False),
        ({"question": "topics", "op": "not_equals", "value": "billing"}, False),
        ({"question": "topics", "op": "in", "value": ["price", "billing"]}, True),
        ({"question": "topics", "op": "not_in", "value": ["price"]}, True),
        # "not applicable" is an answer, but not a number
        ({"question": "csat", "op": "answered", "value": True}, True),
        ({"question": "csat", "op": "equals", "value": "na"}, True),
        ({"question": "csat", "op": "less", "value": 3}, False),
        ({"question": "csat", "op": "greater", "value": 0}, False),
        # matrix items
        ({"question": "grid.tone", "op": "greater", "value": 3}, True),
        ({"question": "grid.tone", "op": "equals", "value": 4}, True),
        ({"question": "grid.speed", "op": "less", "value": 5}, False),
        ({"question": "grid.missing", "op": "answered", "value": False}, True),
        ({"question": "grid", "op": "answered", "value": True}, True),
        ({"question": "comment", "op": "answered", "value": True}, True),
    ],
)
def test_every_operator_on_an_answered_question(condition, holds):
    assert condition_holds(condition, ANSWERS) is holds


@pytest.mark.parametrize(
    ("op", "value", "holds"),
    [
        ("equals", 3, False),
        ("not_equals", 3, True),
        ("in", [1, 2], False),
        ("not_in", [1, 2], True),
        ("greater", 0, False),
        ("less", 100, False),
        ("answered", True, False),
        ("answered", False, True),
    ],
)
@pytest.mark.parametrize("answers", [{}, {"x": None}, {"x": ""}, {"x": []}, {"x": {}}],
                         ids=["absent", "None", "empty text", "empty list", "empty matrix"])
def test_unanswered_question_makes_only_negations_and_not_answered_true(op, value, holds,
                                                                        answers):
    assert condition_holds({"question": "x", "op": op, "value": value}, answers) is holds


def test_all_and_any_nest():
    promoter = {"question": "nps", "op": "greater", "value": 8}
    by_email = {"question": "channel", "op": "equals", "value": "email"}
    by_phone = {"question": "channel", "op": "equals", "value": "phone"}
    assert condition_holds({"all": [promoter, by_email]}, ANSWERS)
    assert not condition_holds({"all": [promoter, by_phone]}, ANSWERS)
    assert condition_holds({"any": [by_phone, promoter]}, ANSWERS)
    assert not condition_holds({"any": [by_phone, {"all": [by_email, {"any": [by_phone]}]}]},
                               ANSWERS)
    assert condition_holds({"all": [{"any": [by_phone, by_email]}, {"all": [promoter]}]}, ANSWERS)
    assert condition_holds(None, {})


# --------------------------------------------------------------------- visibility


def chain():
    """p1: a; p2: b (if a < 3); p3 (if b answered): c, d (if c = yes)."""
    yes_no = [{"value": "yes", "label": "Yes"}, {"value": "no", "label": "No"}]
    qn = questionnaire(
        [question("a", "csat", required=True)],
        [question("b", "short_text", required=True,
                  show_if={"question": "a", "op": "less", "value": 3})],
        [question("c", "single_choice", options=yes_no),
         question("d", "long_text", required=True,
                  show_if={"question": "c", "op": "equals", "value": "yes"})],
    )
    doc = qn.to_document()
    doc["pages"][2]["show_if"] = {"question": "b", "op": "answered", "value": True}
    return validate_document(doc)


def test_hidden_page_and_question_disappear():
    qn = chain()
    assert [p.key for p in visible_pages(qn, {"a": 5})] == ["p1"]
    assert [p.key for p in visible_pages(qn, {"a": 1})] == ["p1", "p2"]
    assert [p.key for p in visible_pages(qn, {"a": 1, "b": "slow"})] == ["p1", "p2", "p3"]
    p3 = qn.page("p3")
    answers = {"a": 1, "b": "slow", "c": "no"}
    assert [q.key for q in visible_questions(p3, answers)] == ["c"]
    assert [q.key for q in visible_questions(p3, {**answers, "c": "yes"})] == ["c", "d"]
    assert visible_questions(p3, {"a": 5}) == []  # the page itself is hidden


def test_prune_hidden_reaches_the_fixed_point():
    qn = chain()
    full = {"a": 1, "b": "slow", "c": "yes", "d": "details"}
    assert prune_hidden(qn, full) == full
    # a changes to 5: b is hidden, so page 3 (b answered) is hidden, so c and d go too
    assert prune_hidden(qn, {**full, "a": 5}) == {"a": 5}
    # c changes: only d goes
    assert prune_hidden(qn, {**full, "c": "no"}) == {"a": 1, "b": "slow", "c": "no"}


def test_prune_hidden_drops_unknown_keys_and_empty_values():
    qn = chain()
    assert prune_hidden(qn, {"a": 4, "zzz": 1, "b": ""}) == {"a": 4}


def test_a_page_whose_every_question_is_hidden_is_skipped():
    qn = questionnaire(
        [question("a", "csat")],
        [question("b", "short_text", show_if={"question": "a", "op": "equals", "value": 1})],
        [question("c", "short_text")],
    )
    assert [p.key for p in visible_pages(qn, {"a": 4})] == ["p1", "p3"]


def test_hidden_questions_are_never_required():
    qn = chain()
    answers, errors = read_page(qn.page("p3"), form(c="no"), {"a": 1, "b": "slow"}, "en")
    assert (answers, errors) == ({"c": "no"}, {})


def test_read_page_follows_conditions_on_the_same_page_and_ignores_hidden_fields():
    qn = chain()
    before = {"a": 1, "b": "slow", "c": "yes", "d": "old answer"}
    answers, errors = read_page(qn.page("p3"), form(c="yes"), before, "en")
    assert answers == {"c": "yes"}
    assert {k: [str(m) for m in v] for k, v in errors.items()} == {"d": ["Enter an answer."]}
    # d submitted although c now hides it (a stale browser tab): not read
    answers, errors = read_page(qn.page("p3"), form(c="no", d="sneaky"), before, "en")
    assert (answers, errors) == ({"c": "no"}, {})


def test_submit_check_lists_required_questions_that_are_shown_but_unanswered():
    qn = chain()

    def missing(answers):
        return {k: [str(m) for m in v] for k, v in unanswered_required(qn, answers).items()}

    assert missing({}) == {"a": ["Choose an answer."]}
    assert missing({"a": 4}) == {}  # b (required) is hidden while a >= 3
    assert missing({"a": 1}) == {"b": ["Enter an answer."]}
    assert missing({"a": 1, "b": "slow", "c": "yes"}) == {"d": ["Enter an answer."]}
    assert missing({"a": 1, "b": "slow", "c": "yes", "d": "x"}) == {}


def test_submit_check_wants_every_row_of_a_required_matrix():
    qn = questionnaire([question("m", "matrix", required=True)])
    found = unanswered_required(qn, {"m": {"explains": 2}})
    assert {k: [str(m) for m in v] for k, v in found.items()} == {
        "m-listens": ["Choose an answer for this row."],
        "m": ["1 row still needs an answer."],
    }


def test_read_page_of_a_hidden_page_reads_nothing():
    qn = chain()
    assert read_page(qn.page("p2"), form(b="text"), {"a": 5}, "en") == ({}, {})


def test_hidden_earlier_answer_counts_as_unanswered_for_later_conditions():
    qn = questionnaire([
        question("a", "csat"),
        question("b", "nps", show_if={"question": "a", "op": "equals", "value": 1}),
        question("c", "short_text", show_if={"question": "b", "op": "not_equals", "value": 10}),
        question("d", "short_text", show_if={"question": "b", "op": "answered", "value": True}),
    ])
    answers = {"a": 2, "b": 10}  # b's answer is stale: b is hidden while a != 1
    assert [q.key for q in visible_questions(qn.pages[0], answers)] == ["a", "c"]
    assert prune_hidden(qn, {**answers, "c": "x", "d": "y"}) == {"a": 2, "c": "x"}


# --------------------------------------------------------------------- storage rows


@pytest.mark.parametrize(
    ("type_", "value", "rows"),
    [
        ("likert", 4, [("", 4.0, None)]),
        ("likert", NA, [("", None, "na")]),
        ("nps", 0, [("", 0.0, None)]),
        ("matrix", {"listens": 3, "explains": NA},
         [("listens", 3.0, None), ("explains", None, "na")]),
        ("single_choice", "email", [("", None, "email")]),
        ("dropdown", "chat", [("", None, "chat")]),
        ("multiple_choice", ["phone", "chat"], [("phone", None, "phone"), ("chat", None, "chat")]),
        ("ranking", ["chat", "phone", "email"],
         [("chat", 1.0, None), ("phone", 2.0, None), ("email", 3.0, None)]),
        ("short_text", "hi", [("", None, "hi")]),
        ("long_text", "a\nb", [("", None, "a\nb")]),
        ("number", 7, [("", 7.0, None)]),
        ("date", "2024-05-01", [("", None, "2024-05-01")]),
    ],
)
def test_answers_are_stored_one_row_per_part_and_read_back(type_, value, rows):
    scale = {"scale": {"points": 4, "not_applicable": True}} if type_ == "matrix" else {}
    q = one(type_, **scale)
    assert answer_to_rows(q, value) == rows
    assert rows_to_answer(q, rows) == value
    assert rows_to_answer(q, list(reversed(rows))) == value  # the database's order is free


def test_no_answer_means_no_rows_and_no_rows_means_no_answer():
    q = one("csat")
    assert answer_to_rows(q, None) == []
    assert rows_to_answer(q, []) is None


def test_decimal_numbers_keep_their_fraction_and_whole_ones_stay_integers():
    q = one("number", integer=None, min=None, max=None)
    assert rows_to_answer(q, answer_to_rows(q, 2.75)) == 2.75
    back = rows_to_answer(q, answer_to_rows(q, 3))
    assert back == 3 and isinstance(back, int)


def test_answer_to_form_is_what_read_page_reads_back():
    page = questionnaire([
        question("a", "matrix"), question("b", "ranking"), question("c", "multiple_choice"),
        question("d", "number"), question("e", "likert"),
    ]).pages[0]
    answers = {"a": {"listens": 1, "explains": 4}, "b": ["chat", "email", "phone"],
               "c": ["phone", "visit"], "d": 3, "e": NA}
    submitted = form(*[pair for q in page.questions for pair in answer_to_form(q, answers[q.key])])
    assert read_page(page, submitted, {}, "en") == (answers, {})


# --------------------------------------------------------------------- reverse keying


def test_reverse_keyed_likert_is_mirrored_on_its_scale():
    q = one("likert", reverse=True)
    assert [scored_value(q, v) for v in (1, 2, 3, 4, 5)] == [5, 4, 3, 2, 1]
    seven = one("likert", reverse=True, scale={"points": 7})
    assert scored_value(seven, 2) == 6  # 1 + points - value
    assert scored_value(one("likert"), 2) == 2


def test_reverse_keyed_matrix_item_is_mirrored_and_the_others_are_not():
    q = one("matrix")  # 4 points; "explains" is reverse-keyed
    answer = {"listens": 1, "explains": 1}
    assert scored_value(q, answer, item="listens") == 1
    assert scored_value(q, answer, item="explains") == 4
    assert scored_value(q, 3, item="explains") == 2
    with pytest.raises(ValueError):
        scored_value(q, 3)


def test_reverse_keying_on_a_scale_starting_at_zero_uses_min_plus_max():
    nps = one("nps")
    assert scored_value(nps, 9) == 9
    assert scored_value(dataclasses.replace(nps, reverse=True), 9) == 1  # 0 + 10 - 9


def test_not_applicable_no_answer_and_non_ratings_are_not_scored():
    assert scored_value(one("likert"), NA) is None
    assert scored_value(one("likert"), None) is None
    assert scored_value(one("matrix"), {"listens": NA}, item="listens") is None
    assert scored_value(one("matrix"), {}, item="listens") is None
    assert scored_value(one("number"), 5) is None
    assert scored_value(one("single_choice"), "phone") is None
