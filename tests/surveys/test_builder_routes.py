"""The builder over HTTP: an admin builds a questionnaire from a blank one, sees the
problems to fix before publishing, publishes, edits a new draft, previews it in both
languages; nobody else gets in; hostile text stays text.

Forms are submitted the way a browser would: the values come from the form on the page
(hidden CSRF token and revision included), with the fields a person would change.
"""

from __future__ import annotations

import copy
import re

import pytest
from sqlalchemy import func, select

from core.extensions import db
from surveys import services
from surveys.builder_routes import revision
from surveys.models import Answer, Questionnaire, QuestionnaireVersion, Response
from tests.surveys.documents import HOSTILE, three_pages
from tests.web.apps import isolated_requests
from tests.web.page import field_error, forms, visible_text


@pytest.fixture(autouse=True)
def _isolated_requests(app):
    with isolated_requests(app):
        yield


@pytest.fixture
def admin_client(factory, login_as):
    return login_as(factory.admin())


def _questionnaire(questionnaire_id: int) -> Questionnaire:
    db.session.expire_all()
    return db.session.get(Questionnaire, questionnaire_id)


def _document(questionnaire_id: int) -> dict:
    questionnaire = _questionnaire(questionnaire_id)
    return (questionnaire.draft or questionnaire.latest_published).document


def _form(response, action_end: str):
    """The form on the page whose action ends with ``action_end``."""
    found = [f for f in forms(response) if (f.action or "").endswith(action_end)]
    assert found, f"no form posting to …{action_end}"
    return found[0]


def submit(client, page, action_end: str, *, to: str | None = None, **changes):
    """Fill in the form of ``page`` posting to ``…action_end`` and submit it (to the
    button's ``formaction`` ``to`` if given)."""
    form = _form(page, action_end)
    data = dict(form.values)
    data.update(changes)
    return client.post(to or form.action, data=data)


def _follow(client, response, expected=303):
    assert response.status_code == expected, visible_text(response)[:2000]
    return client.get(response.headers["Location"])


def _new_blank(client, key="visit") -> tuple[int, object]:
    response = client.post(
        "/questionnaires/new", data={"key": key, "title_en": "Visit", "title_zh": "来访"}
    )
    assert response.status_code == 302
    questionnaire_id = int(re.search(r"/questionnaires/(\d+)/builder", response.location)[1])
    return questionnaire_id, client.get(response.location)


def _keys(document):
    return [[q["key"] for q in page["questions"]] for page in document["pages"]]


def _builder(qid, path=""):
    return f"/questionnaires/{qid}/builder{path}"


def _add_question(client, qid, page_key, qtype, text, key=""):
    overview = client.get(_builder(qid))
    prefix = f"new-{page_key}-"
    response = submit(client, overview, f"/pages/{page_key}/questions",
                      **{f"{prefix}type": qtype, f"{prefix}text_en": text, f"{prefix}key": key})
    return _follow(client, response)


def _add_option(client, editor, question_key, en, zh="", value=""):
    response = submit(client, editor, f"/questions/{question_key}/options",
                      **{"newopt-label_en": en, "newopt-label_zh": zh, "newopt-value": value})
    return _follow(client, response)


# ----------------------------------------------------------------- building


