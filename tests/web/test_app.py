"""The application factory, configuration, security headers, health, error pages,
CSRF and the SQLite connection settings."""

from __future__ import annotations

import json
import stat

import pytest
from sqlalchemy import text

import config
from core import create_app
from core.extensions import db
from core.security import InsecureConfiguration
from tests.factories import Factory
from tests.web.apps import isolated_requests, rate_limiter_restored, sibling_app
from tests.web.page import visible_text

GOOD_KEY = "k3y-" + "x7Qp9" * 10
ENV_VARS = ("SECRET_KEY", "DATABASE_URL", "ORBIT_ENV", "ORBIT_INSTANCE_PATH", "TEST_DATABASE_URL",
            "RATELIMIT_STORAGE_URI", "BABEL_DEFAULT_LOCALE", "SESSION_COOKIE_SECURE", "HSTS",
            "PROXY_FIX_HOPS")


@pytest.fixture(autouse=True)
def _isolated_requests(app):
    with isolated_requests(app):
        yield


@pytest.fixture
def clean_env(monkeypatch):
    """No Orbit settings from the outer environment."""
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture
def build(clean_env, tmp_path):
    """Build an app with its instance folder under ``tmp_path`` (extension state restored)."""

    def _build(config_name, **overrides):
        overrides.setdefault("INSTANCE_PATH", str(tmp_path / "instance"))
        with rate_limiter_restored():
            return create_app(config_name, overrides=overrides)

    return _build


# ----------------------------------------------------------------- secret key


@pytest.mark.parametrize(
    "key", [None, "", "changeme", "dev", "  DEV  ", "secret", "please-change-me", "short-key-1"]
)
def test_production_refuses_to_start_without_a_real_secret_key(build, clean_env, key):
    if key is not None:
        clean_env.setenv("SECRET_KEY", key)

    with pytest.raises(InsecureConfiguration, match="SECRET_KEY"):
        build("production")


def test_production_refuses_a_default_key_given_as_override(build):
    with pytest.raises(InsecureConfiguration):
        build("production", SECRET_KEY="changeme")


def test_production_starts_with_a_long_random_key(build, clean_env):
    clean_env.setenv("SECRET_KEY", GOOD_KEY)

    app = build("production", RATELIMIT_STORAGE_URI="memory://")

    assert app.config["SECRET_KEY"] == GOOD_KEY
    assert app.config["SESSION_COOKIE_SECURE"] and app.config["REMEMBER_COOKIE_SECURE"]
    assert not app.debug and not app.testing


def test_orbit_env_defaults_to_production(build, clean_env):
    with pytest.raises(InsecureConfiguration):
        build(None)


def test_unknown_environment_name_is_refused(build):
    with pytest.raises(RuntimeError, match="ORBIT_ENV"):
        build("staging")


def test_development_generates_a_key_once_and_keeps_it_in_the_instance_folder(build, tmp_path):
    first = build("development")
    second = build("development")

    key_file = tmp_path / "instance" / "secret_key"
    assert key_file.read_text().strip() == first.config["SECRET_KEY"]
    assert second.config["SECRET_KEY"] == first.config["SECRET_KEY"]
    assert len(first.config["SECRET_KEY"]) >= 32
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert first.instance_path == str((tmp_path / "instance").resolve())


def test_instance_folder_can_come_from_the_environment(build, clean_env, tmp_path):
    clean_env.setenv("ORBIT_INSTANCE_PATH", str(tmp_path / "from-env"))

    app = create_app_without_instance_override(build)

    assert app.instance_path == str((tmp_path / "from-env").resolve())
    assert (tmp_path / "from-env" / "secret_key").exists()
    assert app.config["SQLALCHEMY_DATABASE_URI"] == (
        f"sqlite:///{(tmp_path / 'from-env' / 'orbit.sqlite3').resolve()}"
    )


def create_app_without_instance_override(build):
    with rate_limiter_restored():
        return create_app("development")


def test_development_uses_the_key_from_the_environment_when_given(build, clean_env, tmp_path):
    clean_env.setenv("SECRET_KEY", GOOD_KEY)

    app = build("development")

    assert app.config["SECRET_KEY"] == GOOD_KEY
    assert not (tmp_path / "instance" / "secret_key").exists()


# ----------------------------------------------------------------- configuration


