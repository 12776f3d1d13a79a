"""Survey emails: template checks, escaping, the deadline in the recipient's language,
the email templates page, the SMTP backend and the development outbox."""

from __future__ import annotations

import smtplib
from datetime import UTC, datetime

import pytest

from core.extensions import db
from surveys import invitations, mail
from tests.surveys import test_invitations as shared
from tests.surveys.test_invitations import invite, personal_campaign
from tests.web.page import field_error, visible_text

# Fixtures shared with the invitation tests.
base_url = shared.base_url
sent = shared.sent

HOSTILE_NAME = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'


def _render(template=None, *, name="Li Na", language="en", closes_at=None):
    return mail.render(
        template or mail.DEFAULT_TEMPLATES["invitation"][language],
        language=language, name=name, campaign_name="Q3 <b>survey</b>",
        link="https://survey.example.com/i/abc", unsubscribe_link="https://survey.example.com/u/x",
        closes_at=closes_at,
    )


# ----------------------------------------------------------------- templates


@pytest.mark.parametrize("body, message", [
    ("Hello {nmae}, {link}", "Unknown placeholder {nmae}"),
    ("Hello {name.__class__} {link}", "Unknown placeholder {name.__class__}"),
    ("Hello {} {link}", "Unknown placeholder {}"),
    ("Hello {name!r} {link}", "Unknown placeholder {name!r}"),
    ("Hello {name:>40} {link}", "Unknown placeholder {name:>40}"),
    ("Hello {name}, answer soon", "The body must contain {link}"),
    ("Hello {name, {link}", "has no partner"),
])
def test_templates_with_unknown_placeholders_or_no_link_are_refused(body, message):
    problems = mail.check_template("Survey", body)
    assert any(message in str(m) for m in problems["body"]), problems


def test_a_good_template_passes_and_braces_can_be_written():
    assert mail.check_template("{campaign}", "Hi {name} {{not a field}}: {link}") == {}
    rendered = _render({"subject": "{campaign}", "body": "Hi {name} {{x}}: {link}"})
    assert "Hi Li Na {x}: https://survey.example.com/i/abc" in rendered.text
    assert mail.check_template("Line\nbreak", "{link}")["subject"]
    assert mail.check_template("Click {link}", "{link}")["subject"]


def test_every_default_template_is_valid_and_bilingual():
    for kind in mail.KINDS:
        for language in mail.LANGUAGES:
            template = mail.DEFAULT_TEMPLATES[kind][language]
            assert mail.check_template(template["subject"], template["body"]) == {}


def test_hostile_names_are_escaped_in_the_html_part(app):
    with app.app_context():
        rendered = _render(name=HOSTILE_NAME + "\r\nBcc: evil@example.com")
    assert "<script>" not in rendered.html and "<img" not in rendered.html
    assert "&lt;script&gt;" in rendered.html
    assert "&#34;&gt;&lt;img src=x onerror=alert(2)&gt;" in rendered.html
    assert "Q3 &lt;b&gt;survey&lt;/b&gt;" in rendered.html
    assert '<a href="https://survey.example.com/i/abc">' in rendered.html
    assert HOSTILE_NAME in rendered.text  # plain text is plain


def test_the_message_has_text_html_and_unsubscribe_headers(app):
    with app.test_request_context():
        rendered = _render(name=HOSTILE_NAME + "\r\nBcc: evil@example.com")
        message = mail.build_message(
            rendered, to_address="li@example.com", to_name=HOSTILE_NAME + "\r\nBcc: x@y.z",
            unsubscribe_link="https://survey.example.com/u/x",
        )
    raw = message.as_bytes().decode()
    assert "\nBcc:" not in raw
    assert message["List-Unsubscribe"] == "<https://survey.example.com/u/x>"
    text, html = mail.text_and_html(message)
    assert "https://survey.example.com/i/abc" in text
    assert "<script>" not in html


def test_the_deadline_is_written_in_the_recipients_language(app):
    closes = datetime(2030, 1, 5, 9, 30, tzinfo=UTC)
    with app.app_context():
        assert "2030年1月5日" in _render(language="zh_CN", closes_at=closes).text
        assert "January 5, 2030" in _render(language="en", closes_at=closes).text
        assert "as soon as you can" in _render(language="en").text


def test_a_custom_template_without_an_unsubscribe_link_gets_one(app):
    with app.app_context():
        rendered = _render({"subject": "S", "body": "Go: {link}"}, language="zh_CN")
    assert rendered.text.endswith("如不希望再收到问卷邮件，请点击：https://survey.example.com/u/x")


# ----------------------------------------------------------------- the templates page


def test_admins_edit_preview_and_reset_a_template(factory, login_as, sent, base_url):
    campaign, admin = personal_campaign(factory)
    client = login_as(admin)
    url = f"/campaigns/{campaign.id}/emails?kind=reminder&language=zh_CN"
    page = client.get(url)
    assert page.status_code == 200 and "提醒：{campaign}" in page.get_data(as_text=True)

    refused = client.post(url, data={"subject": "提醒", "body": "请填写 {nmae}", "save": "1"})
    assert refused.status_code == 422
    assert "Unknown placeholder {nmae}" in field_error(refused, "body")
    assert "must contain {link}" in field_error(refused, "body")
    assert campaign.email_templates is None

    preview = client.post(url, data={"subject": "提醒：{campaign}",
                                     "body": "{name}，请填写：{link}", "preview": "1"})
    assert preview.status_code == 200
    assert "李娜，请填写：" in preview.get_data(as_text=True)
    assert campaign.email_templates is None  # a preview saves nothing

    saved = client.post(url, data={"subject": "提醒：{campaign}",
                                   "body": "{name}，请填写：{link}", "save": "1"})
    assert saved.status_code == 303
    db.session.refresh(campaign)
    assert campaign.email_templates["reminder"]["zh_CN"]["body"] == "{name}，请填写：{link}"

    [_person] = invite(admin, campaign, "a@example.com", name="王伟", locale="zh_CN")
    invitations.send_invitations(admin, campaign)
    sent.clear()
    invitations.send_reminders(admin, campaign)
    text = sent[0].get_body(("plain",)).get_content()
    assert "王伟，请填写：https://survey.example.com/i/" in text

    client.post(f"/campaigns/{campaign.id}/emails/reset",
                data={"kind": "reminder", "language": "zh_CN"})
    db.session.refresh(campaign)
    assert campaign.email_templates is None


