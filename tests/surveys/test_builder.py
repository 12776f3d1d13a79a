"""The builder's document operations: each returns a changed copy, refuses bad input
with a message on the right field, and never touches the document it was given."""

from __future__ import annotations

import copy

import pytest

from core.exceptions import NotFound, ServiceError
from surveys import builder
from tests.surveys.documents import three_pages


@pytest.fixture(autouse=True)
def _request(app):
    """Messages are lazy translations: they need a request to pick their language."""
    with app.test_request_context():
        yield


@pytest.fixture
def doc():
    return three_pages()


def _refused(operation, document, *args, field=None, **kwargs):
    """Run an operation that must fail; the document must be left as it was."""
    before = copy.deepcopy(document)
    with pytest.raises(ServiceError) as caught:
        operation(document, *args, **kwargs)
    assert document == before
    if field is not None:
        assert caught.value.field == field, caught.value.message
    return caught.value


def _keys(document):
    return [[q["key"] for q in page["questions"]] for page in document["pages"]]


# ----------------------------------------------------------------- texts and keys


def test_bilingual_text_keeps_the_languages_given():
    assert builder.bilingual(" Hello ", "") == {"en": "Hello"}
    assert builder.bilingual("", "你好") == {"zh_CN": "你好"}
    assert builder.bilingual("", "  ") is None
    # An unchanged plain string stays plain; a change splits it per language.
    assert builder.bilingual("Same", "Same", previous="Same") == "Same"
    assert builder.bilingual("New", "Same", previous="Same") == {"en": "New", "zh_CN": "Same"}
    assert builder.text_parts("Same") == ("Same", "Same")
    assert builder.text_parts({"zh_CN": "你好"}) == ("", "你好")


def test_question_keys_are_suggested_from_the_type(doc):
    assert builder.suggest_question_key(doc, "likert") == "q6"
    assert builder.suggest_question_key(doc, "nps") == "nps2"  # "nps" is taken
    assert builder.suggest_question_key(doc, "ces") == "ces"
    assert builder.suggest_page_key(doc) == "page-4"


# ----------------------------------------------------------------- settings and dimensions


def test_settings_change_title_description_and_language(doc):
    new = builder.update_settings(
        doc, title_en="Visit review", title_zh="", description_en="", description_zh="",
        default_locale="en",
    )
    assert new["title"] == {"en": "Visit review"}
    assert "description" not in new
    assert new["default_locale"] == "en"
    assert list(new)[:3] == ["format", "key", "title"]
    assert doc["title"] == {"en": "Service check", "zh_CN": "服务评价"}


def test_settings_need_a_title_and_a_known_language(doc):
    _refused(builder.update_settings, doc, title_en="", title_zh="", field="title_en")
    _refused(builder.update_settings, doc, title_en="T", title_zh="", default_locale="fr",
             field="default_locale")


def test_dimensions_are_added_renamed_everywhere_and_deleted_when_unused(doc):
    new = builder.add_dimension(doc, key="", name_en="Speed of reply", name_zh="响应速度",
                                kind="kpi", weight="2")
    assert new["dimensions"][-1] == {
        "key": "speed_of_reply", "name": {"en": "Speed of reply", "zh_CN": "响应速度"},
        "kind": "kpi", "weight": 2,
    }
    renamed = builder.update_dimension(new, "service", key="care", name_en="Care", kind="kpi")
    assert renamed["pages"][0]["questions"][0]["dimension"] == "care"
    assert builder.dimension_usage(renamed, "care") == ["csat"]
    gone = builder.delete_dimension(renamed, "speed_of_reply")
    assert [d["key"] for d in gone["dimensions"]] == ["care"]


def test_a_dimension_still_used_is_not_deleted(doc):
    error = _refused(builder.delete_dimension, doc, "service", field="key")
    assert "csat" in str(error.message)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"key": "Bad Key", "name_en": "X"}, "key"),
        ({"key": "service", "name_en": "X"}, "key"),  # duplicate
        ({"key": "new", "name_en": ""}, "name_en"),
        ({"key": "new", "name_en": "X", "weight": "0"}, "weight"),
        ({"key": "new", "name_en": "X", "kind": "vibe"}, "kind"),
    ],
)
def test_bad_dimensions_are_refused(doc, changes, field):
    _refused(builder.add_dimension, doc, field=field, **changes)


# ----------------------------------------------------------------- pages


