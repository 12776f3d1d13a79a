"""Response administration: the list and one response, soft delete and restore (with
counts following), and erasing a person's data on request — everywhere."""

from __future__ import annotations

import quopri

import pytest
from sqlalchemy import func, select

from core.exceptions import ConflictError, NotFound, PermissionDenied, ServiceError
from core.extensions import db
from org.models import AuditEvent, User
from surveys import dashboard, invitations, responses_admin, results, services
from surveys.models import (
    Answer,
    EmailMessage,
    EmailOptOut,
    Invitation,
    Response,
    ResponsePageTime,
    WebhookDelivery,
)
from tests.surveys.documents import HOSTILE
from tests.web.apps import isolated_requests
from tests.web.page import field_error, flashes, forms, visible_text

ANSWERS = {"csat": 2, "why": "Waited too long", "channel": "phone", "nps": 6,
           "comment": "Call me back"}


@pytest.fixture(autouse=True)
def _isolated_requests(app):
    with isolated_requests(app):
        yield


@pytest.fixture
def admin(factory):
    return factory.admin()


def complete(campaign, answers=None, *, invitation=None, fields=None, locale="en",
             finish=True) -> Response:
    """A response through ``campaign`` as the respondent flow makes it (through the
    invitation's link if given), completed unless ``finish`` is false."""
    response, _token = services.start_response(
        campaign, locale=locale, fields=fields, invitation=invitation
    )
    answers = dict(ANSWERS if answers is None else answers)
    if finish:
        services.submit_response(response, "end", answers)
        if invitation is not None and campaign.anonymous:
            # Not linked: the respondent's browser session marks the invitation.
            invitation.completed_at = response.submitted_at
    else:
        services.save_page(response, "about", {k: answers[k] for k in ("csat", "why")
                                               if k in answers}, next_page="more")
    db.session.flush()
    return response


def invite(campaign, email, *, name=None, fields=None) -> Invitation:
    """An invitation made as the admin's list upload makes it (with a personal link)."""
    campaign.audience = "personal"
    db.session.flush()
    [invitation] = invitations.add_invitations(
        db.session.get(User, campaign.created_by_id),
        campaign,
        [{"email": email, "name": name, "locale": "zh_CN", "fields": fields or {}}],
    )
    return invitation


def completed(campaign) -> int:
    return services.completed_count(campaign)


def summary_n(campaign) -> int:
    """Completed responses as the results summary counts them."""
    return results.summarize(campaign).responses


# ----------------------------------------------------------------- soft delete / restore


def test_soft_delete_needs_a_reason_and_leaves_the_response_out_of_counts(factory, admin):
    campaign = factory.campaign(actor=admin)
    keep, drop = complete(campaign), complete(campaign)
    assert completed(campaign) == 2
    before = summary_n(campaign)

    with pytest.raises(ServiceError) as refused:
        responses_admin.soft_delete(admin, drop, "   ")
    assert refused.value.field == "reason"
    assert drop.deleted_at is None

    responses_admin.soft_delete(admin, drop, "Test response by the helpdesk")
    assert drop.deleted_at is not None and drop.deleted_by_id == admin.id
    assert completed(campaign) == 1
    assert summary_n(campaign) == before - 1
    listed = db.session.scalars(responses_admin.list_responses(admin, campaign)).all()
    assert listed == [keep]
    assert db.session.scalars(
        responses_admin.list_responses(admin, campaign, deleted=True)
    ).all() == [drop]
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "response.delete"))
    assert event.object_id == drop.id
    assert event.details["reason"] == "Test response by the helpdesk"
    # Answers are kept, for restoring.
    assert db.session.scalar(
        select(func.count()).select_from(Answer).where(Answer.response_id == drop.id)
    ) > 0


def test_restore_brings_a_response_back_into_counts(factory, admin):
    campaign = factory.campaign(actor=admin)
    response = complete(campaign)
    complete(campaign)
    before = summary_n(campaign)
    responses_admin.soft_delete(admin, response, "duplicate")
    assert completed(campaign) == 1
    with pytest.raises(ConflictError):
        responses_admin.soft_delete(admin, response, "again")

    assert dashboard.progress(campaign)["completed"] == 1

    responses_admin.restore(admin, response)
    assert response.deleted_at is None and response.deleted_by_id is None
    assert completed(campaign) == 2
    assert summary_n(campaign) == before
    assert dashboard.progress(campaign)["completed"] == 2
    assert db.session.scalar(
        select(AuditEvent.object_id).where(AuditEvent.action == "response.restore")
    ) == response.id
    with pytest.raises(ConflictError):
        responses_admin.restore(admin, response)


