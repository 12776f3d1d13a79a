"""The JSON API for questionnaires, links and responses under /api/v1: documents,
drafts and versions, import / export, links, submitting and listing responses,
scopes, the error shape and the OpenAPI document."""

from __future__ import annotations

import copy
import json
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from core import create_app
from core.database import utcnow
from core.extensions import db
from org import apikeys
from surveys import api as survey_api
from surveys import definition as qdef
from surveys import services
from surveys.models import (
    Answer,
    Questionnaire,
    QuestionnaireVersion,
    Response,
    ResponseStatus,
)
from surveys.schemas import EXAMPLE_ANSWERS, EXAMPLE_DOCUMENT
from tests.surveys.definition_factory import question
from tests.surveys.documents import HOSTILE, three_pages
from tests.web.apps import isolated_requests
from tests.web.test_api import _Caller, assert_error

BASE = "/api/v1/questionnaires"


@pytest.fixture(autouse=True)
def _isolated_requests(request, app):
    if "no_db_isolation" in request.keywords:
        yield
        return
    with isolated_requests(app):
        yield


@pytest.fixture
def admin(factory):
    return factory.admin()


@pytest.fixture
def writer(client, admin):
    _key, plaintext = apikeys.create_api_key(admin, "Survey sync", "write")
    return _Caller(client, plaintext)


@pytest.fixture
def reader(client, admin):
    _key, plaintext = apikeys.create_api_key(admin, "Dashboard", "read")
    return _Caller(client, plaintext)


def _count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def _submit(caller, campaign, answers, key="k-1", **extra):
    return caller.post(
        f"/api/v1/links/{campaign.public_slug}/responses",
        json={"answers": answers, "idempotency_key": key, **extra},
    )


def _completed(campaign) -> list[Response]:
    return db.session.scalars(
        select(Response).where(Response.campaign_id == campaign.id).order_by(Response.id)
    ).all()


def _stored(response) -> dict:
    return {
        (a.question_key, a.item_key): (a.value_num, a.value_text)
        for a in db.session.scalars(select(Answer).where(Answer.response_id == response.id))
    }


# ----------------------------------------------------------------- a document of every type


def every_type_document() -> dict:
    """The questions behind the documented example answers (``EXAMPLE_ANSWERS``)."""
    def options(*values):
        return [{"value": v, "label": v.title()} for v in values]

    return {
        "format": "orbit.questionnaire/1",
        "key": "every-type",
        "title": {"en": "Every type", "zh_CN": "所有题型"},
        "pages": [
            {
                "key": "scales",
                "questions": [
                    question("intro", "text_block"),
                    question("csat", "csat", required=True),
                    question("nps", "nps"),
                    question("ces", "ces"),
                    question("agree", "likert"),
                    question("grid", "matrix", scale={"points": 5, "not_applicable": True},
                             items=[{"key": "speed", "text": "Speed"},
                                    {"key": "accuracy", "text": "Accuracy"}], required=True),
                ],
            },
            {
                "key": "choices",
                "questions": [
                    question("channel", "single_choice", required=True),
                    question("office", "dropdown"),
                    question("features", "multiple_choice", min_selections=None,
                             max_selections=2, options=options("chat", "email", "phone")),
                    question("priorities", "ranking", options=options("price", "speed",
                                                                      "quality")),
                ],
            },
            {
                "key": "texts",
                "questions": [
                    question("comment", "long_text"),
                    question("nickname", "short_text"),
                    question("visits", "number", min=0, max=100),
                    question("visit_date", "date", min=None, max=None),
                ],
            },
        ],
    }


@pytest.fixture
def every_type_link(factory, admin):
    questionnaire = factory.questionnaire(every_type_document(), actor=admin)
    return factory.campaign(questionnaire, actor=admin)


# ----------------------------------------------------------------- the OpenAPI document