def test_pages_are_added_edited_moved_and_deleted(doc):
    new = builder.add_page(doc, key="", title_en="Extra")
    assert new["pages"][-1] == {"key": "page-4", "title": {"en": "Extra"}, "questions": []}
    new = builder.update_page(new, "page-4", key="extra", title_en="Extra", title_zh="附加",
                              description_en="A few more.")
    assert new["pages"][-1]["description"] == {"en": "A few more."}
    new = builder.move_page(new, "extra", "up")
    assert [p["key"] for p in new["pages"]] == ["about", "more", "extra", "end"]
    new = builder.delete_page(new, "extra")
    assert [p["key"] for p in new["pages"]] == ["about", "more", "end"]
    assert len(doc["pages"]) == 3


def test_a_page_with_questions_goes_only_when_asked_and_unreferenced(doc):
    _refused(builder.delete_page, doc, "more", field="with_questions")
    new = builder.delete_page(doc, "more", with_questions=True)
    assert _keys(new) == [["csat", "why"], ["comment"]]
    # A question on another page tests csat: its page cannot go while it does.
    doc = builder.set_condition(doc, "question", "comment",
                                {"question": "csat", "op": "answered", "value": True})
    error = _refused(builder.delete_page, doc, "about", with_questions=True)
    assert "comment" in str(error.message)


def test_the_only_page_is_not_deleted():
    document = three_pages()
    document["pages"] = document["pages"][:1]
    _refused(builder.delete_page, document, "about", with_questions=True)


def test_page_keys_are_checked(doc):
    _refused(builder.add_page, doc, key="more", field="key")
    _refused(builder.add_page, doc, key="9lives", field="key")
    _refused(builder.update_page, doc, "about", key="end", field="key")
    with pytest.raises(NotFound):
        builder.update_page(doc, "nowhere", key="x")


# ----------------------------------------------------------------- questions


def test_questions_are_added_with_what_their_type_needs(doc):
    new = builder.add_question(doc, "end", question_type="single_choice", text_en="Pick one")
    assert new["pages"][2]["questions"][-1] == {
        "key": "q6", "type": "single_choice", "text": {"en": "Pick one"}, "options": [],
    }
    new = builder.add_question(new, "end", question_type="likert", key="clarity",
                               text_zh="说明清楚吗？")
    assert new["pages"][2]["questions"][-1]["scale"] == {"points": 5}
    new = builder.add_question(new, "end", question_type="matrix", text_en="Rate")
    assert new["pages"][2]["questions"][-1]["items"] == []
    assert len(doc["pages"][2]["questions"]) == 1


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"question_type": "likert", "key": "csat", "text_en": "x"}, "key"),  # duplicate
        ({"question_type": "likert", "key": "Q 1", "text_en": "x"}, "key"),
        ({"question_type": "likert", "key": "", "text_en": ""}, "text_en"),
        ({"question_type": "essay", "key": "", "text_en": "x"}, "type"),
    ],
)
def test_bad_new_questions_are_refused(doc, changes, field):
    _refused(builder.add_question, doc, "end", field=field, **changes)


def test_editing_a_question_sets_the_fields_of_its_type(doc):
    new = builder.update_question(
        doc, "csat", key="satisfaction", text_en="Happy?", text_zh="满意吗？", help_en="1–5",
        required=False, dimension="service", weight="1.5", max_length=99,
    )
    question = new["pages"][0]["questions"][0]
    assert question == {
        "key": "satisfaction", "type": "csat", "text": {"en": "Happy?", "zh_CN": "满意吗？"},
        "help": {"en": "1–5"}, "dimension": "service", "weight": 1.5,
    }
    # The condition of "why" follows the new key.
    assert new["pages"][0]["questions"][1]["show_if"]["question"] == "satisfaction"


