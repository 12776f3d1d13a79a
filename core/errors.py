"""Error pages for people and one JSON error shape for the API.

Every API error has the body ``{"code": 404, "status": "Not Found",
"message": "...", "errors": {...}}`` (``errors`` only for invalid input).
"""

from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

log = logging.getLogger(__name__)

API_PREFIX = "/api/"


def wants_json() -> bool:
    return request.path.startswith(API_PREFIX) or request.path == "/healthz"


def _messages() -> dict[int, tuple[str, str]]:
    return {
        400: (_("Bad request"), _("The request could not be understood.")),
        401: (_("Please log in"), _("You need to log in to see this page.")),
        403: (_("Not allowed"), _("You do not have permission to see this page.")),
        404: (_("Page not found"), _("There is nothing at this address.")),
        405: (_("Not allowed"), _("This action is not allowed here.")),
        409: (_("Conflict"), _("The data changed in the meantime; please try again.")),
        413: (_("Too large"), _("The uploaded file is too large.")),
        422: (_("Invalid input"), _("Some of the data you sent is not valid.")),
        429: (_("Too many attempts"), _("Too many attempts. Please wait a minute and try again.")),
        500: (_("Something went wrong"), _("An unexpected error happened. Nothing was saved.")),
    }


def json_error(code: int, message: str | None = None, errors=None, status: str | None = None):
    from http import HTTPStatus

    body = {
        "code": code,
        "status": status or HTTPStatus(code).phrase,
        "message": message or HTTPStatus(code).description or HTTPStatus(code).phrase,
    }
    if errors:
        body["errors"] = errors
    response = jsonify(body)
    response.status_code = code
    return response


def handle_http_exception(exc: HTTPException):
    code = exc.code or 500
    if wants_json():
        data = getattr(exc, "data", None) or {}
        errors = data.get("messages") if isinstance(data, dict) else None
        message = exc.description if exc.description != type(exc).description else None
        response = json_error(code, message, errors)
    else:
        title, text = _messages().get(code, (exc.name, exc.description))
        if isinstance(exc, CSRFError):
            text = _("Your form expired. Please go back, reload the page and try again.")
        elif code != 429 and exc.description and exc.description != type(exc).description:
            text = exc.description
        response = render_template("core/error.html", code=code, title=title, text=text), code
        response = _as_response(response)
    for name, value in (exc.get_headers() or []):
        if name.lower() in {"retry-after", "www-authenticate", "allow"}:
            response.headers[name] = value
    return response


def _as_response(rv):
    from flask import make_response

    return make_response(rv)


def handle_unexpected(exc: Exception):
    log.exception("unhandled error on %s %s", request.method, request.path)
    from core.extensions import db

    db.session.rollback()
    return handle_http_exception(InternalServerError())


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(HTTPException, handle_http_exception)
    if not app.config.get("TESTING"):
        app.register_error_handler(Exception, handle_unexpected)