def test_openapi_document_describes_the_survey_endpoints(client):
    from openapi_spec_validator import validate

    spec = client.get("/api/v1/openapi.json").get_json()
    validate(spec)
    paths = spec["paths"]
    expected = {
        BASE: {"get", "post"},
        f"{BASE}/import": {"post"},
        f"{BASE}/schema": {"get"},
        f"{BASE}/{{questionnaire_id}}": {"get", "delete"},
        f"{BASE}/{{questionnaire_id}}/draft": {"get", "put"},
        f"{BASE}/{{questionnaire_id}}/publish": {"post"},
        f"{BASE}/{{questionnaire_id}}/versions/{{number}}": {"get"},
        f"{BASE}/{{questionnaire_id}}/versions/{{number}}/export": {"get"},
        f"{BASE}/{{questionnaire_id}}/links": {"post"},
        "/api/v1/links/{link_id}": {"get"},
        "/api/v1/links/{link_id}/close": {"post"},
        "/api/v1/links/{link_id}/responses": {"get"},
        "/api/v1/links/{slug}/responses": {"post"},
    }
    for path, methods in expected.items():
        assert methods <= set(paths[path]), path
    assert {"questionnaires", "links", "responses"} <= {t["name"] for t in spec["tags"]}
    submit = paths["/api/v1/links/{slug}/responses"]["post"]
    assert {"200", "201", "400", "401", "403", "404", "409", "422"} <= set(submit["responses"])
    schemas = spec["components"]["schemas"]
    answers = schemas["ResponseSubmit"]["properties"]["answers"]
    assert answers["example"] == EXAMPLE_ANSWERS
    for type_ in ("likert", "matrix", "multiple_choice", "ranking", "number", "date"):
        assert f"`{type_}`" in answers["description"]
    assert set(schemas["ResponseSubmit"]["required"]) == {"answers", "idempotency_key"}
    create = paths[BASE]["post"]
    assert create["requestBody"]["content"]["application/json"]["example"] == EXAMPLE_DOCUMENT
    assert "errors" in create["responses"]["400"]["content"]["application/json"]["example"]
    imported = paths[f"{BASE}/import"]["post"]["requestBody"]["content"]
    assert {"application/yaml", "text/yaml", "application/json"} <= set(imported)
    export = paths[f"{BASE}/{{questionnaire_id}}/versions/{{number}}/export"]["get"]
    assert {"application/yaml", "application/json"} <= set(export["responses"]["200"]["content"])


def test_documented_examples_are_valid(writer, every_type_link):
    """The document and answers shown in the OpenAPI document are accepted as they are."""
    qdef.validate_document(EXAMPLE_DOCUMENT)
    response = _submit(writer, every_type_link, EXAMPLE_ANSWERS)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["answers"] == EXAMPLE_ANSWERS


def test_json_schema_of_the_format_is_served(reader):
    response = reader.get(f"{BASE}/schema")
    assert response.status_code == 200
    assert response.mimetype == "application/schema+json"
    assert response.get_json() == qdef.schema()


# ----------------------------------------------------------------- questionnaires


def test_create_publish_export_and_import_round_trip(writer):
    document = three_pages()
    response = writer.post(BASE, json=document)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    qid = body["id"]
    assert response.headers["Location"].endswith(f"{BASE}/{qid}")
    assert (body["key"], body["draft_version"], body["published_version"]) == (
        "service-check", 1, None)
    assert body["title"] == document["title"]

    draft = writer.get(f"{BASE}/{qid}/draft").get_json()
    assert draft["document"] == document and draft["problems"] == {}

    published = writer.post(f"{BASE}/{qid}/publish")
    assert published.status_code == 200
    version = published.get_json()
    assert (version["number"], version["status"]) == (1, "published")
    assert version["document_sha256"] == services.document_sha256(document)
    assert writer.get(f"{BASE}/{qid}/versions/1").get_json() == version

    yaml_export = writer.get(f"{BASE}/{qid}/versions/1/export")
    assert yaml_export.status_code == 200
    assert yaml_export.mimetype == "application/yaml"
    assert 'filename="service-check-v1.yaml"' in yaml_export.headers["Content-Disposition"]
    text = yaml_export.get_data(as_text=True)
    assert "您满意吗？" in text  # Chinese as is
    json_export = writer.get(f"{BASE}/{qid}/versions/1/export?format=json")
    assert json_export.mimetype == "application/json"
    assert json.loads(json_export.get_data(as_text=True)) == document

    # Importing the export under the same key: a new draft with exactly that document.
    imported = writer.post(f"{BASE}/import", data=text.encode(),
                           headers={"Content-Type": "application/yaml"})
    assert imported.status_code == 200, imported.get_json()
    assert imported.get_json()["id"] == qid and imported.get_json()["draft_version"] == 2
    assert writer.get(f"{BASE}/{qid}/draft").get_json()["document"] == document

    # ...and under a new key: a new questionnaire (201), from JSON this time.
    renamed = json_export.get_data(as_text=True).replace('"service-check"', '"service-check-2"')
    created = writer.post(f"{BASE}/import", data=renamed.encode(),
                          headers={"Content-Type": "application/json"})
    assert created.status_code == 201, created.get_json()
    new_id = created.get_json()["id"]
    copy_doc = writer.get(f"{BASE}/{new_id}/draft").get_json()["document"]
    assert copy_doc == {**document, "key": "service-check-2"}


