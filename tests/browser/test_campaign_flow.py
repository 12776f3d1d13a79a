"""An admin runs a campaign by invitation end to end: creates it from a published
questionnaire, uploads five invitations, sends them, reads one in the outbox, answers
it as the invitee and sees the dashboard move."""

import re

import pytest

from core.extensions import db
from org.models import User
from surveys import services
from tests.browser.conftest import login, screenshot

pytestmark = pytest.mark.browser

INVITEES = """email,name,language,region
wang.fang@example.com,王芳,zh_CN,East
li.lei@example.com,李雷,zh_CN,East
anna.berg@example.com,Anna Berg,en,West
tom.hill@example.com,Tom Hill,en,West
zhao.min@example.com,赵敏,zh_CN,North
"""


@pytest.fixture(scope="module")
def questionnaire_id(live):
    with live.app.app_context():
        admin = db.session.query(User).filter_by(role="admin").first()
        questionnaire = services.create_from_template(admin, "customer-satisfaction")
        services.publish(admin, questionnaire)
        db.session.commit()
        return questionnaire.id


def _stat(page, label: str) -> str:
    figure = page.locator(".stat").filter(has=page.locator("dt", has_text=re.compile(f"^{label}$")))
    return figure.locator("dd").inner_text()


def test_admin_invites_five_people_and_sees_one_answer_arrive(
    browser, live, live_server, page, questionnaire_id, tmp_path
):
    live.app.config["MAIL_BACKEND"] = "outbox"
    login(page, "admin@demo.orbit", "orbit-demo-2026")

    # A campaign by invitation, launched at once.
    page.goto(f"/campaigns/new?questionnaire_id={questionnaire_id}")
    screenshot(page, "campaign-new")
    page.locator("#name").fill("Helpdesk follow-up <b>Q4</b>")
    page.locator("input[name='audience'][value='personal']").check()
    page.get_by_role("button", name="Save and launch").first.click()
    assert page.get_by_role("heading", name="Helpdesk follow-up <b>Q4</b>").is_visible()
    campaign_url = page.url

    # Five invitations from a CSV file: preview, then confirm.
    page.get_by_role("navigation", name="Campaign sections").get_by_role(
        "link", name="Invitations"
    ).click()
    page.get_by_role("link", name="Upload a file").click()
    upload = tmp_path / "invitees.csv"
    upload.write_text(INVITEES, encoding="utf-8-sig")
    page.locator("input[type=file]").set_input_files(str(upload))
    page.get_by_role("button", name="Check the file").click()
    screenshot(page, "campaign-upload-preview")
    page.get_by_test_id("confirm-upload").click()
    assert page.get_by_text("anna.berg@example.com").is_visible()
    page.get_by_test_id("send-invitations").click()

    # The dashboard before anyone answers.
    page.goto(campaign_url.rstrip("/") + "/dashboard")
    assert _stat(page, "Invited").startswith("5")
    assert _stat(page, "Completed").startswith("0")

    # The outbox holds the five emails; one of them carries Anna's personal link.
    page.get_by_role("link", name="Outbox").first.click()
    page.get_by_role("row").filter(has_text="anna.berg@example.com").get_by_role("link").click()
    body = page.get_by_test_id("email-text").inner_text()
    screenshot(page, "campaign-outbox-message")
    link = re.search(r"https?://\S+/i/[A-Za-z0-9_-]+", body).group(0)
    assert link.startswith(live_server)

    # Anna answers on her own browser; the token leaves the address bar.
    context = browser.new_context(base_url=live_server, locale="en-GB")
    invitee = context.new_page()
    invitee.set_default_timeout(10_000)
    invitee.goto(link)
    assert "/i/" not in invitee.url and "/s/" in invitee.url
    invitee.locator("input[name='q-csat'][value='5']").check(force=True)
    invitee.locator("input[name='q-ces'][value='6']").check(force=True)
    invitee.get_by_role("button", name="Next").click()
    invitee.locator("input[name='q-nps'][value='9']").check(force=True)
    invitee.get_by_role("button", name="Submit").click()
    assert invitee.get_by_role("heading", name="Thank you!").is_visible()
    # The link is used up: opening it again shows no survey.
    invitee.goto(link)
    assert invitee.locator("input[name='q-csat']").count() == 0
    context.close()

    # The dashboard moved.
    page.goto(campaign_url.rstrip("/") + "/dashboard")
    assert _stat(page, "Completed").startswith("1")
    assert _stat(page, "Opened").startswith("1")
    screenshot(page, "campaign-dashboard")
    page.get_by_role("navigation", name="Campaign sections").get_by_role(
        "link", name="Results"
    ).click()
    assert page.locator("svg[role=img]").first.is_visible()
    assert "NaN" not in page.content()  # one answer: intervals shown as "—"
    screenshot(page, "campaign-results")