def test_number_date_and_selection_limits_are_checked(doc):
    new = builder.add_question(doc, "end", question_type="number", key="age", text_en="Age")
    new = builder.update_question(new, "age", key="age", text_en="Age", minimum="18",
                                  maximum="99.5", integer=True)
    assert new["pages"][2]["questions"][-1] == {
        "key": "age", "type": "number", "text": {"en": "Age"}, "min": 18, "max": 99.5,
        "integer": True,
    }
    _refused(builder.update_question, new, "age", key="age", text_en="Age", minimum="9",
             maximum="3", field="minimum")
    _refused(builder.update_question, new, "age", key="age", text_en="Age", minimum="x",
             field="minimum")
    new = builder.add_question(new, "end", question_type="date", key="when", text_en="When")
    _refused(builder.update_question, new, "when", key="when", text_en="When",
             minimum="2024-13-01", field="minimum")
    new = builder.add_question(new, "end", question_type="multiple_choice", key="m",
                               text_en="M")
    new = builder.add_option(new, "m", label_en="A")
    _refused(builder.update_question, new, "m", key="m", text_en="M", max_selections=2,
             field="max_selections")
    _refused(builder.update_question, new, "m", key="m", text_en="M", min_selections=1,
             max_selections=0, field="max_selections")
    _refused(builder.update_question, new, "comment", key="comment", text_en="C",
             max_length=20001, field="max_length")


def test_a_question_key_cannot_be_taken_twice(doc):
    _refused(builder.update_question, doc, "why", key="csat", text_en="x", field="key")


def test_questions_move_within_and_across_pages(doc):
    new = builder.move_question(doc, "why", "up")
    assert _keys(new) == [["why", "csat"], ["channel", "nps"], ["comment"]]
    new = builder.move_question(new, "csat", "down")  # last on its page: to the next one
    assert _keys(new) == [["why"], ["csat", "channel", "nps"], ["comment"]]
    new = builder.move_question(new, "csat", "up")  # first on its page: to the one before
    assert _keys(new) == [["why", "csat"], ["channel", "nps"], ["comment"]]
    new = builder.move_question_to_page(new, "why", "end")
    assert _keys(new) == [["csat"], ["channel", "nps"], ["comment", "why"]]
    assert builder.move_question(doc, "csat", "up") == doc  # already first
    _refused(builder.move_question, doc, "csat", "sideways", field="direction")


def test_a_question_a_condition_tests_is_not_deleted(doc):
    error = _refused(builder.delete_question, doc, "csat")
    assert "why" in str(error.message)
    new = builder.delete_question(doc, "why")
    assert _keys(new)[0] == ["csat"]
    assert builder.delete_question(new, "csat")["pages"][0]["questions"] == []


def test_changing_the_type_keeps_what_fits(doc):
    # Choice → choice keeps the options.
    new = builder.set_question_type(doc, "channel", "dropdown")
    assert new["pages"][1]["questions"][0]["options"] == doc["pages"][1]["questions"][0][
        "options"
    ]
    # Choice → text drops them; text keeps key, text, required.
    new = builder.set_question_type(new, "channel", "short_text")
    assert new["pages"][1]["questions"][0] == {
        "key": "channel", "type": "short_text", "text": doc["pages"][1]["questions"][0]["text"],
        "required": True,
    }
    # CSAT → likert: five points, dimension kept; → matrix: the question becomes an item.
    new = builder.set_question_type(doc, "csat", "likert")
    csat = new["pages"][0]["questions"][0]
    assert csat["scale"] == {"points": 5} and csat["dimension"] == "service"
    new = builder.set_question_type(new, "csat", "matrix")
    matrix = new["pages"][0]["questions"][0]
    assert matrix["items"] == [
        {"key": "item1", "text": csat["text"], "dimension": "service"}
    ]
    assert "dimension" not in matrix
    # Anything → text block: only key, type, text, show_if remain.
    new = builder.set_question_type(doc, "why", "text_block")
    assert set(new["pages"][0]["questions"][1]) == {"key", "type", "text", "show_if"}
    _refused(builder.set_question_type, doc, "why", "poem", field="type")


def test_nps_labels_shift_onto_an_eleven_point_scale():
    document = three_pages()
    document["pages"][1]["questions"][1]["scale"] = {
        "labels": {"0": {"en": "Never"}, "10": {"en": "Surely"}}
    }
    new = builder.set_question_type(document, "nps", "likert")
    assert new["pages"][1]["questions"][1]["scale"] == {
        "points": 11, "labels": {"1": {"en": "Never"}, "11": {"en": "Surely"}}
    }
    back = builder.set_question_type(new, "nps", "csat")
    assert back["pages"][1]["questions"][1]["scale"] == {"labels": {"1": {"en": "Never"}}}


# ----------------------------------------------------------------- scales


