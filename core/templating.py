"""Template globals and filters shared by every page."""

from __future__ import annotations

from flask import Flask, request
from flask_babel import format_decimal, format_percent

from core.i18n import LANGUAGE_NAMES, current_language, html_lang


def register_template_helpers(app: Flask) -> None:
    @app.context_processor
    def _globals():
        return {
            "html_lang": html_lang,
            "language_names": LANGUAGE_NAMES,
            "current_locale": current_language,
        }

    app.jinja_env.filters["number"] = lambda v, fmt=None: "" if v is None else format_decimal(
        v, format=fmt
    )
    app.jinja_env.filters["percent"] = lambda v: "" if v is None else format_percent(v)

    @app.template_global()
    def has_endpoint(endpoint: str) -> bool:
        """Whether a page is installed (optional sections of a tab bar)."""
        return endpoint in app.view_functions

    @app.template_global()
    def url_with(**changes):
        """The current URL with some query parameters replaced (for pagination, filters)."""
        args = request.args.to_dict()
        for key, value in changes.items():
            if value is None:
                args.pop(key, None)
            else:
                args[key] = value
        from urllib.parse import urlencode

        query = urlencode(args)
        return request.path + (f"?{query}" if query else "")