def test_only_admins_manage_responses(factory, admin):
    campaign = factory.campaign(actor=admin)
    response = complete(campaign)
    manager = factory.manager()
    with pytest.raises(PermissionDenied):
        responses_admin.list_responses(manager, campaign)
    with pytest.raises(PermissionDenied):
        responses_admin.soft_delete(manager, response, "no")
    with pytest.raises(PermissionDenied):
        responses_admin.erase_person(manager, email="x@example.com")


def test_the_list_filters_by_status(factory, admin):
    campaign = factory.campaign(actor=admin)
    done = complete(campaign)
    partial = complete(campaign, finish=False)
    assert db.session.scalars(
        responses_admin.list_responses(admin, campaign, status="completed")
    ).all() == [done]
    assert db.session.scalars(
        responses_admin.list_responses(admin, campaign, status="in_progress")
    ).all() == [partial]
    assert responses_admin.status_counts(campaign) == {
        "completed": 1, "in_progress": 1, "deleted": 0
    }


# ----------------------------------------------------------------- erasure


PERSON = "Li.Na@Example.com"
NAME = "李娜 Li Na"


def _rows_mentioning(*needles: str) -> list[str]:
    """Every row of every table whose text contains one of ``needles`` (any case)."""
    found = []
    for table in db.metadata.sorted_tables:
        for row in db.session.execute(select(table)).all():
            text = repr(tuple(row)).lower()
            if any(n.lower() in text for n in needles):
                found.append(f"{table.name}: {text[:200]}")
    return found


def _files_mentioning(directory, *needles: str) -> list[str]:
    found = []
    for path in directory.iterdir():
        text = path.read_bytes().decode("utf-8", "replace").lower()
        text += quopri.decodestring(path.read_bytes()).decode("utf-8", "replace").lower()
        if any(n.lower() in text for n in needles):
            found.append(path.name)
    return found