def test_an_admin_builds_a_questionnaire_from_a_blank_one(admin_client):
    client = admin_client
    qid, overview = _new_blank(client)
    assert overview.status_code == 200
    # The blank draft's empty page is a problem to fix before publishing.
    assert "must be fixed before publishing" in visible_text(overview)

    # A second page.
    response = submit(client, overview, "/builder/pages",
                      **{"newpage-title_en": "More", "newpage-title_zh": "更多",
                         "newpage-key": "more"})
    overview = _follow(client, response)
    assert [p["key"] for p in _document(qid)["pages"]] == ["page-1", "more"]

    # Questions of several types; the editor opens on each new one.
    editor = _add_question(client, qid, "page-1", "csat", "How satisfied are you?")
    assert "How satisfied are you?" in editor.get_data(as_text=True)
    editor = _add_question(client, qid, "page-1", "single_choice", "How did you contact us?",
                           key="channel")
    editor = _add_option(client, editor, "channel", "Phone", "电话")
    editor = _add_option(client, editor, "channel", "Email", "邮件", value="mail")
    editor = _add_option(client, editor, "channel", "Fax")
    _add_question(client, qid, "more", "long_text", "What went wrong?", key="why")
    editor = _add_question(client, qid, "more", "matrix", "Rate the staff", key="staff")
    response = submit(client, editor, "/questions/staff/items",
                      **{"newitem-text_en": "Friendly", "newitem-text_zh": "友好"})
    editor = _follow(client, response)
    response = submit(client, editor, "/questions/staff/scale",
                      **{"scale-points": "4", "scale-label_1_en": "Poor",
                         "scale-label_4_en": "Great", "scale-not_applicable": "y"})
    editor = _follow(client, response)

    document = _document(qid)
    assert _keys(document) == [["csat", "channel"], ["why", "staff"]]
    channel = document["pages"][0]["questions"][1]
    assert channel["options"] == [
        {"value": "phone", "label": {"en": "Phone", "zh_CN": "电话"}},
        {"value": "mail", "label": {"en": "Email", "zh_CN": "邮件"}},
        {"value": "fax", "label": {"en": "Fax"}},
    ]
    staff = document["pages"][1]["questions"][1]
    assert staff["items"] == [{"key": "item1", "text": {"en": "Friendly", "zh_CN": "友好"}}]
    assert staff["scale"] == {"points": 4, "labels": {"1": {"en": "Poor"}, "4": {"en": "Great"}},
                              "not_applicable": True}

    # Reorder: an option up, a question up (across to the page before), a page down.
    editor = client.get(_builder(qid, "/questions/channel"))
    response = submit(client, editor, "/questions/channel/options/mail",
                      to=_builder(qid, "/questions/channel/options/mail/move"), direction="up")
    _follow(client, response)
    overview = client.get(_builder(qid))
    response = submit(client, overview, "/questions/why/move", direction="up")
    overview = _follow(client, response)
    assert _keys(_document(qid)) == [["csat", "channel", "why"], ["staff"]]
    response = submit(client, overview, "/pages/page-1/move", direction="down")
    _follow(client, response)
    assert [p["key"] for p in _document(qid)["pages"]] == ["more", "page-1"]
    overview = client.get(_builder(qid))
    response = submit(client, overview, "/pages/page-1/move", direction="up")
    _follow(client, response)

    # Delete an option and a question.
    editor = client.get(_builder(qid, "/questions/channel"))
    response = submit(client, editor, "/questions/channel/options/fax",
                      to=_builder(qid, "/questions/channel/options/fax/delete"))
    editor = _follow(client, response)
    editor = _add_question(client, qid, "more", "short_text", "Name?", key="name")
    response = submit(client, editor, "/questions/name/delete")
    _follow(client, response)
    document = _document(qid)
    assert [o["value"] for o in document["pages"][0]["questions"][1]["options"]] == [
        "mail", "phone"]
    assert _keys(document) == [["csat", "channel", "why"], ["staff"]]

    # A condition with the structured editor: "why" only when CSAT is below 3.
    editor = client.get(_builder(qid, "/questions/why"))
    response = submit(client, editor, "/questions/why/condition",
                      **{"cond-rows-0-question": "csat", "cond-rows-0-op": "less",
                         "cond-rows-0-value": "3"})
    editor = _follow(client, response)
    assert _document(qid)["pages"][0]["questions"][2]["show_if"] == {
        "question": "csat", "op": "less", "value": 3}
    assert "csat is less than 3" in visible_text(editor)

    # Text, help and "required" of a question.
    response = submit(client, editor, "/builder/questions/why",
                      **{"q-text_zh": "哪里做得不好？", "q-help_en": "Optional.",
                         "q-required": "y"})
    _follow(client, response)
    why = _document(qid)["pages"][0]["questions"][2]
    assert why["text"] == {"en": "What went wrong?", "zh_CN": "哪里做得不好？"}
    assert why["help"] == {"en": "Optional."} and why["required"] is True

    # No problems left: publish from the questionnaire's page.
    overview = client.get(_builder(qid))
    assert "No problems found" in visible_text(overview)
    detail = client.get(f"/questionnaires/{qid}")
    response = submit(client, detail, f"/questionnaires/{qid}/publish")
    assert response.status_code == 302
    questionnaire = _questionnaire(qid)
    assert questionnaire.draft is None
    assert questionnaire.latest_published.number == 1


