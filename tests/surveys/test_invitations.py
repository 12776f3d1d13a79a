"""Personal invitations: tokens, the personal-link flow, anonymous campaigns, adding
people (paste, CSV/XLSX upload, org chart), revoke/reissue and the invitations page."""

from __future__ import annotations

import base64
import io
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from core.database import utcnow
from core.exceptions import ServiceError
from core.extensions import db
from surveys import invitations
from surveys.models import Invitation, Response
from tests.web.page import visible_text

SLUG_BASE = "https://survey.example.com"


# ----------------------------------------------------------------- helpers (shared)


def personal_campaign(factory, *, anonymous=False, admin=None, **kw):
    """An open campaign with personal links; returns ``(campaign, admin)``."""
    from surveys.models import Questionnaire

    admin = admin or factory.admin()
    # Campaigns of one test share the test questionnaire (its key is unique).
    questionnaire = db.session.scalar(select(Questionnaire).limit(1))
    campaign = factory.campaign(questionnaire, actor=admin, name="Staff survey", **kw)
    campaign.audience = "personal"
    campaign.anonymous = anonymous
    db.session.flush()
    return campaign, admin


def invite(admin, campaign, *emails, **extra):
    return invitations.add_invitations(
        admin, campaign, [{"email": e, **extra} for e in emails]
    )


def answer_survey(client, campaign):
    """Answer every page of the three-page test questionnaire and submit."""
    url = f"/s/{campaign.public_slug}"
    pages = []
    for data in (
        {"page": "about", "action": "next", "q-csat": "5"},
        {"page": "more", "action": "next", "q-channel": "email", "q-nps": "9"},
        {"page": "end", "action": "submit", "q-comment": "Fine"},
    ):
        pages.append(client.get(url))
        r = client.post(url, data=data)
        assert r.status_code == 303, r.get_data(as_text=True)
    pages.append(client.get(url + "/thanks"))
    return pages


@pytest.fixture
def base_url(app, monkeypatch):
    monkeypatch.setitem(app.config, "PUBLIC_BASE_URL", SLUG_BASE)
    return SLUG_BASE


@pytest.fixture
def sent(app):
    """The emails the memory backend delivered during this test."""
    box = app.extensions.setdefault("orbit_mail_sent", [])
    box.clear()
    yield box
    box.clear()


# ----------------------------------------------------------------- tokens


def test_tokens_have_at_least_128_random_bits_and_only_their_hash_is_stored(factory):
    campaign, admin = personal_campaign(factory)
    created = invite(admin, campaign, *(f"p{i}@example.com" for i in range(50)))
    tokens = [invitations.link_token(i) for i in created]
    assert len(set(tokens)) == 50
    for token in tokens:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        assert len(raw) * 8 >= 128
    # Nothing in the invitations table holds a token: not a column, not a JSON value.
    rows = db.session.execute(text("SELECT * FROM invitations")).all()
    dump = repr([tuple(row) for row in rows])
    assert not any(token in dump for token in tokens)
    first = created[0]
    assert first.token_hash == invitations.services.token_hash(tokens[0])
    assert invitations.exchange_token(tokens[0]).id == first.id


def test_rotating_the_secret_key_invalidates_links_and_reissue_fixes_one(app, factory,
                                                                          monkeypatch):
    campaign, admin = personal_campaign(factory)
    [invitation] = invite(admin, campaign, "a@example.com")
    old = invitations.link_token(invitation)
    monkeypatch.setitem(app.config, "SECRET_KEY", "a-rotated-secret-key-0123456789")
    assert invitations.link_token(invitation) != old  # emails now carry a link that...
    assert invitations.exchange_token(invitations.link_token(invitation)) is None  # ...is dead
    new = invitations.reissue(admin, invitation)
    assert invitations.exchange_token(new).id == invitation.id
    assert invitations.exchange_token(old) is None


# ----------------------------------------------------------------- the personal link


def test_a_personal_link_opens_the_survey_at_an_address_without_the_token(client, factory):
    campaign, admin = personal_campaign(factory)
    [invitation] = invite(admin, campaign, "a@example.com")
    token = invitations.link_token(invitation)
    r = client.get(f"/i/{token}")
    assert r.status_code == 303
    assert r.headers["Location"].endswith(f"/s/{campaign.public_slug}")
    assert token not in r.headers["Location"]
    assert r.headers["Referrer-Policy"] == "no-referrer"
    assert token not in r.headers.get("Set-Cookie", "")
    page = client.get(r.headers["Location"])
    assert page.status_code == 200
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert "How satisfied are you?" in page.get_data(as_text=True)
    db.session.refresh(invitation)
    assert invitation.opened_at is not None and invitation.started_at is None


