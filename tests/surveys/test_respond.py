"""Answering a survey through an open link: pages, skip logic, save & resume,
versioning, idempotent submit, closed/full/not-yet-open pages, escaping."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import func, select

from core.database import utcnow
from core.extensions import db
from surveys import services
from surveys.models import Answer, Response, ResponsePageTime
from tests.surveys.documents import HOSTILE, three_pages


def _url(campaign, suffix=""):
    return f"/s/{campaign.public_slug}{suffix}"


def _post(client, campaign, page, action="next", **answers):
    data = {"page": page, "action": action}
    data.update({f"q-{k}": v for k, v in answers.items()})
    return client.post(_url(campaign), data=data)


def _responses(campaign):
    return db.session.scalars(select(Response).where(Response.campaign_id == campaign.id)).all()


def _stored(response):
    return {
        (a.question_key, a.item_key): (a.value_num, a.value_text)
        for a in db.session.scalars(select(Answer).where(Answer.response_id == response.id))
    }


def test_first_page_shows_questions_in_the_browser_language(client, factory):
    campaign = factory.campaign()
    page = client.get(_url(campaign), headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "您满意吗？" in html
    assert "What went wrong?" not in html  # hidden until CSAT is low
    assert page.headers["Referrer-Policy"] == "no-referrer"
    # Nothing is stored for a visitor who only looks.
    assert _responses(campaign) == []


def test_a_respondent_answers_every_page_and_submits_once(client, factory):
    campaign = factory.campaign()
    r = _post(client, campaign, "about", csat="5")
    assert r.status_code == 303
    r = _post(client, campaign, "more", channel="email", nps="9")
    assert r.status_code == 303
    r = _post(client, campaign, "end", action="submit", comment="Great, thanks")
    assert r.status_code == 303 and r.headers["Location"].endswith("/thanks")
    thanks = client.get(_url(campaign, "/thanks"))
    assert thanks.status_code == 200
    [response] = _responses(campaign)
    assert response.is_completed and response.submitted_at is not None
    assert response.version_id == campaign.version_id
    assert _stored(response) == {
        ("csat", ""): (5.0, None),
        ("channel", ""): (None, "email"),
        ("nps", ""): (9.0, None),
        ("comment", ""): (None, "Great, thanks"),
    }


def test_double_submit_and_reload_store_exactly_one_response(client, factory):
    campaign = factory.campaign()
    _post(client, campaign, "about", csat="4")
    _post(client, campaign, "more", channel="phone")
    first = _post(client, campaign, "end", action="submit", comment="once")
    second = _post(client, campaign, "end", action="submit", comment="twice")
    assert first.headers["Location"] == second.headers["Location"]
    assert client.get(_url(campaign, "/thanks")).status_code == 200
    assert client.get(_url(campaign)).status_code == 302  # back to the thank-you page
    [response] = _responses(campaign)
    assert _stored(response)[("comment", "")] == (None, "once")


def test_leaving_and_coming_back_resumes_on_the_same_page_with_answers(client, factory):
    campaign = factory.campaign()
    _post(client, campaign, "about", csat="2", why="Slow")
    again = client.get(_url(campaign)).get_data(as_text=True)
    assert "How did you contact us?" in again  # page 2
    back = client.post(_url(campaign), data={"page": "more", "action": "back"})
    assert back.status_code == 303
    page1 = client.get(_url(campaign)).get_data(as_text=True)
    assert "Slow" in page1  # the answer given before is filled in


def test_another_browser_starts_its_own_response(app, client, factory):
    campaign = factory.campaign()
    _post(client, campaign, "about", csat="5")
    other = app.test_client()
    html = other.get(_url(campaign)).get_data(as_text=True)
    assert "How satisfied are you?" in html
    assert len(_responses(campaign)) == 1


def test_missing_required_answer_shows_the_error_and_keeps_other_input(client, factory):
    campaign = factory.campaign()
    _post(client, campaign, "about", csat="5")
    r = _post(client, campaign, "more", nps="7")
    html = r.get_data(as_text=True)
    assert r.status_code == 422
    assert 'role="alert"' in html and 'href="#q-channel"' in html
    assert re.search(r'value="7"[^>]*checked', html), "the NPS answer given is kept"
    [response] = _responses(campaign)
    assert response.current_page == "more"


def test_answers_of_a_question_hidden_later_are_discarded(client, factory):
    campaign = factory.campaign()
    _post(client, campaign, "about", csat="1", why="Rude staff")
    [response] = _responses(campaign)
    assert ("why", "") in _stored(response)
    client.post(_url(campaign), data={"page": "more", "action": "back"})
    _post(client, campaign, "about", csat="5", why="Rude staff")  # now hidden
    assert ("why", "") not in _stored(response)


def test_time_spent_on_each_page_is_recorded(client, factory):
    campaign = factory.campaign()
    html = client.get(_url(campaign)).get_data(as_text=True)
    timer = html.split('name="t" value="')[1].split('"')[0]
    client.post(_url(campaign), data={"page": "about", "action": "next", "q-csat": "4", "t": timer})
    [response] = _responses(campaign)
    [row] = db.session.scalars(
        select(ResponsePageTime).where(ResponsePageTime.response_id == response.id)
    ).all()
    assert row.page_key == "about" and row.visits == 1 and 0 <= row.seconds < 60


def test_a_forged_timer_is_ignored(client, factory):
    campaign = factory.campaign()
    client.post(_url(campaign), data={"page": "about", "q-csat": "4", "t": "forged"})
    count = db.session.scalar(select(func.count()).select_from(ResponsePageTime))
    assert count == 0


def test_respondent_who_started_on_v1_finishes_on_v1(client, factory):
    admin = factory.admin()
    questionnaire = factory.questionnaire(actor=admin)
    campaign = factory.campaign(questionnaire, actor=admin)
    v1 = questionnaire.latest_published
    _post(client, campaign, "about", csat="5")

    changed = three_pages()
    changed["pages"][1]["questions"][0]["text"] = {"en": "Which channel? (v2)"}
    services.save_draft(admin, questionnaire, changed)
    v2 = services.publish(admin, questionnaire)
    campaign.version_id = v2.id  # the link now offers v2 to new respondents
    db.session.flush()

    html = client.get(_url(campaign)).get_data(as_text=True)
    assert "How did you contact us?" in html and "(v2)" not in html
    _post(client, campaign, "more", channel="phone")
    _post(client, campaign, "end", action="submit")
    [response] = _responses(campaign)
    assert response.version_id == v1.id and response.is_completed
    assert v1.document["pages"][1]["questions"][0]["text"]["en"] == "How did you contact us?"


def test_closed_not_yet_open_and_full_links_show_a_clear_page(client, factory):
    admin = factory.admin()
    questionnaire = factory.questionnaire(actor=admin)
    later = factory.campaign(questionnaire, actor=admin, opens_at=utcnow() + timedelta(days=1))
    r = client.get(_url(later))
    assert r.status_code == 200 and "not open yet" in r.get_data(as_text=True)

    ended = factory.campaign(questionnaire, actor=admin, closes_at=utcnow() - timedelta(minutes=1),
                             opens_at=utcnow() - timedelta(days=2))
    assert "closed" in client.get(_url(ended)).get_data(as_text=True)

    capped = factory.campaign(questionnaire, actor=admin, max_responses=1)
    _post(client, capped, "about", csat="5")
    _post(client, capped, "more", channel="phone")
    _post(client, capped, "end", action="submit")
    newcomer = client.application.test_client()
    assert "all the answers it needs" in newcomer.get(_url(capped)).get_data(as_text=True)
    # Submitting into a closed link stores nothing.
    services.close_campaign(admin, later)
    r = newcomer.post(_url(later), data={"page": "about", "q-csat": "5"})
    assert _responses(later) == []


def test_unknown_link_is_a_plain_404(client):
    assert client.get("/s/does-not-exist").status_code == 404


def test_hostile_question_text_and_answers_are_escaped(client, factory):
    document = three_pages()
    document["title"] = HOSTILE
    document["pages"][0]["questions"][0]["text"] = HOSTILE
    document["pages"][2]["questions"][0]["text"] = HOSTILE
    campaign = factory.campaign(factory.questionnaire(document))
    html = client.get(_url(campaign)).get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html
    assert "<svg onload" not in html
    assert "&lt;script&gt;" in html
    assert "49" not in html.replace("1949", "")
    _post(client, campaign, "about", csat="3")
    _post(client, campaign, "more", channel="phone")
    client.post(_url(campaign), data={"page": "end", "action": "back", "q-comment": HOSTILE})
    client.post(_url(campaign), data={"page": "more", "action": "next", "q-channel": "phone"})
    html = client.get(_url(campaign)).get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html


def test_a_question_revealed_by_an_answer_on_the_same_page_is_shown_before_moving_on(
    client, factory
):
    campaign = factory.campaign()
    r = _post(client, campaign, "about", csat="1")
    assert r.status_code == 303
    html = client.get(_url(campaign)).get_data(as_text=True)
    assert "What went wrong?" in html  # still page 1, now with the follow-up
    assert "How did you contact us?" not in html
    _post(client, campaign, "about", csat="1", why="Nobody called back")
    html = client.get(_url(campaign)).get_data(as_text=True)
    assert "How did you contact us?" in html
    [response] = _responses(campaign)
    assert _stored(response)[("why", "")] == (None, "Nobody called back")


def test_the_last_place_of_a_capped_link_goes_to_one_respondent_only(app, factory):
    """Two respondents both saw page 3 while one place was left: the first to submit
    takes it, the second is told the survey is full and nothing of theirs completes."""
    campaign = factory.campaign(max_responses=1)
    first, second = app.test_client(), app.test_client()
    for client in (first, second):
        _post(client, campaign, "about", csat="4")
        _post(client, campaign, "more", channel="phone")
    assert _post(first, campaign, "end", action="submit").headers["Location"].endswith("/thanks")
    late = _post(second, campaign, "end", action="submit")
    assert late.status_code == 200 and "all the answers it needs" in late.get_data(as_text=True)
    completed = [r for r in _responses(campaign) if r.is_completed]
    assert len(completed) == 1


def test_a_submit_that_would_exceed_the_cap_is_refused_by_the_service(factory):
    """The page checks the cap before showing the form; the service checks it again
    after writing, under the lock, for submits that raced past the page's check."""
    import pytest

    from core.exceptions import CapacityReached

    campaign = factory.campaign(max_responses=1)
    responses = [services.start_response(campaign, locale="en")[0] for _ in range(2)]
    for response in responses:
        services.save_page(response, "about", {"csat": 4}, next_page="more")
        services.save_page(response, "more", {"channel": "phone"}, next_page="end")
    services.submit_response(responses[0], "end", {})
    with pytest.raises(CapacityReached):
        services.submit_response(responses[1], "end", {})