def test_problems_are_listed_with_links_until_they_are_fixed(admin_client, factory):
    client = admin_client
    document = three_pages()
    document["pages"][1]["questions"][0]["options"] = []  # a choice without options
    questionnaire = services.create_blank(factory.admin(), key="check", title={"en": "Check"})
    services.save_draft(factory.admin(), questionnaire, {**document, "key": "check"})
    db.session.commit()
    qid = questionnaire.id

    overview = client.get(_builder(qid))
    text = visible_text(overview)
    assert "pages[1].questions[0].options" in text
    html = overview.get_data(as_text=True)
    assert f'href="/questionnaires/{qid}/builder/questions/channel"' in html
    editor = client.get(_builder(qid, "/questions/channel"))
    _add_option(client, editor, "channel", "Phone")

    # A condition on a question that comes later.
    editor = client.get(_builder(qid, "/questions/channel"))
    response = submit(client, editor, "/questions/channel/condition",
                      **{"cond-rows-0-question": "comment", "cond-rows-0-op": "answered",
                         "cond-rows-0-value": "true"})
    editor = _follow(client, response)
    assert "“comment” comes after this question." in visible_text(editor)
    assert "comment (not before this question)" in visible_text(editor)
    overview = client.get(_builder(qid))
    assert "pages[1].questions[0].show_if.question" in visible_text(overview)

    # Fixed by removing the condition: nothing left to fix.
    response = submit(client, editor, "/questions/channel/condition/yaml", **{"yaml-yaml": ""})
    _follow(client, response)
    assert "show_if" not in _document(qid)["pages"][1]["questions"][0]
    assert "No problems found" in visible_text(client.get(_builder(qid)))


def test_refused_changes_show_the_message_next_to_the_field_and_change_nothing(
    admin_client, factory
):
    client = admin_client
    questionnaire = factory.questionnaire(publish=False)
    qid = questionnaire.id
    before = copy.deepcopy(_document(qid))

    # A duplicate key.
    overview = client.get(_builder(qid))
    response = submit(client, overview, "/pages/more/questions",
                      **{"new-more-type": "short_text", "new-more-text_en": "Again",
                         "new-more-key": "csat"})
    assert response.status_code == 422
    assert field_error(response, "new-more-key") == (
        "There is already a question with the key “csat”.")
    assert "Nothing was changed" in visible_text(response)
    assert 'aria-invalid="true"' in response.get_data(as_text=True)

    # A dimension still used.
    response = submit(client, overview, "/dimensions/service",
                      to=_builder(qid, "/dimensions/service/delete"))
    assert response.status_code == 422
    assert "still used by csat" in visible_text(response)

    # A form from a page that is no longer current (another tab changed the draft).
    stale = client.get(_builder(qid, "/questions/nps"))
    editor = client.get(_builder(qid, "/questions/comment"))
    _follow(client, submit(client, editor, "/builder/questions/comment",
                           **{"q-help_en": "Optional."}))
    changed = copy.deepcopy(_document(qid))
    response = submit(client, stale, "/builder/questions/nps", **{"q-text_en": "Stale"})
    assert response.status_code == 422
    assert "The draft has changed since this page was shown" in visible_text(response)
    assert _document(qid) == changed
    assert changed["pages"][2]["questions"][0]["help"] == {"en": "Optional."}
    changed["pages"][2]["questions"][0].pop("help")
    assert changed == before