def test_erasure_by_email_removes_the_person_everywhere(
    factory, admin, app, monkeypatch, tmp_path
):
    """Invitations in two campaigns (one anonymous), their responses, the emails sent
    (records and the development outbox's files), a webhook delivery and audit events
    mention the person; afterwards no row and no file does, the counts drop by their
    response only, and the address is kept only as a hash."""
    monkeypatch.setitem(app.config, "MAIL_BACKEND", "outbox")
    monkeypatch.setitem(app.config, "MAIL_OUTBOX_DIR", str(tmp_path))
    monkeypatch.setitem(app.config, "PUBLIC_BASE_URL", "https://survey.example.com")
    questionnaire = factory.questionnaire(actor=admin)
    named = factory.campaign(questionnaire, actor=admin, name="Helpdesk survey")
    anonymous = factory.campaign(questionnaire, actor=admin, name="Anonymous pulse")
    anonymous.anonymous = True
    other_campaign = factory.campaign(questionnaire, actor=admin)

    invitation = invite(named, PERSON, name=NAME, fields={"region": "East"})
    token = invitations.link_token(invitation)
    anon_invitation = invite(anonymous, PERSON.lower(), name="李娜")  # two characters
    someone_else = invite(named, "someone@example.com", name="Someone Else")
    assert invitations.send_invitations(admin, named) == 2
    assert invitations.send_invitations(admin, anonymous) == 1
    response = complete(named, invitation=invitation, fields={"region": "East"},
                        answers={**ANSWERS, "comment": f"Reach me at {PERSON}"})
    kept_response = complete(named, invitation=someone_else)
    anon_response = complete(anonymous, invitation=anon_invitation)
    complete(other_campaign)
    db.session.add_all([
        EmailMessage(campaign_id=anonymous.id, invitation_id=anon_invitation.id,
                     kind="reminder", to_address=PERSON.lower(), subject="李娜，提醒您",
                     status="failed", error=f"550 <{PERSON.lower()}> mailbox unavailable"),
        WebhookDelivery(campaign_id=named.id, response_id=response.id,
                        event="response.completed", status="delivered",
                        payload={"campaign": {"id": named.id, "name": named.name},
                                 "response": {"fields": {"email": PERSON}}}),
    ])
    from org import audit

    audit.record("invitation.add", invitation, actor=admin,
                 details={"email": PERSON.lower(), "name": NAME})
    db.session.flush()
    assert _rows_mentioning(PERSON)  # the check below can see the address
    assert len(list(tmp_path.iterdir())) == 3 and _files_mentioning(tmp_path, PERSON)
    before_named, before_anon = completed(named), completed(anonymous)
    before_summary = summary_n(named)

    report = responses_admin.erase_person(admin, email=f"  {PERSON} ")

    assert (report.invitations, report.campaigns, report.responses) == (2, 2, 1)
    assert report.anonymous_invitations == 1
    assert report.email_messages == 3 and report.webhook_deliveries == 1
    assert report.outbox_files == 2 and report.opted_out
    db.session.commit()  # the outbox's files go once the erasure is committed
    assert _rows_mentioning(PERSON, NAME, "Li Na", "李娜", token) == []
    assert _files_mentioning(tmp_path, PERSON, NAME, token) == []
    assert _files_mentioning(tmp_path, "someone@example.com")  # others' emails stay
    # Their linked response is gone with its answers and page times; others stay.
    assert db.session.get(Response, response.id) is None
    for model in (Answer, ResponsePageTime):
        assert db.session.scalar(
            select(func.count()).select_from(model).where(model.response_id == response.id)
        ) == 0
    assert db.session.get(Response, kept_response.id) is not None
    # The anonymous campaign's response was never linked: it stays.
    assert db.session.get(Response, anon_response.id) is not None
    assert completed(named) == before_named - 1 and completed(anonymous) == before_anon
    assert summary_n(named) == before_summary - 1
    # Invitations keep only "completed" (response rates stay right).
    db.session.refresh(invitation)
    assert invitation.erased_at is not None and invitation.completed_at is not None
    assert (invitation.email, invitation.name, invitation.fields) == (None, None, {})
    assert invitation.token_hash is None and invitation.token_nonce is None
    assert db.session.get(Invitation, someone_else.id).email == "someone@example.com"
    # Sent emails keep their status, not the address.
    statuses = db.session.execute(
        select(EmailMessage.status, EmailMessage.to_address)
        .where(EmailMessage.invitation_id.in_([invitation.id, anon_invitation.id]))
        .order_by(EmailMessage.id)
    ).all()
    assert statuses == [("sent", None), ("sent", None), ("failed", None)]
    delivery = db.session.scalar(select(WebhookDelivery))
    assert delivery.response_id is None and delivery.payload["erased"] is True
    # Only a hash of the address is kept, so it is never emailed again.
    assert db.session.scalar(select(EmailOptOut.email_hash)) == responses_admin.address_hash(
        PERSON
    )
    assert invitations.is_opted_out(PERSON)
    again = invite(named, PERSON, name=NAME)
    assert again.send_status == "opted_out"
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "person.erase"))
    assert event.details["invitations"] == 2 and event.details["responses"] == 1
    assert "li.na" not in repr(event.details).lower()


def test_erasure_by_personal_link_finds_the_invitation_from_its_token(factory, admin):
    campaign = factory.campaign(actor=admin)
    invitation = invite(campaign, "wang.wei@example.com", name="Wang Wei")
    token = invitations.link_token(invitation)
    response = complete(campaign, invitation=invitation)

    preview = responses_admin.preview_erasure(admin, token=token)
    assert (preview.invitations, preview.responses) == (1, 1)
    assert db.session.get(Response, response.id) is not None  # a preview changes nothing

    # The admin may paste the whole link from the email.
    report = responses_admin.erase_person(
        admin, token=f"https://survey.example.com/i/{token}"
    )
    assert (report.invitations, report.responses) == (1, 1)
    assert db.session.get(Response, response.id) is None
    assert _rows_mentioning("wang.wei@example.com", "Wang Wei") == []
    # The token is gone with the invitation: a second request finds nothing.
    with pytest.raises(NotFound):
        responses_admin.erase_person(admin, token=token)


