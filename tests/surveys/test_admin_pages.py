"""The questionnaire admin pages: list, library, import, detail, publish, links, export."""

from __future__ import annotations

import yaml
from sqlalchemy import func, select

from core.extensions import db
from surveys import services
from surveys.models import Campaign, Questionnaire
from tests.surveys.documents import HOSTILE, three_pages


def test_a_template_is_one_click_away_and_lands_as_a_draft(factory, login_as):
    client = login_as(factory.admin())
    library = client.get("/questionnaires/library").get_data(as_text=True)
    assert "customer-satisfaction" in library and "leadership-360" in library
    r = client.post("/questionnaires/library/vendor-performance")
    assert r.status_code == 302
    questionnaire = db.session.scalar(select(Questionnaire))
    assert questionnaire.key == "vendor-performance" and questionnaire.draft is not None
    detail = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "Publish v1" in detail


def test_publishing_freezes_the_version_and_a_link_can_be_opened(factory, login_as):
    admin = factory.admin()
    client = login_as(admin)
    questionnaire = factory.questionnaire(publish=False, actor=admin)
    r = client.post(f"/questionnaires/{questionnaire.id}/publish")
    assert r.status_code == 302
    db.session.refresh(questionnaire)
    assert questionnaire.latest_published.number == 1 and questionnaire.draft is None
    r = client.post(
        f"/questionnaires/{questionnaire.id}/links",
        data={"name": "Front desk", "max_responses": "50"},
    )
    campaign = db.session.scalar(select(Campaign))
    assert campaign.name == "Front desk" and campaign.max_responses == 50
    assert len(campaign.public_slug) >= 22  # at least 128 random bits
    detail = client.get(f"/questionnaires/{questionnaire.id}").get_data(as_text=True)
    assert f"/s/{campaign.public_slug}" in detail


def test_a_link_cannot_close_before_it_opens(factory, login_as):
    admin = factory.admin()
    client = login_as(admin)
    questionnaire = factory.questionnaire(actor=admin)
    client.post(
        f"/questionnaires/{questionnaire.id}/links",
        data={"name": "x", "opens_at": "2030-01-02T10:00", "closes_at": "2030-01-01T10:00"},
    )
    assert db.session.scalar(select(func.count()).select_from(Campaign)) == 0


def test_export_then_import_gives_the_same_document(factory, login_as):
    admin = factory.admin()
    client = login_as(admin)
    questionnaire = factory.questionnaire(actor=admin)
    version = questionnaire.latest_published
    exported = client.get(
        f"/questionnaires/{questionnaire.id}/versions/{version.id}/export.yaml"
    )
    assert exported.status_code == 200 and "attachment" in exported.headers["Content-Disposition"]
    text = exported.get_data(as_text=True)
    assert "您满意吗？" in text  # Chinese stays readable
    r = client.post("/questionnaires/import", data={"text": text})
    assert r.status_code == 302
    db.session.refresh(questionnaire)
    assert questionnaire.draft.document == version.document  # a new draft, same document


def test_an_invalid_import_lists_every_problem_with_its_path_and_writes_nothing(
    factory, login_as
):
    client = login_as(factory.admin())
    document = three_pages()
    document["pages"][0]["questions"][1]["show_if"] = {
        "question": "nps", "op": "less", "value": 3,
    }
    document["pages"][1]["questions"][1]["key"] = "csat"  # a duplicate key
    r = client.post("/questionnaires/import", data={"text": yaml.safe_dump(document)})
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "Nothing was imported" in html
    assert "pages[0].questions[1].show_if" in html
    assert "pages[1].questions[1].key" in html
    assert db.session.scalar(select(func.count()).select_from(Questionnaire)) == 0


def test_hostile_titles_and_keys_in_problems_are_escaped_on_admin_pages(factory, login_as):
    admin = factory.admin()
    client = login_as(admin)
    document = three_pages(title=HOSTILE)
    questionnaire = factory.questionnaire(document, publish=False, actor=admin)
    broken = three_pages(title=HOSTILE)
    broken["pages"][1]["questions"][0]["options"] = []
    services.save_draft(admin, questionnaire, broken)
    for url in ("/questionnaires/", f"/questionnaires/{questionnaire.id}"):
        html = client.get(url).get_data(as_text=True)
        assert "<script>alert(1)</script>" not in html and "<svg onload" not in html
        assert "&lt;script&gt;" in html
        assert ">49<" not in html


def test_members_and_managers_cannot_reach_questionnaires(factory, login_as):
    questionnaire = factory.questionnaire()
    for user in (factory.user(), factory.manager()):
        client = login_as(user)
        assert client.get("/questionnaires/").status_code == 403
        assert client.get(f"/questionnaires/{questionnaire.id}").status_code == 403
        assert client.post(f"/questionnaires/{questionnaire.id}/publish").status_code == 403
        client.post("/logout")
