"""How a campaign is going: invited, emailed, opened, started, completed, partial, the
response rate over time and by group, and who has not answered yet.

:func:`progress` returns plain JSON-able data; the dashboard page and the API show it.

Counting rules (see ``docs/results.md``):

* *completed* is the number of completed responses that are not deleted — the n the
  results rest on; *partial* the responses started but not submitted (not deleted).
* For personal links, *invited* counts the campaign's invitations except revoked ones
  that were never completed and those whose person was erased; opened / started and
  the groups use the invitation's own record, where a completion whose response was
  deleted (and is traceable, i.e. not anonymous) no longer counts.
* In an anonymous campaign a group (team, custom field value) with fewer completed
  than ``min_group_size`` is merged into "Other groups"; if that merge is itself too
  small, the next smallest groups join it until it is large enough (or nothing is
  shown by group) — so no small group can be recovered by subtracting the groups shown
  from the total. Non-responders are listed only when
  :func:`surveys.services.may_show_response_status` allows it.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, exists, func, or_, select

from core.database import utcnow
from core.extensions import db
from org.models import Team
from surveys import services
from surveys.models import Campaign, Invitation, Response, ResponseStatus, SendStatus
from surveys.results import filterable_fields, response_field, viewer_zone

__all__ = ["MAX_GROUPS", "NON_RESPONDERS_SHOWN", "TIMELINE_DAYS", "progress"]

MAX_GROUPS = 30  # groups listed per breakdown; the rest are "Other groups"
NON_RESPONDERS_SHOWN = 200
TIMELINE_DAYS = 366


def _share(part: int, whole: int | None) -> float | None:
    return part / whole if whole else None


def progress(campaign: Campaign, now: datetime | None = None,
             tz: ZoneInfo | str | None = None) -> dict:
    """The dashboard figures of ``campaign`` (JSON-able).

    ``now`` ends the timeline (default: the current time); ``tz`` (default: the
    viewer's) decides which day a completion falls on.
    """
    now = now or utcnow()
    zone = ZoneInfo(tz) if isinstance(tz, str) else (tz or viewer_zone())
    live = [Response.campaign_id == campaign.id, Response.deleted_at.is_(None)]
    completed = services.completed_count(campaign)
    partial = db.session.scalar(
        select(func.count()).select_from(Response).where(
            *live, Response.status == ResponseStatus.IN_PROGRESS
        )
    )
    data = {
        "campaign_id": campaign.id,
        "audience": campaign.audience,
        "anonymous": campaign.anonymous,
        "min_group_size": campaign.min_group_size,
        "time_zone": zone.key,
        "completed": completed,
        "partial": partial,
        "timeline": _timeline(campaign, now, zone),
    }
    if campaign.is_personal:
        data.update(_personal(campaign, completed))
    else:
        data.update(_public(campaign, completed))
    return data


# --------------------------------------------------------------------- timeline


def _timeline(campaign: Campaign, now: datetime, zone: ZoneInfo) -> list[dict]:
    """Completions per day (in ``zone``) and the running total, from the day the
    campaign opened (or its first completion) to today or the day it closed."""
    days: Counter[date] = Counter()
    for submitted in db.session.scalars(
        select(Response.submitted_at).where(
            Response.campaign_id == campaign.id,
            Response.status == ResponseStatus.COMPLETED,
            Response.deleted_at.is_(None),
            Response.submitted_at.is_not(None),
        )
    ):
        days[submitted.astimezone(zone).date()] += 1
    opened = campaign.opens_at or campaign.launched_at
    if opened is None or opened > now:
        opened = None
    first_days = [d for d in (opened and opened.astimezone(zone).date(), min(days, default=None))
                  if d is not None]
    if not first_days:
        return []
    end_at = min(t for t in (now, campaign.closed_at, campaign.closes_at) if t is not None)
    end = max(end_at.astimezone(zone).date(), max(days, default=end_at.astimezone(zone).date()))
    start = min(first_days)
    running = 0
    if (end - start).days >= TIMELINE_DAYS:  # the last year, with what came before
        start = end - timedelta(days=TIMELINE_DAYS - 1)
        running = sum(count for day, count in days.items() if day < start)
    series = []
    day = start
    while day <= end:
        running += days[day]
        series.append({"date": day.isoformat(), "completed": days[day], "cumulative": running})
        day += timedelta(days=1)
    return series


# --------------------------------------------------------------------- personal links


def _counted_invitations(campaign: Campaign):
    """Invitations that count as invited, with whether each has completed."""
    live_done = exists().where(
        Response.invitation_id == Invitation.id,
        Response.status == ResponseStatus.COMPLETED,
        Response.deleted_at.is_(None),
    )
    deleted = exists().where(
        Response.invitation_id == Invitation.id, Response.deleted_at.is_not(None)
    )
    done = or_(live_done, and_(Invitation.completed_at.is_not(None), ~deleted))
    return select(
        Invitation.id,
        Invitation.name,
        Invitation.email,
        Invitation.team_id,
        Invitation.fields,
        Invitation.send_status,
        Invitation.opened_at,
        Invitation.started_at,
        Invitation.reminders_sent,
        Invitation.last_reminded_at,
        done.label("done"),
    ).where(
        Invitation.campaign_id == campaign.id,
        Invitation.erased_at.is_(None),
        or_(Invitation.revoked_at.is_(None), Invitation.completed_at.is_not(None)),
    )


def _personal(campaign: Campaign, completed: int) -> dict:
    rows = db.session.execute(_counted_invitations(campaign)).all()
    invited = len(rows)
    done = sum(1 for r in rows if r.done)
    sends = Counter(r.send_status for r in rows)
    revoked = db.session.scalar(
        select(func.count()).select_from(Invitation).where(
            Invitation.campaign_id == campaign.id,
            Invitation.erased_at.is_(None),
            Invitation.revoked_at.is_not(None),
            Invitation.completed_at.is_(None),
        )
    )
    team_names = dict(db.session.execute(
        select(Team.id, Team.name).where(Team.id.in_({r.team_id for r in rows if r.team_id}))
    ).all()) if any(r.team_id for r in rows) else {}
    breakdowns = []
    if any(r.team_id for r in rows):
        groups = _tally((team_names.get(r.team_id), r.done) for r in rows)
        breakdowns.append(_breakdown(campaign, "team", None, groups, with_invited=True))
    for name in filterable_fields(campaign):
        if name == "team":
            continue  # the team breakdown above
        groups = _tally((_text((r.fields or {}).get(name)), r.done) for r in rows)
        breakdowns.append(_breakdown(campaign, "field", name, groups, with_invited=True))
    return {
        "invited": invited,
        "invitations_completed": done,
        "revoked": revoked,
        "emails": {status.value: sends.get(status.value, 0) for status in SendStatus},
        "opened": sum(1 for r in rows if r.opened_at or r.started_at or r.done),
        "started": sum(1 for r in rows if r.started_at or r.done),
        "response_rate": _share(min(completed, invited), invited),
        "breakdowns": breakdowns,
        "non_responders": _non_responders(campaign, rows, done, team_names),
    }


def _text(value) -> str | None:
    if value is None or value == "":
        return None
    return str(value)


def _tally(pairs) -> dict[str | None, list[int]]:
    """{group: [invited, completed]} from (group, completed?) pairs."""
    groups: dict[str | None, list[int]] = defaultdict(lambda: [0, 0])
    for group, done in pairs:
        groups[group][0] += 1
        groups[group][1] += 1 if done else 0
    return groups


def _non_responders(campaign: Campaign, rows, done: int, team_names: dict) -> dict:
    if campaign.anonymous and not services.may_show_response_status(campaign, done):
        return {"shown": False, "reason": "anonymous", "total": None, "people": []}
    waiting = [r for r in rows if not r.done]
    waiting.sort(key=lambda r: ((r.name or r.email or "").lower(), r.id))
    return {
        "shown": True,
        "reason": None,
        "total": len(waiting),
        "people": [
            {
                "invitation_id": r.id,
                "name": r.name,
                "email": r.email,
                "team": team_names.get(r.team_id),
                "send_status": r.send_status,
                "opened": r.opened_at is not None,
                "started": r.started_at is not None,
                "reminders_sent": r.reminders_sent,
                "last_reminded_at": r.last_reminded_at.isoformat() if r.last_reminded_at else None,
            }
            for r in waiting[:NON_RESPONDERS_SHOWN]
        ],
    }


# --------------------------------------------------------------------- public links


def _public(campaign: Campaign, completed: int) -> dict:
    breakdowns = []
    for name in filterable_fields(campaign):
        value = response_field(name)
        counts = db.session.execute(
            select(value, func.count())
            .where(
                Response.campaign_id == campaign.id,
                Response.status == ResponseStatus.COMPLETED,
                Response.deleted_at.is_(None),
            )
            .group_by(value)
        ).all()
        groups: dict[str | None, list[int]] = defaultdict(lambda: [0, 0])
        for group, count in counts:
            groups[_text(group)][1] += count
        breakdowns.append(_breakdown(campaign, "field", name, groups, with_invited=False))
    return {
        "cap": campaign.max_responses,
        "cap_share": _share(completed, campaign.max_responses),
        "breakdowns": breakdowns,
    }


# --------------------------------------------------------------------- groups


@dataclass
class _Group:
    name: str | None
    invited: int
    completed: int


def _breakdown(campaign: Campaign, kind: str, field: str | None,
               groups: dict[str | None, list[int]], *, with_invited: bool) -> dict:
    """A breakdown's rows, small groups merged (anonymous campaigns), longest first."""
    items = [_Group(name, invited, done) for name, (invited, done) in groups.items()]
    items.sort(key=lambda g: (-g.completed, -g.invited, g.name is None, g.name or ""))
    merged: list[_Group] = []
    if campaign.anonymous:
        smallest = campaign.min_group_size
        merged = [g for g in items if g.completed < smallest]
        items = [g for g in items if g.completed >= smallest]
        # Too small a remainder would be told by subtraction: grow it from the smallest.
        while merged and sum(g.completed for g in merged) < smallest and items:
            merged.append(items.pop())
        if sum(g.completed for g in merged) < smallest:
            return _rows(kind, field, items, merged, hidden=True, with_invited=with_invited)
    if len(items) > MAX_GROUPS:
        merged += items[MAX_GROUPS:]
        items = items[:MAX_GROUPS]
    return _rows(kind, field, items, merged, hidden=False, with_invited=with_invited)


def _rows(kind, field, shown: list[_Group], merged: list[_Group], *, hidden: bool,
          with_invited: bool) -> dict:
    def row(name, invited, done):
        return {
            "name": name,
            "invited": invited if with_invited else None,
            "completed": done,
            "rate": _share(done, invited) if with_invited else None,
        }

    other = None
    if merged and not hidden:
        invited = sum(g.invited for g in merged)
        other = {"groups": len(merged), **row(None, invited, sum(g.completed for g in merged))}
    return {
        "kind": kind,
        "field": field,
        "groups": [row(g.name, g.invited, g.completed) for g in shown],
        "other": other,
        "hidden_groups": len(merged) if hidden else 0,
    }