def test_scales_have_points_labels_and_not_applicable(doc):
    new = builder.add_question(doc, "end", question_type="likert", key="l", text_en="L")
    new = builder.update_scale(
        new, "l", points=4, labels={"1": ("Never", "从不"), "4": ("Always", ""), "9": ("x", "")},
        not_applicable=True,
    )
    assert new["pages"][2]["questions"][-1]["scale"] == {
        "points": 4,
        "labels": {"1": {"en": "Never", "zh_CN": "从不"}, "4": {"en": "Always"}},
        "not_applicable": True,
    }
    for points in (1, 12, None):
        _refused(builder.update_scale, new, "l", points=points, field="points")
    # Fixed scales take labels only, within their range.
    new = builder.update_scale(new, "nps", labels={"0": ("No", ""), "10": ("Yes", "")})
    assert new["pages"][1]["questions"][1]["scale"] == {
        "labels": {"0": {"en": "No"}, "10": {"en": "Yes"}}
    }
    _refused(builder.update_scale, new, "comment", points=5)


# ----------------------------------------------------------------- options and items


def test_options_are_added_edited_reordered_and_deleted(doc):
    new = builder.add_option(doc, "channel", label_en="On-site visit", label_zh="上门")
    assert new["pages"][1]["questions"][0]["options"][-1] == {
        "value": "on_site_visit", "label": {"en": "On-site visit", "zh_CN": "上门"}
    }
    new = builder.add_option(new, "channel", label_zh="微信")  # no English: a numbered value
    assert new["pages"][1]["questions"][0]["options"][-1]["value"] == "option-4"
    new = builder.move_option(new, "channel", "email", "up")
    values = [o["value"] for o in new["pages"][1]["questions"][0]["options"]]
    assert values == ["email", "phone", "on_site_visit", "option-4"]
    new = builder.update_option(new, "channel", "option-4", value="wechat", label_en="WeChat",
                                label_zh="微信")
    new = builder.delete_option(new, "channel", "phone")
    values = [o["value"] for o in new["pages"][1]["questions"][0]["options"]]
    assert values == ["email", "on_site_visit", "wechat"]
    assert len(doc["pages"][1]["questions"][0]["options"]) == 2


def test_bad_options_are_refused(doc):
    _refused(builder.add_option, doc, "channel", value="phone", label_en="Again", field="value")
    _refused(builder.add_option, doc, "channel", value="Phone!", label_en="x", field="value")
    _refused(builder.add_option, doc, "channel", value="fax", label_en="", field="label_en")
    _refused(builder.add_option, doc, "comment", value="x", label_en="x")  # not a choice
    _refused(builder.update_option, doc, "channel", "email", value="phone", label_en="E",
             field="value")
    with pytest.raises(NotFound):
        builder.delete_option(doc, "channel", "fax")


def test_renaming_an_option_renames_it_in_conditions(doc):
    doc = builder.set_condition(doc, "question", "nps",
                                {"question": "channel", "op": "in", "value": ["phone", "email"]})
    new = builder.update_option(doc, "channel", "phone", value="tel", label_en="Phone")
    assert new["pages"][1]["questions"][1]["show_if"]["value"] == ["tel", "email"]


def test_matrix_items_have_key_text_dimension_weight_and_reverse(doc):
    new = builder.add_question(doc, "end", question_type="matrix", key="grid", text_en="Rate")
    new = builder.add_item(new, "grid", text_en="Friendly", dimension="service", weight="2")
    new = builder.add_item(new, "grid", key="slow", text_en="Slow", reverse=True)
    items = new["pages"][2]["questions"][-1]["items"]
    assert items == [
        {"key": "item1", "text": {"en": "Friendly"}, "dimension": "service", "weight": 2},
        {"key": "slow", "text": {"en": "Slow"}, "reverse": True},
    ]
    new = builder.move_item(new, "grid", "slow", "up")
    new = builder.update_item(new, "grid", "item1", key="friendly", text_en="Friendly",
                              text_zh="友好")
    assert [i["key"] for i in new["pages"][2]["questions"][-1]["items"]] == ["slow", "friendly"]
    new = builder.delete_item(new, "grid", "slow")
    assert [i["key"] for i in new["pages"][2]["questions"][-1]["items"]] == ["friendly"]
    _refused(builder.add_item, new, "grid", key="friendly", text_en="x", field="key")
    _refused(builder.add_item, new, "grid", text_en="x", dimension="nope", field="dimension")
    _refused(builder.add_item, new, "csat", text_en="x")  # not a matrix


# ----------------------------------------------------------------- conditions