def test_deeply_nested_conditions_are_kept_and_shown_as_yaml(admin_client, factory):
    document = three_pages()
    nested = {"any": [{"all": [{"question": "csat", "op": "less", "value": 3},
                               {"question": "channel", "op": "equals", "value": "phone"}]},
                      {"question": "nps", "op": "less", "value": 7}]}
    document["pages"][2]["questions"][0]["show_if"] = nested
    qid = factory.questionnaire(document, publish=False).id
    client = admin_client

    editor = client.get(_builder(qid, "/questions/comment"))
    assert "nests groups of tests" in visible_text(editor)
    assert "op: less" in editor.get_data(as_text=True)
    _follow(client, submit(client, editor, "/builder/questions/comment",
                           **{"q-text_en": "Anything more?"}))
    assert _document(qid)["pages"][2]["questions"][0]["show_if"] == nested

    editor = client.get(_builder(qid, "/questions/comment"))
    response = submit(client, editor, "/questions/comment/condition/yaml",
                      **{"yaml-yaml": "any: [{question: nps, op: less, value: 5}"})
    assert response.status_code == 422
    assert "This is not valid YAML" in visible_text(response)
    response = submit(client, editor, "/questions/comment/condition/yaml",
                      **{"yaml-yaml": "all:\n  - any: [{question: nps, op: less, value: 5}]"})
    _follow(client, response)
    assert _document(qid)["pages"][2]["questions"][0]["show_if"] == {
        "all": [{"any": [{"question": "nps", "op": "less", "value": 5}]}]}


def test_changing_the_type_keeps_what_the_new_type_can_use(admin_client, factory):
    qid = factory.questionnaire(publish=False).id
    client = admin_client
    editor = client.get(_builder(qid, "/questions/channel"))
    _follow(client, submit(client, editor, "/questions/channel/type",
                           **{"type-type": "dropdown"}))
    channel = _document(qid)["pages"][1]["questions"][0]
    assert channel["type"] == "dropdown" and len(channel["options"]) == 2


def test_pages_and_dimensions_are_managed_from_the_builder(admin_client, factory):
    qid = factory.questionnaire(publish=False).id
    client = admin_client

    editor = client.get(_builder(qid, "/pages/more"))
    refused = submit(client, editor, "/pages/more/delete")
    assert refused.status_code == 422
    assert "Tick the box" in field_error(refused, "del-with_questions")
    _follow(client, submit(client, editor, "/pages/more/delete", **{"del-with_questions": "y"}))
    assert [p["key"] for p in _document(qid)["pages"]] == ["about", "end"]

    overview = client.get(_builder(qid))
    _follow(client, submit(client, overview, "/builder/dimensions",
                           **{"newdim-name_en": "Speed", "newdim-name_zh": "速度",
                              "newdim-kind": "kpi", "newdim-weight": "2"}))
    overview = client.get(_builder(qid))
    _follow(client, submit(client, overview, "/builder/dimensions/service",
                           **{"dim-service-key": "care"}))
    document = _document(qid)
    assert document["dimensions"] == [
        {"key": "care", "name": {"en": "Service", "zh_CN": "服务"}, "kind": "kpi", "weight": 1},
        {"key": "speed", "name": {"en": "Speed", "zh_CN": "速度"}, "kind": "kpi", "weight": 2},
    ]
    assert document["pages"][0]["questions"][0]["dimension"] == "care"


# ----------------------------------------------------------------- versions


def test_published_versions_never_change_editing_makes_a_new_draft(admin_client, factory):
    client = admin_client
    questionnaire = factory.questionnaire()  # published v1
    qid = questionnaire.id
    v1 = questionnaire.latest_published
    v1_document = copy.deepcopy(v1.document)

    page = client.get(_builder(qid))
    assert "There is no draft" in visible_text(page)
    assert client.get(_builder(qid, "/questions/csat")).status_code == 302
    _follow(client, submit(client, page, "/builder/draft"))
    questionnaire = _questionnaire(qid)
    assert questionnaire.draft.number == 2

    editor = client.get(_builder(qid, "/questions/csat"))
    _follow(client, submit(client, editor, "/builder/questions/csat",
                           **{"q-text_en": "Happy with us?"}))
    db.session.expire_all()
    v1 = db.session.get(QuestionnaireVersion, v1.id)
    assert v1.document == v1_document
    assert v1.is_published
    assert _document(qid)["pages"][0]["questions"][0]["text"]["en"] == "Happy with us?"


