"""Demo questionnaires for `flask orbit demo`: the customer-satisfaction template,
published, with an open link, and a draft 360 questionnaire to explore the builder."""

from __future__ import annotations

from flask import url_for
from sqlalchemy import select

from core.extensions import db
from surveys import services
from surveys.models import Campaign, Questionnaire


def load_demo_surveys(admin) -> list[str]:
    """Idempotent; returns lines to print (the open link)."""
    existing = db.session.scalar(
        select(Questionnaire).where(Questionnaire.key == "customer-satisfaction")
    )
    lines = []
    if existing is None:
        csat = services.create_from_template(admin, "customer-satisfaction")
        version = services.publish(admin, csat)
        campaign = services.create_campaign(
            admin, version, name="IT 服务台客户 IT Helpdesk customers"
        )
        services.create_from_template(admin, "leadership-360")
        lines.append("Demo questionnaires loaded (customer satisfaction, 360 leadership draft).")
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