def test_environment_is_read_when_the_app_is_built_not_at_import(build, clean_env):
    clean_env.setenv("DATABASE_URL", "postgres://orbit@db.example:5432/orbit")
    clean_env.setenv("BABEL_DEFAULT_LOCALE", "zh_CN")

    app = build("development")

    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://orbit@db.example:5432/orbit"
    assert app.config["BABEL_DEFAULT_LOCALE"] == "zh_CN"

    clean_env.setenv("DATABASE_URL", "sqlite:////tmp/other.sqlite3")
    assert build("development").config["SQLALCHEMY_DATABASE_URI"] == "sqlite:////tmp/other.sqlite3"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:p@h:5432/d", "postgresql+psycopg://u:p@h:5432/d"),
        ("postgresql://u@h/d", "postgresql+psycopg://u@h/d"),
        ("postgresql+psycopg://u@h/d", "postgresql+psycopg://u@h/d"),
        ("sqlite:///x.db", "sqlite:///x.db"),
    ],
)
def test_database_url_is_normalised_to_psycopg(given, expected):
    assert config.normalise_database_url(given) == expected
    assert config.load_config("development", {"DATABASE_URL": given})[
        "SQLALCHEMY_DATABASE_URI"
    ] == expected


def test_flags_from_the_environment(clean_env):
    settings = config.load_config(
        "production", {"SESSION_COOKIE_SECURE": "false", "HSTS": "0", "PROXY_FIX_HOPS": "2"}
    )

    assert settings["SESSION_COOKIE_SECURE"] is False
    assert settings["REMEMBER_COOKIE_SECURE"] is False
    assert settings["HSTS"] is False
    assert settings["PROXY_FIX_HOPS"] == 2


def test_overrides_win_over_the_environment(build, clean_env):
    clean_env.setenv("DATABASE_URL", "postgres://ignored@h/d")

    app = build("development", SQLALCHEMY_DATABASE_URI="sqlite://", PAGE_SIZE=7)

    assert app.config["SQLALCHEMY_DATABASE_URI"] == "sqlite://"
    assert app.config["PAGE_SIZE"] == 7


def test_production_keeps_rate_limits_in_a_shared_store(clean_env):
    settings = config.load_config("production", {"SECRET_KEY": GOOD_KEY})

    assert settings["RATELIMIT_STORAGE_URI"].startswith("redis://")
    assert config.load_config(
        "production", {"RATELIMIT_STORAGE_URI": "redis://cache:6379/3"}
    )["RATELIMIT_STORAGE_URI"] == "redis://cache:6379/3"


@pytest.mark.parametrize(("hops", "trusted"), [(1, True), (0, False)])
def test_forwarded_https_is_trusted_only_behind_a_configured_proxy(app, hops, trusted):
    with sibling_app(app, PROXY_FIX_HOPS=hops, HSTS=True) as proxied:
        response = proxied.test_client().get("/login", headers={"X-Forwarded-Proto": "https"})

    assert ("Strict-Transport-Security" in response.headers) is trusted


# ----------------------------------------------------------------- security headers


def _assert_security_headers(response):
    headers = response.headers
    csp = headers.get("Content-Security-Policy", "")
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "object-src 'none'" in csp
    assert "unsafe-inline" not in csp
    assert headers.get("X-Frame-Options") == "DENY"
    assert headers.get("X-Content-Type-Options") == "nosniff"
    assert headers.get("Referrer-Policy") in {"same-origin", "strict-origin-when-cross-origin",
                                              "no-referrer"}


def test_every_html_page_carries_the_security_headers(app, client, factory):
    admin = factory.admin()
    anonymous = [client.get("/login"), client.get("/no-such-page"), client.get("/logout"),
                 client.get("/people")]
    client.post("/login", data={"email": admin.email, "password": Factory.PASSWORD})
    logged_in = [client.get(path) for path in ("/", "/people", "/teams", "/vendors",
                                               f"/people/{admin.id}", "/people/new",
                                               "/account/password", "/people/999999")]

    for response in anonymous + logged_in:
        if response.mimetype == "text/html":
            _assert_security_headers(response)
    assert all(r.headers.get("Cache-Control") == "no-store" for r in logged_in)


def test_hsts_only_in_production_over_https(build, clean_env):
    clean_env.setenv("SECRET_KEY", GOOD_KEY)
    production = build("production", RATELIMIT_STORAGE_URI="memory://")

    assert "Strict-Transport-Security" in production.test_client().get(
        "/healthz", base_url="https://orbit.example"
    ).headers
    assert "Strict-Transport-Security" not in production.test_client().get(
        "/healthz", base_url="http://orbit.example"
    ).headers