def test_the_structured_editor_builds_typed_conditions(doc):
    rows = [("csat", "less", "3"), ("", "equals", "ignored"), ("channel", "in", "phone, email")]
    condition = builder.build_condition(doc, "any", rows)
    assert condition == {
        "any": [
            {"question": "csat", "op": "less", "value": 3},
            {"question": "channel", "op": "in", "value": ["phone", "email"]},
        ]
    }
    assert builder.build_condition(doc, "all", [("nps", "answered", "")]) == {
        "question": "nps", "op": "answered", "value": True,
    }
    assert builder.build_condition(doc, "all", [("", "equals", "")]) is None
    assert builder.simple_condition(condition) == ("any", condition["any"])
    assert builder.condition_value_text(["phone", "email"]) == "phone, email"


@pytest.mark.parametrize(
    ("row", "field"),
    [
        (("csat", "less", "three"), "rows-0-value"),
        (("channel", "greater", "2"), "rows-0-value"),
        (("channel", "equals", "fax"), "rows-0-value"),
        (("csat", "answered", "maybe"), "rows-0-value"),
        (("csat", "equals", ""), "rows-0-value"),
        (("csat", "resembles", "3"), "rows-0-op"),
        (("CSAT!", "equals", "3"), "rows-0-question"),
    ],
)
def test_the_structured_editor_refuses_bad_rows(doc, row, field):
    with pytest.raises(ServiceError) as caught:
        builder.build_condition(doc, "all", [row])
    assert caught.value.field == field


def test_conditions_are_set_and_removed(doc):
    condition = {"question": "channel", "op": "equals", "value": "phone"}
    new = builder.set_condition(doc, "question", "nps", condition)
    assert new["pages"][1]["questions"][1]["show_if"] == condition
    assert list(new["pages"][1]["questions"][1]) == ["key", "type", "text", "show_if"]
    new = builder.set_condition(new, "page", "end", condition)
    assert list(new["pages"][2]) == ["key", "title", "show_if", "questions"]
    cleared = builder.set_condition(new, "question", "nps", None)
    assert "show_if" not in cleared["pages"][1]["questions"][1]
    _refused(builder.set_condition, doc, "question", "nps",
             {"question": "nps", "op": "answered", "value": True})


def test_deeply_nested_conditions_are_kept_and_edited_as_yaml(doc):
    nested = {"any": [{"all": [{"question": "csat", "op": "less", "value": 3},
                               {"question": "channel", "op": "equals", "value": "phone"}]},
                      {"question": "nps", "op": "less", "value": 7}]}
    assert builder.simple_condition(nested) is None
    text = builder.condition_yaml(nested)
    assert builder.parse_condition_yaml(text) == nested
    new = builder.set_condition(doc, "question", "comment", builder.parse_condition_yaml(text))
    assert new["pages"][2]["questions"][0]["show_if"] == nested
    assert builder.parse_condition_yaml("  ") is None


@pytest.mark.parametrize(
    "text",
    ["[1, 2]", "all: []", "{question: csat, op: is, value: 3}", "{question: csat}",
     "all: [{question: csat, op: less, value: 3}]\nany: []", "a: [b"],
)
def test_malformed_yaml_conditions_are_refused(text):
    with pytest.raises(ServiceError) as caught:
        builder.parse_condition_yaml(text)
    assert caught.value.field == "yaml"


def test_condition_sources_are_the_questions_before(doc):
    doc = builder.add_question(doc, "more", question_type="matrix", key="grid", text_en="G")
    doc = builder.add_item(doc, "grid", key="a", text_en="A")
    sources = [s["ref"] for s in builder.condition_sources(doc, "question", "comment")]
    assert sources == ["csat", "why", "channel", "nps", "grid", "grid.a"]
    assert [s["ref"] for s in builder.condition_sources(doc, "page", "more")] == ["csat", "why"]
    assert [s["ref"] for s in builder.condition_sources(doc, "question", "why")] == ["csat"]


def test_problem_paths_point_at_what_to_fix(doc):
    assert builder.problem_target(doc, "pages[1].questions[0].options") == ("question", "channel")
    assert builder.problem_target(doc, "pages[2].questions") == ("page", "end")
    assert builder.problem_target(doc, "dimensions[0].weight") == ("dimension", "service")
    assert builder.problem_target(doc, "title") == ("settings", None)
    assert builder.problem_target(doc, "pages[9].questions[0]") == ("settings", None)