def test_erasing_an_unknown_address_still_opts_it_out(factory, admin):
    report = responses_admin.erase_person(admin, email="nobody@example.com")
    assert not report.found and report.opted_out
    again = responses_admin.erase_person(admin, email="NOBODY@example.com")
    assert not again.opted_out  # already on the list
    assert db.session.scalar(select(func.count()).select_from(EmailOptOut)) == 1


def test_erasure_refuses_bad_requests(admin):
    with pytest.raises(ServiceError) as bad:
        responses_admin.erase_person(admin, email="not an address")
    assert bad.value.field == "email"
    with pytest.raises(ServiceError):
        responses_admin.erase_person(admin, email="a@example.com", token="t")
    with pytest.raises(ServiceError):
        responses_admin.erase_person(admin)


# ----------------------------------------------------------------- pages


def test_the_responses_page_lists_and_filters_responses(factory, admin, login_as):
    campaign = factory.campaign(actor=admin)
    done = complete(campaign, fields={"ticket": HOSTILE}, locale="zh_CN")
    partial = complete(campaign, finish=False)
    client = login_as(admin)

    page = client.get(f"/campaigns/{campaign.id}/responses")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert HOSTILE not in html and "&lt;script&gt;" in html  # escaped
    text = visible_text(page)
    assert f"#{done.id}" in text and f"#{partial.id}" in text
    assert "Completed" in text and "In progress" in text and "中文" in text

    only_done = visible_text(client.get(f"/campaigns/{campaign.id}/responses?show=completed"))
    assert f"#{done.id}" in only_done and f"#{partial.id}" not in only_done


def test_an_anonymous_campaign_shows_no_response_times(factory, admin, login_as):
    campaign = factory.campaign(actor=admin)
    campaign.anonymous = True
    response = complete(campaign)
    client = login_as(admin)
    text = visible_text(client.get(f"/campaigns/{campaign.id}/responses"))
    assert "Submitted" not in text and "anonymous" in text
    view = visible_text(client.get(f"/campaigns/{campaign.id}/responses/{response.id}"))
    assert "Not shown: the campaign is anonymous." in view
    assert str(response.submitted_at.year) not in view


def test_a_response_page_shows_answers_under_their_question_texts(factory, admin, login_as):
    campaign = factory.campaign(actor=admin)
    response = complete(campaign)
    client = login_as(admin)
    text = visible_text(client.get(f"/campaigns/{campaign.id}/responses/{response.id}"))
    assert "How satisfied are you?" in text and "Waited too long" in text
    assert "How did you contact us?" in text and "Phone" in text  # the option's label
    assert "Would you recommend us?" in text and "6 (0–10)" in text
    assert "2 (1–5)" in text  # a point and the scale it is on


def test_deleting_from_the_page_needs_a_reason_then_restoring_brings_it_back(
    factory, admin, login_as
):
    campaign = factory.campaign(actor=admin)
    response = complete(campaign)
    client = login_as(admin)
    url = f"/campaigns/{campaign.id}/responses/{response.id}"

    refused = client.post(f"{url}/delete", data={"reason": ""})
    assert refused.status_code == 400
    assert field_error(refused, "reason")
    db.session.refresh(response)
    assert response.deleted_at is None

    done = client.post(f"{url}/delete", data={"reason": "Duplicate"}, follow_redirects=True)
    assert any("is deleted" in f for f in flashes(done))
    db.session.refresh(response)
    assert response.deleted_at is not None and completed(campaign) == 0
    deleted_list = visible_text(client.get(f"/campaigns/{campaign.id}/responses?show=deleted"))
    assert f"#{response.id}" in deleted_list
    assert "Deleted" in visible_text(client.get(url))

    restored = client.post(f"{url}/restore", follow_redirects=True)
    assert any("restored" in f for f in flashes(restored))
    db.session.refresh(response)
    assert response.deleted_at is None and completed(campaign) == 1


