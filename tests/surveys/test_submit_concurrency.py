"""Two requests submitting the same response at the same moment store it once.

This test commits for real (two threads, two connections), so it runs on a scratch
database of its own: SQLite file by default, a fresh PostgreSQL database in the
PostgreSQL run.
"""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from core import create_app
from core.extensions import db
from surveys.models import Answer, Response

pytestmark = pytest.mark.no_db_isolation


@pytest.fixture
def scratch_app(empty_database_url, tmp_path):
    app = create_app(
        "testing",
        overrides={"SQLALCHEMY_DATABASE_URI": empty_database_url, "INSTANCE_PATH": str(tmp_path)},
    )
    with app.app_context():
        db.create_all()
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.mark.parametrize("attempt", range(3))
def test_two_simultaneous_final_submits_store_one_response(scratch_app, attempt):
    from tests.factories import Factory

    factory = Factory()
    campaign = factory.campaign()
    db.session.commit()
    slug = campaign.public_slug

    browser = scratch_app.test_client()
    browser.post(f"/s/{slug}", data={"page": "about", "q-csat": "5"})
    browser.post(f"/s/{slug}", data={"page": "more", "q-channel": "phone"})
    cookies = {c.key: c.value for c in browser._cookies.values()}

    barrier = threading.Barrier(2)
    outcomes = []

    def submit(comment):
        client = scratch_app.test_client()
        for name, value in cookies.items():
            client.set_cookie(name, value, path=f"/s/{slug}")
        barrier.wait()
        r = client.post(
            f"/s/{slug}", data={"page": "end", "action": "submit", "q-comment": comment}
        )
        outcomes.append((r.status_code, r.headers.get("Location", "")))

    threads = [threading.Thread(target=submit, args=(c,)) for c in ("first", "second")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    assert len(outcomes) == 2
    assert all(code == 303 and loc.endswith("/thanks") for code, loc in outcomes), outcomes
    db.session.remove()
    responses = db.session.scalars(select(Response)).all()
    assert len(responses) == 1 and responses[0].is_completed
    comments = db.session.scalars(
        select(Answer.value_text).where(Answer.question_key == "comment")
    ).all()
    assert len(comments) == 1 and comments[0] in {"first", "second"}
    # csat, channel and comment: one row each
    assert db.session.scalar(select(func.count()).select_from(Answer)) == 3


@pytest.mark.parametrize("attempt", range(3))
def test_double_click_on_a_one_page_survey_stores_one_response(scratch_app, attempt):
    """The first POST is also the final submit, so the browser has no resume cookie
    yet: both POSTs of a double click carry only the session of the form."""
    from tests.factories import Factory
    from tests.surveys.documents import THREE_PAGES, three_pages

    factory = Factory()
    questionnaire = factory.questionnaire(three_pages(pages=[THREE_PAGES["pages"][0]]))
    campaign = factory.campaign(questionnaire)
    db.session.commit()
    slug = campaign.public_slug

    browser = scratch_app.test_client()
    assert browser.get(f"/s/{slug}").status_code == 200
    cookies = {c.key: c.value for c in browser._cookies.values()}

    barrier = threading.Barrier(2)
    outcomes = []

    def click():
        client = scratch_app.test_client()
        for name, value in cookies.items():
            client.set_cookie(name, value)
        barrier.wait()
        r = client.post(f"/s/{slug}", data={"page": "about", "action": "submit", "q-csat": "4"})
        outcomes.append((r.status_code, r.headers.get("Location", ""),
                         any(h.startswith(f"orbit_r{campaign.id}=")
                             for h in r.headers.getlist("Set-Cookie"))))

    threads = [threading.Thread(target=click) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    assert len(outcomes) == 2
    # Both clicks land on the thank-you page with the resume cookie.
    assert all(code == 303 and loc.endswith("/thanks") and cookie
               for code, loc, cookie in outcomes), outcomes
    db.session.remove()
    responses = db.session.scalars(select(Response)).all()
    assert len(responses) == 1 and responses[0].is_completed
    assert db.session.scalar(select(func.count()).select_from(Answer)) == 1
