"""Locale selection and the language switch."""

from __future__ import annotations

from flask import Blueprint, current_app, has_request_context, redirect, request, session, url_for
from flask_babel import get_locale
from flask_login import current_user

from core.extensions import db
from core.redirects import safe_next_url

bp = Blueprint("i18n", __name__)

LANGUAGE_NAMES = {"en": "English", "zh_CN": "中文"}


def supported_locales() -> tuple[str, ...]:
    return tuple(current_app.config["LANGUAGES"])


def select_locale() -> str:
    """The user's own setting, else the session switch, else Accept-Language."""
    if not has_request_context():  # CLI, background work: the configured default
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    supported = supported_locales()
    user_locale = getattr(current_user, "locale", None) if current_user else None
    if user_locale in supported:
        return user_locale
    chosen = session.get("locale")
    if chosen in supported:
        return chosen
    best = request.accept_languages.best_match(
        ["en", "zh_CN", "zh", "zh-CN", "zh-Hans", "zh-Hans-CN"], default=None
    )
    if best and best.lower().startswith("zh"):
        return "zh_CN"
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def html_lang() -> str:
    """BCP 47 tag for the ``lang`` attribute of ``<html>``."""
    return "zh-CN" if str(get_locale()) == "zh_CN" else "en"


@bp.post("/locale/<code>")
def switch(code: str):
    """Remember the chosen language in the session (and on the user, if logged in)."""
    if code in supported_locales():
        session["locale"] = code
        if current_user.is_authenticated:
            current_user.locale = code
            db.session.commit()
    return redirect(safe_next_url(request.form.get("next")) or url_for("org.home"))
