"""Campaign admin pages (list, create, overview, settings, launch/close/reopen, QR code,
poster, background jobs) and the public link as a respondent meets it: hidden
fields, the campaign's language, answering again, drafts."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from io import BytesIO

import pytest
from PIL import Image
from sqlalchemy import select

from core import tasks
from core.database import utcnow
from core.extensions import db
from surveys import campaigns
from surveys.models import Campaign, Response
from tests.surveys.documents import HOSTILE, three_pages
from tests.web.page import field_error, flashes, forms, visible_text

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def admin(factory):
    return factory.admin(display_name="Ada Admin")


@pytest.fixture
def admin_client(admin, login_as):
    return login_as(admin)


@pytest.fixture
def questionnaire(factory, admin):
    return factory.questionnaire(actor=admin)


@pytest.fixture
def viewer_zone(app, monkeypatch):
    """Set the time zone pages are shown in (the configured default)."""

    def _set(name):
        monkeypatch.setattr(app.extensions["babel"], "default_timezone", name)

    return _set


def _campaign(admin, questionnaire, **settings):
    settings.setdefault("name", "Helpdesk customers")
    return campaigns.create_campaign(admin, questionnaire.latest_published, **settings)


def _new_form(questionnaire, **changes):
    data = {
        "questionnaire_id": str(questionnaire.id),
        "name": "Helpdesk customers, March",
        "audience": "public",
        "timezone": "Asia/Shanghai",
        "opens_at": "2030-03-01T09:00",
        "closes_at": "2030-03-31T18:00",
        "max_responses": "500",
        "subject": "",
        "default_locale": "",
        "one_response_per_browser": "y",
        "hidden_fields": "ticket, channel",
        "min_group_size": "5",
        "max_reminders": "2",
        "remind_days_before_close": "",
        "save": "1",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def _only_campaign():
    return db.session.scalar(select(Campaign))


# ----------------------------------------------------------------- creating


def test_an_admin_creates_a_draft_in_shanghai_time_then_launches_it(
    factory, admin_client, questionnaire, viewer_zone
):
    team = factory.team(name="IT helpdesk")
    page = admin_client.get(f"/campaigns/new?questionnaire_id={questionnaire.id}")
    assert page.status_code == 200
    [form] = [f for f in forms(page) if "questionnaire_id" in f.values]
    assert form.values["questionnaire_id"] == str(questionnaire.id)
    assert form.values["timezone"] == "UTC"  # the configured default
    assert "Asia/Shanghai" in form.selects["timezone"]
    assert f"team:{team.id}" in page.get_data(as_text=True)

    r = admin_client.post(
        "/campaigns/new", data=_new_form(questionnaire, subject=f"team:{team.id}")
    )
    assert r.status_code == 302
    campaign = _only_campaign()
    assert r.headers["Location"].endswith(f"/campaigns/{campaign.id}")
    assert campaign.launched_at is None
    assert campaign.opens_at == datetime(2030, 3, 1, 1, 0, tzinfo=UTC)
    assert campaign.closes_at == datetime(2030, 3, 31, 10, 0, tzinfo=UTC)
    assert campaign.subject_team_id == team.id and campaign.hidden_fields == ["ticket", "channel"]
    assert "saved as a draft" in " ".join(flashes(admin_client.get(r.headers["Location"])))

    viewer_zone("UTC")
    text = visible_text(admin_client.get(f"/campaigns/{campaign.id}"))
    assert "Draft" in text and "Mar 1, 2030, 01:00" in text and "IT helpdesk" in text
    viewer_zone("Asia/Shanghai")
    text = visible_text(admin_client.get(f"/campaigns/{campaign.id}"))
    assert "Mar 1, 2030, 09:00" in text and "Mar 31, 2030, 18:00" in text
    assert "Asia/Shanghai" in text
    listing = visible_text(admin_client.get("/campaigns/"))
    assert "Helpdesk customers, March" in listing and "Mar 1, 2030, 09:00" in listing
    assert "0 / 500" in listing

    r = admin_client.post(f"/campaigns/{campaign.id}/launch")
    assert r.status_code == 302
    assert campaigns.campaign_status(campaign) == "scheduled"
    assert "Scheduled" in visible_text(admin_client.get(f"/campaigns/{campaign.id}"))


def test_save_and_launch_opens_the_campaign(admin_client, questionnaire):
    r = admin_client.post("/campaigns/new", data=_new_form(
        questionnaire, opens_at="", save=None, launch="1"))
    assert r.status_code == 302
    campaign = _only_campaign()
    assert campaigns.campaign_status(campaign) == "open"
    assert "The campaign is launched." in flashes(admin_client.get(r.headers["Location"]))


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"closes_at": "2030-02-01T09:00"}, "closes_at", "must close after it opens"),
        ({"opens_at": "", "closes_at": "2020-01-01T09:00"}, "closes_at", "already passed"),
        ({"hidden_fields": "ticket, ticket#2"}, "hidden_fields", "not a valid field name"),
        ({"name": ""}, "name", "required"),
        ({"max_responses": "0"}, "max_responses", ""),
        ({"timezone": "Mars/Olympus"}, "timezone", "time zone"),
        ({"subject": "team:999999"}, "subject", "Choose a team"),
        ({"timezone": "Europe/Berlin", "opens_at": "2030-03-31T02:30"}, "opens_at",
         "does not exist"),
    ],
)
def test_mistakes_are_shown_next_to_the_field_and_nothing_is_saved(
    admin_client, questionnaire, changes, field, message
):
    r = admin_client.post("/campaigns/new", data=_new_form(questionnaire, **changes))
    assert r.status_code == 422
    error = field_error(r, field)
    assert error is not None and message in error
    assert _only_campaign() is None


def test_the_new_page_explains_when_nothing_is_published(factory, admin, admin_client):
    factory.questionnaire(publish=False, actor=admin)
    text = visible_text(admin_client.get("/campaigns/new"))
    assert "Publish a questionnaire first" in text


# ----------------------------------------------------------------- settings


def test_a_draft_can_change_everything_in_its_settings(admin, admin_client, questionnaire):
    campaign = _campaign(admin, questionnaire)
    page = admin_client.get(f"/campaigns/{campaign.id}/settings")
    [form] = [f for f in forms(page) if "name" in f.values]
    assert "audience" in form.values and "opens_at" in form.values
    data = dict(form.values, name="Renamed", audience="personal", default_locale="zh_CN",
                save="1")
    r = admin_client.post(f"/campaigns/{campaign.id}/settings", data=data)
    assert r.status_code == 302
    assert (campaign.name, campaign.audience, campaign.default_locale) == (
        "Renamed", "personal", "zh_CN")


def test_a_launched_campaign_shows_fixed_settings_and_closes_when_the_time_has_passed(
    admin, admin_client, questionnaire
):
    campaign = _campaign(admin, questionnaire, launch=True,
                         closes_at=utcnow() + timedelta(days=3))
    page = admin_client.get(f"/campaigns/{campaign.id}/settings")
    [form] = [f for f in forms(page) if "name" in f.values]
    assert "audience" not in form.values and "opens_at" not in form.values
    assert "hidden_fields" not in form.values
    assert "Fixed since the launch" in visible_text(page)
    data = dict(form.values, closes_at="2020-01-01T00:00", save="1")
    r = admin_client.post(f"/campaigns/{campaign.id}/settings", data=data)
    assert r.status_code == 302
    assert campaigns.campaign_status(campaign) == "closed"
    assert any("already passed" in f for f in flashes(admin_client.get(r.headers["Location"])))


def test_a_cap_below_the_completed_count_is_refused_on_the_page(
    admin, admin_client, questionnaire
):
    campaign = _campaign(admin, questionnaire, launch=True)
    from tests.surveys.test_campaigns import _complete

    _complete(campaign, 2)
    page = admin_client.get(f"/campaigns/{campaign.id}/settings")
    [form] = [f for f in forms(page) if "name" in f.values]
    r = admin_client.post(f"/campaigns/{campaign.id}/settings",
                          data=dict(form.values, max_responses="1", save="1"))
    assert r.status_code == 422
    assert "2 responses are already completed" in field_error(r, "max_responses")


def test_close_and_reopen_buttons(admin, admin_client, questionnaire):
    campaign = _campaign(admin, questionnaire, launch=True)
    page = visible_text(admin_client.get(f"/campaigns/{campaign.id}"))
    assert "Close now" in page and "Reopen" not in page
    assert admin_client.post(f"/campaigns/{campaign.id}/close").status_code == 302
    page = admin_client.get(f"/campaigns/{campaign.id}")
    assert "Closed by hand" in visible_text(page) and "Reopen" in visible_text(page)
    admin_client.post(f"/campaigns/{campaign.id}/reopen")
    assert campaigns.campaign_status(campaign) == "open"
    # Launching twice is refused with a message, not an error page.
    r = admin_client.post(f"/campaigns/{campaign.id}/launch", follow_redirects=True)
    assert "already launched" in " ".join(flashes(r))


def test_the_webhook_secret_is_shown_once(admin, admin_client, questionnaire):
    campaign = _campaign(admin, questionnaire, launch=True)
    r = admin_client.post(f"/campaigns/{campaign.id}/webhook",
                          data={"webhook_url": "https://crm.example.com/orbit", "action": "save"})
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    assert campaign.webhook_secret in r.get_data(as_text=True)
    settings = admin_client.get(f"/campaigns/{campaign.id}/settings").get_data(as_text=True)
    assert "https://crm.example.com/orbit" in settings
    assert campaign.webhook_secret not in settings
    old = campaign.webhook_secret
    r = admin_client.post(f"/campaigns/{campaign.id}/webhook/secret")
    assert campaign.webhook_secret != old and campaign.webhook_secret in r.get_data(as_text=True)
    r = admin_client.post(f"/campaigns/{campaign.id}/webhook",
                          data={"webhook_url": "ftp://nope", "action": "save"})
    assert r.status_code == 422 and "https://" in field_error(r, "webhook_url")
    admin_client.post(f"/campaigns/{campaign.id}/webhook",
                      data={"webhook_url": "", "action": "remove"})
    assert campaign.webhook_url is None and campaign.webhook_secret is None


# ----------------------------------------------------------------- QR code and poster


def test_qr_codes_are_real_png_and_svg_images(admin, admin_client, questionnaire):
    campaign = _campaign(admin, questionnaire, name="Front desk")
    png = admin_client.get(f"/campaigns/{campaign.id}/qr.png")
    assert png.status_code == 200 and png.mimetype == "image/png"
    assert png.data.startswith(PNG_SIGNATURE)
    image = Image.open(BytesIO(png.data))
    assert image.format == "PNG" and image.size[0] == image.size[1] >= 250
    assert "inline" in png.headers["Content-Disposition"]

    svg = admin_client.get(f"/campaigns/{campaign.id}/qr.svg?download=1")
    assert svg.status_code == 200 and svg.mimetype == "image/svg+xml"
    assert "attachment" in svg.headers["Content-Disposition"]
    assert "Front-desk-qr.svg" in svg.headers["Content-Disposition"]
    root = ET.fromstring(svg.data)  # noqa: S314 - our own output
    assert root.tag == f"{SVG}svg" and root.get("viewBox") and root.get("width")
    assert root.find(f"{SVG}title").text == "Front desk"
    assert root.find(f"{SVG}path") is not None

    assert admin_client.get(f"/campaigns/{campaign.id}/qr.gif").status_code == 404


def test_personal_campaigns_have_no_public_qr_code(admin, admin_client, questionnaire):
    campaign = _campaign(admin, questionnaire, audience="personal")
    assert admin_client.get(f"/campaigns/{campaign.id}/qr.png").status_code == 404
    assert admin_client.get(f"/campaigns/{campaign.id}/poster").status_code == 404
    assert "no public link" in visible_text(admin_client.get(f"/campaigns/{campaign.id}"))


def test_the_poster_speaks_the_campaign_language(factory, admin, admin_client, questionnaire):
    vendor = factory.vendor(name="Vendor A")
    campaign = _campaign(admin, questionnaire, default_locale="zh_CN", subject=vendor,
                         closes_at=datetime(2030, 3, 31, 10, 0, tzinfo=UTC), launch=True)
    page = admin_client.get(f"/campaigns/{campaign.id}/poster")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'class="poster-title">服务评价</h1>' in html
    assert 'lang="en">Service check</p>' in html  # the other language, smaller
    assert "Vendor A" in html and "2030年3月31日" in html
    assert f"/campaigns/{campaign.id}/qr.svg" in html
    assert f"localhost/s/{campaign.public_slug}" in html
    assert "Back to the campaign" in html  # the admin's own language around it


# ----------------------------------------------------------------- access


@pytest.mark.parametrize(
    "path",
    ["/campaigns/", "/campaigns/new", "/campaigns/{id}", "/campaigns/{id}/settings",
     "/campaigns/{id}/qr.png", "/campaigns/{id}/poster", "/campaigns/jobs"],
)
def test_only_admins_see_campaign_pages(factory, client, auth, admin, questionnaire, path):
    campaign = _campaign(admin, questionnaire)
    url = path.format(id=campaign.id)
    r = client.get(url)
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    manager = factory.manager()
    auth.login(manager.email)
    assert client.get(url).status_code == 403


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", "/campaigns/999999"), ("get", "/campaigns/999999/settings"),
     ("get", "/campaigns/999999/qr.svg"), ("get", "/campaigns/999999/poster"),
     ("post", "/campaigns/999999/launch"), ("post", "/campaigns/999999/close"),
     ("post", "/campaigns/999999/reopen"), ("post", "/campaigns/999999/webhook"),
     ("post", "/campaigns/jobs/999999/retry")],
)
def test_unknown_ids_are_404(admin_client, method, path):
    assert getattr(admin_client, method)(path).status_code == 404


def test_members_cannot_launch_or_close(factory, client, auth, admin, questionnaire):
    campaign = _campaign(admin, questionnaire)
    auth.login(factory.user().email)
    assert client.post(f"/campaigns/{campaign.id}/launch").status_code == 403
    assert campaign.launched_at is None


# ----------------------------------------------------------------- background jobs

_runs = {"n": 0}


@tasks.job("tests.campaign_pages.send")
def _send(fail_times: int):
    _runs["n"] += 1
    if _runs["n"] <= fail_times:
        raise ConnectionRefusedError("mail.example.com:25 refused the connection")
    return {"sent": 5}


def test_the_jobs_page_shows_a_failure_and_runs_it_again(admin, admin_client, questionnaire):
    _runs["n"] = 0
    campaign = _campaign(admin, questionnaire, name="Mailing")
    run = tasks.enqueue("tests.campaign_pages.send", campaign_id=campaign.id, actor=admin,
                        fail_times=1)
    assert run.status == "failed"
    page = admin_client.get("/campaigns/jobs?status=failed")
    text = visible_text(page)
    assert "tests.campaign_pages.send" in text and "refused the connection" in text
    assert "Mailing" in text and "Run again" in text
    detail = visible_text(admin_client.get(f"/campaigns/{campaign.id}"))
    assert "refused the connection" in detail

    r = admin_client.post(f"/campaigns/jobs/{run.id}/retry",
                          data={"next": f"/campaigns/{campaign.id}#jobs"})
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/campaigns/{campaign.id}#jobs")
    runs = db.session.scalars(
        select(tasks.TaskRun).where(tasks.TaskRun.campaign_id == campaign.id)
        .order_by(tasks.TaskRun.id)
    ).all()
    assert len(runs) == 2 and runs[1].status == "succeeded" and runs[1].args == run.args
    succeeded = visible_text(admin_client.get("/campaigns/jobs?status=succeeded"))
    assert "Succeeded" in succeeded and "refused the connection" not in succeeded
    # Only a failed job runs again; an outside "next" is ignored.
    r = admin_client.post(f"/campaigns/jobs/{runs[1].id}/retry",
                          data={"next": "https://evil.example.com/"}, follow_redirects=False)
    assert r.headers["Location"].endswith("/campaigns/jobs")
    assert len(db.session.scalars(select(tasks.TaskRun)).all()) == 2


# ----------------------------------------------------------------- escaping


def test_a_hostile_campaign_name_is_escaped_on_every_page(
    factory, admin, admin_client, questionnaire
):
    name = "<script>alert(1)</script>"
    campaign = _campaign(admin, questionnaire, name=name, subject=factory.team(name=HOSTILE),
                         launch=True)
    run = tasks.enqueue("tests.campaign_pages.send", campaign_id=campaign.id, actor=admin,
                        fail_times=99)
    run.error = HOSTILE
    db.session.flush()
    pages = [
        "/campaigns/", "/campaigns/new", f"/campaigns/{campaign.id}",
        f"/campaigns/{campaign.id}/settings",
        f"/campaigns/{campaign.id}/poster", "/campaigns/jobs",
        f"/questionnaires/{questionnaire.id}",
    ]
    for path in pages:
        html = admin_client.get(path).get_data(as_text=True)
        assert "<script>alert(1)</script>" not in html, path
        assert "<svg onload" not in html, path
    detail = admin_client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in detail
    secret_page = admin_client.post(
        f"/campaigns/{campaign.id}/webhook",
        data={"webhook_url": "https://example.com/h", "action": "save"},
    ).get_data(as_text=True)
    assert "<script>alert(1)</script>" not in secret_page
    svg = admin_client.get(f"/campaigns/{campaign.id}/qr.svg").data
    assert b"<script>" not in svg
    assert ET.fromstring(svg).find(f"{SVG}title").text == name  # noqa: S314


def test_the_questionnaire_page_lists_its_campaigns(admin, admin_client, questionnaire):
    campaign = _campaign(admin, questionnaire, name="Lobby kiosk", launch=True)
    page = admin_client.get(f"/questionnaires/{questionnaire.id}")
    html = page.get_data(as_text=True)
    assert f"/campaigns/new?questionnaire_id={questionnaire.id}" in html
    assert f"/campaigns/{campaign.id}" in html and f"/s/{campaign.public_slug}" in html
    assert "Open" in visible_text(page)


# ----------------------------------------------------------------- the respondent


def _answer_all(client, campaign):
    url = f"/s/{campaign.public_slug}"
    client.post(url, data={"page": "about", "action": "next", "q-csat": "5"})
    client.post(url, data={"page": "more", "action": "next", "q-channel": "phone"})
    return client.post(url, data={"page": "end", "action": "submit"})


def _responses(campaign):
    return db.session.scalars(
        select(Response).where(Response.campaign_id == campaign.id).order_by(Response.id)
    ).all()


def test_hidden_fields_are_stored_and_taken_out_of_the_address(client, admin, questionnaire):
    campaign = _campaign(admin, questionnaire, hidden_fields=["ticket", "channel"], launch=True)
    r = client.get(f"/s/{campaign.public_slug}?ticket=T-42&channel=phone&utm=x&channel=mail")
    assert r.status_code == 303
    assert r.headers["Location"] == f"/s/{campaign.public_slug}"
    assert r.headers["Referrer-Policy"] == "no-referrer"
    page = client.get(r.headers["Location"])
    assert page.status_code == 200 and "T-42" not in page.get_data(as_text=True)
    assert _answer_all(client, campaign).status_code == 303
    [response] = _responses(campaign)
    assert response.is_completed and response.fields == {"ticket": "T-42", "channel": "phone"}


def test_a_too_long_hidden_value_is_refused(client, admin, questionnaire):
    campaign = _campaign(admin, questionnaire, hidden_fields=["ticket", "channel"], launch=True)
    r = client.get(f"/s/{campaign.public_slug}?ticket={'x' * 201}&channel=web")
    assert r.status_code == 303
    _answer_all(client, campaign)
    [response] = _responses(campaign)
    assert response.fields == {"channel": "web"}


def test_hidden_fields_reach_a_one_page_survey_submitted_at_once(client, factory, admin):
    document = three_pages(key="one-page")
    document["pages"] = document["pages"][:1]
    questionnaire = factory.questionnaire(document, actor=admin)
    campaign = _campaign(admin, questionnaire, hidden_fields=["ticket"], launch=True)
    client.get(f"/s/{campaign.public_slug}?ticket=T-7")
    client.get(f"/s/{campaign.public_slug}")
    r = client.post(f"/s/{campaign.public_slug}",
                    data={"page": "about", "action": "submit", "q-csat": "4"})
    assert r.status_code == 303 and r.headers["Location"].endswith("/thanks")
    [response] = _responses(campaign)
    assert response.is_completed and response.fields == {"ticket": "T-7"}


def test_undeclared_parameters_are_left_alone(client, admin, questionnaire):
    campaign = _campaign(admin, questionnaire, launch=True)
    r = client.get(f"/s/{campaign.public_slug}?ticket=T-1")
    assert r.status_code == 200  # nothing declared: no redirect, nothing kept
    _answer_all(client, campaign)
    assert _responses(campaign)[0].fields is None


def test_the_campaign_language_applies_until_the_respondent_chooses(
    client, admin, questionnaire
):
    campaign = _campaign(admin, questionnaire, default_locale="zh_CN", launch=True)
    url = f"/s/{campaign.public_slug}"
    page = client.get(url, headers={"Accept-Language": "en-US,en;q=0.9"})
    assert "您满意吗？" in page.get_data(as_text=True)
    assert 'lang="zh-CN"' in page.get_data(as_text=True)
    client.post("/locale/en", data={"next": url})
    page = client.get(url, headers={"Accept-Language": "en-US,en;q=0.9"})
    assert "How satisfied are you?" in page.get_data(as_text=True)


def test_a_kiosk_campaign_offers_to_answer_again(client, admin, questionnaire):
    campaign = _campaign(admin, questionnaire, one_response_per_browser=False, launch=True)
    _answer_all(client, campaign)
    thanks = client.get(f"/s/{campaign.public_slug}/thanks")
    assert "Answer again" in visible_text(thanks)
    r = client.post(f"/s/{campaign.public_slug}/again")
    assert r.status_code == 303 and r.headers["Location"] == f"/s/{campaign.public_slug}"
    page = client.get(r.headers["Location"])
    assert "How satisfied are you?" in page.get_data(as_text=True)  # a fresh form
    _answer_all(client, campaign)
    assert [r.is_completed for r in _responses(campaign)] == [True, True]


def test_one_response_per_browser_by_default(client, admin, questionnaire):
    campaign = _campaign(admin, questionnaire, launch=True)
    _answer_all(client, campaign)
    thanks = client.get(f"/s/{campaign.public_slug}/thanks")
    assert "Answer again" not in visible_text(thanks)
    assert client.post(f"/s/{campaign.public_slug}/again").status_code == 404
    r = client.get(f"/s/{campaign.public_slug}")
    assert r.status_code == 302 and r.headers["Location"].endswith("/thanks")
    assert len(_responses(campaign)) == 1


def test_drafts_and_scheduled_campaigns_are_not_open_yet(client, admin, questionnaire):
    draft = _campaign(admin, questionnaire, opens_at=utcnow() + timedelta(days=2))
    text = visible_text(client.get(f"/s/{draft.public_slug}"))
    assert "not open yet" in text and "Please come back later" in text
    scheduled = _campaign(admin, questionnaire, opens_at=utcnow() + timedelta(days=2),
                          launch=True)
    text = visible_text(client.get(f"/s/{scheduled.public_slug}"))
    assert "not open yet" in text and "It opens on" in text
    r = client.post(f"/s/{draft.public_slug}", data={"page": "about", "q-csat": "5"})
    assert "not open yet" in visible_text(r) and _responses(draft) == []


def test_renaming_a_campaign_closed_at_its_closing_time_keeps_its_exact_times(
    admin, admin_client, questionnaire
):
    closes = utcnow().replace(microsecond=0) + timedelta(hours=1, seconds=17)
    campaign = _campaign(admin, questionnaire, launch=True, closes_at=closes)
    campaigns.close_due_campaigns(closes + timedelta(minutes=1))
    page = admin_client.get(f"/campaigns/{campaign.id}/settings")
    [form] = [f for f in forms(page) if "name" in f.values]
    r = admin_client.post(f"/campaigns/{campaign.id}/settings",
                          data=dict(form.values, name="Closed, renamed", save="1"))
    assert r.status_code == 302
    assert campaign.name == "Closed, renamed" and campaign.closes_at == closes
