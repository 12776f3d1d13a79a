"""Logging in and out, remember me, passwords and the login rate limit."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest

from config import ProductionConfig
from core.extensions import db
from org import services
from tests.factories import Factory
from tests.web.apps import isolated_requests, sibling_app
from tests.web.page import field_error, flashes, visible_text

WRONG_LOGIN = "The email or password is not correct."
NEW_PASSWORD = "a much better passphrase"


@pytest.fixture(autouse=True)
def _isolated_requests(app):
    with isolated_requests(app):
        yield


def post_login(client, email, password=Factory.PASSWORD, **extra):
    return client.post("/login", data={"email": email, "password": password, **extra})


def logged_in_client(app, user, password=Factory.PASSWORD, **extra):
    client = app.test_client()
    response = post_login(client, user.email, password, **extra)
    assert response.status_code == 302, visible_text(response)
    return client


def is_logged_in(client) -> bool:
    response = client.get("/")
    if response.status_code == 302:
        assert urlsplit(response.headers["Location"]).path == "/login"
        return False
    assert response.status_code == 200
    return True


def lands_on(response) -> str:
    assert response.status_code in (301, 302, 303), response.status_code
    location = urlsplit(response.headers["Location"])
    assert location.netloc in ("", "localhost"), response.headers["Location"]
    return location.path


def temporary_password_on(response) -> str:
    match = re.search(
        r'data-testid="temporary-password"><code>([^<]+)</code>', response.get_data(as_text=True)
    )
    assert match, "no temporary password on the page"
    return match.group(1)


# ----------------------------------------------------------------- logging in


def test_person_logs_in_with_email_and_password_and_sees_home(client, factory):
    user = factory.user(display_name="Mei Chen")

    response = post_login(client, user.email)

    assert lands_on(response) == "/"
    assert "Welcome, Mei Chen" in visible_text(client.get("/"))


def test_email_is_matched_case_insensitively_at_login(client, factory):
    factory.user(email="mei.chen@example.com")

    assert lands_on(post_login(client, "  Mei.Chen@EXAMPLE.com ")) == "/"


def test_unknown_email_and_wrong_password_get_the_same_page(app, factory):
    user = factory.user(email="known@example.com")

    unknown = post_login(app.test_client(), "nobody@example.com")
    wrong = post_login(app.test_client(), user.email, "not the password")

    assert unknown.status_code == wrong.status_code == 200
    assert WRONG_LOGIN in flashes(unknown)
    assert visible_text(unknown) == visible_text(wrong)


def test_deactivated_person_cannot_log_in_and_gets_the_same_message(app, factory):
    user = factory.user(active=False)

    refused = post_login(app.test_client(), user.email)
    unknown = post_login(app.test_client(), "nobody@example.com")

    assert refused.status_code == 200
    assert visible_text(refused) == visible_text(unknown)


def test_session_of_person_deactivated_later_ends_on_next_request(app, factory):
    member = factory.user()
    admin = factory.admin()
    member_client = logged_in_client(app, member, remember="y")
    admin_client = logged_in_client(app, admin)

    admin_client.post(f"/people/{member.id}/active", data={"active": "0"})

    assert not is_logged_in(member_client)
    member_client.delete_cookie("session")  # browser restarted: only "remember me" is left
    assert not is_logged_in(member_client)


def test_remember_me_keeps_the_person_logged_in_after_the_browser_closes(app, factory):
    user = factory.user()
    client = logged_in_client(app, user, remember="y")

    cookie = client.get_cookie("remember_token")
    assert cookie is not None
    assert cookie.http_only
    assert cookie.expires > datetime.now(UTC) + timedelta(days=29)

    client.delete_cookie("session")
    assert is_logged_in(client)


def test_login_cookies_are_hidden_from_scripts_and_other_sites(app, factory):
    response = post_login(app.test_client(), factory.user().email, remember="y")

    cookies = response.headers.getlist("Set-Cookie")
    for name in ("session=", "remember_token="):
        (cookie,) = [c for c in cookies if c.startswith(name)]
        assert "HttpOnly" in cookie
        assert "SameSite=Lax" in cookie


def test_without_remember_me_closing_the_browser_logs_out(app, factory):
    user = factory.user()
    client = logged_in_client(app, user)

    assert client.get_cookie("remember_token") is None
    client.delete_cookie("session")
    assert not is_logged_in(client)


def test_logout_by_get_is_refused_and_keeps_the_session(app, factory):
    client = logged_in_client(app, factory.user())

    response = client.get("/logout")

    assert response.status_code == 405
    assert "This action is not allowed here." in visible_text(response)
    assert is_logged_in(client)


def test_logout_ends_the_session_and_forgets_remember_me(app, factory):
    client = logged_in_client(app, factory.user(), remember="y")

    response = client.post("/logout")

    assert lands_on(response) == "/login"
    assert not is_logged_in(client)
    client.delete_cookie("session")
    assert not is_logged_in(client)


@pytest.mark.parametrize(
    "next_url",
    [
        "https://evil.example",
        "//evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "https:evil.example",
        "/\t/evil.example",
        "javascript:alert(1)",
    ],
)
def test_login_does_not_redirect_to_another_site(client, factory, next_url):
    user = factory.user()

    response = client.post(
        "/login", query_string={"next": next_url},
        data={"email": user.email, "password": Factory.PASSWORD},
    )

    assert lands_on(response) == "/"


def test_login_returns_to_the_page_asked_for(client, factory):
    admin = factory.admin()

    response = client.post(
        "/login", query_string={"next": "/people?role=manager"},
        data={"email": admin.email, "password": Factory.PASSWORD},
    )

    assert response.headers["Location"] == "/people?role=manager"


# ----------------------------------------------------------------- changing one's password


@pytest.mark.parametrize(
    ("current", "new", "confirm", "field", "message"),
    [
        ("wrong password!", NEW_PASSWORD, NEW_PASSWORD, "current_password",
         "Your current password is not correct."),
        (Factory.PASSWORD, "short1", "short1", "new_password", "between 10 and 256 characters"),
        (Factory.PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "x", "confirm",
         "The two passwords are not the same."),
        (Factory.PASSWORD, Factory.PASSWORD, Factory.PASSWORD, "new_password",
         "Choose a password different from the current one."),
        (Factory.PASSWORD, "aaaaaaaaaaaa", "aaaaaaaaaaaa", "new_password",
         "This password is too easy to guess."),
    ],
    ids=["wrong-current", "too-short", "mismatch", "same-as-current", "too-simple"],
)
def test_refused_password_change_says_why_and_keeps_the_password(
    app, factory, current, new, confirm, field, message
):
    user = factory.user()
    client = logged_in_client(app, user)
    other_device = logged_in_client(app, user)
    hash_before, epoch_before = user.password_hash, user.login_epoch

    response = client.post(
        "/account/password",
        data={"current_password": current, "new_password": new, "confirm": confirm},
    )

    assert response.status_code == 200
    assert message in (field_error(response, field) or "")
    db.session.refresh(user)
    assert (user.password_hash, user.login_epoch) == (hash_before, epoch_before)
    assert is_logged_in(other_device)


def test_password_change_logs_out_other_devices_and_keeps_this_one(app, factory):
    user = factory.user()
    other_device = logged_in_client(app, user)
    client = logged_in_client(app, user)

    response = client.post(
        "/account/password",
        data={
            "current_password": Factory.PASSWORD,
            "new_password": NEW_PASSWORD,
            "confirm": NEW_PASSWORD,
        },
    )

    assert lands_on(response) == "/"
    assert "Your password has been changed." in flashes(client.get("/"))
    assert not is_logged_in(other_device)
    assert WRONG_LOGIN in flashes(post_login(app.test_client(), user.email))
    assert lands_on(post_login(app.test_client(), user.email, NEW_PASSWORD)) == "/"


def test_remember_me_survives_changing_ones_own_password(app, factory):
    user = factory.user()
    client = logged_in_client(app, user, remember="y")

    client.post(
        "/account/password",
        data={"current_password": Factory.PASSWORD, "new_password": NEW_PASSWORD,
              "confirm": NEW_PASSWORD},
    )
    client.delete_cookie("session")  # the browser restarts the next morning

    assert is_logged_in(client)


# ----------------------------------------------------------------- admin password reset


def test_admin_reset_shows_the_temporary_password_once(app, factory):
    member = factory.user()
    admin_client = logged_in_client(app, factory.admin())

    response = admin_client.post(f"/people/{member.id}/reset-password")

    assert response.status_code == 200
    temporary = temporary_password_on(response)
    assert len(temporary) >= 12
    assert temporary not in admin_client.get(f"/people/{member.id}").get_data(as_text=True)
    assert admin_client.get(f"/people/{member.id}/reset-password").status_code == 405


def test_after_a_reset_only_the_temporary_password_works_and_must_be_changed(app, factory):
    member = factory.user()
    before_reset = logged_in_client(app, member)
    admin_client = logged_in_client(app, factory.admin())
    temporary = temporary_password_on(
        admin_client.post(f"/people/{member.id}/reset-password")
    )

    assert not is_logged_in(before_reset)
    assert WRONG_LOGIN in flashes(post_login(app.test_client(), member.email))

    client = app.test_client()
    assert lands_on(post_login(client, member.email, temporary)) == "/account/password"
    for path in ("/", f"/people/{member.id}", "/people", "/teams", "/no-such-page"):
        assert lands_on(client.get(path)) == "/account/password", path
    page = client.get("/account/password")
    assert "You are using a temporary password." in visible_text(page)

    response = client.post(
        "/account/password",
        data={"current_password": temporary, "new_password": NEW_PASSWORD,
              "confirm": NEW_PASSWORD},
    )

    assert lands_on(response) == "/"
    assert is_logged_in(client)
    assert client.get(f"/people/{member.id}").status_code == 200


def test_logout_stays_possible_while_a_password_change_is_due(app, factory):
    member = factory.user(must_change_password=True)
    client = logged_in_client(app, member)

    assert lands_on(client.post("/logout")) == "/login"
    assert not is_logged_in(client)


# ----------------------------------------------------------------- password storage


def test_password_hashes_are_argon2id_and_never_the_password(app, factory):
    user = factory.user()
    client = logged_in_client(app, user)
    client.post(
        "/account/password",
        data={"current_password": Factory.PASSWORD, "new_password": NEW_PASSWORD,
              "confirm": NEW_PASSWORD},
    )
    db.session.refresh(user)

    assert user.password_hash.startswith("$argon2id$")
    assert NEW_PASSWORD not in user.password_hash
    assert Factory.PASSWORD not in user.password_hash


def test_same_password_gets_a_different_hash_each_time(factory):
    first, second = factory.user(), factory.user()

    assert first.password_hash != second.password_hash


def test_production_password_hashing_is_memory_hard():
    # OWASP minimum for argon2id: 19 MiB memory, 2 passes.
    assert ProductionConfig.ARGON2_MEMORY_COST_KIB >= 19 * 1024
    assert ProductionConfig.ARGON2_TIME_COST >= 2


def test_login_upgrades_a_hash_made_with_weaker_parameters(app, factory):
    from argon2 import PasswordHasher

    user = factory.user()
    user.password_hash = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1,
                                        hash_len=16).hash(Factory.PASSWORD)
    weak = user.password_hash
    db.session.flush()

    logged_in_client(app, user)

    db.session.refresh(user)
    assert user.password_hash != weak
    assert services.authenticate(user.email, Factory.PASSWORD) is not None


# ----------------------------------------------------------------- login rate limit


@pytest.fixture
def rate_limited_app(app):
    with sibling_app(
        app, RATELIMIT_ENABLED=True, LOGIN_RATE_LIMIT="3 per minute"
    ) as limited:
        yield limited


def test_fourth_login_attempt_in_a_minute_gets_a_readable_429(rate_limited_app, factory):
    user = factory.user()
    client = rate_limited_app.test_client()

    for _ in range(3):
        assert post_login(client, user.email, "wrong password!").status_code == 200
    response = post_login(client, user.email)  # even the right password waits

    assert response.status_code == 429
    assert response.mimetype == "text/html"
    assert "Too many attempts. Please wait a minute and try again." in visible_text(response)
    assert int(response.headers["Retry-After"]) > 0
    assert not is_logged_in(client)
    assert client.get("/login").status_code == 200  # reading the form is not limited


def test_attempts_on_one_account_are_limited_across_addresses(app, factory):
    user = factory.user()
    statuses = []
    with sibling_app(app, RATELIMIT_ENABLED=True, LOGIN_RATE_LIMIT="1000 per minute") as limited:
        for n in range(1, 22):
            client = limited.test_client()
            client.environ_base["REMOTE_ADDR"] = f"10.0.0.{n}"
            statuses.append(post_login(client, user.email, "wrong password!").status_code)

    assert statuses[:20] == [200] * 20
    assert statuses[20] == 429


def test_rate_limit_of_one_app_does_not_leak_into_another(app, rate_limited_app, factory):
    """The limiter is a module-level extension: building a second app with rate
    limits on must not switch them on for an app built with them off."""
    user = factory.user()
    client = app.test_client()

    statuses = {post_login(client, user.email, "wrong password!").status_code for _ in range(12)}

    assert statuses == {200}


def test_building_an_app_without_limits_keeps_them_on_for_one_with_limits(
    app, rate_limited_app, factory
):
    user = factory.user()
    with sibling_app(app, RATELIMIT_ENABLED=False):
        client = rate_limited_app.test_client()
        statuses = [post_login(client, user.email, "wrong password!").status_code
                    for _ in range(4)]

    assert statuses == [200, 200, 200, 429]