def test_import_accepts_text_yaml_and_refuses_other_types(writer):
    text = qdef.dump_document(three_pages(key="from-yaml"), "yaml")
    response = writer.post(f"{BASE}/import", data=text.encode(),
                           headers={"Content-Type": "text/yaml; charset=utf-8"})
    assert response.status_code == 201, response.get_json()
    response = writer.post(f"{BASE}/import", data=text.encode(),
                           headers={"Content-Type": "text/plain"})
    assert_error(response, 415)
    response = writer.post(BASE, data=json.dumps(three_pages(key="x")),
                           headers={"Content-Type": "text/plain"})
    assert_error(response, 415)


def test_invalid_document_is_refused_with_paths_and_nothing_is_written(writer):
    before = _count(Questionnaire), _count(QuestionnaireVersion)
    document = three_pages()
    document["pages"][0]["questions"][1]["show_if"]["question"] = "nps"  # a later question
    del document["pages"][1]["questions"][0]["options"]
    body = assert_error(writer.post(BASE, json=document), 400)
    assert "pages[0].questions[1].show_if.question" not in body["errors"]  # schema first
    assert body["errors"] == {"pages[1].questions[0].options": ["This field is required."]}

    document = three_pages()
    document["pages"][0]["questions"][1]["show_if"]["question"] = "nps"
    body = assert_error(writer.post(BASE, json=document), 400,
                        field="pages[0].questions[1].show_if.question")
    assert "nps" in body["errors"]["pages[0].questions[1].show_if.question"][0]

    # A key written twice, NaN, broken JSON: refused like an imported file.
    raw = '{"format": "orbit.questionnaire/1", "key": "a", "key": "b"}'
    body = assert_error(writer.post(BASE, data=raw, headers={"Content-Type":
                                                              "application/json"}), 400)
    assert "twice" in body["errors"]["(document)"][0]
    raw = json.dumps(three_pages(key="nan")).replace('"weight": 1', '"weight": NaN')
    assert_error(writer.post(BASE, data=raw, headers={"Content-Type": "application/json"}), 400,
                 field="(document)")
    assert_error(writer.post(BASE, data="{", headers={"Content-Type": "application/json"}),
                 400, field="(document)")

    bad_yaml = "format: orbit.questionnaire/1\nkey: Bad Key\ntitle: x\npages: []\n"
    body = assert_error(writer.post(f"{BASE}/import", data=bad_yaml.encode(),
                                    headers={"Content-Type": "application/yaml"}), 400)
    assert {"key", "pages"} <= set(body["errors"])
    assert (_count(Questionnaire), _count(QuestionnaireVersion)) == before


def test_a_used_key_is_refused(writer, factory, admin):
    factory.questionnaire(actor=admin)
    assert_error(writer.post(BASE, json=three_pages()), 400, field="key")


def test_draft_put_on_a_published_questionnaire_makes_v2_and_keeps_v1(writer, factory, admin):
    questionnaire = factory.questionnaire(actor=admin)
    v1 = questionnaire.latest_published
    v1_document, v1_sha = copy.deepcopy(v1.document), v1.document_sha256
    qid = questionnaire.id
    assert_error(writer.get(f"{BASE}/{qid}/draft"), 404)
    assert_error(writer.post(f"{BASE}/{qid}/publish"), 409)

    changed = three_pages(title={"en": "Service check, v2"})
    response = writer.put(f"{BASE}/{qid}/draft", json=changed)
    assert response.status_code == 200, response.get_json()
    draft = response.get_json()
    assert (draft["number"], draft["status"], draft["document"]) == (2, "draft", changed)
    # Replacing the draft again keeps version 2.
    changed["title"] = "Service check, v2 bis"
    assert writer.put(f"{BASE}/{qid}/draft", json=changed).get_json()["number"] == 2

    db.session.expire_all()
    v1 = db.session.get(QuestionnaireVersion, v1.id)
    assert (v1.status, v1.document, v1.document_sha256) == ("published", v1_document, v1_sha)
    assert writer.get(f"{BASE}/{qid}/versions/1").get_json()["document"] == v1_document
    body = writer.get(f"{BASE}/{qid}").get_json()
    assert [(v["number"], v["status"]) for v in body["versions"]] == [
        (1, "published"), (2, "draft")]
    assert (body["draft_version"], body["published_version"]) == (2, 1)
    assert writer.post(f"{BASE}/{qid}/publish").get_json()["number"] == 2
    assert writer.get(f"{BASE}/{qid}").get_json()["published_version"] == 2


