"""The campaign dashboard: the funnel, the response rate over time and by group, the
non-responders, and the anonymity rules for small groups."""

from __future__ import annotations

import itertools
import json
import re
from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree

import pytest

from core.extensions import db
from surveys.dashboard import progress
from surveys.models import Invitation, Response
from tests.surveys.test_results import respond
from tests.web.page import visible_text

NOW = datetime(2024, 6, 10, 12, tzinfo=UTC)
OPENED = datetime(2024, 6, 1, 8, tzinfo=UTC)
_numbers = itertools.count(1)


def invite(campaign, n: int, *, team=None, fields=None, completed=False, opened=False,
           started=False, send_status="sent", when=None, **extra) -> list[Invitation]:
    """``n`` invitations; completed ones get a completed response (linked unless the
    campaign is anonymous), as the respondent flow stores them."""
    made = []
    for _ in range(n):
        number = next(_numbers)
        invitation = Invitation(
            campaign_id=campaign.id, email=f"invitee{number}@example.com",
            name=f"Invitee {number}", team_id=getattr(team, "id", None),
            fields=fields or {}, send_status=send_status, **extra,
        )
        db.session.add(invitation)
        db.session.flush()
        stamp = when or OPENED + timedelta(days=1)
        if opened or started or completed:
            invitation.opened_at = stamp
        if started or completed:
            invitation.started_at = stamp
        if completed:
            invitation.completed_at = stamp
            respond(campaign, {"nps": 9}, submitted_at=stamp,
                    invitation=None if campaign.anonymous else invitation)
        made.append(invitation)
    db.session.flush()
    return made


@pytest.fixture
def personal(factory):
    campaign = factory.campaign(opens_at=OPENED)
    campaign.audience = "personal"
    campaign.min_group_size = 3
    db.session.flush()
    return campaign


def test_the_funnel_counts_invited_sent_opened_started_completed_and_partial(personal):
    invite(personal, 4, completed=True)
    invite(personal, 2, started=True)
    invite(personal, 3, opened=True)
    invite(personal, 1, send_status="failed")
    invite(personal, 1, send_status="pending")
    invite(personal, 1, revoked_at=NOW)  # withdrawn before answering: not invited any more
    respond(personal, {"nps": 3}, status="in_progress")
    data = progress(personal, now=NOW, tz="UTC")
    assert data["invited"] == 11 and data["revoked"] == 1
    assert data["emails"]["sent"] == 9 and data["emails"]["failed"] == 1
    assert data["emails"]["pending"] == 1
    assert (data["opened"], data["started"], data["completed"]) == (9, 6, 4)
    assert data["partial"] == 1
    assert data["response_rate"] == pytest.approx(4 / 11)
    json.dumps(data, allow_nan=False)


def test_completions_over_time_are_cumulative_per_day_in_the_viewers_time_zone(personal):
    invite(personal, 2, completed=True, when=datetime(2024, 6, 2, 10, tzinfo=UTC))
    # 17:30 UTC on 3 June is already 4 June in Shanghai.
    invite(personal, 1, completed=True, when=datetime(2024, 6, 3, 17, 30, tzinfo=UTC))
    utc = progress(personal, now=NOW, tz="UTC")["timeline"]
    assert utc[0] == {"date": "2024-06-01", "completed": 0, "cumulative": 0}
    assert utc[-1]["date"] == "2024-06-10" and len(utc) == 10
    by_day = {p["date"]: (p["completed"], p["cumulative"]) for p in utc}
    assert by_day["2024-06-02"] == (2, 2) and by_day["2024-06-03"] == (1, 3)
    shanghai = progress(personal, now=NOW, tz="Asia/Shanghai")["timeline"]
    by_day = {p["date"]: (p["completed"], p["cumulative"]) for p in shanghai}
    assert by_day["2024-06-03"] == (0, 2) and by_day["2024-06-04"] == (1, 3)


def test_the_timeline_stops_when_the_campaign_closed(personal):
    invite(personal, 1, completed=True)
    personal.closed_at = datetime(2024, 6, 5, 9, tzinfo=UTC)
    timeline = progress(personal, now=NOW, tz="UTC")["timeline"]
    assert timeline[-1]["date"] == "2024-06-05"


