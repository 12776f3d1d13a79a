"""The campaigns API under /api/v1: campaigns and their settings, launch and close,
the webhook, invitations, progress, response status, results, soft deletion, erasure,
scopes and the OpenAPI document."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from core.database import utcnow
from core.extensions import db
from org import apikeys
from org.models import AuditEvent
from surveys import invitations, services
from surveys.models import Campaign, Invitation, Response, WebhookDelivery
from tests.surveys.test_responses_admin import complete
from tests.web.apps import isolated_requests
from tests.web.test_api import _Caller, assert_error

BASE = "/api/v1/campaigns"


@pytest.fixture(autouse=True)
def _isolated_requests(app):
    with isolated_requests(app):
        yield


@pytest.fixture
def admin(factory):
    return factory.admin()


@pytest.fixture
def writer(client, admin):
    _key, plaintext = apikeys.create_api_key(admin, "CRM sync", "write")
    return _Caller(client, plaintext)


@pytest.fixture
def reader(client, admin):
    _key, plaintext = apikeys.create_api_key(admin, "BI dashboard", "read")
    return _Caller(client, plaintext)


@pytest.fixture
def questionnaire(factory, admin):
    return factory.questionnaire(actor=admin)


def _create(writer, questionnaire, **body):
    body = {"questionnaire_id": questionnaire.id, "name": "Helpdesk, March", **body}
    return writer.post(BASE, json=body)


def _personal(writer, questionnaire, **body):
    r = _create(writer, questionnaire, audience="personal", launch=True, **body)
    assert r.status_code == 201, r.get_data(as_text=True)
    return db.session.get(Campaign, r.get_json()["id"])


# ----------------------------------------------------------------- the document


def test_the_openapi_document_describes_the_campaign_endpoints(client):
    from openapi_spec_validator import validate

    spec = client.get("/api/v1/openapi.json").get_json()
    validate(spec)
    paths = spec["paths"]
    item = f"{BASE}/{{campaign_id}}"
    assert {"get", "post"} <= set(paths[BASE])
    assert {"get", "patch"} <= set(paths[item])
    for action in ("launch", "close", "reminders", "invitations/send"):
        assert "post" in paths[f"{item}/{action}"], action
    assert {"put", "delete"} <= set(paths[f"{item}/webhook"])
    assert {"get", "post"} <= set(paths[f"{item}/invitations"])
    for action in ("revoke", "reissue"):
        assert "post" in paths[f"{item}/invitations/{{invitation_id}}/{action}"]
    for view in ("progress", "responses", "results"):
        assert "get" in paths[f"{item}/{view}"]
    assert "delete" in paths[f"{item}/responses/{{response_id}}"]
    assert "post" in paths["/api/v1/erasure"]
    results = paths[f"{item}/results"]
    assert "422" in results["get"]["responses"]
    parameters = results["get"]["parameters"] + results.get("parameters", [])
    assert {"from", "to", "field.{name}"} <= {p["name"] for p in parameters}
    created = spec["components"]["schemas"]["CampaignCreated"]["properties"]
    assert "webhook_secret" in created
    assert "webhook_secret" not in spec["components"]["schemas"]["Campaign"]["properties"]


# ----------------------------------------------------------------- campaigns


def test_a_campaign_is_created_read_listed_and_changed(writer, reader, questionnaire, factory):
    vendor = factory.vendor(name="Acme 艾克米")
    r = _create(writer, questionnaire, audience="personal",
                opens_at="2030-03-01T09:00:00+08:00", closes_at="2030-03-31T18:00:00+08:00",
                max_responses=300, subject={"type": "vendor", "id": vendor.id},
                hidden_fields=["ticket"], min_group_size=3)
    assert r.status_code == 201, r.get_data(as_text=True)
    body = r.get_json()
    assert r.headers["Location"].endswith(f"{BASE}/{body['id']}")
    assert body["status"] == "draft" and body["audience"] == "personal"
    assert body["opens_at"] == "2030-03-01T01:00:00+00:00"  # stored and shown in UTC
    assert body["subject"] == {"type": "vendor", "id": vendor.id, "name": "Acme 艾克米"}
    assert body["questionnaire_key"] == questionnaire.key and body["version"] == 1
    assert body["counts"] == {"completed": 0, "in_progress": 0}
    assert "webhook_secret" not in body

    got = reader.get(f"{BASE}/{body['id']}").get_json()
    assert got["name"] == "Helpdesk, March" and got["max_responses"] == 300

    changed = writer.patch(f"{BASE}/{body['id']}", json={"name": "Helpdesk Q1",
                                                          "max_responses": None})
    assert changed.status_code == 200
    assert changed.get_json()["name"] == "Helpdesk Q1"
    assert changed.get_json()["max_responses"] is None

    listed = reader.get(f"{BASE}?status=draft")
    assert [c["id"] for c in listed.get_json()] == [body["id"]]
    assert '"total": 1' in listed.headers["X-Pagination"]
    assert reader.get(f"{BASE}?status=open").get_json() == []


def test_times_without_a_zone_and_bad_settings_are_refused(writer, questionnaire):
    assert_error(_create(writer, questionnaire, closes_at="2030-03-31T18:00:00"), 422,
                 field="closes_at")
    assert_error(_create(writer, questionnaire, closes_at="2020-01-01T00:00:00+00:00"), 400,
                 field="closes_at")
    assert_error(_create(writer, questionnaire, audience="everyone"), 422, field="audience")
    assert_error(writer.post(BASE, json={"questionnaire_id": 999999, "name": "x"}), 400,
                 field="questionnaire_id")
    assert_error(_create(writer, questionnaire, subject={"type": "team", "id": 999999}), 400,
                 field="subject")
    assert db.session.scalar(select(func.count()).select_from(Campaign)) == 0


def test_launch_close_and_settings_that_are_fixed_once_launched(writer, questionnaire):
    campaign_id = _create(writer, questionnaire).get_json()["id"]
    launched = writer.post(f"{BASE}/{campaign_id}/launch")
    assert launched.status_code == 200 and launched.get_json()["status"] == "open"
    assert_error(writer.post(f"{BASE}/{campaign_id}/launch"), 409)
    assert_error(writer.patch(f"{BASE}/{campaign_id}", json={"anonymous": True}), 400,
                 field="anonymous")
    closed = writer.post(f"{BASE}/{campaign_id}/close")
    assert closed.status_code == 200 and closed.get_json()["status"] == "closed"
    assert closed.get_json()["closed_at"].endswith("+00:00")
    reopened = writer.post(f"{BASE}/{campaign_id}/reopen")
    assert reopened.get_json()["status"] == "open"


def test_the_webhook_secret_is_shown_once(writer, reader, questionnaire):
    r = _create(writer, questionnaire, webhook_url="https://crm.example.com/hooks")
    body = r.get_json()
    first_secret = body["webhook_secret"]
    assert len(first_secret) >= 43
    campaign_id = body["id"]
    assert "webhook_secret" not in reader.get(f"{BASE}/{campaign_id}").get_json()

    r = writer.put(f"{BASE}/{campaign_id}/webhook", json={"url": "https://crm.example.com/v2"})
    assert r.status_code == 200
    assert r.get_json()["url"] == "https://crm.example.com/v2"
    assert r.get_json()["secret"] not in (None, first_secret)
    assert db.session.get(Campaign, campaign_id).webhook_secret == r.get_json()["secret"]
    assert_error(writer.put(f"{BASE}/{campaign_id}/webhook", json={"url": "ftp://x.example"}),
                 400, field="webhook_url")

    assert writer.delete(f"{BASE}/{campaign_id}/webhook").status_code == 204
    campaign = db.session.get(Campaign, campaign_id)
    assert campaign.webhook_url is None and campaign.webhook_secret is None
    assert reader.get(f"{BASE}/{campaign_id}/webhook/deliveries").get_json() == []


# ----------------------------------------------------------------- invitations


def test_invitations_are_added_all_or_nothing_with_errors_by_row(writer, reader, questionnaire):
    campaign = _personal(writer, questionnaire)
    url = f"{BASE}/{campaign.id}/invitations"
    bad = writer.post(url, json=[
        {"email": "li.na@example.com", "name": "李娜"},
        {"email": "not-an-address"},
        {"email": "LI.NA@example.com", "locale": "klingon"},
    ])
    body = assert_error(bad, 400)
    assert set(body["errors"]) == {"row 2", "row 3"}
    assert any("not a valid email" in m for m in body["errors"]["row 2"])
    assert len(body["errors"]["row 3"]) == 2  # repeated address and unknown language
    assert db.session.scalar(select(func.count()).select_from(Invitation)) == 0

    shape = writer.post(url, json=[{"email": "a@example.com"}, {"name": "no address"}])
    assert set(assert_error(shape, 422)["errors"]) == {"row 2"}

    good = writer.post(url, json=[
        {"email": "li.na@example.com", "name": "李娜", "locale": "中文",
         "fields": {"region": "East"}},
        {"email": "wang.wei@example.com"},
    ])
    assert good.status_code == 201, good.get_data(as_text=True)
    added = good.get_json()
    assert [i["email"] for i in added] == ["li.na@example.com", "wang.wei@example.com"]
    assert added[0]["locale"] == "zh_CN" and added[0]["fields"] == {"region": "East"}
    assert "token" not in str(added)  # links are never listed

    listed = reader.get(url).get_json()
    assert [i["email"] for i in listed] == ["li.na@example.com", "wang.wei@example.com"]
    assert assert_error(writer.post(url, json=[{"email": "wang.wei@example.com"}]), 400)


def test_an_invitation_is_revoked_and_reissued_with_a_new_link(writer, client, questionnaire):
    campaign = _personal(writer, questionnaire)
    [added] = writer.post(f"{BASE}/{campaign.id}/invitations",
                          json=[{"email": "zhao@example.com"}]).get_json()
    invitation = db.session.get(Invitation, added["id"])
    old_token = invitations.link_token(invitation)
    item = f"{BASE}/{campaign.id}/invitations/{invitation.id}"

    revoked = writer.post(f"{item}/revoke")
    assert revoked.status_code == 200 and revoked.get_json()["revoked_at"] is not None
    assert invitations.exchange_token(old_token) is None

    reissued = writer.post(f"{item}/reissue")
    assert reissued.status_code == 200
    body = reissued.get_json()
    assert body["invitation"]["revoked_at"] is None
    link = body["link"]
    assert link.startswith("http") and "/i/" in link
    new_token = link.rsplit("/", 1)[1]
    assert new_token != old_token
    db.session.expire_all()
    assert invitations.exchange_token(new_token).id == invitation.id
    assert invitations.exchange_token(old_token) is None
    other = _personal(writer, questionnaire, name="Other")
    assert_error(writer.post(f"{BASE}/{other.id}/invitations/{invitation.id}/revoke"), 404)


def test_sending_and_reminding_queue_emails(writer, questionnaire, app):
    campaign = _personal(writer, questionnaire)
    writer.post(f"{BASE}/{campaign.id}/invitations",
                json=[{"email": "a@example.com"}, {"email": "b@example.com"}])
    sent = writer.post(f"{BASE}/{campaign.id}/invitations/send")
    assert sent.status_code == 202 and sent.get_json() == {"queued": 2}
    outbox = app.extensions.get("orbit_mail_sent", [])
    assert {m["To"] for m in outbox[-2:]} == {"a@example.com", "b@example.com"}
    assert writer.post(f"{BASE}/{campaign.id}/invitations/send").get_json() == {"queued": 0}
    reminded = writer.post(f"{BASE}/{campaign.id}/reminders")
    assert reminded.status_code == 202 and reminded.get_json() == {"queued": 2}
    writer.post(f"{BASE}/{campaign.id}/close")
    assert_error(writer.post(f"{BASE}/{campaign.id}/reminders"), 409)


# ----------------------------------------------------------------- progress, responses, results


def test_progress_follows_completed_and_partial_responses(writer, reader, questionnaire):
    campaign = _personal(writer, questionnaire)
    writer.post(f"{BASE}/{campaign.id}/invitations",
                json=[{"email": f"p{i}@example.com"} for i in range(4)])
    people = db.session.scalars(select(Invitation).order_by(Invitation.id)).all()
    complete(campaign, invitation=people[0])
    complete(campaign, invitation=people[1], finish=False)
    progress = reader.get(f"{BASE}/{campaign.id}/progress?tz=Asia/Shanghai")
    assert progress.status_code == 200
    body = progress.get_json()
    assert (body["completed"], body["partial"], body["invited"]) == (1, 1, 4)
    assert body["response_rate"] == 0.25 and body["time_zone"] == "Asia/Shanghai"
    assert body["timeline"][-1]["cumulative"] == 1
    assert {p["email"] for p in body["non_responders"]["people"]} == {
        "p1@example.com", "p2@example.com", "p3@example.com"
    }
    assert_error(reader.get(f"{BASE}/{campaign.id}/progress?tz=Mars/Olympus"), 400, field="tz")


def test_response_status_hides_times_and_links_in_anonymous_campaigns(
    writer, reader, questionnaire
):
    named = _personal(writer, questionnaire, name="Named")
    anonymous = _personal(writer, questionnaire, name="Anonymous", anonymous=True)
    for campaign in (named, anonymous):
        writer.post(f"{BASE}/{campaign.id}/invitations", json=[{"email": "x@example.com"}])
    named_inv, anon_inv = db.session.scalars(select(Invitation).order_by(Invitation.id)).all()
    done = complete(named, invitation=named_inv)
    complete(anonymous, invitation=anon_inv)

    [row] = reader.get(f"{BASE}/{named.id}/responses").get_json()
    assert row["id"] == done.id and row["status"] == "completed"
    assert row["submitted_at"] == done.submitted_at.isoformat()
    assert row["invitation_id"] == named_inv.id
    [anon_row] = reader.get(f"{BASE}/{anonymous.id}/responses").get_json()
    assert anon_row["status"] == "completed"
    assert (anon_row["started_at"], anon_row["submitted_at"], anon_row["invitation_id"]) == (
        None, None, None
    )
    # Who answered is not told either while fewer than min_group_size did.
    [listed] = reader.get(f"{BASE}/{anonymous.id}/invitations").get_json()
    assert listed["completed_at"] is None
    # Nor when, through the webhook's deliveries.
    for campaign, response_id in ((named, done.id), (anonymous, anon_row["id"])):
        db.session.add(WebhookDelivery(campaign_id=campaign.id, response_id=response_id,
                                       event="response.completed", payload={},
                                       status="delivered", attempts=1,
                                       delivered_at=utcnow()))
    [named_delivery] = reader.get(f"{BASE}/{named.id}/webhook/deliveries").get_json()
    assert named_delivery["delivered_at"] is not None
    [anon_delivery] = reader.get(f"{BASE}/{anonymous.id}/webhook/deliveries").get_json()
    assert anon_delivery["status"] == "delivered"
    assert (anon_delivery["created_at"], anon_delivery["delivered_at"]) == (None, None)


def test_deleting_a_response_needs_a_reason_and_restoring_counts_it_again(
    writer, reader, factory, admin
):
    campaign = factory.campaign(actor=admin)
    response = complete(campaign)
    complete(campaign)
    url = f"{BASE}/{campaign.id}/responses/{response.id}"
    assert_error(writer.delete(url), 422, field="reason")
    assert_error(reader.delete(f"{url}?reason=spam"), 403)
    assert writer.delete(f"{url}?reason=Test+by+the+helpdesk").status_code == 204
    assert services.completed_count(campaign) == 1
    assert reader.get(f"{BASE}/{campaign.id}").get_json()["counts"]["completed"] == 1
    assert [r["id"] for r in reader.get(
        f"{BASE}/{campaign.id}/responses?deleted=true").get_json()] == [response.id]
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "response.delete"))
    assert event.details["reason"] == "Test by the helpdesk" and event.api_key_id is not None
    assert_error(writer.delete(f"{url}?reason=again"), 409)

    restored = writer.post(f"{url}/restore")
    assert restored.status_code == 200 and restored.get_json()["deleted_at"] is None
    assert services.completed_count(campaign) == 2
    assert_error(writer.delete(f"{BASE}/{campaign.id}/responses/999999?reason=x"), 404)


def test_results_summarise_filter_and_refuse_a_filter_that_isolates_someone(
    reader, factory, admin
):
    campaign = factory.campaign(actor=admin, min_group_size=3)
    campaign.hidden_fields = ["region"]
    for _ in range(4):
        complete(campaign, fields={"region": "East"})
    complete(campaign, fields={"region": "West"}, answers={
        "csat": 5, "channel": "email", "nps": 10, "comment": "Great"})
    r = reader.get(f"{BASE}/{campaign.id}/results")
    assert r.status_code == 200, r.get_data(as_text=True)
    body = r.get_json()
    assert body["responses"] == 5 and body["total_responses"] == 5
    assert {q["key"] for q in body["questions"]} >= {"csat", "channel", "nps"}

    west = reader.get(f"{BASE}/{campaign.id}/results?field.region=West")
    refused = assert_error(west, 422)
    assert "3" in refused["message"]  # says how many are needed
    # Leaving only one person out is refused too (the rest minus the whole tells).
    assert_error(reader.get(f"{BASE}/{campaign.id}/results?field.region=East"), 422)
    today = utcnow().date()
    dated = reader.get(f"{BASE}/{campaign.id}/results?from={today - timedelta(days=1)}"
                       f"&to={today + timedelta(days=1)}&tz=UTC")
    assert dated.get_json()["responses"] == 5
    assert_error(reader.get(f"{BASE}/{campaign.id}/results?from=yesterday"), 422)
    assert_error(reader.get(f"{BASE}/{campaign.id}/results?from=2025-02-02&to=2025-02-01"),
                 400, field="to")


# ----------------------------------------------------------------- erasure


def test_erasure_by_email_and_by_token(writer, reader, questionnaire):
    campaign = _personal(writer, questionnaire)
    writer.post(f"{BASE}/{campaign.id}/invitations",
                json=[{"email": "li.na@example.com", "name": "Li Na"},
                      {"email": "wang.wei@example.com"}])
    li, wang = db.session.scalars(select(Invitation).order_by(Invitation.id)).all()
    response = complete(campaign, invitation=li)
    response_id = response.id
    wang_token = invitations.link_token(wang)

    assert_error(reader.post("/api/v1/erasure", json={"email": "li.na@example.com"}), 403)
    r = writer.post("/api/v1/erasure", json={"email": "Li.Na@example.com"})
    assert r.status_code == 200
    assert r.get_json() == {
        "invitations": 1, "campaigns": 1, "responses": 1, "anonymous_invitations": 0,
        "email_messages": 0, "webhook_deliveries": 0, "outbox_files": 0, "opted_out": True,
    }
    db.session.expire_all()
    assert db.session.get(Response, response_id) is None
    assert "li.na" not in reader.get(f"{BASE}/{campaign.id}/invitations").get_data(as_text=True)

    by_token = writer.post("/api/v1/erasure", json={"token": wang_token})
    assert by_token.get_json()["invitations"] == 1
    assert_error(writer.post("/api/v1/erasure", json={"token": wang_token}), 404)
    assert_error(writer.post("/api/v1/erasure", json={"email": "a@example.com",
                                                       "token": "abc"}), 400)
    assert_error(writer.post("/api/v1/erasure", json={"email": "nonsense"}), 400, field="email")


# ----------------------------------------------------------------- keys


def test_read_keys_cannot_change_and_requests_need_a_valid_key(
    writer, reader, questionnaire, client, admin, login_as
):
    campaign_id = _create(writer, questionnaire).get_json()["id"]
    assert reader.get(f"{BASE}/{campaign_id}").status_code == 200
    for method, path in (("post", BASE), ("patch", f"{BASE}/{campaign_id}"),
                         ("post", f"{BASE}/{campaign_id}/launch"),
                         ("put", f"{BASE}/{campaign_id}/webhook"),
                         ("post", f"{BASE}/{campaign_id}/invitations")):
        assert_error(getattr(reader, method)(path, json={}), 403)
    assert db.session.get(Campaign, campaign_id).launched_at is None

    assert_error(_Caller(client, None).get(BASE), 401)
    assert_error(_Caller(client, "orb_nope_nope").get(BASE), 401)
    key, plaintext = apikeys.create_api_key(admin, "Old", "write")
    apikeys.revoke_api_key(admin, key)
    assert_error(_Caller(client, plaintext).get(BASE), 401)
    # A logged-in browser is not an API client.
    login_as(admin)
    assert_error(client.get(BASE), 401)
    assert_error(reader.get(f"{BASE}/999999"), 404)
