"""Sending invitations and reminders in the background: batches, what is skipped,
retries and failures, the reminder limit, scheduled reminders, and opt-out."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from core import tasks
from core.database import utcnow
from core.exceptions import ConflictError
from core.extensions import db
from surveys import invitations, mail
from surveys.models import EmailMessage, EmailOptOut, Invitation
from tests.surveys import test_invitations as shared
from tests.surveys.test_invitations import answer_survey, invite, personal_campaign
from tests.web.page import visible_text

# Fixtures shared with the invitation tests.
base_url = shared.base_url
sent = shared.sent


def _recipients(messages) -> list[str]:
    return sorted(str(m["To"].addresses[0].addr_spec) for m in messages)


def _runs(campaign):
    return db.session.scalars(
        select(tasks.TaskRun).where(tasks.TaskRun.campaign_id == campaign.id,
                                    tasks.TaskRun.name == invitations.SEND_JOB)
        .order_by(tasks.TaskRun.id)
    ).all()


def test_invitations_are_sent_in_batches_by_a_background_job(app, factory, sent, base_url,
                                                             monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_BATCH_SIZE", 2)
    campaign, admin = personal_campaign(factory)
    people = invite(admin, campaign, "a@example.com", "b@example.com", "c@example.com")
    assert invitations.send_invitations(admin, campaign) == 3
    runs = _runs(campaign)
    assert [len(r.args["items"]) for r in runs] == [2, 1]
    assert all(r.status == tasks.TaskStatus.SUCCEEDED for r in runs)
    assert _recipients(sent) == ["a@example.com", "b@example.com", "c@example.com"]
    for person in people:
        db.session.refresh(person)
        assert person.send_status == "sent" and person.sent_at is not None
        assert person.send_attempts == 1 and person.last_error is None
    logged = db.session.scalars(select(EmailMessage).order_by(EmailMessage.id)).all()
    assert [(m.kind, m.status) for m in logged] == [("invitation", "sent")] * 3
    # Sending again sends nothing new.
    assert invitations.send_invitations(admin, campaign) == 0
    assert len(sent) == 3


def test_each_email_carries_the_persons_link_and_an_unsubscribe_link(factory, sent, base_url):
    campaign, admin = personal_campaign(factory)
    [person] = invite(admin, campaign, "a@example.com", locale="zh_CN")
    invitations.send_invitations(admin, campaign)
    [message] = sent
    text = message.get_body(("plain",)).get_content()
    assert f"{base_url}/i/{invitations.link_token(person)}" in text
    assert "尊敬的" in text  # the Chinese template
    unsubscribe = message["List-Unsubscribe"].strip("<>")
    assert unsubscribe.startswith(f"{base_url}/u/") and unsubscribe in text
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # The email log keeps no body (it holds the personal link).
    logged = db.session.scalar(select(EmailMessage))
    assert logged.to_address == "a@example.com" and not hasattr(logged, "body")


def test_opted_out_revoked_and_answered_invitations_get_no_email(app, factory, sent, base_url):
    campaign, admin = personal_campaign(factory)
    out, revoked, answered, _fine = invite(
        admin, campaign, "out@example.com", "rev@example.com", "done@example.com",
        "fine@example.com",
    )
    invitations.opt_out("OUT@example.com")
    invitations.revoke(admin, revoked)
    respondent = app.test_client()
    respondent.get(f"/i/{invitations.link_token(answered)}")
    answer_survey(respondent, campaign)
    assert invitations.send_invitations(admin, campaign) == 1
    assert _recipients(sent) == ["fine@example.com"]
    db.session.refresh(out)
    assert out.send_status == "opted_out" and out.opted_out_at is not None


def test_an_address_that_opts_out_while_queued_is_skipped_by_the_job(factory, sent, base_url):
    campaign, admin = personal_campaign(factory)
    [person] = invite(admin, campaign, "a@example.com")
    person.send_status = "queued"
    db.session.add(EmailOptOut(email_hash=invitations._email_hash("a@example.com")))
    db.session.flush()
    result = invitations.send_emails(campaign=campaign.id, kind="invitation",
                                     items=[[person.id, 0]], base_url=base_url)
    assert result["sent"] == 0 and sent == []
    assert person.send_status == "opted_out"


def test_sending_needs_a_launched_campaign_that_is_not_closed(factory, base_url):
    campaign, admin = personal_campaign(factory)
    invite(admin, campaign, "a@example.com")
    campaign.launched_at = None
    with pytest.raises(ConflictError):
        invitations.send_invitations(admin, campaign)
    campaign.launched_at = utcnow()
    campaign.closed_at = utcnow()
    with pytest.raises(ConflictError):
        invitations.send_invitations(admin, campaign)


def _fail_for(monkeypatch, *addresses, permanent=False):
    original = mail.MemoryConnection.send
    error = mail.PermanentMailError if permanent else mail.MailError

    def send(self, message):
        if message["To"].addresses[0].addr_spec in addresses:
            raise error("421 mail server busy" if not permanent else "550 no such user")
        original(self, message)

    monkeypatch.setattr(mail.MemoryConnection, "send", send)


def test_a_failed_send_is_retried_then_shown_as_failed(app, factory, sent, base_url,
                                                       monkeypatch, login_as):
    """The worker's path: progress is committed per message, the job raises so the
    queue runs it again, a retry resends only what failed."""
    monkeypatch.setitem(app.config, "TASKS_EAGER", False)
    monkeypatch.setitem(app.config, "TASK_RETRIES", 2)
    _fail_for(monkeypatch, "bad@example.com")
    campaign, admin = personal_campaign(factory)
    good, bad = invite(admin, campaign, "good@example.com", "bad@example.com")
    assert invitations.send_invitations(admin, campaign) == 2
    db.session.commit()  # the job is queued once the request's transaction commits
    [run] = _runs(campaign)
    assert run.status == tasks.TaskStatus.QUEUED

    assert tasks.run_job(run.uid) is False  # failed; the queue will retry
    db.session.refresh(run)
    assert run.status == tasks.TaskStatus.RETRYING and "421 mail server busy" in run.error
    db.session.refresh(good)
    db.session.refresh(bad)
    assert good.send_status == "sent"
    assert bad.send_status == "queued" and bad.send_attempts == 1
    assert "421" in bad.last_error

    assert tasks.run_job(run.uid) is False
    assert _recipients(sent) == ["good@example.com"]  # not sent twice

    assert tasks.run_job(run.uid) is True  # the last attempt: failed for good
    db.session.refresh(run)
    db.session.refresh(bad)
    assert run.status == tasks.TaskStatus.FAILED
    assert bad.send_status == "failed" and bad.send_attempts == 3
    attempts = db.session.scalars(
        select(EmailMessage.status).where(EmailMessage.invitation_id == bad.id)
    ).all()
    assert attempts == ["failed"] * 3

    page = login_as(admin).get(f"/campaigns/{campaign.id}/invitations")
    assert "421 mail server busy" in visible_text(page)
    assert 'data-testid="count-failed">1<' in page.get_data(as_text=True)
    # "Send" again picks up the failed one (and only it).
    _fail_for(monkeypatch)
    monkeypatch.setitem(app.config, "TASKS_EAGER", True)
    assert invitations.send_invitations(admin, campaign) == 1


def test_a_refused_address_fails_at_once_without_retrying_the_batch(factory, sent, base_url,
                                                                    monkeypatch):
    _fail_for(monkeypatch, "nobody@example.com", permanent=True)
    campaign, admin = personal_campaign(factory)
    nobody, fine = invite(admin, campaign, "nobody@example.com", "fine@example.com")
    invitations.send_invitations(admin, campaign)
    [run] = _runs(campaign)
    assert run.status == tasks.TaskStatus.SUCCEEDED
    assert nobody.send_status == "failed" and "550" in nobody.last_error
    assert fine.send_status == "sent"


# ----------------------------------------------------------------- reminders


def _everyone_invited(app, factory, *emails, **campaign_kw):
    campaign, admin = personal_campaign(factory, **campaign_kw)
    people = invite(admin, campaign, *emails)
    invitations.send_invitations(admin, campaign)
    return campaign, admin, people


def test_reminders_skip_the_finished_the_opted_out_and_the_revoked(app, factory, sent,
                                                                   base_url):
    campaign, admin, (done, _out, revoked, waiting) = _everyone_invited(
        app, factory, "done@example.com", "out@example.com", "rev@example.com",
        "wait@example.com",
    )
    respondent = app.test_client()
    respondent.get(f"/i/{invitations.link_token(done)}")
    answer_survey(respondent, campaign)
    invitations.opt_out("out@example.com")
    invitations.revoke(admin, revoked)
    sent.clear()
    assert invitations.send_reminders(admin, campaign) == 1
    assert _recipients(sent) == ["wait@example.com"]
    assert sent[0]["Subject"].startswith("Reminder")
    db.session.refresh(waiting)
    assert waiting.reminders_sent == 1 and waiting.last_reminded_at is not None


def test_reminders_stop_at_the_campaigns_maximum(app, factory, sent, base_url):
    campaign, admin, (person,) = _everyone_invited(app, factory, "a@example.com",
                                                   max_reminders=2)
    sent.clear()
    assert invitations.send_reminders(admin, campaign) == 1
    assert invitations.send_reminders(admin, campaign) == 1
    assert invitations.send_reminders(admin, campaign) == 0
    assert len(sent) == 2 and person.reminders_sent == 2


def test_a_reminder_needs_an_invitation_sent_first(factory, sent, base_url):
    campaign, admin = personal_campaign(factory)
    invite(admin, campaign, "a@example.com")
    assert invitations.send_reminders(admin, campaign) == 0
    assert sent == []


def test_the_same_reminder_queued_twice_is_sent_once(factory, sent, base_url):
    campaign, admin = personal_campaign(factory)
    [person] = invite(admin, campaign, "a@example.com")
    invitations.send_invitations(admin, campaign)
    sent.clear()
    for _ in range(2):  # e.g. a double click that queued two jobs
        person.send_status = "queued"
        invitations.send_emails(campaign=campaign.id, kind="reminder",
                                items=[[person.id, 1]], base_url=base_url)
    assert len(sent) == 1 and person.reminders_sent == 1


def test_the_scheduled_reminder_goes_out_once_when_due(app, factory, sent, base_url):
    now = utcnow()
    campaign, _admin, (waiting, done) = _everyone_invited(
        app, factory, "wait@example.com", "done@example.com",
        closes_at=now + timedelta(days=5), max_reminders=3,
    )
    respondent = app.test_client()
    respondent.get(f"/i/{invitations.link_token(done)}")
    answer_survey(respondent, campaign)
    campaign.remind_days_before_close = 3  # due in two days
    db.session.flush()
    sent.clear()
    tasks.run_periodic_now()
    assert sent == []

    campaign.closes_at = now + timedelta(days=2)  # now due since yesterday
    db.session.flush()
    tasks.run_periodic_now()
    assert _recipients(sent) == ["wait@example.com"]
    for _ in range(3):  # the worker ticks every minute
        tasks.run_periodic_now()
    assert len(sent) == 1
    db.session.refresh(waiting)
    assert waiting.reminders_sent == 1


def test_reminder_buttons_on_the_page(app, factory, sent, base_url, login_as):
    campaign, admin, _people = _everyone_invited(app, factory, "a@example.com")
    client = login_as(admin)
    sent.clear()
    r = client.post(f"/campaigns/{campaign.id}/invitations/remind")
    assert r.status_code == 303
    assert len(sent) == 1
    page = client.get(r.headers["Location"])
    assert "1 reminder is being sent." in visible_text(page)


# ----------------------------------------------------------------- opt-out


def test_the_unsubscribe_link_asks_then_stops_every_later_email(app, factory, sent, base_url):
    campaign, admin, (person, _other) = _everyone_invited(
        app, factory, "a@example.com", "b@example.com"
    )
    later, _ = personal_campaign(factory, admin=admin)
    [elsewhere] = invite(admin, later, "A@example.com")
    link = sent[_recipients(sent).index("a@example.com")]["List-Unsubscribe"].strip("<>")
    path = link.removeprefix(base_url)
    visitor = app.test_client()
    confirm = visitor.get(path)
    assert confirm.status_code == 200 and "Stop survey emails?" in visible_text(confirm)
    assert db.session.scalar(select(func.count()).select_from(EmailOptOut)) == 0
    done = visitor.post(path)
    assert done.status_code == 200 and "You are unsubscribed" in visible_text(done)
    db.session.refresh(person)
    db.session.refresh(elsewhere)
    assert person.opted_out_at is not None and elsewhere.opted_out_at is not None
    stored = db.session.scalars(select(EmailOptOut.email_hash)).all()
    assert stored == [invitations._email_hash("a@example.com")]
    assert "a@example.com" not in repr(stored)

    sent.clear()
    invitations.send_reminders(admin, campaign)
    invitations.send_invitations(admin, later)
    assert _recipients(sent) == ["b@example.com"]
    assert elsewhere.send_status == "opted_out"


def test_one_click_unsubscribe_and_forged_links(app, factory, sent, base_url):
    _campaign, _admin, (_person,) = _everyone_invited(app, factory, "a@example.com")
    path = sent[0]["List-Unsubscribe"].strip("<>").removeprefix(base_url)
    r = app.test_client().post(path, data={"List-Unsubscribe": "One-Click"})
    assert r.status_code == 204
    assert invitations.is_opted_out("a@example.com")
    assert app.test_client().get("/u/forged-token").status_code == 404
    assert app.test_client().post(path[:-2] + "xx").status_code == 404


def test_invitations_added_to_an_opted_out_address_are_marked(factory):
    campaign, admin = personal_campaign(factory)
    invitations.opt_out("a@example.com")
    [person] = invite(admin, campaign, "a@example.com")
    assert person.send_status == "opted_out"
    assert db.session.scalar(
        select(func.count()).select_from(Invitation).where(Invitation.opted_out_at.is_not(None))
    ) == 1


def test_launching_a_personal_campaign_sends_the_invitations_added_before(factory, sent,
                                                                          base_url):
    from surveys import campaigns

    campaign, admin = personal_campaign(factory)
    campaign.launched_at = None
    invite(admin, campaign, "a@example.com", "b@example.com")
    with pytest.raises(ConflictError):
        invitations.send_invitations(admin, campaign)
    assert sent == []
    campaigns.launch_campaign(admin, campaign)
    assert _recipients(sent) == ["a@example.com", "b@example.com"]