def test_groups_by_team_and_custom_field_show_invited_completed_and_rate(personal, factory):
    desk, field = factory.team(name="Helpdesk"), factory.team(name="Field service")
    invite(personal, 3, team=desk, fields={"region": "East"}, completed=True)
    invite(personal, 1, team=desk, fields={"region": "West"})
    invite(personal, 1, team=field, fields={"region": "West"}, completed=True)
    invite(personal, 1, fields={"region": "West"})
    data = progress(personal, now=NOW, tz="UTC")
    team, region = data["breakdowns"]
    assert team["kind"] == "team" and region == {**region, "kind": "field", "field": "region"}
    rows = {g["name"]: (g["invited"], g["completed"]) for g in team["groups"]}
    assert rows == {"Helpdesk": (4, 3), "Field service": (1, 1), None: (1, 0)}
    assert team["groups"][0]["rate"] == pytest.approx(0.75)
    rows = {g["name"]: (g["invited"], g["completed"]) for g in region["groups"]}
    assert rows == {"East": (3, 3), "West": (3, 1)}


def test_non_responders_are_listed_by_name_for_personal_links(personal):
    invite(personal, 2, completed=True)
    waiting = invite(personal, 2, opened=True)
    listed = progress(personal, now=NOW)["non_responders"]
    assert listed["shown"] and listed["total"] == 2
    assert [p["email"] for p in listed["people"]] == sorted(w.email for w in waiting)
    assert listed["people"][0]["opened"] and not listed["people"][0]["started"]


def test_a_soft_deleted_response_no_longer_counts_as_completed(personal):
    done = invite(personal, 2, completed=True)
    first = db.session.query(Response).filter_by(invitation_id=done[0].id).one()
    first.deleted_at = NOW
    db.session.flush()
    data = progress(personal, now=NOW)
    assert data["completed"] == 1 and data["response_rate"] == pytest.approx(0.5)
    assert data["non_responders"]["total"] == 1
    assert data["timeline"][-1]["cumulative"] == 1


# --------------------------------------------------------------------- anonymity


@pytest.fixture
def anonymous(personal):
    personal.anonymous = True
    personal.min_group_size = 3
    db.session.flush()
    return personal


def test_anonymous_campaigns_merge_small_groups_into_other_groups(anonymous, factory):
    big, medium = factory.team(name="Big"), factory.team(name="Medium")
    small, tiny = factory.team(name="Small"), factory.team(name="Tiny")
    invite(anonymous, 5, team=big, completed=True)
    invite(anonymous, 3, team=medium, completed=True)
    invite(anonymous, 2, team=small, completed=True)
    invite(anonymous, 1, team=tiny, completed=True)
    invite(anonymous, 2, team=tiny)
    team = progress(anonymous, now=NOW)["breakdowns"][0]
    assert [g["name"] for g in team["groups"]] == ["Big", "Medium"]
    assert team["other"] == {"groups": 2, "name": None, "invited": 5, "completed": 3,
                             "rate": pytest.approx(0.6)}


def test_a_too_small_remainder_takes_in_the_next_group_so_nothing_leaks_by_subtraction(
    anonymous, factory
):
    big, medium, small = (factory.team(name=n) for n in ("Big", "Medium", "Small"))
    invite(anonymous, 6, team=big, completed=True)
    invite(anonymous, 4, team=medium, completed=True)
    invite(anonymous, 1, team=small, completed=True)
    data = progress(anonymous, now=NOW)
    team = data["breakdowns"][0]
    # "Small" alone (1) is below 3; showing Big and Medium would give it away as
    # 11 - 6 - 4, so Medium joins it.
    assert [g["name"] for g in team["groups"]] == ["Big"]
    assert team["other"]["groups"] == 2 and team["other"]["completed"] == 5
    shown = sum(g["completed"] for g in team["groups"]) + team["other"]["completed"]
    assert shown == data["completed"]


def test_no_group_is_shown_when_all_together_are_below_the_threshold(anonymous, factory):
    a, b = factory.team(name="A"), factory.team(name="B")
    invite(anonymous, 1, team=a, completed=True)
    invite(anonymous, 1, team=b, completed=True)
    invite(anonymous, 4, team=b)
    team = progress(anonymous, now=NOW)["breakdowns"][0]
    assert team["groups"] == [] and team["other"] is None and team["hidden_groups"] == 2