# ----------------------------------------------------------------- health


def test_healthz_says_ok_when_the_database_answers(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.get_json()["status"] == "ok"


def test_healthz_is_503_when_the_database_is_unreachable(app):
    closed_port = "postgresql+psycopg://orbit@127.0.0.1:1/orbit?connect_timeout=2"
    with rate_limiter_restored():
        broken = create_app("testing", overrides={"SQLALCHEMY_DATABASE_URI": closed_port})

    response = broken.test_client().get("/healthz")

    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "error"
    assert "127.0.0.1" not in json.dumps(body)  # no connection details for the world


def test_healthz_is_not_rate_limited(app):
    with sibling_app(app, RATELIMIT_ENABLED=True, RATELIMIT_DEFAULT="2 per minute") as limited:
        client = limited.test_client()
        statuses = {client.get("/healthz").status_code for _ in range(5)}

    assert statuses == {200}


# ----------------------------------------------------------------- error pages


def test_unknown_page_gets_a_readable_404_page(client):
    response = client.get("/no-such-page")

    assert response.status_code == 404
    assert response.mimetype == "text/html"
    text = visible_text(response)
    assert "Page not found" in text and "There is nothing at this address." in text
    assert "Back to the start page" in text


def test_unknown_api_path_gets_the_json_error_shape(client):
    response = client.get("/api/v1/no-such-thing")

    assert response.status_code == 404
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert body["code"] == 404
    assert body["status"] == "Not Found"
    assert isinstance(body["message"], str) and body["message"]


def test_wrong_method_on_an_api_path_is_json_too(client):
    response = client.delete("/healthz")

    assert response.status_code == 405
    assert response.get_json()["code"] == 405
    assert "GET" in response.headers["Allow"]


# ----------------------------------------------------------------- CSRF


def test_form_posted_without_csrf_token_is_refused_readably_and_changes_nothing(app, factory):
    user = factory.user()
    with sibling_app(app, WTF_CSRF_ENABLED=True) as protected:
        client = protected.test_client()
        response = client.post("/login", data={"email": user.email,
                                               "password": Factory.PASSWORD})
        still_out = client.get("/")

    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert "Your form expired. Please go back, reload the page and try again." in visible_text(
        response
    )
    assert still_out.status_code == 302
    db.session.refresh(user)
    assert user.last_login_at is None


def test_form_posted_with_the_csrf_token_from_the_page_works(app, factory):
    from tests.web.page import main_form

    user = factory.user()
    with sibling_app(app, WTF_CSRF_ENABLED=True) as protected:
        client = protected.test_client()
        form = main_form(client.get("/login"))
        response = client.post("/login", data={**form.values, "email": user.email,
                                               "password": Factory.PASSWORD})
        logout_without_token = client.post("/logout")
        still_in = client.get("/")

    assert form.values["csrf_token"]
    assert response.status_code == 302
    assert logout_without_token.status_code == 400
    assert still_in.status_code == 200


# ----------------------------------------------------------------- SQLite


def _pragma(name):
    return db.session.execute(text(f"PRAGMA {name}")).scalar()


def test_sqlite_file_database_uses_wal_foreign_keys_and_busy_timeout(build, tmp_path):
    app = build("testing", SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'orbit.sqlite3'}",
                SQLITE_BUSY_TIMEOUT_MS=4321)

    with app.app_context():
        try:
            assert _pragma("foreign_keys") == 1
            assert _pragma("journal_mode").lower() == "wal"
            assert _pragma("busy_timeout") == 4321
        finally:
            db.session.remove()
            db.engine.dispose()


def test_each_app_keeps_its_own_sqlite_busy_timeout(build, tmp_path):
    first = build("testing", SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'a.sqlite3'}",
                  SQLITE_BUSY_TIMEOUT_MS=1111)
    build("testing", SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'b.sqlite3'}",
          SQLITE_BUSY_TIMEOUT_MS=2222)

    with first.app_context():
        try:
            assert _pragma("busy_timeout") == 1111
        finally:
            db.session.remove()
            db.engine.dispose()


def test_foreign_keys_are_enforced_on_the_test_database(factory):
    from sqlalchemy.exc import IntegrityError

    user = factory.user()

    with pytest.raises(IntegrityError), db.session.begin_nested():
        user.team_id = 999999
        db.session.flush()
