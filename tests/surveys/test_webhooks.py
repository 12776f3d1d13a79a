"""The "response completed" webhook: a real HTTP receiver on 127.0.0.1 gets the signed
payload and verifies it; a failing receiver is retried, then the delivery is failed,
visible to the admin and can be sent again."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from huey.storage import MemoryStorage
from sqlalchemy import select

from core import tasks
from core.exceptions import ConflictError
from core.extensions import db
from core.tasks import TaskRun, TaskStatus
from org.models import AuditEvent
from surveys import campaigns, responses_admin, webhooks
from surveys.models import WebhookDelivery
from tests.surveys.test_responses_admin import ANSWERS, complete, invite
from tests.web.apps import isolated_requests
from tests.web.page import flashes, visible_text

SECRET = "whsec-test-7f3a"


class Receiver:
    """An HTTP server on 127.0.0.1 (a free port) answering every POST with ``status``
    and keeping what it received."""

    def __init__(self, status: int = 200):
        self.status = status
        self.received: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append({"headers": dict(self.headers), "body": body,
                                          "path": self.path})
                self.send_response(receiver.status)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok" if receiver.status < 300 else b"receiver is down")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/orbit"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    with Receiver() as r:
        yield r


@pytest.fixture
def failing_receiver():
    with Receiver(status=500) as r:
        yield r


@pytest.fixture
def admin(factory):
    return factory.admin()


def hooked_campaign(factory, admin, url, questionnaire=None, **settings):
    campaign = factory.campaign(questionnaire, actor=admin, name="Helpdesk 客服")
    campaign.webhook_url = url
    campaign.webhook_secret = SECRET
    for name, value in settings.items():
        setattr(campaign, name, value)
    db.session.flush()
    return campaign


def delivery_of(response) -> WebhookDelivery:
    return db.session.scalar(
        select(WebhookDelivery).where(WebhookDelivery.response_id == response.id)
    )


# ----------------------------------------------------------------- signatures


def test_a_signature_verifies_only_with_the_same_secret_timestamp_and_body():
    body = b'{"event":"response.completed"}'
    header = webhooks.signature(SECRET, "1700000000", body)
    assert header.startswith("sha256=") and len(header) == 7 + 64
    assert webhooks.verify_signature(SECRET, "1700000000", body, header)
    assert webhooks.verify_signature(SECRET, "1700000000", body.decode(), header)
    assert not webhooks.verify_signature("other-secret", "1700000000", body, header)
    assert not webhooks.verify_signature(SECRET, "1700000001", body, header)
    assert not webhooks.verify_signature(SECRET, "1700000000", body + b" ", header)
    assert not webhooks.verify_signature(SECRET, "1700000000", body, None)
    # A receiver may also refuse old timestamps (replays).
    assert not webhooks.verify_signature(SECRET, "1700000000", body, header,
                                         max_age_seconds=300, now=1700000000 + 301)
    assert webhooks.verify_signature(SECRET, "1700000000", body, header,
                                     max_age_seconds=300, now=1700000000 + 299)


# ----------------------------------------------------------------- delivering


def test_a_completed_response_is_posted_signed_to_the_webhook(factory, admin, receiver):
    campaign = hooked_campaign(factory, admin, receiver.url)
    response = complete(campaign, fields={"ticket": "T-88"}, locale="zh_CN")

    assert len(receiver.received) == 1
    request = receiver.received[0]
    headers = request["headers"]
    assert request["path"] == "/hooks/orbit"
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Orbit-Event"] == "response.completed"
    delivery = delivery_of(response)
    assert headers["X-Orbit-Delivery"] == str(delivery.id)
    assert abs(int(headers["X-Orbit-Timestamp"]) - time.time()) < 60
    assert webhooks.verify_signature(
        SECRET, headers["X-Orbit-Timestamp"], request["body"], headers["X-Orbit-Signature"],
        max_age_seconds=300,
    )
    payload = json.loads(request["body"])
    assert payload["event"] == "response.completed"
    assert payload["campaign"] == {"id": campaign.id, "name": "Helpdesk 客服"}
    body = payload["response"]
    assert body["id"] == response.id and body["version"] == 1
    assert body["locale"] == "zh_CN" and body["fields"] == {"ticket": "T-88"}
    assert body["answers"] == ANSWERS
    assert body["submitted_at"] == response.submitted_at.isoformat()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (
        "delivered", 1, 200
    )
    assert delivery.delivered_at is not None


def test_an_anonymous_campaign_sends_no_submission_time(factory, admin, receiver):
    campaign = hooked_campaign(factory, admin, receiver.url, anonymous=True)
    complete(campaign)
    payload = json.loads(receiver.received[0]["body"])
    assert "submitted_at" not in payload["response"]
    assert payload["response"]["answers"] == ANSWERS


def test_no_webhook_no_delivery_and_partial_responses_send_nothing(factory, admin, receiver):
    plain = factory.campaign(actor=admin)
    complete(plain)
    hooked = hooked_campaign(factory, admin, receiver.url,
                             questionnaire=plain.version.questionnaire)
    complete(hooked, finish=False)
    assert db.session.scalar(select(WebhookDelivery)) is None
    assert receiver.received == []


def _as_the_worker(monkeypatch, app):
    """Queue jobs as in production (after commit) instead of running them inline, and
    return the ids a worker would pick up."""
    queued: list[str] = []
    monkeypatch.setitem(app.config, "TASKS_EAGER", False)
    monkeypatch.setattr(tasks, "execute_job", lambda uid: queued.append(uid))
    return queued


def test_a_failing_receiver_is_retried_then_the_delivery_fails(
    factory, admin, failing_receiver, monkeypatch, app
):
    retries = app.config["TASK_RETRIES"]
    campaign = hooked_campaign(factory, admin, failing_receiver.url)
    queued = _as_the_worker(monkeypatch, app)
    response = complete(campaign)
    db.session.commit()
    assert len(queued) == 1
    delivery = delivery_of(response)

    for attempt in range(1, retries + 1):
        tasks.run_job(queued[0])  # what the worker does at each (re)try
        db.session.refresh(delivery)
        assert (delivery.status, delivery.attempts) == ("pending", attempt)
        assert delivery.last_status_code == 500
        assert "receiver is down" in delivery.last_error
        run = db.session.scalar(select(TaskRun).where(TaskRun.uid == queued[0]))
        assert run.status == TaskStatus.RETRYING
    tasks.run_job(queued[0])  # the last attempt
    db.session.refresh(delivery)
    assert (delivery.status, delivery.attempts) == ("failed", retries + 1)
    run = db.session.scalar(select(TaskRun).where(TaskRun.uid == queued[0]))
    assert run.status == TaskStatus.FAILED and "HTTP 500" in run.error

    # Every attempt was the same delivery, each signed afresh.
    assert len(failing_receiver.received) == retries + 1
    for request in failing_receiver.received:
        headers = request["headers"]
        assert headers["X-Orbit-Delivery"] == str(delivery.id)
        assert webhooks.verify_signature(SECRET, headers["X-Orbit-Timestamp"],
                                         request["body"], headers["X-Orbit-Signature"])

    # The receiver is fixed; "Run again" on the jobs page delivers it.
    failing_receiver.status = 200
    campaigns.retry_failed_run(admin, run)
    db.session.commit()
    tasks.run_job(queued[-1])
    db.session.refresh(delivery)
    assert (delivery.status, delivery.attempts, delivery.last_error) == (
        "delivered", retries + 2, None
    )


def test_a_failed_delivery_can_be_sent_again_once_the_receiver_is_back(
    factory, admin, failing_receiver, login_as
):
    campaign = hooked_campaign(factory, admin, failing_receiver.url)
    response = complete(campaign)
    delivery = delivery_of(response)
    # In the test configuration a job runs once, inline; make this its last attempt.
    delivery.status = "failed"
    db.session.flush()
    client = login_as(admin)

    page = client.get(f"/campaigns/{campaign.id}/webhooks")
    text = visible_text(page)
    assert "Failed" in text and "500" in text and "receiver is down" in text
    assert "Send again" in text

    failing_receiver.status = 204  # fixed
    done = client.post(
        f"/campaigns/{campaign.id}/webhooks/{delivery.id}/resend", follow_redirects=True
    )
    assert any("queued again" in f for f in flashes(done))
    db.session.refresh(delivery)
    assert (delivery.status, delivery.last_status_code) == ("delivered", 204)
    assert delivery.attempts == 2
    assert "Delivered" in visible_text(client.get(f"/campaigns/{campaign.id}/webhooks"))
    assert db.session.scalar(
        select(AuditEvent.object_id).where(AuditEvent.action == "webhook.resend")
    ) == delivery.id
    with pytest.raises(ConflictError):
        webhooks.send_again(admin, delivery)  # delivered: nothing to resend


def test_a_receiver_that_does_not_listen_is_recorded(factory, admin):
    with Receiver() as gone:
        url = gone.url
    campaign = hooked_campaign(factory, admin, url)
    response = complete(campaign)
    delivery = delivery_of(response)
    # Tests run jobs once, inline (no retry), so one failed attempt is final here.
    assert delivery.attempts == 1 and delivery.status == "failed"
    assert delivery.last_status_code is None
    assert delivery.last_error.startswith("Could not connect")


def test_only_http_urls_are_posted_to(factory, admin, tmp_path):
    target = tmp_path / "stolen.txt"
    campaign = hooked_campaign(factory, admin, f"file://{target}")
    response = complete(campaign)
    delivery = delivery_of(response)
    assert "Only http:// and https://" in delivery.last_error
    assert not target.exists()


def test_redirects_are_not_followed(factory, admin, receiver):
    with Receiver(status=302) as redirecting:
        campaign = hooked_campaign(factory, admin, redirecting.url)
        response = complete(campaign)
    delivery = delivery_of(response)
    assert delivery.last_status_code == 302 and "not followed" in delivery.last_error
    assert receiver.received == []


def test_erasure_scrubs_and_cancels_the_deliveries_about_the_person(app, factory, admin,
                                                                    failing_receiver):
    campaign = hooked_campaign(factory, admin, failing_receiver.url)
    invitation = invite(campaign, "chen.jie@example.com", name="Chen Jie")
    # As in production: the delivery waits in the queue for the worker.
    app.config["TASKS_EAGER"] = False
    previous, tasks.huey.storage = tasks.huey.storage, MemoryStorage("webhook-test")
    try:
        response = complete(campaign, invitation=invitation,
                            fields={"email": "chen.jie@example.com"})
    finally:
        app.config["TASKS_EAGER"] = True
        tasks.huey.storage = previous
    delivery = delivery_of(response)
    assert delivery.status == "pending" and delivery.attempts == 0

    responses_admin.erase_person(admin, email="chen.jie@example.com")
    db.session.refresh(delivery)
    assert delivery.response_id is None and delivery.payload.get("erased") is True
    assert "chen" not in json.dumps(delivery.payload)
    assert delivery.status == "failed"  # never sent again
    with pytest.raises(ConflictError):
        webhooks.send_again(admin, delivery)
    assert webhooks.deliver_webhook(delivery.id) == {"skipped": "failed"}


@pytest.fixture(autouse=True)
def _isolated_requests(app):
    with isolated_requests(app):
        yield
