"""Demo questionnaires and campaigns for `flask orbit demo`.

- the customer-satisfaction template, published, with a public campaign about the IT
  helpdesk run by a demo vendor (a ``channel`` hidden field, about 90 answers over the
  last five weeks, a few left half-way);
- the vendor-performance template sent as personal invitations to the managers, half
  of them answered;
- a draft 360 questionnaire to explore the builder.

Answers are random but plausible (seeded, so every demo looks the same).
"""

from __future__ import annotations

import random
from datetime import date, timedelta

from flask import url_for
from sqlalchemy import select

from core.database import utcnow
from core.extensions import db
from org.models import Role, User, Vendor
from surveys import campaigns, invitations, services
from surveys import definition as qdef
from surveys.models import Campaign, Questionnaire

COMMENTS = [
    "工程师响应很快，问题当天就解决了。",
    "服务态度很好，就是等待时间有点长。",
    "希望能提供更详细的进度通知。",
    "电话一直占线，很难联系上。",
    "Quick and friendly, thank you!",
    "The fix worked but I had to explain the problem twice.",
    "Please keep us updated on the ticket status.",
    "非常专业，点赞！",
    "",
]
CHANNELS = ["phone", "email", "chat", "walk-in"]


def plausible_answers(definition: qdef.Questionnaire, rng: random.Random, mood: float) -> dict:
    """A valid set of answers, leaning positive when ``mood`` is near 1 and negative
    near 0; questions hidden by skip logic are left out."""
    answers: dict = {}
    for question in definition.questions:
        if not question.answerable or (not question.required and rng.random() < 0.15):
            continue
        value = _answer(question, rng, mood)
        if value is not None:
            answers[question.key] = value
    return qdef.prune_hidden(definition, answers)


def _point(scale, rng: random.Random, mood: float) -> int:
    values = list(scale.values)
    centre = mood * (len(values) - 1)
    index = round(min(max(rng.gauss(centre, len(values) / 5), 0), len(values) - 1))
    return values[index]


def _answer(question: qdef.Question, rng: random.Random, mood: float):
    t = question.type
    if t == "matrix":
        return {item.key: _point(question.scale, rng, mood) for item in question.items}
    if question.is_scale:
        return _point(question.scale, rng, mood)
    if t in ("single_choice", "dropdown"):
        return rng.choice(question.options).value
    if t == "multiple_choice":
        low = question.min_selections or 1
        high = min(question.max_selections or len(question.options), len(question.options))
        return [o.value for o in rng.sample(question.options, rng.randint(low, max(low, high)))]
    if t == "ranking":
        order = [o.value for o in question.options]
        rng.shuffle(order)
        return order
    if t in ("short_text", "long_text"):
        text = rng.choice(COMMENTS)
        return text[: question.max_length or 2000] or None
    if t == "number":
        low = float(question.min) if question.min is not None else 0.0
        high = float(question.max) if question.max is not None else low + 100
        value = rng.uniform(low, high)
        return round(value) if question.integer else round(value, 1)
    if t == "date":
        low = question.min or date.today() - timedelta(days=60)
        high = question.max or date.today()
        return (low + timedelta(days=rng.randint(0, max((high - low).days, 0)))).isoformat()
    return None


def _answer_campaign(campaign: Campaign, *, count: int, days: int, rng: random.Random,
                     invitations_to_use=(), partial_every: int = 0) -> None:
    """Store ``count`` responses spread over the last ``days`` days."""
    definition = services.parsed_version(campaign.version)
    now = utcnow()
    people = list(invitations_to_use)
    for n in range(count):
        invitation = people[n] if n < len(people) else None
        mood = min(max(rng.gauss(0.72, 0.2), 0.05), 0.98)
        fields = {"channel": rng.choice(CHANNELS)} if "channel" in campaign.hidden_fields else None
        response, _token = services.start_response(
            campaign, locale=rng.choice(["zh_CN", "zh_CN", "en"]), fields=fields,
            invitation=invitation,
        )
        answers = plausible_answers(definition, rng, mood)
        when = now - timedelta(days=rng.uniform(0, days), minutes=rng.uniform(0, 600))
        if partial_every and n % partial_every == partial_every - 1:
            first = definition.pages[0]
            services.save_page(
                response, first.key, {q.key: answers[q.key] for q in first.questions
                                      if q.key in answers},
                next_page=definition.pages[-1].key, seconds=rng.uniform(20, 90),
            )
            response.started_at = response.last_saved_at = when
            continue
        services.submit_response(response, definition.pages[-1].key, answers,
                                 seconds=rng.uniform(40, 400), locale=response.locale)
        response.started_at = when - timedelta(seconds=rng.uniform(60, 600))
        response.submitted_at = response.last_saved_at = when
        if invitation is not None:
            invitation.opened_at = invitation.opened_at or response.started_at
            invitation.started_at = response.started_at
            invitation.completed_at = when
    db.session.flush()


def load_demo_surveys(admin) -> list[str]:
    """Idempotent; returns lines to print (the public link)."""
    existing = db.session.scalar(
        select(Questionnaire).where(Questionnaire.key == "customer-satisfaction")
    )
    lines = []
    if existing is None:
        rng = random.Random(2026)
        now = utcnow()
        vendor = db.session.scalar(select(Vendor).order_by(Vendor.id))
        csat = services.create_from_template(admin, "customer-satisfaction")
        version = services.publish(admin, csat)
        campaign = campaigns.create_campaign(
            admin, version, name="IT 服务台客户满意度 IT Helpdesk customers",
            opens_at=now - timedelta(days=36), closes_at=now + timedelta(days=24),
            subject=vendor, default_locale="zh_CN", hidden_fields=["channel"], launch=True,
        )
        _answer_campaign(campaign, count=96, days=35, rng=rng, partial_every=12)

        review = services.create_from_template(admin, "vendor-performance")
        review_version = services.publish(admin, review)
        personal = campaigns.create_campaign(
            admin, review_version, name="供应商季度评价 Quarterly vendor review",
            audience="personal", opens_at=now - timedelta(days=10),
            closes_at=now + timedelta(days=4), subject=vendor, default_locale="zh_CN",
            min_group_size=3, max_reminders=2, remind_days_before_close=3, launch=True,
        )
        managers = db.session.scalars(
            select(User).where(User.role == Role.MANAGER, User.active.is_(True))
            .order_by(User.id)
        ).all()
        invited = invitations.add_invitations(
            admin, personal,
            [{"email": m.email, "name": m.display_name, "locale": m.locale,
              "fields": {"team": m.team.name} if m.team else {}} for m in managers],
        )
        for invitation in invited:
            invitation.send_status = "sent"
            invitation.sent_at = invitation.opened_at = now - timedelta(days=9)
        _answer_campaign(personal, count=(len(invited) + 1) // 2, days=9, rng=rng,
                         invitations_to_use=invited)

        services.create_from_template(admin, "leadership-360")
        lines.append("Demo questionnaires and campaigns loaded (customer satisfaction with "
                     "answers, a vendor review by invitation, a 360 leadership draft).")
    else:
        campaign = db.session.scalar(
            select(Campaign)
            .where(Campaign.version.has(questionnaire_id=existing.id))
            .order_by(Campaign.id)
        )
    if campaign is not None:
        try:
            link = url_for("respond.answer", slug=campaign.public_slug, _external=True)
        except RuntimeError:  # no server name outside a request
            link = f"http://127.0.0.1:5000/s/{campaign.public_slug}"
        lines.append(f"Customer survey link: {link}")
    return lines