def test_draft_put_refuses_an_invalid_document_or_another_key(writer, factory, admin):
    questionnaire = factory.questionnaire(actor=admin)
    qid = questionnaire.id
    assert_error(writer.put(f"{BASE}/{qid}/draft", json=three_pages(key="other")), 400,
                 field="key")
    document = three_pages()
    document["pages"][0]["questions"][0]["type"] = "stars"
    assert_error(writer.put(f"{BASE}/{qid}/draft", json=document), 400,
                 field="pages[0].questions[0].type")
    db.session.expire_all()
    assert [v.number for v in db.session.get(Questionnaire, qid).versions] == [1]


def test_draft_problems_are_shown_and_block_publishing(writer, admin):
    questionnaire = services.create_blank(admin, key="blank", title={"en": "Blank"})
    qid = questionnaire.id
    draft = writer.get(f"{BASE}/{qid}/draft").get_json()
    assert draft["problems"] and all(
        isinstance(m, str) for ms in draft["problems"].values() for m in ms)
    body = assert_error(writer.post(f"{BASE}/{qid}/publish"), 400)
    assert set(body["errors"]) == set(draft["problems"])


def test_list_archive_and_unknown_ids(writer, reader, factory, admin):
    first = factory.questionnaire(three_pages(key="first"), actor=admin)
    second = factory.questionnaire(three_pages(key="second"), actor=admin)
    response = reader.get(f"{BASE}?page_size=1")
    assert response.status_code == 200 and len(response.get_json()) == 1
    assert json.loads(response.headers["X-Pagination"])["total"] >= 2

    def keys(url):
        return {q["key"] for q in reader.get(url).get_json()}

    assert {"first", "second"} <= keys(f"{BASE}?page_size=100")
    assert writer.delete(f"{BASE}/{first.id}").status_code == 204
    assert writer.delete(f"{BASE}/{first.id}").status_code == 204  # twice: nothing changes
    assert "first" not in keys(f"{BASE}?page_size=100")
    assert {"first", "second"} <= keys(f"{BASE}?page_size=100&include_archived=true")
    archived = reader.get(f"{BASE}/{first.id}").get_json()
    assert archived["archived_at"] is not None
    assert reader.get(f"{BASE}/{second.id}").get_json()["archived_at"] is None
    for url in (f"{BASE}/999999", f"{BASE}/999999/draft", f"{BASE}/{second.id}/versions/9",
                f"{BASE}/{second.id}/versions/9/export", "/api/v1/links/999999",
                "/api/v1/links/999999/responses"):
        assert_error(reader.get(url), 404)
    assert_error(reader.get(f"{BASE}/{second.id}/versions/1/export?format=xml"), 422,
                 field="format")


# ----------------------------------------------------------------- scopes


def test_read_key_can_read_but_not_write(reader, factory, admin):
    questionnaire = factory.questionnaire(actor=admin)
    campaign = factory.campaign(questionnaire, actor=admin)
    qid = questionnaire.id
    for url in (BASE, f"{BASE}/{qid}", f"{BASE}/{qid}/versions/1",
                f"{BASE}/{qid}/versions/1/export", f"/api/v1/links/{campaign.id}",
                f"/api/v1/links/{campaign.id}/responses"):
        assert reader.get(url).status_code == 200, url
    attempts = [
        reader.post(BASE, json=three_pages(key="sneaky")),
        reader.post(f"{BASE}/import", data=b"{}", headers={"Content-Type": "application/json"}),
        reader.put(f"{BASE}/{qid}/draft", json=three_pages()),
        reader.post(f"{BASE}/{qid}/publish"),
        reader.delete(f"{BASE}/{qid}"),
        reader.post(f"{BASE}/{qid}/links", json={"name": "Sneaky"}),
        reader.post(f"/api/v1/links/{campaign.id}/close"),
        _submit(reader, campaign, {"csat": 5, "channel": "phone"}),
    ]
    for response in attempts:
        assert "read" in assert_error(response, 403)["message"]
    db.session.expire_all()
    assert len(db.session.get(Questionnaire, qid).versions) == 1
    assert db.session.get(Questionnaire, qid).archived_at is None
    assert _completed(campaign) == [] and campaign.closed_at is None


