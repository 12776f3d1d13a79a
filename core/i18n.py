"""Locale selection and the language switch."""

from __future__ import annotations

from babel import support
from flask import (
    Blueprint,
    current_app,
    g,
    has_app_context,
    has_request_context,
    redirect,
    request,
    session,
    url_for,
)
from flask.json.provider import DefaultJSONProvider
from flask_babel import Domain, get_locale, gettext, ngettext
from flask_babel.speaklater import LazyString
from flask_login import current_user

from core.extensions import db
from core.redirects import safe_next_url

bp = Blueprint("i18n", __name__)

LANGUAGE_NAMES = {"en": "English", "zh_CN": "中文"}


def supported_locales() -> tuple[str, ...]:
    return tuple(current_app.config["LANGUAGES"])


def select_locale() -> str:
    """The user's own setting, else the session switch, else the page's default
    (``g.orbit_default_locale``), else Accept-Language."""
    if not has_request_context():  # CLI, background work: the configured default
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    supported = supported_locales()
    user_locale = getattr(current_user, "locale", None) if current_user else None
    if user_locale in supported:
        return user_locale
    chosen = session.get("locale")
    if chosen in supported:
        return chosen
    # A page's own default (e.g. a survey's language), set on ``g`` before the
    # first translated string: it wins over the browser, never over a choice.
    page_default = g.get("orbit_default_locale")
    if page_default in supported:
        return page_default
    best = request.accept_languages.best_match(
        ["en", "zh_CN", "zh", "zh-CN", "zh-Hans", "zh-Hans-CN"], default=None
    )
    if best and best.lower().startswith("zh"):
        return "zh_CN"
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def current_language() -> str:
    """``"zh_CN"`` or ``"en"``: the interface language of this request.

    Babel normalises ``zh_CN`` to ``zh_Hans_CN``, so compare languages, not strings.
    """
    locale = get_locale()
    return "zh_CN" if locale is not None and locale.language == "zh" else "en"


def html_lang() -> str:
    """BCP 47 tag for the ``lang`` attribute of ``<html>``."""
    return "zh-CN" if current_language() == "zh_CN" else "en"


def catalogue_name(locale) -> str:
    """The folder under ``translations/`` for ``locale`` (``zh_Hans_CN`` → ``zh_CN``)."""
    if locale is None:
        return "en"
    return f"{locale.language}_{locale.territory}" if locale.territory else locale.language


class CatalogueDomain(Domain):
    """Loads ``translations/<language>_<territory>`` whatever script Babel adds."""

    def __init__(self, directories: list[str]):
        super().__init__(translation_directories=directories, domain="messages")
        self._loaded: dict[str, support.Translations] = {}

    def get_translations(self):
        if not has_app_context():
            return support.NullTranslations()
        name = catalogue_name(get_locale())
        if name not in self._loaded:
            translations = support.Translations()
            for dirname in self.translation_directories:
                catalog = support.Translations.load(dirname, [name], "messages")
                translations.merge(catalog)
                if hasattr(catalog, "plural"):
                    translations.plural = catalog.plural
            self._loaded[name] = translations
        return self._loaded[name]


class PlainLazyString(LazyString):
    """A lazy translation that Jinja escapes like any other text.

    Flask-Babel's lazy strings declare ``__html__``, so Jinja would insert them
    unescaped — unsafe when a placeholder holds user input (a key, a name).
    """

    @property
    def __html__(self):  # hasattr(obj, "__html__") is then False
        raise AttributeError("__html__")


class LazyTextJSONProvider(DefaultJSONProvider):
    """JSON (API bodies, the session) renders lazy translations as their text."""

    @staticmethod
    def default(o):
        if isinstance(o, LazyString):
            return str(o)
        return DefaultJSONProvider.default(o)


def lazy_gettext(string: str, **variables) -> PlainLazyString:
    """Like :func:`flask_babel.lazy_gettext`, but never treated as safe HTML."""
    return PlainLazyString(gettext, string, **variables)


def lazy_ngettext(singular: str, plural: str, num: int, **variables) -> PlainLazyString:
    """Like :func:`flask_babel.lazy_ngettext`, but never treated as safe HTML."""
    return PlainLazyString(ngettext, singular, plural, num, **variables)


@bp.post("/locale/<code>")
def switch(code: str):
    """Remember the chosen language in the session (and on the user, if logged in)."""
    if code in supported_locales():
        session["locale"] = code
        if current_user.is_authenticated:
            current_user.locale = code
            db.session.commit()
    return redirect(safe_next_url(request.form.get("next")) or url_for("org.home"))
