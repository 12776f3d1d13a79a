"""Test plumbing at the level of the Flask app.

:func:`isolated_requests` closes two gaps of ``tests/conftest.py`` (reported to
its owner; drop this helper once the conftest does the same). The conftest keeps
one app context pushed for the whole test so that requests share the test's
transaction; Flask reuses that context, its session and its ``g`` for every
test-client request. So:

* **each request gets a fresh ``g``** -- Flask-Login caches the current user
  there and Flask-Babel the locale; otherwise a second client (or a second
  login) in the same test acts as whoever made the first request;
* **the test's data is committed before each request** (a savepoint release
  inside the test's transaction) -- otherwise a route's ``db.session.rollback()``
  after refused input also undoes everything the test set up with the factory.

:func:`sibling_app` builds a second Orbit app inside a test for settings the
shared test app cannot have (CSRF on, rate limits on, a proxy in front). Its
default engine is pointed at the connection the conftest opened for the current
test, so data made with the ``factory`` fixture is visible to it and everything
is rolled back at the end, on SQLite and PostgreSQL alike; no real commit.

Extensions are module-level objects shared by every app of the process, and
Flask-Limiter keeps its switch, storage and default limits on the extension
object; :func:`rate_limiter_restored` puts them back after building an app.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask, g, request_started

from core import create_app
from core.extensions import db, limiter

_LIMITER_STATE = ("enabled", "_storage", "_limiter", "initialized")


@contextmanager
def isolated_requests(app: Flask) -> Iterator[None]:
    """Start each test-client request of ``app`` as a real server would: empty
    ``g``, and what the test set up already committed."""

    def _like_a_new_request(sender, **extra):
        g.__dict__.clear()
        db.session.commit()

    request_started.connect(_like_a_new_request, app)
    try:
        yield
    finally:
        request_started.disconnect(_like_a_new_request, app)


@contextmanager
def rate_limiter_restored() -> Iterator[None]:
    saved = {name: getattr(limiter, name, None) for name in _LIMITER_STATE}
    default_limits = list(limiter.limit_manager._default_limits)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(limiter, name, value)
        limiter.limit_manager.set_default_limits(default_limits)


@contextmanager
def sibling_app(main_app: Flask, config_name: str = "testing", **overrides) -> Iterator[Flask]:
    """An app built with ``overrides`` that shares the current test's connection."""
    with main_app.app_context():
        connection = db.engines[None]  # the conftest swapped in the test's connection
    with rate_limiter_restored():
        other = create_app(config_name, overrides=overrides)
        with other.app_context():
            own_engine = db.engines[None]
            db.engines[None] = connection
        own_engine.dispose()
        yield other