def test_groups_of_a_campaign_that_is_not_anonymous_are_all_shown(personal, factory):
    a, b = factory.team(name="A"), factory.team(name="B")
    invite(personal, 5, team=a, completed=True)
    invite(personal, 1, team=b, completed=True)
    team = progress(personal, now=NOW)["breakdowns"][0]
    assert [g["name"] for g in team["groups"]] == ["A", "B"] and team["other"] is None


def test_anonymous_campaigns_hide_non_responders_until_enough_have_answered(anonymous):
    invite(anonymous, 2, completed=True)
    invite(anonymous, 4)
    hidden = progress(anonymous, now=NOW)["non_responders"]
    assert hidden == {"shown": False, "reason": "anonymous", "total": None, "people": []}
    invite(anonymous, 1, completed=True)
    shown = progress(anonymous, now=NOW)["non_responders"]
    assert shown["shown"] and shown["total"] == 4


def test_public_links_show_the_cap_and_hidden_field_groups(factory):
    campaign = factory.campaign(opens_at=OPENED, max_responses=40)
    campaign.hidden_fields = ["channel"]
    db.session.flush()
    for channel, n in (("phone", 6), ("web", 2)):
        for _ in range(n):
            respond(campaign, {"nps": 9}, fields={"channel": channel},
                    submitted_at=OPENED + timedelta(hours=3))
    respond(campaign, {"nps": 9}, submitted_at=OPENED + timedelta(hours=3))
    data = progress(campaign, now=NOW, tz="UTC")
    assert (data["completed"], data["cap"], data["cap_share"]) == (9, 40, pytest.approx(9 / 40))
    assert "invited" not in data and "non_responders" not in data
    groups = {g["name"]: g["completed"] for g in data["breakdowns"][0]["groups"]}
    assert groups == {"phone": 6, "web": 2, None: 1}


# --------------------------------------------------------------------- the page


def test_the_dashboard_page_shows_the_figures_a_chart_and_its_table(personal, login_as,
                                                                   factory):
    invite(personal, 3, completed=True, team=factory.team(name="Helpdesk"))
    invite(personal, 1, opened=True)
    client = login_as(factory.admin())
    page = client.get(f"/campaigns/{personal.id}/dashboard")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    text = visible_text(html)
    assert "Invited 4" in text and "Completed 3" in text and "75.0%" in text
    assert "Completed responses per day" in text and "Helpdesk" in text
    assert "Not answered yet" in text and "Invitee" in text
    svg = re.search(r"<svg .*?</svg>", html, flags=re.S).group(0)
    root = ElementTree.fromstring(svg)  # noqa: S314 - our own output
    assert root.get("role") == "img" and "width" not in root.attrib


def test_the_anonymous_dashboard_explains_why_names_are_hidden(anonymous, login_as, factory):
    invite(anonymous, 1, completed=True)
    waiting = invite(anonymous, 2)
    client = login_as(factory.admin())
    text = visible_text(client.get(f"/campaigns/{anonymous.id}/dashboard"))
    assert "Hidden: in an anonymous campaign" in text
    assert waiting[0].email not in text


def test_the_dashboard_is_for_admins_only(personal, login_as, factory, client, auth):
    assert client.get(f"/campaigns/{personal.id}/dashboard").status_code == 302
    login_as(factory.manager())
    assert client.get(f"/campaigns/{personal.id}/dashboard").status_code == 403
    auth.logout()
    login_as(factory.admin())
    assert client.get("/campaigns/987654/dashboard").status_code == 404


def test_the_dashboard_of_a_public_link_shows_completions_against_the_cap(factory, login_as):
    campaign = factory.campaign(max_responses=20)
    campaign.hidden_fields = ["channel"]
    db.session.flush()
    for _ in range(5):
        respond(campaign, {"nps": 9}, fields={"channel": "phone"})
    client = login_as(factory.admin())
    text = visible_text(client.get(f"/campaigns/{campaign.id}/dashboard"))
    assert "Completed 5 of 20 wanted" in text and "25.0%" in text
    assert "By “channel”" in text and "phone" in text
    assert "Invited" not in text and "Not answered yet" not in text