def test_no_key_gets_401(client, factory, admin):
    campaign = factory.campaign(actor=admin)
    db.session.commit()
    assert_error(client.get(BASE), 401)
    response = client.post(f"/api/v1/links/{campaign.public_slug}/responses",
                           json={"answers": {"csat": 5}, "idempotency_key": "x"})
    assert_error(response, 401)


# ----------------------------------------------------------------- links


def test_create_get_and_close_a_link(writer, factory, admin):
    questionnaire = factory.questionnaire(actor=admin)
    response = writer.post(
        f"{BASE}/{questionnaire.id}/links",
        json={"name": "March", "opens_at": "2020-03-01T09:00:00+08:00",
              "closes_at": "2999-03-31T18:00:00+08:00", "max_responses": 2},
    )
    assert response.status_code == 201, response.get_json()
    link = response.get_json()
    assert response.headers["Location"].endswith(f"/api/v1/links/{link['id']}")
    assert (link["questionnaire_id"], link["version"], link["state"]) == (
        questionnaire.id, 1, "open")
    assert link["opens_at"] == "2020-03-01T01:00:00+00:00"
    assert link["url"].endswith(f"/s/{link['slug']}") and link["url"].startswith("http")
    assert link["counts"] == {"completed": 0, "in_progress": 0}
    assert writer.get(f"/api/v1/links/{link['id']}").get_json() == link

    closed = writer.post(f"/api/v1/links/{link['id']}/close")
    assert closed.status_code == 200
    assert closed.get_json()["state"] == "closed" and closed.get_json()["closed_at"]


def test_link_input_is_checked(writer, factory, admin):
    questionnaire = factory.questionnaire(actor=admin)
    url = f"{BASE}/{questionnaire.id}/links"
    assert_error(writer.post(url, json={"name": "N", "opens_at": "2025-03-01T09:00:00"}), 422,
                 field="opens_at")  # no UTC offset
    assert_error(writer.post(url, json={"name": "N", "max_responses": 0}), 422,
                 field="max_responses")
    assert_error(writer.post(url, json={}), 422, field="name")
    assert_error(writer.post(url, json={
        "name": "N", "opens_at": "2025-03-02T00:00:00Z", "closes_at": "2025-03-01T00:00:00Z"}),
        400, field="closes_at")
    draft_only = services.create_questionnaire(admin, three_pages(key="draft-only"))
    body = assert_error(writer.post(f"{BASE}/{draft_only.id}/links", json={"name": "N"}), 400)
    assert "Publish" in body["message"]
    assert_error(writer.post(f"{BASE}/999999/links", json={"name": "N"}), 404)


# ----------------------------------------------------------------- submitting responses


def test_submit_a_response_then_the_same_key_again(writer, factory, admin):
    campaign = factory.campaign(actor=admin)
    answers = {"csat": 5, "channel": "email", "nps": 9, "comment": "  Great  "}
    response = _submit(writer, campaign, answers, key="crm-1", locale="zh_CN")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["status"] == "completed" and body["version"] == 1
    assert body["link_id"] == campaign.id and body["locale"] == "zh_CN"
    assert body["answers"] == {"csat": 5, "channel": "email", "nps": 9, "comment": "Great"}
    stored = _completed(campaign)
    assert [r.id for r in stored] == [body["id"]]
    assert stored[0].status == ResponseStatus.COMPLETED and stored[0].idempotency_key == "crm-1"
    assert _stored(stored[0]) == {
        ("csat", ""): (5.0, None), ("channel", ""): (None, "email"),
        ("nps", ""): (9.0, None), ("comment", ""): (None, "Great"),
    }

    again = _submit(writer, campaign, {"csat": 1, "channel": "phone"}, key="crm-1")
    assert again.status_code == 200
    assert again.get_json() == body  # the first response; the new body is not looked at
    assert len(_completed(campaign)) == 1
    assert _count(Answer, Answer.response_id == body["id"]) == 4

    # Another key is another response.
    other = _submit(writer, campaign, {"csat": 4, "channel": "phone"}, key="crm-2")
    assert other.status_code == 201 and other.get_json()["id"] != body["id"]
    assert writer.get(f"/api/v1/links/{campaign.id}").get_json()["counts"]["completed"] == 2