def test_a_hostile_campaign_name_is_escaped_in_the_preview(factory, login_as):
    campaign, admin = personal_campaign(factory)
    campaign.name = HOSTILE_NAME
    db.session.flush()
    page = login_as(admin).get(f"/campaigns/{campaign.id}/emails")
    html = page.get_data(as_text=True)
    assert "<script>alert(1)" not in html
    assert 'sandbox=""' in html  # the HTML part is shown in a sandboxed frame


# ----------------------------------------------------------------- SMTP


class FakeSMTP:
    instances: list[FakeSMTP] = []

    def __init__(self, host, port, timeout=None):
        self.host, self.port, self.timeout = host, port, timeout
        self.calls: list = []
        self.sent: list = []
        FakeSMTP.instances.append(self)

    def starttls(self, context=None):
        self.calls.append("starttls")

    def login(self, user, password):
        self.calls.append(("login", user, password))

    def send_message(self, message):
        if message["To"].addresses[0].addr_spec == "unknown@example.com":
            raise smtplib.SMTPRecipientsRefused({"unknown@example.com": (550, b"no such user")})
        self.sent.append(message)

    def quit(self):
        self.calls.append("quit")


def test_smtp_sends_a_batch_over_one_authenticated_tls_connection(app, factory, base_url,
                                                                  monkeypatch):
    FakeSMTP.instances = []
    monkeypatch.setattr(smtplib, "SMTP", FakeSMTP)
    for key, value in {"MAIL_BACKEND": "smtp", "MAIL_SERVER": "smtp.example.com",
                       "MAIL_PORT": 587, "MAIL_USE_TLS": True, "MAIL_USERNAME": "orbit",
                       "MAIL_PASSWORD": "pw", "MAIL_TIMEOUT_SECONDS": 7}.items():
        monkeypatch.setitem(app.config, key, value)
    campaign, admin = personal_campaign(factory)
    people = invite(admin, campaign, "a@example.com", "b@example.com", "unknown@example.com")
    invitations.send_invitations(admin, campaign)
    [connection] = FakeSMTP.instances
    assert (connection.host, connection.port, connection.timeout) == ("smtp.example.com", 587, 7)
    assert connection.calls == ["starttls", ("login", "orbit", "pw"), "quit"]
    assert len(connection.sent) == 2
    assert [p.send_status for p in people] == ["sent", "sent", "failed"]
    assert "550" in people[2].last_error


def test_an_unreachable_smtp_server_is_a_temporary_failure(app, monkeypatch):
    def refuse(*args, **kwargs):
        raise ConnectionRefusedError("connection refused")

    monkeypatch.setattr(smtplib, "SMTP", refuse)
    monkeypatch.setitem(app.config, "MAIL_BACKEND", "smtp")
    with pytest.raises(mail.MailError) as caught, mail.connection() as connection:
        connection.send(mail.EmailMessage())
    assert not isinstance(caught.value, mail.PermanentMailError)
    assert "cannot connect" in str(caught.value)


# ----------------------------------------------------------------- the outbox


@pytest.fixture
def outbox(app, tmp_path, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_BACKEND", "outbox")
    monkeypatch.setitem(app.config, "MAIL_OUTBOX_DIR", str(tmp_path / "outbox"))
    return tmp_path / "outbox"


def test_the_outbox_keeps_emails_that_admins_list_and_read(factory, login_as, outbox,
                                                          base_url):
    campaign, admin = personal_campaign(factory)
    [person] = invite(admin, campaign, "li@example.com", name=HOSTILE_NAME)
    invitations.send_invitations(admin, campaign)
    [file] = list(outbox.glob("*.eml"))
    client = login_as(admin)
    home = client.get("/")
    assert 'href="/admin/outbox"' in home.get_data(as_text=True)  # the nav link
    listing = client.get("/admin/outbox")
    text = visible_text(listing)
    assert "li@example.com" in text and "Your invitation: Staff survey" in text
    message = client.get(f"/admin/outbox/{file.name}")
    html = message.get_data(as_text=True)
    assert message.status_code == 200
    assert f"/i/{invitations.link_token(person)}" in html
    assert "<script>alert(1)" not in html and "<img src=x" not in html
    assert 'sandbox=""' in html
    assert "List-Unsubscribe" in html
    assert client.get("/admin/outbox/../secret_key").status_code == 404
    assert client.get("/admin/outbox/20300101T000000000000-0123456789ab.eml").status_code == 404


def test_the_outbox_is_for_admins_only(factory, login_as, outbox):
    client = login_as(factory.user())
    assert client.get("/admin/outbox").status_code == 403
    home = client.get("/").get_data(as_text=True)
    assert "/admin/outbox" not in home


def test_no_outbox_link_when_emails_are_really_sent(app, factory, login_as, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_BACKEND", "smtp")
    home = login_as(factory.admin()).get("/").get_data(as_text=True)
    assert "/admin/outbox" not in home
