import pytest

from org.demo import DEMO_ADMIN, DEMO_MEMBER, DEMO_PASSWORD
from tests.browser.conftest import login, screenshot

pytestmark = pytest.mark.browser


def test_admin_logs_in_switches_to_chinese_and_logs_out(page):
    login(page, DEMO_ADMIN, DEMO_PASSWORD)
    nav = page.get_by_role("navigation", name="Main")
    assert nav.get_by_role("link", name="People").is_visible()

    page.get_by_test_id("switch-language").click()
    nav = page.get_by_role("navigation", name="主导航")
    assert nav.get_by_role("link", name="人员").is_visible()
    assert nav.get_by_role("link", name="团队").is_visible()
    assert nav.get_by_role("link", name="供应商").is_visible()
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    screenshot(page, "home-zh")

    nav.get_by_role("link", name="人员").click()
    assert page.get_by_role("heading", name="人员").is_visible()
    screenshot(page, "people-zh")

    page.get_by_role("button", name="退出登录").click()
    assert page.get_by_role("heading", name="登录").is_visible()
    # Logged out for real: a protected page sends us back to the login form.
    page.goto("/people")
    assert "/login" in page.url


def test_member_on_a_phone_sees_chinese_from_the_browser_language(phone_page):
    page = phone_page
    page.goto("/login")
    assert page.get_by_role("heading", name="登录").is_visible()
    login(page, DEMO_MEMBER, DEMO_PASSWORD)
    assert page.get_by_role("heading", name="欢迎").count() + page.locator("h1").count() >= 1
    # Members have no admin navigation.
    assert page.get_by_role("link", name="人员").count() == 0
    screenshot(page, "member-phone-zh")
