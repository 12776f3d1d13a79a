"""Test data factories: one call makes a valid object with sensible defaults."""

from __future__ import annotations

import itertools

from core.extensions import db
from org.models import Team, User, Vendor
from org.passwords import hash_password

_seq = itertools.count(1)


class Factory:
    PASSWORD = "correct horse battery"

    def user(self, *, role="member", email=None, display_name=None, password=PASSWORD,
             team=None, supervisor=None, active=True, locale=None, must_change_password=False):
        n = next(_seq)
        user = User(
            email=email or f"person{n}@example.com",
            display_name=display_name or f"Person {n}",
            role=role,
            team=team,
            supervisor=supervisor,
            active=active,
            locale=locale,
            must_change_password=must_change_password,
            password_hash=hash_password(password),
        )
        db.session.add(user)
        db.session.flush()
        return user

    def admin(self, **kw):
        return self.user(role="admin", **kw)

    def manager(self, **kw):
        return self.user(role="manager", **kw)

    def team(self, *, name=None, vendor=None, active=True):
        team = Team(name=name or f"Team {next(_seq)}", vendor=vendor, active=active)
        db.session.add(team)
        db.session.flush()
        return team

    def vendor(self, *, name=None, active=True, **kw):
        vendor = Vendor(name=name or f"Vendor {next(_seq)}", active=active, **kw)
        db.session.add(vendor)
        db.session.flush()
        return vendor

    # ------------------------------------------------------------- surveys

    def questionnaire(self, document=None, *, publish=True, actor=None):
        """A questionnaire (published by default) from ``document``."""
        from surveys import services
        from tests.surveys.documents import three_pages

        actor = actor or self.admin()
        questionnaire = services.create_questionnaire(actor, document or three_pages())
        if publish:
            services.publish(actor, questionnaire)
        db.session.flush()
        return questionnaire

    def campaign(self, questionnaire=None, *, actor=None, name="Open link", **kw):
        """An open link to the latest published version of ``questionnaire``."""
        from surveys import services

        actor = actor or self.admin()
        questionnaire = questionnaire or self.questionnaire(actor=actor)
        return services.create_campaign(
            actor, questionnaire.latest_published, name=name, **kw
        )