def test_the_survey_speaks_the_invitees_language_unless_they_choose_another(client, factory):
    campaign, admin = personal_campaign(factory)
    [invitation] = invite(admin, campaign, "wang@example.com", locale="zh_CN")
    client.get(f"/i/{invitations.link_token(invitation)}")
    url = f"/s/{campaign.public_slug}"
    page = client.get(url, headers={"Accept-Language": "en"})
    assert '<html lang="zh-CN"' in page.get_data(as_text=True)
    with client.session_transaction() as session:
        session["locale"] = "en"  # the language switch
    page = client.get(url, headers={"Accept-Language": "zh-CN"})
    assert '<html lang="en"' in page.get_data(as_text=True)


@pytest.mark.parametrize("anonymous", [False, True])
def test_the_token_never_appears_in_the_survey_pages(client, factory, anonymous):
    campaign, admin = personal_campaign(factory, anonymous=anonymous)
    [invitation] = invite(admin, campaign, "a@example.com")
    token = invitations.link_token(invitation)
    client.get(f"/i/{token}")
    pages = answer_survey(client, campaign)
    assert pages[-1].status_code == 200 and "Thank you" in pages[-1].get_data(as_text=True)
    for page in pages:
        assert token not in page.get_data(as_text=True)
        assert token not in str(page.headers)


def test_invalid_used_expired_revoked_replaced_and_closed_links_get_the_same_page(app, factory):
    campaign, admin = personal_campaign(factory)
    used, revoked, expired, replaced, _fresh = invite(
        admin, campaign, *(f"{n}@example.com" for n in ("used", "rev", "exp", "rep", "fresh"))
    )
    tokens = {name: invitations.link_token(i) for name, i in
              (("used", used), ("revoked", revoked), ("expired", expired),
               ("replaced", replaced))}
    closed, closed_admin = personal_campaign(factory)
    [in_closed] = invite(closed_admin, closed, "c@example.com")
    tokens["closed"] = invitations.link_token(in_closed)
    tokens["unknown"] = "A" * 43
    tokens["malformed"] = "not-a-token"

    respondent = app.test_client()
    respondent.get(f"/i/{tokens['used']}")
    answer_survey(respondent, campaign)
    invitations.revoke(admin, revoked)
    expired.expires_at = utcnow() - timedelta(minutes=1)
    invitations.reissue(admin, replaced)
    closed.closed_at = utcnow()
    db.session.flush()

    answers = {}
    for name, token in tokens.items():
        r = app.test_client().get(f"/i/{token}")
        answers[name] = (r.status_code, r.headers.get("Referrer-Policy"), r.get_data())
    # A personal survey opened without a link: the same page again.
    r = app.test_client().get(f"/s/{campaign.public_slug}")
    answers["no link"] = (r.status_code, r.headers.get("Referrer-Policy"), r.get_data())
    assert len(set(answers.values())) == 1, {k: v[:2] for k, v in answers.items()}
    status, policy, body = answers["unknown"]
    assert status == 404 and policy == "no-referrer"
    assert "This link cannot be used" in body.decode()
    assert b"Staff survey" not in body and b"Service check" not in body


def test_revoking_or_reissuing_cuts_off_a_browser_that_already_opened_the_link(client, factory):
    campaign, admin = personal_campaign(factory)
    first, second = invite(admin, campaign, "a@example.com", "b@example.com")
    client.get(f"/i/{invitations.link_token(first)}")
    assert client.get(f"/s/{campaign.public_slug}").status_code == 200
    invitations.revoke(admin, first)
    db.session.flush()
    assert client.get(f"/s/{campaign.public_slug}").status_code == 404

    other = client.application.test_client()
    other.get(f"/i/{invitations.link_token(second)}")
    assert other.get(f"/s/{campaign.public_slug}").status_code == 200
    invitations.reissue(admin, second)
    db.session.flush()
    assert other.get(f"/s/{campaign.public_slug}").status_code == 404