def test_a_concurrent_duplicate_that_committed_first_is_returned(writer, factory, admin,
                                                                 monkeypatch):
    """The race: the key is not found, but the insert hits the unique constraint
    because a request with the same key committed meanwhile."""
    campaign = factory.campaign(actor=admin)
    first = _submit(writer, campaign, {"csat": 5, "channel": "phone"}, key="race")
    assert first.status_code == 201
    real, calls = survey_api._submitted, []

    def missed_once(link, key):
        calls.append(key)
        return None if len(calls) == 1 else real(link, key)

    monkeypatch.setattr(survey_api, "_submitted", missed_once)
    second = _submit(writer, campaign, {"csat": 2, "channel": "email"}, key="race")
    assert second.status_code == 200, second.get_json()
    assert second.get_json() == first.get_json()
    assert len(calls) == 2
    assert len(_completed(campaign)) == 1


def test_invalid_answers_get_400_by_question_and_nothing_is_stored(writer, every_type_link):
    answers = {
        "csat": 9,  # not a point of the scale
        "grid": {"speed": 5},  # required matrix: a row is missing
        "channel": "fax",  # not an option
        "features": ["phone", "email", "chat"],  # at most two
        "priorities": ["price", "speed"],  # ranking: all or nothing
        "nickname": "x" * 201,
        "visits": 101,
        "visit_date": "2025-02-30",
        "intro": "hello",  # a text block
        "unknown": 1,
    }
    body = assert_error(_submit(writer, every_type_link, answers), 400)
    errors = body["errors"]
    assert set(errors) == {"csat", "grid", "grid-accuracy", "channel", "features", "priorities",
                           "nickname", "visits", "visit_date", "intro", "unknown"}
    assert all(isinstance(m, str) and m for ms in errors.values() for m in ms)
    assert _completed(every_type_link) == []
    assert _count(Answer) == 0


def test_missing_required_answers_and_wrong_types(writer, every_type_link):
    body = assert_error(_submit(writer, every_type_link, {}), 400)
    assert {"csat", "grid", "channel"} <= set(body["errors"])
    wrong = {
        "csat": "5", "nps": True, "agree": 2.5, "grid": [5, 5], "channel": 3,
        "features": "phone", "priorities": ["price", "price", "speed"], "comment": {"a": 1},
        "visits": "12", "visit_date": 20250301,
    }
    body = assert_error(_submit(writer, every_type_link, wrong), 400)
    assert set(wrong) <= set(body["errors"])
    assert "grid-speed" not in body["errors"]  # the type is what is wrong, said once
    assert_error(_submit(writer, every_type_link, {"csat": 5, "grid": {"speed": 5, "size": 1},
                                                   "channel": "phone"}), 400, field="grid")
    assert_error(writer.post(f"/api/v1/links/{every_type_link.public_slug}/responses",
                             json={"answers": [], "idempotency_key": "x"}), 422, field="answers")
    assert_error(writer.post(f"/api/v1/links/{every_type_link.public_slug}/responses",
                             json={"answers": {}}), 422, field="idempotency_key")
    assert_error(_submit(writer, every_type_link, {}, key="k" * 129), 422,
                 field="idempotency_key")
    assert_error(_submit(writer, every_type_link, {}, locale="fr"), 422, field="locale")
    assert _completed(every_type_link) == []


@pytest.mark.parametrize("text", ["bad\x00text", "bad\ud800text", "bad\x07text"])
def test_text_that_cannot_be_stored_is_refused(writer, every_type_link, text):
    answers = {"csat": 5, "grid": {"speed": 5, "accuracy": 4}, "channel": "phone",
               "comment": text}
    assert_error(_submit(writer, every_type_link, answers), 400, field="comment")


def test_every_type_is_stored_in_the_documented_representation(writer, every_type_link):
    answers = {
        "csat": 5.0,  # a whole number written as a float is the point 5
        "nps": 0, "ces": 7, "agree": 3,
        "grid": {"speed": "na", "accuracy": 1},
        "channel": " chat ", "office": "visit",
        "features": ["email", "phone", "email"],
        "priorities": ["quality", "price", "speed"],
        "comment": "Line one\r\nline two", "nickname": "   ",
        "visits": 12.0, "visit_date": "2024-02-29",
        "nothing": None,
    }
    answers.pop("nothing")
    response = _submit(writer, every_type_link, {**answers, "office": None})
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["answers"] == {
        "csat": 5, "nps": 0, "ces": 7, "agree": 3,
        "grid": {"speed": "na", "accuracy": 1},
        "channel": "chat",
        "features": ["email", "phone"],  # option order, once each
        "priorities": ["quality", "price", "speed"],
        "comment": "Line one\nline two",
        "visits": 12, "visit_date": "2024-02-29",
    }
    stored = _stored(_completed(every_type_link)[0])
    assert stored[("grid", "speed")] == (None, "na")
    assert stored[("priorities", "quality")] == (1.0, None)
    assert stored[("features", "email")] == (None, "email")
    assert ("nickname", "") not in stored and ("office", "") not in stored


