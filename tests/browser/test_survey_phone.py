"""A customer answers the customer-satisfaction template on a phone, in Chinese."""

import pytest

from core.extensions import db
from org.models import User
from surveys import services
from tests.browser.conftest import screenshot

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def csat_link(live):
    """An open link to the published customer-satisfaction template."""
    with live.app.app_context():
        admin = db.session.query(User).filter_by(role="admin").first()
        questionnaire = services.create_from_template(admin, "customer-satisfaction")
        services.publish(admin, questionnaire)
        campaign = services.create_campaign(
            admin, questionnaire.latest_published, name="Hotline customers"
        )
        db.session.commit()
        return f"/s/{campaign.public_slug}"


def _choose(page, name, value):
    page.locator(f"input[name='{name}'][value='{value}']").check(force=True)


def test_customer_leaves_after_page_one_comes_back_and_finishes(phone_page, csat_link):
    page = phone_page
    page.goto(csat_link)
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert page.get_by_text("第 1 页，共 2 页").is_visible()
    followup = page.locator("textarea[name='q-csat_followup']")
    assert followup.count() == 0  # the skip rule hides it until CSAT is low
    screenshot(page, "survey-phone-zh-page1")

    # Unhappy customer: the follow-up question appears before moving on.
    _choose(page, "q-csat", "2")
    _choose(page, "q-ces", "3")
    page.get_by_role("button", name="下一页").click()
    assert followup.is_visible()
    followup.fill("等了很久才有人接电话")
    screenshot(page, "survey-phone-zh-followup")
    page.get_by_role("button", name="下一页").click()
    assert page.get_by_text("第 2 页，共 2 页").is_visible()

    # The customer leaves, and later opens the same link on the same phone.
    page.goto("about:blank")
    page.goto(csat_link)
    assert page.get_by_text("第 2 页，共 2 页").is_visible()
    page.get_by_role("button", name="上一页").click()
    assert followup.input_value() == "等了很久才有人接电话"  # nothing was lost
    page.get_by_role("button", name="下一页").click()

    # Submitting without the required NPS answer shows an error at the top.
    page.get_by_role("button", name="提交").click()
    assert page.get_by_role("alert").is_visible()
    screenshot(page, "survey-phone-zh-error")
    _choose(page, "q-nps", "6")
    page.get_by_role("button", name="提交").click()
    assert page.get_by_role("heading", name="谢谢！").is_visible()
    screenshot(page, "survey-phone-zh-thanks")

    # Reloading the thank-you page or opening the link again: still thanks, one answer.
    page.reload()
    assert page.get_by_role("heading", name="谢谢！").is_visible()
    page.goto(csat_link)
    assert page.get_by_role("heading", name="谢谢！").is_visible()


def test_satisfied_customer_never_sees_the_follow_up(phone_page, csat_link):
    page = phone_page
    page.goto(csat_link)
    _choose(page, "q-csat", "5")
    _choose(page, "q-ces", "7")
    page.get_by_role("button", name="下一页").click()
    assert page.get_by_text("第 2 页，共 2 页").is_visible()
    assert page.locator("textarea[name='q-csat_followup']").count() == 0
