"""Campaign services: validation, states and transitions, time zones, automatic
closing, webhooks, hidden fields of the public link and the background jobs."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from core import tasks
from core.database import utcnow
from core.exceptions import ConflictError, PermissionDenied, ServiceError
from core.extensions import db
from org.models import AuditEvent
from surveys import campaigns, services
from surveys.models import Campaign, Invitation, Response
from tests.surveys.documents import three_pages

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def admin(factory):
    return factory.admin()


@pytest.fixture
def version(factory, admin):
    return factory.questionnaire(actor=admin).latest_published


def _create(admin, version, **settings):
    settings.setdefault("name", "Helpdesk customers")
    return campaigns.create_campaign(admin, version, **settings)


def _complete(campaign, n=1):
    """``n`` completed responses, answered page by page."""
    for _ in range(n):
        response, _token = services.start_response(campaign, locale="en")
        services.save_page(response, "about", {"csat": 5}, next_page="more")
        services.save_page(response, "more", {"channel": "phone"}, next_page="end")
        services.submit_response(response, "end", {})


def _events(campaign, action):
    return db.session.scalars(
        select(AuditEvent).where(
            AuditEvent.object_type == "Campaign",
            AuditEvent.object_id == campaign.id,
            AuditEvent.action == action,
        )
    ).all()


# ----------------------------------------------------------------- creating


def test_a_new_campaign_is_a_draft_that_nobody_can_answer(admin, version):
    campaign = _create(admin, version, hidden_fields="ticket, channel")
    assert campaign.launched_at is None
    assert campaigns.campaign_status(campaign) == "draft"
    assert services.campaign_state(campaign) == "not_open_yet"
    assert campaign.hidden_fields == ["ticket", "channel"]
    assert campaign.one_response_per_browser is True and campaign.min_group_size == 5
    assert len(campaign.public_slug) >= 22  # 128 random bits
    [event] = _events(campaign, "campaign.create")
    assert event.actor_id == admin.id


def test_save_and_launch_opens_at_once(admin, version):
    campaign = _create(admin, version, launch=True)
    assert campaigns.campaign_status(campaign) == "open"
    assert services.campaign_state(campaign) == "open"
    assert len(_events(campaign, "campaign.launch")) == 1


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"name": "  "}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"audience": "everyone"}, "audience"),
        ({"opens_at": datetime(2030, 1, 1, 9, 0)}, "opens_at"),  # no time zone
        ({"opens_at": datetime(2030, 1, 2, tzinfo=UTC),
          "closes_at": datetime(2030, 1, 1, tzinfo=UTC)}, "closes_at"),
        ({"closes_at": datetime(2020, 1, 1, tzinfo=UTC)}, "closes_at"),  # already passed
        ({"max_responses": 0}, "max_responses"),
        ({"max_responses": 2.5}, "max_responses"),
        ({"default_locale": "fr"}, "default_locale"),
        ({"hidden_fields": ["ticket", "bad name"]}, "hidden_fields"),
        ({"hidden_fields": [f"f{i}" for i in range(11)]}, "hidden_fields"),
        ({"min_group_size": 0}, "min_group_size"),
        ({"max_reminders": 11}, "max_reminders"),
        ({"max_reminders": -1}, "max_reminders"),
        ({"remind_days_before_close": 3}, "remind_days_before_close"),  # no closing time
        ({"webhook_url": "ftp://example.com/hook"}, "webhook_url"),
        ({"webhook_url": "https://"}, "webhook_url"),
        ({"subject": "IT helpdesk"}, "subject"),
    ],
)
def test_invalid_settings_are_refused_with_the_field_named(admin, version, settings, field):
    before = db.session.scalar(select(func.count()).select_from(Campaign))
    with pytest.raises(ServiceError) as caught:
        _create(admin, version, **settings)
    assert caught.value.field == field
    assert str(caught.value.message)
    assert db.session.scalar(select(func.count()).select_from(Campaign)) == before


def test_only_admins_create_and_only_published_versions(factory, admin):
    questionnaire = factory.questionnaire(publish=False, actor=admin)
    with pytest.raises(ServiceError, match="Publish"):
        _create(admin, questionnaire.current)
    services.publish(admin, questionnaire)
    with pytest.raises(PermissionDenied):
        _create(factory.manager(), questionnaire.latest_published)


def test_the_subject_is_a_team_a_vendor_or_a_person(factory, admin, version):
    vendor = factory.vendor(name="Vendor A")
    team = factory.team(name="IT helpdesk", vendor=vendor)
    person = factory.user(display_name="Lin")
    for subject, column in ((team, "subject_team_id"), (vendor, "subject_vendor_id"),
                            (person, "subject_user_id")):
        campaign = _create(admin, version, subject=subject)
        assert getattr(campaign, column) == subject.id
        assert campaigns.campaign_subject(campaign) is subject
    retired = factory.team(name="Old desk", active=False)
    with pytest.raises(ServiceError, match="deactivated") as caught:
        _create(admin, version, subject=retired)
    assert caught.value.field == "subject"


def test_the_original_open_link_service_still_launches_at_once(admin, version):
    link = services.create_campaign(admin, version, name="Front desk", max_responses=3)
    assert link.launched_at is not None and services.campaign_state(link) == "open"
    ended = services.create_campaign(
        admin, version, name="Old", opens_at=utcnow() - timedelta(days=2),
        closes_at=utcnow() - timedelta(minutes=1),
    )
    assert campaigns.campaign_status(ended) == "closed"


# ----------------------------------------------------------------- time zones


def test_a_campaign_opening_at_nine_in_shanghai_opens_at_one_utc(admin, version):
    opens = datetime(2030, 3, 1, 9, 0, tzinfo=SHANGHAI)
    campaign = _create(
        admin, version, opens_at=opens, closes_at=opens + timedelta(days=7), launch=True
    )
    assert campaign.opens_at == datetime(2030, 3, 1, 1, 0, tzinfo=UTC)
    db.session.expire(campaign)  # read back from the database
    assert campaign.opens_at.utcoffset() == timedelta(0)
    assert campaign.opens_at == datetime(2030, 3, 1, 1, 0, tzinfo=UTC)
    before = datetime(2030, 3, 1, 0, 59, tzinfo=UTC)
    at = datetime(2030, 3, 1, 1, 0, tzinfo=UTC)
    assert campaigns.campaign_status(campaign, before) == "scheduled"
    assert services.campaign_state(campaign, before) == "not_open_yet"
    assert campaigns.campaign_status(campaign, at) == "open"
    assert services.campaign_state(campaign, at) == "open"
    closing = datetime(2030, 3, 8, 1, 0, tzinfo=UTC)
    assert campaigns.campaign_status(campaign, closing - timedelta(seconds=1)) == "open"
    assert campaigns.campaign_status(campaign, closing) == "closed"
    assert services.campaign_state(campaign, closing) == "closed"


def test_the_status_filter_agrees_with_the_status_of_each_campaign(admin, version):
    now = utcnow()
    made = {
        "draft": _create(admin, version, name="d"),
        "scheduled": _create(admin, version, name="s", opens_at=now + timedelta(days=1),
                             launch=True),
        "open": _create(admin, version, name="o", max_responses=5, launch=True),
        "full": _create(admin, version, name="f", max_responses=1, launch=True),
        "closed": _create(admin, version, name="c", launch=True),
    }
    _complete(made["full"])
    _complete(made["open"])
    campaigns.close_campaign(admin, made["closed"])
    passed = _create(admin, version, name="p", closes_at=now + timedelta(hours=1), launch=True)
    later = now + timedelta(hours=2)  # "p" has passed its closing time, not yet recorded
    for status in campaigns.STATUSES:
        listed = set(db.session.scalars(campaigns.list_campaigns(admin, status=status, now=later)))
        expected = {c for c in [*made.values(), passed]
                    if campaigns.campaign_status(c, later) == status}
        assert listed == expected, status
    assert campaigns.campaign_status(passed, later) == "closed"
    assert campaigns.campaign_status(made["full"]) == "full"


def test_list_filters_by_questionnaire_and_search(factory, admin, version):
    other = factory.questionnaire(three_pages(key="vendor-check"), actor=admin)
    mine = _create(admin, version, name="100% helpdesk")
    theirs = _create(admin, other.latest_published, name="Vendor survey")
    by_questionnaire = db.session.scalars(
        campaigns.list_campaigns(admin, questionnaire_id=other.id)
    ).all()
    assert by_questionnaire == [theirs]
    assert db.session.scalars(campaigns.list_campaigns(admin, q="100%")).all() == [mine]
    assert db.session.scalars(campaigns.list_campaigns(admin, q="vendor-CHECK")).all() == [theirs]
    assert db.session.scalars(campaigns.list_campaigns(admin, q="1_0")).all() == []


# ----------------------------------------------------------------- transitions


def test_launch_close_and_reopen(admin, version):
    campaign = _create(admin, version, closes_at=utcnow() + timedelta(days=3))
    with pytest.raises(ConflictError):
        campaigns.close_campaign(admin, campaign)  # a draft is not open
    campaigns.launch_campaign(admin, campaign)
    with pytest.raises(ConflictError):
        campaigns.launch_campaign(admin, campaign)
    campaigns.close_campaign(admin, campaign)
    assert campaigns.campaign_status(campaign) == "closed"
    assert campaigns.closed_by_hand(campaign) and campaigns.can_reopen(campaign)
    campaigns.close_campaign(admin, campaign)  # closing twice changes nothing
    assert len(_events(campaign, "campaign.close")) == 1
    campaigns.reopen_campaign(admin, campaign)
    assert campaigns.campaign_status(campaign) == "open"
    assert len(_events(campaign, "campaign.reopen")) == 1
    with pytest.raises(ConflictError):
        campaigns.reopen_campaign(admin, campaign)  # not closed


def test_a_draft_whose_closing_time_passed_cannot_be_launched(admin, version):
    campaign = _create(admin, version, closes_at=utcnow() + timedelta(days=1))
    campaign.closes_at = utcnow() - timedelta(minutes=5)  # time went by
    with pytest.raises(ServiceError, match="already passed") as caught:
        campaigns.launch_campaign(admin, campaign)
    assert caught.value.field == "closes_at" and campaign.launched_at is None


def test_a_campaign_closed_at_its_closing_time_cannot_be_reopened(admin, version):
    campaign = _create(admin, version, closes_at=utcnow() + timedelta(hours=1), launch=True)
    assert campaigns.close_due_campaigns(utcnow() + timedelta(hours=2)) == 1
    assert not campaigns.closed_by_hand(campaign)
    with pytest.raises(ConflictError, match="cannot be reopened"):
        campaigns.reopen_campaign(admin, campaign)
    with pytest.raises(ServiceError) as caught:
        campaigns.update_campaign(admin, campaign, closes_at=utcnow() + timedelta(days=9))
    assert caught.value.field == "closes_at"


# ----------------------------------------------------------------- changing settings


def test_a_draft_may_change_everything_but_its_version(factory, admin, version):
    campaign = _create(admin, version)
    team = factory.team()
    opens = utcnow() + timedelta(days=1)
    campaigns.update_campaign(
        admin, campaign, name="Renamed", audience="personal", opens_at=opens,
        closes_at=opens + timedelta(days=5), subject=team, default_locale="zh_CN",
        anonymous=True, one_response_per_browser=False, hidden_fields=["ticket"],
        min_group_size=3, max_reminders=1, remind_days_before_close=2,
    )
    assert (campaign.name, campaign.audience, campaign.subject_team_id) == (
        "Renamed", "personal", team.id)
    assert campaign.anonymous and not campaign.one_response_per_browser
    [event] = _events(campaign, "campaign.update")
    assert event.details["name"] == ["Helpdesk customers", "Renamed"]
    with pytest.raises(ServiceError) as caught:
        campaigns.update_campaign(admin, campaign, version=version)
    assert caught.value.field == "version"


def test_the_audience_of_a_draft_with_invitations_stays(admin, version):
    campaign = _create(admin, version, audience="personal")
    db.session.add(Invitation(campaign_id=campaign.id, email="a@example.com"))
    db.session.flush()
    with pytest.raises(ServiceError) as caught:
        campaigns.update_campaign(admin, campaign, audience="public")
    assert caught.value.field == "audience"


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("audience", "personal"),
        ("opens_at", datetime(2031, 1, 1, tzinfo=UTC)),
        ("anonymous", True),
        ("one_response_per_browser", False),
        ("hidden_fields", ["ticket"]),
        ("default_locale", "en"),
    ],
)
def test_a_launched_campaign_keeps_what_respondents_have_seen(admin, version, key, value):
    campaign = _create(admin, version, launch=True)
    with pytest.raises(ServiceError) as caught:
        campaigns.update_campaign(admin, campaign, **{key: value})
    assert caught.value.field == key
    # Sending the current value (a whole settings object) is fine.
    campaigns.update_campaign(admin, campaign, **{key: getattr(campaign, key)}, name="Same")
    assert campaign.name == "Same"


def test_a_launched_campaign_may_change_its_close_cap_and_reminders(admin, version):
    campaign = _create(admin, version, launch=True, max_responses=10)
    later = utcnow() + timedelta(days=10)
    campaigns.update_campaign(
        admin, campaign, name="March", closes_at=later, max_responses=20,
        max_reminders=3, remind_days_before_close=2, min_group_size=8,
    )
    assert (campaign.name, campaign.max_responses, campaign.min_group_size) == ("March", 20, 8)
    assert campaign.closes_at == later


def test_a_cap_below_the_completed_responses_is_refused(admin, version):
    campaign = _create(admin, version, launch=True)
    _complete(campaign, 2)
    with pytest.raises(ServiceError, match="2 responses") as caught:
        campaigns.update_campaign(admin, campaign, max_responses=1)
    assert caught.value.field == "max_responses"
    campaigns.update_campaign(admin, campaign, max_responses=2)
    assert campaigns.campaign_status(campaign) == "full"


def test_a_closing_time_in_the_past_closes_a_launched_campaign_now(admin, version):
    campaign = _create(admin, version, launch=True, closes_at=utcnow() + timedelta(days=5))
    planned = campaign.closes_at
    campaigns.update_campaign(admin, campaign, closes_at=utcnow() - timedelta(hours=1))
    assert campaigns.campaign_status(campaign) == "closed"
    assert campaign.closes_at == planned  # the plan is kept: it can be reopened
    assert campaigns.can_reopen(campaign)
    [event] = _events(campaign, "campaign.close")
    assert event.details == {"reason": "closing time in the past"}


# ----------------------------------------------------------------- automatic closing


def test_due_campaigns_are_closed_automatically_once(admin, version):
    now = utcnow()
    due = _create(admin, version, name="due", closes_at=now + timedelta(hours=1), launch=True)
    not_yet = _create(admin, version, name="later", closes_at=now + timedelta(days=1),
                      launch=True)
    draft = _create(admin, version, name="draft", closes_at=now + timedelta(hours=1))
    later = now + timedelta(hours=2)
    assert campaigns.close_due_campaigns(later) == 1
    assert due.closed_at == due.closes_at
    assert not_yet.closed_at is None and draft.closed_at is None
    [event] = _events(due, "campaign.auto_close")
    assert event.actor_id is None
    assert campaigns.close_due_campaigns(later) == 0  # idempotent
    assert len(_events(due, "campaign.auto_close")) == 1


def test_the_worker_runs_the_automatic_close_every_minute(admin, version):
    campaign = _create(admin, version, closes_at=utcnow() + timedelta(days=1), launch=True)
    campaign.closes_at = utcnow() - timedelta(seconds=1)
    db.session.flush()
    tasks.run_periodic_now()
    assert campaign.closed_at == campaign.closes_at
    assert len(_events(campaign, "campaign.auto_close")) == 1


# ----------------------------------------------------------------- webhook


def test_a_webhook_gets_a_new_secret_each_time_and_can_be_removed(admin, version):
    campaign = _create(admin, version, launch=True)
    first = campaigns.set_webhook(admin, campaign, "https://crm.example.com/orbit")
    second = campaigns.set_webhook(admin, campaign, "https://crm.example.com/orbit")
    assert len(first) >= 43 and first != second  # 32 random bytes, base64
    assert campaign.webhook_secret == second
    events = _events(campaign, "campaign.webhook")
    assert events and all(second not in str(e.details) for e in events)
    with pytest.raises(ServiceError) as caught:
        campaigns.set_webhook(admin, campaign, "javascript:alert(1)")
    assert caught.value.field == "webhook_url"
    assert campaigns.set_webhook(admin, campaign, None) is None
    assert campaign.webhook_url is None and campaign.webhook_secret is None


def test_changing_the_webhook_address_through_the_settings_makes_a_new_secret(admin, version):
    campaign = _create(admin, version, webhook_url="https://a.example.com/hook")
    secret = campaign.webhook_secret
    assert secret
    campaigns.update_campaign(admin, campaign, webhook_url="https://a.example.com/hook")
    assert campaign.webhook_secret == secret  # unchanged address, same secret
    campaigns.update_campaign(admin, campaign, webhook_url="https://b.example.com/hook")
    assert campaign.webhook_secret and campaign.webhook_secret != secret


# ----------------------------------------------------------------- the public link


def test_hidden_fields_keep_only_declared_clean_short_values(admin, version):
    campaign = _create(admin, version, hidden_fields=["ticket", "channel", "region"])
    fields = campaigns.read_hidden_fields(
        campaign,
        {"ticket": "  T-1\x00\x1b[31m ", "channel": "x" * 201, "utm_source": "mail",
         "region": "\u202eEast"},
    )
    assert fields == {"ticket": "T-1[31m", "region": "East"}
    assert campaigns.read_hidden_fields(campaign, {"channel": "x" * 200}) == {
        "channel": "x" * 200}


def test_the_public_url_uses_the_configured_base(app, admin, version):
    campaign = _create(admin, version)
    app.config["PUBLIC_BASE_URL"] = "https://survey.example.com/"
    try:
        assert campaigns.public_url(campaign) == (
            f"https://survey.example.com/s/{campaign.public_slug}")
    finally:
        app.config["PUBLIC_BASE_URL"] = None
    with app.test_request_context("/", base_url="http://orbit.local:5000"):
        assert campaigns.public_url(campaign) == (
            f"http://orbit.local:5000/s/{campaign.public_slug}")


# ----------------------------------------------------------------- background jobs

_attempts = {"n": 0}


@tasks.job("tests.campaigns.flaky")
def _flaky(fail_times: int):
    _attempts["n"] += 1
    if _attempts["n"] <= fail_times:
        raise RuntimeError("SMTP server said no")
    return {"sent": 1}


def test_a_failed_job_can_be_run_again_by_an_admin(factory, admin, version):
    _attempts["n"] = 0
    campaign = _create(admin, version)
    run = tasks.enqueue("tests.campaigns.flaky", campaign_id=campaign.id, actor=admin,
                        fail_times=1)
    assert run.status == tasks.TaskStatus.FAILED and "SMTP server said no" in run.error
    with pytest.raises(PermissionDenied):
        campaigns.retry_failed_run(factory.manager(), run)
    again = campaigns.retry_failed_run(admin, run)
    assert again.id != run.id and again.name == run.name and again.args == run.args
    assert again.campaign_id == campaign.id and again.created_by_id == admin.id
    assert again.status == tasks.TaskStatus.SUCCEEDED and again.result == {"sent": 1}
    with pytest.raises(ConflictError):
        campaigns.retry_failed_run(admin, again)  # it did not fail
    listed = db.session.scalars(
        campaigns.list_task_runs(admin, status="failed", campaign_id=campaign.id)
    ).all()
    assert listed == [run]


def test_responses_keep_the_fields_given_to_a_one_page_submit(factory, admin):
    document = three_pages(key="one-page")
    document["pages"] = document["pages"][:1]
    questionnaire = factory.questionnaire(document, actor=admin)
    campaign = _create(admin, questionnaire.latest_published, launch=True)
    response, _token = services.submit_new_response(
        campaign, "about", {"csat": 4}, locale="en", fields={"ticket": "T-9"}
    )
    db.session.expire(response)
    assert db.session.get(Response, response.id).fields == {"ticket": "T-9"}


def test_hidden_fields_stay_small_enough_for_a_cookie(admin, version):
    names = [f"f{i}" for i in range(10)]
    campaign = _create(admin, version, hidden_fields=names)
    fields = campaigns.read_hidden_fields(campaign, {n: "客" * 200 for n in names})
    assert 0 < len(fields) < 10 and list(fields) == names[: len(fields)]
    assert sum(len(json.dumps({k: v})) for k, v in fields.items()) <= 1500
