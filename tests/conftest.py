"""Shared fixtures.

Every test runs inside a transaction that is rolled back at the end (routes'
commits become savepoint releases), on SQLite in memory by default or on the
database named by ``TEST_DATABASE_URL`` (PostgreSQL in CI).
"""

from __future__ import annotations

import os
import uuid

import pytest
from flask import g, request_started
from hypothesis import settings
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url

from core import create_app
from core.extensions import db
from tests.factories import Factory

# In CI, property-based tests use a fixed seed: a failure there is reproducible, and a
# run never fails by the luck of the draw. Locally they explore new examples each run.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI", "").lower() == "true" else "dev")


@pytest.fixture(scope="session")
def app():
    app = create_app("testing")
    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            db.drop_all()
        db.create_all()
        db.session.configure(join_transaction_mode="create_savepoint")
        request_started.connect(_like_a_new_request, app)
        yield app
        db.session.remove()
        if db.engine.dialect.name == "postgresql":
            db.drop_all()


def _like_a_new_request(sender, **extra):
    """Requests reuse the test's app context: give each a fresh ``g`` (Flask-Login's
    user, Flask-Babel's locale) and commit the test's setup (a savepoint release), so a
    route's rollback undoes only its own work."""
    g.__dict__.clear()
    db.session.commit()


@pytest.fixture(autouse=True)
def _isolated_db(request, app):
    """Bind every session of the test to one connection and roll it back afterwards."""
    if "no_db_isolation" in request.keywords:
        yield
        return
    with app.app_context():
        engines = db.engines
        engine = engines[None]
        connection = engine.connect()
        transaction = connection.begin()
        engines[None] = connection  # Flask-SQLAlchemy binds sessions to this
        db.session.remove()
        try:
            yield
        finally:
            db.session.remove()
            engines[None] = engine
            if transaction.is_active:
                transaction.rollback()
            connection.close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def factory(app):
    return Factory()


class AuthActions:
    def __init__(self, client):
        self.client = client

    def login(self, email, password=Factory.PASSWORD, **extra):
        return self.client.post(
            "/login", data={"email": email, "password": password, **extra}
        )

    def logout(self):
        return self.client.post("/logout")


@pytest.fixture
def auth(client):
    return AuthActions(client)


@pytest.fixture
def login_as(client, auth):
    """Log the test client in as ``user``; returns the client."""

    def _login(user):
        response = auth.login(user.email)
        assert response.status_code == 302, response.get_data(as_text=True)
        return client

    return _login


@pytest.fixture
def count_queries(app):
    """Count SQL statements run inside a ``with`` block."""

    class Counter:
        def __init__(self):
            self.n = 0

        def __enter__(self):
            event.listen(db.engine, "before_cursor_execute", self._tick)
            return self

        def __exit__(self, *exc):
            event.remove(db.engine, "before_cursor_execute", self._tick)

        def _tick(self, *args, **kwargs):
            self.n += 1

    return Counter


def pytest_report_header(config):
    url = os.environ.get("TEST_DATABASE_URL") or "sqlite:// (in memory)"
    return f"database: {url}"


@pytest.fixture
def empty_database_url(tmp_path):
    """A URL of a brand-new empty database of the kind the suite runs on."""
    base = os.environ.get("TEST_DATABASE_URL")
    if not base or not base.startswith("postgresql"):
        yield f"sqlite:///{tmp_path / 'scratch.sqlite3'}"
        return
    url = make_url(base.replace("postgresql://", "postgresql+psycopg://", 1))
    name = f"orbit_scratch_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
