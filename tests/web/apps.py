"""Test plumbing at the level of the Flask app.

:func:`isolated_requests` works around three gaps of ``tests/conftest.py``
(reported to its owner; drop this once the conftest does it itself):

* **Real rollback on SQLite.** pysqlite does not emit ``BEGIN`` for
  ``connection.begin()``; the session's first ``SAVEPOINT`` then *starts* the
  SQLite transaction, and the route's ``commit()`` (``RELEASE`` of that
  outermost savepoint) is a real ``COMMIT`` -- rows leak into later tests. An
  explicit ``BEGIN`` on the test's connection makes every savepoint nested.
* **A fresh ``flask.g`` per request.** The conftest keeps one app context pushed
  for the whole test so that requests share the test's transaction; Flask then
  reuses that context for every request, and with it ``g`` -- where Flask-Login
  caches the current user and Flask-Babel the locale. Without a fresh ``g`` a
  second client (or a second login) in the same test acts as whoever made the
  first request.
* **The test's data is committed before a request.** The request uses the
  test's own session, so a route's ``db.session.rollback()`` (after refused
  input) also undid everything the test had set up with the factory. Committing
  at the start of each request (a savepoint release inside the test's
  transaction) makes the setup what it is in real life: data already there.

:func:`sibling_app` builds a second Orbit app inside a test, on the test's own
database connection.

Some behaviour depends on settings the shared test app cannot have (CSRF on,
rate limits on, a broken database). :func:`sibling_app` builds such an app and
points its default engine at the connection the conftest opened for the current
test, so data made with the ``factory`` fixture is visible to it and everything
is rolled back at the end, on SQLite and PostgreSQL alike.

Extensions are module-level objects shared by every app of the process; the
rate limiter in particular keeps ``enabled`` and its storage on the extension
object, so :func:`rate_limiter_restored` puts them back afterwards (see the
report on the limiter leaking between apps in ``tests/web/test_auth.py``).
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
    """Really begin the test's transaction on SQLite and start each request of
    ``app`` with an empty ``g``, as a real server does."""
    with app.app_context():
        connection = db.engines[None]
        if connection.dialect.name == "sqlite" and not connection.connection.in_transaction:
            connection.exec_driver_sql("BEGIN")

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