def test_response_pages_are_for_admins_and_other_ids_are_not_found(
    factory, admin, login_as, auth
):
    questionnaire = factory.questionnaire(actor=admin)
    campaign = factory.campaign(questionnaire, actor=admin)
    other = factory.campaign(questionnaire, actor=admin)
    response = complete(campaign)
    client = login_as(admin)
    assert client.get(f"/campaigns/{other.id}/responses/{response.id}").status_code == 404
    assert client.post(f"/campaigns/{other.id}/responses/{response.id}/delete",
                       data={"reason": "x"}).status_code == 404
    assert client.get("/campaigns/999999/responses").status_code == 404
    assert client.get(f"/campaigns/{campaign.id}/webhooks").status_code == 200

    auth.logout()
    member = login_as(factory.user())
    for url in (f"/campaigns/{campaign.id}/responses",
                f"/campaigns/{campaign.id}/responses/{response.id}",
                f"/campaigns/{campaign.id}/webhooks", "/campaigns/erase"):
        assert member.get(url).status_code == 403
    assert member.post(f"/campaigns/{campaign.id}/responses/{response.id}/delete",
                       data={"reason": "x"}).status_code == 403
    db.session.refresh(response)
    assert response.deleted_at is None


def test_the_erase_page_shows_what_would_go_then_erases_after_confirmation(
    factory, admin, login_as
):
    campaign = factory.campaign(actor=admin, name="Helpdesk survey")
    invitation = invite(campaign, "zhao.lei@example.com", name="Zhao Lei")
    response_id = complete(campaign, invitation=invitation).id
    client = login_as(admin)

    assert client.get("/campaigns/erase").status_code == 200
    preview = client.post("/campaigns/erase", data={"email": "zhao.lei@example.com"})
    text = visible_text(preview)
    assert "This will be erased" in text and "Helpdesk survey" in text
    assert db.session.get(Response, response_id) is not None
    confirm = next(f for f in forms(preview) if f.values.get("step") == "erase")
    assert confirm.values["email"] == "zhao.lei@example.com"

    unconfirmed = client.post("/campaigns/erase", data=confirm.values)
    assert field_error(unconfirmed, "confirm")
    assert db.session.get(Response, response_id) is not None

    done = client.post("/campaigns/erase", data={**confirm.values, "confirm": "y"})
    assert done.status_code == 200
    text = visible_text(done)
    assert "has been erased" in text
    assert "zhao.lei@example.com" not in done.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Response, response_id) is None
    assert db.session.get(Invitation, invitation.id).erased_at is not None


def test_the_erase_page_asks_for_one_of_email_or_link(admin, login_as):
    client = login_as(admin)
    r = client.post("/campaigns/erase", data={})
    assert field_error(r, "email")
    r = client.post("/campaigns/erase", data={"email": "a@example.com", "token": "abc"})
    assert field_error(r, "token")
    r = client.post("/campaigns/erase", data={"token": "no-such-token"})
    assert "No invitation has this link" in field_error(r, "token")


def test_every_form_carries_its_csrf_token(app, factory, admin):
    """With CSRF protection on (as in production), posts without the token are refused
    and the forms on the pages carry it."""
    from tests.factories import Factory
    from tests.web.apps import sibling_app
    from tests.web.page import main_form

    campaign = factory.campaign(actor=admin)
    response = complete(campaign)
    invitation = invite(factory.campaign(campaign.version.questionnaire, actor=admin),
                        "sun.li@example.com")
    url = f"/campaigns/{campaign.id}/responses/{response.id}"
    with sibling_app(app, WTF_CSRF_ENABLED=True) as protected:
        client = protected.test_client()
        login = main_form(client.get("/login"))
        client.post("/login", data={**login.values, "email": admin.email,
                                    "password": Factory.PASSWORD})
        assert client.post(f"{url}/delete", data={"reason": "x"}).status_code == 400
        db.session.refresh(response)
        assert response.deleted_at is None

        delete_form = next(f for f in forms(client.get(url)) if f.action.endswith("/delete"))
        assert client.post(f"{url}/delete", data={**delete_form.values,
                                                   "reason": "test"}).status_code == 302
        restore_form = next(f for f in forms(client.get(url)) if f.action.endswith("/restore"))
        assert client.post(f"{url}/restore", data=restore_form.values).status_code == 302

        start = next(f for f in forms(client.get("/campaigns/erase")) if "token" in f.values)
        preview = client.post("/campaigns/erase",
                              data={**start.values, "email": "sun.li@example.com"})
        confirm = next(f for f in forms(preview) if f.values.get("step") == "erase")
        done = client.post("/campaigns/erase", data={**confirm.values, "confirm": "y"})
        assert "has been erased" in visible_text(done)
    db.session.refresh(response)
    assert response.deleted_at is None
    db.session.refresh(invitation)
    assert invitation.erased_at is not None