def test_a_change_posted_without_a_draft_makes_one_from_the_published_version(
    admin_client, factory
):
    questionnaire = factory.questionnaire()
    qid = questionnaire.id
    published = copy.deepcopy(questionnaire.latest_published.document)
    response = admin_client.post(
        _builder(qid, "/questions/nps/move"),
        data={"direction": "up", "rev": revision(published)},
    )
    assert response.status_code == 303
    questionnaire = _questionnaire(qid)
    assert questionnaire.draft.number == 2
    assert _keys(questionnaire.draft.document)[1] == ["nps", "channel"]
    assert questionnaire.latest_published.document == published


# ----------------------------------------------------------------- preview


def test_preview_shows_the_respondent_pages_in_either_language(admin_client, factory):
    qid = factory.questionnaire(publish=False).id
    client = admin_client

    chinese = client.get(f"/questionnaires/{qid}/preview?lang=zh_CN")
    assert chinese.status_code == 200
    html = chinese.get_data(as_text=True)
    assert "您满意吗？" in html and "How satisfied are you?" not in html
    # The respondent's page is in the preview language, the admin's notes in theirs.
    assert '<html lang="zh-CN">' in html
    assert _form(chinese, "/preview").values["lang"] == "zh_CN"
    assert "Preview — answers are not saved" in visible_text(chinese)
    english = client.get(f"/questionnaires/{qid}/preview?lang=en&page=more")
    assert "How did you contact us?" in english.get_data(as_text=True)
    assert "您通过什么方式联系我们？" not in english.get_data(as_text=True)


def test_preview_applies_skip_logic_with_the_answers_given_and_saves_nothing(
    admin_client, factory
):
    questionnaire = factory.questionnaire(publish=False)
    qid = questionnaire.id
    before = copy.deepcopy(_document(qid))
    client = admin_client
    url = f"/questionnaires/{qid}/preview"

    first = client.get(f"{url}?lang=en")
    assert "What went wrong?" not in first.get_data(as_text=True)  # csat not answered
    assert "Hidden by skip logic with the answers given: why" in visible_text(first)

    unhappy = submit(client, first, "/preview", **{"q-csat": "2", "action": "refresh"})
    assert unhappy.status_code == 200
    assert "What went wrong?" in unhappy.get_data(as_text=True)
    happy = submit(client, unhappy, "/preview", **{"q-csat": "5", "action": "refresh"})
    assert "What went wrong?" not in happy.get_data(as_text=True)

    # Next page: the answers travel along in the form.
    second = submit(client, happy, "/preview", **{"q-csat": "5", "action": "next"})
    assert "How did you contact us?" in second.get_data(as_text=True)
    assert _form(second, "/preview").values["q-csat"] == "5"
    # A required question left empty is flagged as for a respondent.
    refused = submit(client, second, "/preview", action="next")
    assert refused.status_code == 422
    assert "Please check your answers" in visible_text(refused)

    assert db.session.scalar(select(func.count()).select_from(Response)) == 0
    assert db.session.scalar(select(func.count()).select_from(Answer)) == 0
    assert _document(qid) == before