def test_a_response_carries_the_invitation_and_its_custom_fields(client, factory):
    team = factory.team(name="Service Desk")
    campaign, admin = personal_campaign(factory)
    [invitation] = invitations.add_invitations(
        admin, campaign, [{"email": "a@example.com", "fields": {"region": "East"}}]
    )
    invitation.team_id = team.id
    db.session.flush()
    client.get(f"/i/{invitations.link_token(invitation)}")
    answer_survey(client, campaign)
    response = db.session.scalar(select(Response).where(Response.campaign_id == campaign.id))
    assert response.invitation_id == invitation.id
    assert response.fields == {"region": "East", "team": "Service Desk"}
    db.session.refresh(invitation)
    assert invitation.started_at is not None and invitation.completed_at is not None
    # One response per token: the link is used now.
    again = client.application.test_client().get(f"/i/{invitations.link_token(invitation)}")
    assert again.status_code == 404
    # The browser that answered still sees its thank-you page.
    assert client.get(f"/s/{campaign.public_slug}").status_code == 302


def test_a_second_device_resumes_the_same_response_in_a_named_campaign(app, factory):
    campaign, admin = personal_campaign(factory)
    [invitation] = invite(admin, campaign, "a@example.com")
    token = invitations.link_token(invitation)
    phone = app.test_client()
    phone.get(f"/i/{token}")
    phone.post(f"/s/{campaign.public_slug}", data={"page": "about", "q-csat": "4"})
    laptop = app.test_client()
    laptop.get(f"/i/{token}")
    page = laptop.get(f"/s/{campaign.public_slug}").get_data(as_text=True)
    assert "How did you contact us?" in page  # on page two, where the phone left off
    assert db.session.scalar(select(func.count()).select_from(Response)) == 1


def test_an_anonymous_response_has_no_link_to_its_invitation_but_the_invitation_completes(
    client, factory
):
    campaign, admin = personal_campaign(factory, anonymous=True, min_group_size=2)
    people = invitations.add_invitations(
        admin, campaign,
        [{"email": "a@example.com", "fields": {"region": "East", "staff_no": "A-1"}},
         {"email": "b@example.com", "fields": {"region": "East", "staff_no": "B-2"}}],
    )
    client.get(f"/i/{invitations.link_token(people[0])}")
    answer_survey(client, campaign)
    response = db.session.scalar(select(Response).where(Response.campaign_id == campaign.id))
    assert response.is_completed
    assert response.invitation_id is None
    # A value shared by enough invitees is kept; one that names a person is not.
    assert response.fields == {"region": "East"}
    db.session.refresh(people[0])
    assert people[0].completed_at is not None
    # Dates only: exact times could be matched with the response's own.
    assert people[0].completed_at.hour == 0 and people[0].completed_at.minute == 0
    assert invitations.response_of(people[0]) is None


def test_an_anonymous_link_is_used_once_even_from_two_browsers(app, factory):
    campaign, admin = personal_campaign(factory, anonymous=True)
    [invitation] = invite(admin, campaign, "a@example.com")
    token = invitations.link_token(invitation)
    first, second = app.test_client(), app.test_client()
    first.get(f"/i/{token}")
    second.get(f"/i/{token}")
    second.post(f"/s/{campaign.public_slug}", data={"page": "about", "q-csat": "2"})
    answer_survey(first, campaign)
    assert second.get(f"/s/{campaign.public_slug}").status_code == 404
    r = second.post(f"/s/{campaign.public_slug}",
                    data={"page": "more", "q-channel": "phone"})
    assert r.status_code == 404
    completed = db.session.scalar(
        select(func.count()).select_from(Response).where(Response.status == "completed")
    )
    assert completed == 1


def test_opening_another_persons_link_in_the_same_browser_starts_afresh(client, factory):
    campaign, admin = personal_campaign(factory, anonymous=True)
    first, second = invite(admin, campaign, "a@example.com", "b@example.com")
    client.get(f"/i/{invitations.link_token(first)}")
    client.post(f"/s/{campaign.public_slug}", data={"page": "about", "q-csat": "4"})
    r = client.get(f"/i/{invitations.link_token(second)}")
    assert f"orbit_r{campaign.id}=;" in r.headers.get("Set-Cookie", "")  # forgotten
    page = client.get(f"/s/{campaign.public_slug}").get_data(as_text=True)
    assert "How satisfied are you?" in page  # page one, not the first person's page two


# ----------------------------------------------------------------- adding people


