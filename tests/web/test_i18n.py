"""Which language a page is in: the person's own setting, else the switch
(remembered in the session), else the browser's Accept-Language.

The Chinese strings below are the ones the zh_CN catalogue uses; tests that
look for them fail until ``translations/zh_CN`` exists and is compiled.
"""

from __future__ import annotations

import pytest

from core.extensions import db
from tests.factories import Factory
from tests.web.apps import isolated_requests
from tests.web.page import visible_text

ZH = {"Log in": "登录", "People": "人员", "Teams": "团队", "Vendors": "供应商",
      "Log out": "退出登录", "Password": "密码", "Home": "首页"}
ZH_ACCEPT = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"}
EN_ACCEPT = {"Accept-Language": "en-GB,en;q=0.9"}


@pytest.fixture(autouse=True)
def _isolated_requests(app):
    with isolated_requests(app):
        yield


def html_lang(response) -> str:
    html = response.get_data(as_text=True)
    start = html.index("<html lang=\"") + len("<html lang=\"")
    return html[start:html.index('"', start)]


def login(client, user):
    response = client.post("/login", data={"email": user.email, "password": Factory.PASSWORD})
    assert response.status_code == 302
    return client


def set_session_locale(client, code):
    with client.session_transaction() as session:
        session["locale"] = code


# ----------------------------------------------------------------- Accept-Language


@pytest.mark.parametrize("header", ["zh-CN", "zh-CN,zh;q=0.9,en;q=0.5", "zh", "zh-Hans-CN",
                                    "zh-Hans"])
def test_chinese_browser_gets_a_chinese_page(client, header):
    response = client.get("/login", headers={"Accept-Language": header})

    assert html_lang(response) == "zh-CN"


def test_chinese_browser_sees_chinese_text(client):
    response = client.get("/login", headers=ZH_ACCEPT)

    assert ZH["Log in"] in visible_text(response)
    assert "Log in" not in visible_text(response)


@pytest.mark.parametrize("header", ["en-GB,en;q=0.9", "fr-FR,fr;q=0.9", "", "de, ja"])
def test_other_browsers_get_english(client, header):
    response = client.get("/login", headers={"Accept-Language": header})

    assert html_lang(response) == "en"
    assert "Log in" in visible_text(response)


def test_navigation_is_in_chinese_for_a_chinese_admin(client, factory):
    admin = factory.admin(locale="zh_CN")
    login(client, admin)

    text = visible_text(client.get("/"))

    for english in ("Home", "People", "Teams", "Vendors", "Password", "Log out"):
        assert ZH[english] in text, english


# ----------------------------------------------------------------- order of preference


def test_session_switch_wins_over_accept_language(client):
    set_session_locale(client, "en")
    assert html_lang(client.get("/login", headers=ZH_ACCEPT)) == "en"

    set_session_locale(client, "zh_CN")
    assert html_lang(client.get("/login", headers=EN_ACCEPT)) == "zh-CN"


def test_persons_own_setting_wins_over_session_and_accept_language(client, factory):
    user = factory.user(locale="en")
    login(client, user)
    set_session_locale(client, "zh_CN")

    assert html_lang(client.get("/", headers=ZH_ACCEPT)) == "en"

    user.locale = "zh_CN"
    db.session.flush()
    set_session_locale(client, "en")
    assert html_lang(client.get("/", headers=EN_ACCEPT)) == "zh-CN"


def test_person_without_a_setting_follows_the_session_then_the_browser(client, factory):
    user = factory.user(locale=None)
    login(client, user)

    assert html_lang(client.get("/", headers=ZH_ACCEPT)) == "zh-CN"
    set_session_locale(client, "en")
    assert html_lang(client.get("/", headers=ZH_ACCEPT)) == "en"


def test_logging_in_switches_to_the_persons_language(client, factory):
    user = factory.user(locale="zh_CN")

    assert html_lang(client.get("/login", headers=EN_ACCEPT)) == "en"
    login(client, user)
    assert html_lang(client.get("/", headers=EN_ACCEPT)) == "zh-CN"


# ----------------------------------------------------------------- the switch


def test_switch_remembers_the_language_in_the_session(client):
    response = client.post("/locale/zh_CN", data={"next": "/login"})

    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    with client.session_transaction() as session:
        assert session["locale"] == "zh_CN"
    assert html_lang(client.get("/login", headers=EN_ACCEPT)) == "zh-CN"


def test_switch_shows_chinese_text_afterwards(client):
    client.post("/locale/zh_CN", data={"next": "/login"})

    assert ZH["Log in"] in visible_text(client.get("/login", headers=EN_ACCEPT))


def test_switch_saves_the_language_on_the_logged_in_person(client, factory):
    user = factory.user(locale=None)
    login(client, user)

    client.post("/locale/zh_CN", data={"next": "/"})

    db.session.refresh(user)
    assert user.locale == "zh_CN"
    client.post("/logout")
    fresh = client.application.test_client()
    login(fresh, user)
    assert html_lang(fresh.get("/", headers=EN_ACCEPT)) == "zh-CN"


def test_switch_back_to_english_overrides_a_chinese_setting(client, factory):
    user = factory.user(locale="zh_CN")
    login(client, user)

    client.post("/locale/en", data={"next": "/"})

    db.session.refresh(user)
    assert user.locale == "en"
    assert html_lang(client.get("/", headers=ZH_ACCEPT)) == "en"


@pytest.mark.parametrize("code", ["xx", "fr", "zh-CN", "ZH_cn", "en_US", "..%2Fetc"])
def test_unsupported_language_code_is_ignored(client, factory, code):
    user = factory.user(locale="en")
    login(client, user)
    set_session_locale(client, "en")

    response = client.post(f"/locale/{code}", data={"next": "/"})

    assert response.status_code in (302, 404)
    with client.session_transaction() as session:
        assert session["locale"] == "en"
    db.session.refresh(user)
    assert user.locale == "en"


@pytest.mark.parametrize(
    "next_url",
    ["https://evil.example", "//evil.example", "/\\evil.example", "https:evil.example",
     "javascript:alert(1)"],
)
def test_switch_does_not_redirect_to_another_site(client, next_url):
    response = client.post("/locale/zh_CN", data={"next": next_url})

    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_switch_returns_to_the_page_with_its_query(client, factory):
    login(client, factory.admin())

    response = client.post("/locale/zh_CN", data={"next": "/people?role=manager&page=2"})

    assert response.headers["Location"] == "/people?role=manager&page=2"


def test_switch_by_get_is_refused(client):
    response = client.get("/locale/zh_CN")

    assert response.status_code == 405
    with client.session_transaction() as session:
        assert "locale" not in session


def test_switch_button_offers_the_other_language(client):
    english = client.get("/login", headers=EN_ACCEPT).get_data(as_text=True)
    chinese = client.get("/login", headers=ZH_ACCEPT).get_data(as_text=True)

    assert 'action="/locale/zh_CN"' in english and ">中文</button>" in english
    assert 'action="/locale/en"' in chinese and ">English</button>" in chinese


# ----------------------------------------------------------------- formats


def test_dates_follow_the_locale(app):
    from datetime import date

    from flask_babel import format_date, refresh

    with app.test_request_context(headers=ZH_ACCEPT):
        refresh()  # the test's app context is shared: forget the locale of earlier requests
        assert format_date(date(2026, 3, 5), "long") == "2026年3月5日"
    with app.test_request_context(headers=EN_ACCEPT):
        refresh()
        assert format_date(date(2026, 3, 5), "long") == "March 5, 2026"
