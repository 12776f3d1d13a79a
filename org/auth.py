"""Flask-Login wiring: loading users from the session and the forced password change."""

from __future__ import annotations

from flask import redirect, request, url_for
from flask_login import current_user

from core.extensions import db, login_manager
from core.i18n import lazy_gettext as _l
from org.models import User

login_manager.login_view = "org.login"
login_manager.login_message = _l("Please log in to see this page.")
login_manager.login_message_category = "info"
login_manager.session_protection = "basic"

# Endpoints a user who must change their password may still reach.
_ALLOWED_WHILE_CHANGING = {"org.change_password", "org.logout", "static", "i18n.switch"}


@login_manager.user_loader
def load_user(session_id: str) -> User | None:
    """Sessions hold ``"<id>:<login_epoch>"``; a bumped epoch logs the user out."""
    try:
        user_id, epoch = (int(part) for part in session_id.split(":", 1))
    except ValueError:
        return None
    user = db.session.get(User, user_id)
    if user is None or not user.active or user.login_epoch != epoch:
        return None
    return user


def enforce_password_change():
    """Before every request: a user with a temporary password must change it first."""
    if (
        current_user.is_authenticated
        and current_user.must_change_password
        and request.endpoint not in _ALLOWED_WHILE_CHANGING
        and not request.path.startswith("/api/")
    ):
        return redirect(url_for("org.change_password"))
    return None