def test_pasted_lines_in_every_accepted_form(factory):
    rows = invitations.parse_pasted(
        "a@example.com\n"
        "  Li Na <li.na@example.com>\n"
        "\n"
        "wang@example.com, Wang Wei\n"
        "zhao@example.com，赵敏\n"
        "\"Chen, Jie\" <chen@example.com>\n"
        "Sun Li; sun@example.com\n"
    )
    assert [(r["row"], r["email"], r["name"]) for r in rows] == [
        (1, "a@example.com", ""),
        (2, "li.na@example.com", "Li Na"),
        (4, "wang@example.com", "Wang Wei"),
        (5, "zhao@example.com", "赵敏"),
        (6, "chen@example.com", "Chen, Jie"),
        (7, "sun@example.com", "Sun Li"),
    ]


def test_a_bad_row_invites_nobody_and_names_every_problem(factory):
    campaign, admin = personal_campaign(factory)
    invite(admin, campaign, "taken@example.com")
    rows = invitations.parse_pasted(
        "ok@example.com\nnot-an-email\nok@example.com\nTAKEN@example.com"
    )
    with pytest.raises(ServiceError) as caught:
        invitations.add_invitations(admin, campaign, rows)
    errors = caught.value.errors
    assert set(errors) == {"row 2", "row 3", "row 4"}
    assert "not a valid email" in errors["row 2"][0]
    assert "also on row 1" in errors["row 3"][0]
    assert "already invited" in errors["row 4"][0]
    assert db.session.scalar(select(func.count()).select_from(Invitation)) == 1


def test_only_personal_campaigns_that_are_not_closed_take_invitations(factory):
    admin = factory.admin()
    public = factory.campaign(actor=admin)
    with pytest.raises(ServiceError):
        invitations.add_invitations(admin, public, [{"email": "a@example.com"}])
    campaign, admin = personal_campaign(factory)
    campaign.closed_at = utcnow()
    with pytest.raises(ServiceError):
        invite(admin, campaign, "a@example.com")


def _csv(text_: str, encoding="utf-8-sig") -> bytes:
    return text_.encode(encoding)


def _upload(client, campaign, data: bytes, filename: str):
    return client.post(
        f"/campaigns/{campaign.id}/invitations/upload",
        data={"file": (io.BytesIO(data), filename)},
        content_type="multipart/form-data",
    )


def test_a_gb18030_file_with_chinese_headers_is_previewed_then_imported(factory, login_as):
    campaign, admin = personal_campaign(factory)
    client = login_as(admin)
    data = _csv("邮箱,姓名,语言,地区\n"
                "li@example.com,李娜,中文,华东\n"
                "wang@example.com,王伟,en,华北\n", "gb18030")
    preview = _upload(client, campaign, data, "名单.csv")
    assert preview.status_code == 200
    body = preview.get_data(as_text=True)
    assert "李娜" in body and "华东" in body
    assert db.session.scalar(select(func.count()).select_from(Invitation)) == 0  # not yet
    token = re.search(r'name="token" type="hidden" value="([^"]+)"', body)
    token = token or re.search(r'id="token" name="token" type="hidden" value="([^"]+)"', body)
    assert token
    done = client.post(f"/campaigns/{campaign.id}/invitations/upload/confirm",
                       data={"token": token.group(1)})
    assert done.status_code == 303
    people = db.session.scalars(select(Invitation).order_by(Invitation.email)).all()
    assert [(p.email, p.name, p.locale, p.fields) for p in people] == [
        ("li@example.com", "李娜", "zh_CN", {"地区": "华东"}),
        ("wang@example.com", "王伟", "en", {"地区": "华北"}),
    ]


def test_an_xlsx_with_errors_shows_them_row_by_row_and_cannot_be_confirmed(factory, login_as):
    from openpyxl import Workbook

    campaign, admin = personal_campaign(factory)
    client = login_as(admin)
    book = Workbook()
    sheet = book.active
    sheet.append(["Email", "Name", "Language", "Store"])
    sheet.append(["good@example.com", "Good", "en", "Pudong"])
    sheet.append(["broken", "Bad", "en", "Pudong"])
    sheet.append(["good@example.com", "Twice", "klingon", "Pudong"])
    buffer = io.BytesIO()
    book.save(buffer)
    preview = _upload(client, campaign, buffer.getvalue(), "people.xlsx")
    assert preview.status_code == 422
    text_ = visible_text(preview)
    assert "Row 3: “broken” is not a valid email address." in text_
    assert "Row 4: This address is also on row 2." in text_
    assert "Unknown language “klingon”" in text_
    assert 'name="token"' not in preview.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Invitation)) == 0