def test_preview_carries_answers_of_every_kind_from_page_to_page(admin_client, factory):
    document = three_pages()
    document["pages"][0]["questions"] = [
        {"key": "grid", "type": "matrix", "text": {"en": "Rate"}, "scale": {"points": 3},
         "items": [{"key": "a", "text": {"en": "A"}}, {"key": "b", "text": {"en": "B"}}]},
        {"key": "order", "type": "ranking", "text": {"en": "Order"},
         "options": [{"value": "x", "label": "X"}, {"value": "y", "label": "Y"}]},
        {"key": "many", "type": "multiple_choice", "text": {"en": "Many"},
         "options": [{"value": "x", "label": "X"}, {"value": "y", "label": "Y"}]},
    ]
    document["pages"][1]["show_if"] = {"question": "grid.a", "op": "greater", "value": 1}
    qid = factory.questionnaire(document, publish=False).id
    client = admin_client
    first = client.get(f"/questionnaires/{qid}/preview?lang=en")
    answers = {"q-grid-a": "3", "q-grid-b": "1", "q-order-x": "2", "q-order-y": "1",
               "q-many": ["x", "y"], "action": "next"}
    second = submit(client, first, "/preview", **answers)
    assert "How did you contact us?" in second.get_data(as_text=True)  # page "more" shown
    html = second.get_data(as_text=True)
    for name, value in (("q-grid-a", "3"), ("q-grid-b", "1"), ("q-order-y", "1"),
                        ("q-order-x", "2"), ("q-many", "x"), ("q-many", "y")):
        assert f'<input type="hidden" name="{name}" value="{value}">' in html
    # With a low rating of item "a" the page "more" is skipped.
    answers["q-grid-a"] = "1"
    skipped = submit(client, first, "/preview", **answers)
    assert "Anything else?" in skipped.get_data(as_text=True)


def test_preview_of_a_draft_with_problems_lists_them(admin_client):
    qid, _overview = _new_blank(admin_client, key="empty")
    response = admin_client.get(f"/questionnaires/{qid}/preview?lang=en")
    assert response.status_code == 200
    assert "cannot be shown until these problems are fixed" in visible_text(response)


# ----------------------------------------------------------------- who may


def _builder_rules(app):
    return [r for r in app.url_map.iter_rules() if r.endpoint.startswith("builder.")]


@pytest.mark.parametrize("role", ["member", "manager"])
def test_every_builder_endpoint_refuses_members_and_managers(app, factory, login_as, role):
    questionnaire = factory.questionnaire(publish=False)
    before = copy.deepcopy(questionnaire.draft.document)
    client = login_as(factory.user(role=role))
    values = {"questionnaire_id": questionnaire.id, "page_key": "about",
              "question_key": "channel", "dimension_key": "service", "value": "phone",
              "item_key": "x"}
    rules = _builder_rules(app)
    assert {"builder.edit", "builder.preview", "builder.add_question",
            "builder.question_condition"} <= {r.endpoint for r in rules}
    for rule in rules:
        url = re.sub(r"<(?:[^:<>]+:)?(\w+)>", lambda m: str(values[m.group(1)]), rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(url, method=method, data={
                "direction": "up", "rev": revision(before), "newopt-label_en": "Hijack"})
            assert response.status_code == 403, (method, url)
    assert _document(questionnaire.id) == before


def test_anonymous_visitors_are_sent_to_log_in(client, factory):
    questionnaire = factory.questionnaire(publish=False)
    for path in ("/builder", "/preview", "/builder/questions/csat"):
        response = client.get(f"/questionnaires/{questionnaire.id}{path}")
        assert response.status_code == 302
        assert "/login" in response.location


# ----------------------------------------------------------------- escaping


def test_hostile_text_is_shown_as_text_in_the_builder_and_the_preview(admin_client, factory):
    client = admin_client
    qid = factory.questionnaire(publish=False).id
    editor = _add_question(client, qid, "end", "single_choice", HOSTILE, key="evil")
    response = submit(client, editor, "/questions/evil/options",
                      **{"newopt-label_en": HOSTILE, "newopt-label_zh": HOSTILE,
                         "newopt-value": "x"})
    _follow(client, response)
    question = _document(qid)["pages"][2]["questions"][1]
    assert question["text"] == {"en": HOSTILE}
    assert question["options"][0]["label"] == {"en": HOSTILE, "zh_CN": HOSTILE}

    pages = [
        client.get(_builder(qid)),
        client.get(_builder(qid, "/questions/evil")),
        client.get(_builder(qid, "/pages/end")),
        client.get(f"/questionnaires/{qid}/preview?lang=en&page=end"),
        client.get(f"/questionnaires/{qid}/preview?lang=zh_CN&page=end"),
    ]
    for page in pages:
        assert page.status_code == 200 and page.mimetype == "text/html"
        html = page.get_data(as_text=True)
        assert "<script>alert(1)</script>" not in html
        assert "<svg onload" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "{{7*7}}" in html and ">49<" not in html