def test_answers_to_hidden_questions_are_discarded(writer, factory, admin):
    campaign = factory.campaign(actor=admin)
    response = _submit(writer, campaign, {"csat": 5, "why": "Nothing went wrong",
                                          "channel": "phone"})
    assert response.status_code == 201, response.get_json()
    assert "why" not in response.get_json()["answers"]
    assert ("why", "") not in _stored(_completed(campaign)[0])
    # A hidden question's answer is not even type-checked; a shown one is kept.
    response = _submit(writer, campaign, {"csat": 5, "why": ["not", "text"], "channel": "phone"},
                       key="k-2")
    assert response.status_code == 201, response.get_json()
    response = _submit(writer, campaign, {"csat": 2, "why": "Slow", "channel": "phone"},
                       key="k-3")
    assert response.get_json()["answers"]["why"] == "Slow"
    assert_error(_submit(writer, campaign, {"csat": 2, "why": ["x"], "channel": "phone"},
                         key="k-4"), 400, field="why")


def test_hidden_page_answers_are_discarded(writer, factory, admin):
    document = three_pages(key="hidden-page")
    document["pages"][2]["show_if"] = {"question": "channel", "op": "equals", "value": "email"}
    campaign = factory.campaign(factory.questionnaire(document, actor=admin), actor=admin)
    response = _submit(writer, campaign, {"csat": 4, "channel": "phone", "comment": "hi"})
    assert response.status_code == 201, response.get_json()
    assert "comment" not in response.get_json()["answers"]


@pytest.mark.parametrize("state", ["closed", "not_open_yet", "full"])
def test_a_link_that_is_not_open_gets_409(writer, factory, admin, state):
    now = utcnow()
    options = {"not_open_yet": {"opens_at": now + timedelta(days=1)},
               "full": {"max_responses": 1}}.get(state, {})
    campaign = factory.campaign(actor=admin, **options)
    answers = {"csat": 5, "channel": "phone"}
    if state == "closed":
        first = _submit(writer, campaign, answers, key="before")
        services.close_campaign(admin, campaign)
    elif state == "full":
        first = _submit(writer, campaign, answers, key="before")
    response = _submit(writer, campaign, answers, key="after")
    body = assert_error(response, 409)
    assert {"closed": "closed", "not_open_yet": "not open yet", "full": "all the responses"}[
        state] in body["message"]
    assert _count(Response, Response.idempotency_key == "after") == 0
    if state != "not_open_yet":
        # A retry of the response that got in is still answered.
        again = _submit(writer, campaign, answers, key="before")
        assert again.status_code == 200 and again.get_json()["id"] == first.get_json()["id"]


def test_unknown_link_and_deleted_response(writer, factory, admin):
    assert_error(writer.post("/api/v1/links/no-such-slug/responses",
                             json={"answers": {}, "idempotency_key": "x"}), 404)
    campaign = factory.campaign(actor=admin)
    assert_error(writer.post(f"/api/v1/links/{campaign.id}/responses",
                             json={"answers": {}, "idempotency_key": "x"}), 404)
    first = _submit(writer, campaign, {"csat": 5, "channel": "phone"}, key="gone")
    stored = db.session.get(Response, first.get_json()["id"])
    stored.deleted_at = utcnow()
    body = assert_error(_submit(writer, campaign, {"csat": 5, "channel": "phone"}, key="gone"),
                        409, field="idempotency_key")
    assert "deleted" in body["message"]


def test_list_responses_completed_and_not_deleted_only(reader, writer, factory, admin):
    campaign = factory.campaign(actor=admin)
    ids = [_submit(writer, campaign, {"csat": n, "channel": "phone"}, key=f"k{n}").get_json()["id"]
           for n in (1, 2, 3)]
    db.session.get(Response, ids[1]).deleted_at = utcnow()
    services.start_response(campaign, locale="en")  # in progress
    response = reader.get(f"/api/v1/links/{campaign.id}/responses?page_size=1")
    assert response.status_code == 200
    assert json.loads(response.headers["X-Pagination"])["total"] == 2
    listed = reader.get(f"/api/v1/links/{campaign.id}/responses").get_json()
    assert [r["id"] for r in listed] == [ids[0], ids[2]]
    assert listed[1]["answers"] == {"csat": 3, "channel": "phone"}
    assert reader.get(f"/api/v1/links/{campaign.id}").get_json()["counts"] == {
        "completed": 2, "in_progress": 1}