def test_confirming_checks_again_and_writes_nothing_if_the_list_changed(factory, login_as):
    campaign, admin = personal_campaign(factory)
    client = login_as(admin)
    preview = _upload(client, campaign, _csv("email\na@example.com\nb@example.com\n"), "x.csv")
    token = re.search(r'name="token" type="hidden" value="([^"]+)"',
                      preview.get_data(as_text=True)).group(1)
    invite(admin, campaign, "b@example.com")  # someone else invited b meanwhile
    r = client.post(f"/campaigns/{campaign.id}/invitations/upload/confirm",
                    data={"token": token})
    assert r.status_code == 409
    assert "b@example.com is already invited." in visible_text(r)
    emails = db.session.scalars(select(Invitation.email)).all()
    assert emails == ["b@example.com"]


def test_a_preview_of_one_campaign_cannot_be_confirmed_into_another(factory, login_as):
    campaign, admin = personal_campaign(factory)
    other, _ = personal_campaign(factory, admin=admin)
    client = login_as(admin)
    preview = _upload(client, campaign, _csv("email\na@example.com\n"), "x.csv")
    token = re.search(r'name="token" type="hidden" value="([^"]+)"',
                      preview.get_data(as_text=True)).group(1)
    r = client.post(f"/campaigns/{other.id}/invitations/upload/confirm", data={"token": token})
    assert r.status_code == 302
    assert db.session.scalar(select(func.count()).select_from(Invitation)) == 0


def test_a_file_without_an_email_column_is_refused(factory, login_as):
    campaign, admin = personal_campaign(factory)
    client = login_as(admin)
    r = _upload(client, campaign, _csv("name,region\nLi,East\n"), "x.csv")
    assert "“email” (邮箱) is missing" in visible_text(r)


def test_inviting_from_the_org_chart_by_team_and_reporting_line(factory):
    desk = factory.team(name="Desk")
    field_team = factory.team(name="Field")
    boss = factory.manager(team=field_team)
    report = factory.user(supervisor=boss)
    below = factory.user(supervisor=report)
    on_desk = factory.user(team=desk)
    factory.user(team=desk, active=False)
    factory.user()  # neither
    campaign, admin = personal_campaign(factory)
    created, skipped = invitations.invite_from_org(admin, campaign, team_ids=[desk.id])
    assert [(i.email, i.team_id, i.fields, i.user_id) for i in created] == [
        (on_desk.email, desk.id, {"team": "Desk"}, on_desk.id)
    ]
    created, skipped = invitations.invite_from_org(
        admin, campaign, team_ids=[desk.id], manager_id=boss.id
    )
    assert {i.email for i in created} == {report.email, below.email}
    assert skipped == 1  # on_desk, invited already
    with pytest.raises(ServiceError):
        invitations.invite_from_org(admin, campaign)


# ----------------------------------------------------------------- the page


def test_the_invitations_page_lists_people_and_adds_a_pasted_list(factory, login_as):
    campaign, admin = personal_campaign(factory)
    client = login_as(admin)
    r = client.post(f"/campaigns/{campaign.id}/invitations/paste",
                    data={"text": "Li Na <li@example.com>\nwang@example.com"})
    assert r.status_code == 303
    page = client.get(f"/campaigns/{campaign.id}/invitations")
    text_ = visible_text(page)
    assert "li@example.com" in text_ and "Li Na" in text_ and "2 people invited." in text_
    bad = client.post(f"/campaigns/{campaign.id}/invitations/paste",
                      data={"text": "zhao@example.com\nnope"})
    assert bad.status_code == 422
    assert "row 2:" in visible_text(bad)
    assert db.session.scalar(select(func.count()).select_from(Invitation)) == 2