def test_hostile_text_comes_back_verbatim_as_json(writer, reader, admin):
    document = three_pages(key="hostile", title={"en": HOSTILE, "zh_CN": HOSTILE})
    document["pages"][1]["questions"][0]["options"][0]["label"] = HOSTILE
    created = writer.post(BASE, json=document)
    assert created.status_code == 201, created.get_json()
    qid = created.get_json()["id"]
    writer.post(f"{BASE}/{qid}/publish")
    link = writer.post(f"{BASE}/{qid}/links", json={"name": HOSTILE}).get_json()
    campaign = services.find_campaign(link["slug"])
    submitted = _submit(writer, campaign, {"csat": 2, "why": HOSTILE, "channel": "phone",
                                           "comment": HOSTILE}, key=HOSTILE)
    assert submitted.status_code == 201, submitted.get_json()
    checks = [
        (reader.get(f"{BASE}/{qid}"), lambda b: b["title"]["en"]),
        (reader.get(f"{BASE}/{qid}/versions/1"),
         lambda b: b["document"]["pages"][1]["questions"][0]["options"][0]["label"]),
        (reader.get(f"/api/v1/links/{link['id']}"), lambda b: b["name"]),
        (reader.get(f"/api/v1/links/{link['id']}/responses"), lambda b: b[0]["answers"]["why"]),
        (reader.get(f"/api/v1/links/{link['id']}/responses"), lambda b: b[0]["idempotency_key"]),
    ]
    for response, pick in checks:
        assert response.mimetype == "application/json"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert pick(response.get_json()) == HOSTILE
    unknown = {HOSTILE: 1, "csat": 5, "channel": "phone"}
    body = assert_error(_submit(writer, campaign, unknown, key="x"), 400, field=HOSTILE)
    assert HOSTILE in body["errors"][HOSTILE][0]


def test_error_messages_follow_the_request_language(writer, factory, admin):
    campaign = factory.campaign(actor=admin)
    response = writer.post(f"/api/v1/links/{campaign.public_slug}/responses",
                           json={"answers": {"channel": "fax"}, "idempotency_key": "zh"},
                           headers={"Accept-Language": "zh-CN"})
    body = assert_error(response, 400)
    assert body["errors"] == {"csat": ["请选择答案。"], "channel": ["请选择显示的选项之一。"]}


# ----------------------------------------------------------------- two requests at once


@pytest.fixture
def scratch_app(empty_database_url, tmp_path):
    """An app on a database of its own whose commits are real, with SQLite's
    production transaction mode (a transaction starts at the first write)."""
    app = create_app("testing", overrides={
        "SQLALCHEMY_DATABASE_URI": empty_database_url, "INSTANCE_PATH": str(tmp_path),
        "SQLITE_STRICT_TRANSACTIONS": False,
    })
    with app.app_context():
        db.create_all()
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.mark.no_db_isolation
def test_two_simultaneous_submits_with_one_key_store_one_response(scratch_app, monkeypatch):
    from tests.factories import Factory

    factory = Factory()
    admin = factory.admin()
    campaign = factory.campaign(actor=admin)
    key, plaintext = apikeys.create_api_key(admin, "Sync", "write")
    key.last_used_at = utcnow()  # no key update racing in the requests
    db.session.commit()
    slug = campaign.public_slug

    # Both requests look the key up (and find nothing) before either stores anything.
    real, barrier, seen = survey_api._submitted, threading.Barrier(2, timeout=20), set()

    def both_look_first(link, idempotency_key):
        found = real(link, idempotency_key)
        if threading.get_ident() not in seen:
            seen.add(threading.get_ident())
            barrier.wait()
        return found

    monkeypatch.setattr(survey_api, "_submitted", both_look_first)
    outcomes = []

    def submit(csat):
        response = scratch_app.test_client().post(
            f"/api/v1/links/{slug}/responses",
            json={"answers": {"csat": csat, "channel": "phone"}, "idempotency_key": "same"},
            headers={"Authorization": f"Bearer {plaintext}"},
        )
        outcomes.append((response.status_code, response.get_json()))

    threads = [threading.Thread(target=submit, args=(n,)) for n in (4, 5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(code for code, _body in outcomes) == [200, 201], outcomes
    assert outcomes[0][1] == outcomes[1][1]
    db.session.remove()
    stored = db.session.scalars(select(Response)).all()
    assert len(stored) == 1 and stored[0].is_completed
    assert db.session.scalar(select(func.count()).select_from(Answer)) == 2