def test_anonymous_campaigns_hide_who_answered_until_enough_have(client, factory, login_as):
    campaign, admin = personal_campaign(factory, anonymous=True, min_group_size=2)
    people = invite(admin, campaign, "a@example.com", "b@example.com", "c@example.com")
    respondent = client.application.test_client()
    respondent.get(f"/i/{invitations.link_token(people[0])}")
    answer_survey(respondent, campaign)
    admin_client = login_as(admin)
    page = admin_client.get(f"/campaigns/{campaign.id}/invitations?status=completed")
    assert 'data-testid="status-hidden"' in page.get_data(as_text=True)
    assert 'data-testid="count-completed">1<' in page.get_data(as_text=True)
    row = re.search(rf'data-testid="invitation-{people[0].id}">(.*?)</tr>',
                    page.get_data(as_text=True), re.S).group(1)
    assert "tag ok" not in row.split("Email status")[0] and "—" in row
    # The "completed" filter is ignored: everyone is listed.
    assert "c@example.com" in page.get_data(as_text=True)

    other = client.application.test_client()
    other.get(f"/i/{invitations.link_token(people[1])}")
    answer_survey(other, campaign)
    page = admin_client.get(f"/campaigns/{campaign.id}/invitations?status=completed")
    html = page.get_data(as_text=True)
    assert 'data-testid="status-hidden"' not in html
    assert "a@example.com" in html and "c@example.com" not in html


def test_only_admins_see_invitations_and_other_ids_are_not_found(factory, login_as):
    campaign, admin = personal_campaign(factory)
    [invitation] = invite(admin, campaign, "a@example.com")
    other, _ = personal_campaign(factory, admin=admin)
    public = factory.campaign(db.session.get(type(campaign.version.questionnaire),
                                             campaign.version.questionnaire_id), actor=admin)
    manager = factory.manager()
    client = login_as(admin)
    assert client.get("/campaigns/999999/invitations").status_code == 404
    r = client.post(f"/campaigns/{other.id}/invitations/{invitation.id}/revoke")
    assert r.status_code == 404
    assert client.get(f"/campaigns/{public.id}/invitations").status_code == 404
    client.post("/logout")
    client = login_as(manager)
    assert client.get(f"/campaigns/{campaign.id}/invitations").status_code == 403
    assert client.get("/admin/outbox").status_code == 403


def test_revoke_and_new_link_buttons(factory, login_as, sent, base_url):
    campaign, admin = personal_campaign(factory)
    [invitation] = invite(admin, campaign, "a@example.com")
    old = invitations.link_token(invitation)
    client = login_as(admin)
    r = client.post(f"/campaigns/{campaign.id}/invitations/{invitation.id}/revoke")
    assert r.status_code == 303
    db.session.refresh(invitation)
    assert invitation.revoked_at is not None
    assert invitations.exchange_token(old) is None
    r = client.post(f"/campaigns/{campaign.id}/invitations/{invitation.id}/reissue")
    assert r.status_code == 303
    db.session.refresh(invitation)
    new = invitations.link_token(invitation)
    assert invitation.revoked_at is None and new != old
    # The new link is emailed at once.
    [message] = sent
    assert f"/i/{new}" in message.get_body(("plain",)).get_content()


def test_the_upload_page_explains_the_columns_and_offers_a_template(factory, login_as):
    campaign, admin = personal_campaign(factory)
    client = login_as(admin)
    page = client.get(f"/campaigns/{campaign.id}/invitations/upload")
    assert page.status_code == 200 and "邮箱" in visible_text(page)
    template = client.get(f"/campaigns/{campaign.id}/invitations/template.csv",
                          headers={"Accept-Language": "zh-CN"})
    assert template.data.startswith(b"\xef\xbb\xbf")
    assert template.data.decode("utf-8-sig").startswith("邮箱,姓名,语言")
    filled = template.data + b"a@example.com,A,en,East\r\n"
    rows = invitations.file_rows(invitations.parse_file("t.csv", filled))
    assert rows[0]["email"] == "a@example.com" and rows[0]["fields"] == {"地区": "East"}


def test_the_org_chart_form_invites_a_team(factory, login_as):
    desk = factory.team(name="Desk")
    member = factory.user(team=desk)
    campaign, admin = personal_campaign(factory)
    client = login_as(admin)
    page = client.get(f"/campaigns/{campaign.id}/invitations").get_data(as_text=True)
    assert f'name="teams" type="checkbox" value="{desk.id}"' in page
    r = client.post(f"/campaigns/{campaign.id}/invitations/org", data={"teams": [desk.id]})
    assert r.status_code == 303
    [invitation] = db.session.scalars(select(Invitation)).all()
    assert invitation.email == member.email and invitation.fields == {"team": "Desk"}
    nothing = client.post(f"/campaigns/{campaign.id}/invitations/org", data={})
    assert "Choose teams, a manager or everyone." in visible_text(client.get(
        nothing.headers["Location"]))
