"""The "response completed" webhook: a signed JSON POST to the URL a campaign
registered, sent by a background job and retried.

When a response of a campaign with a ``webhook_url`` is completed, a
:class:`WebhookDelivery` is recorded in the submitting transaction and the job
``surveys.deliver_webhook`` is queued (it runs once that transaction commits). The job
POSTs the payload as JSON with these headers:

``X-Orbit-Event``
    ``response.completed``
``X-Orbit-Delivery``
    the delivery's id (the same on every retry: use it to ignore duplicates)
``X-Orbit-Timestamp``
    Unix time of this attempt, in seconds
``X-Orbit-Signature``
    ``sha256=`` + hex HMAC-SHA256 of ``f"{timestamp}.{body}"`` keyed with the
    campaign's webhook secret (see :func:`verify_signature`)

A 2xx answer within 10 seconds means delivered. Anything else (another status, a
redirect, a timeout, a refused connection) is recorded on the delivery (attempts,
status code, error) and the job raises, so the task queue runs it again
(``TASK_RETRIES`` more times, a minute apart). After the last attempt the delivery is
``failed``; the admin sees it on the campaign's webhook page and can send it again.

The URL and secret are read at each attempt, so fixing a wrong URL lets the
remaining retries (or "send again") succeed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Select, select

from core.database import utcnow
from core.exceptions import ConflictError, NotFound, ServiceError
from core.extensions import db
from core.i18n import lazy_gettext as _l
from core.tasks import Incomplete, current_run, enqueue, job
from org import audit
from org.services import require_admin
from surveys import services
from surveys.models import Campaign, Response, WebhookDelivery

EVENT_COMPLETED = "response.completed"
JOB_NAME = "surveys.deliver_webhook"
TIMEOUT_SECONDS = 10
SCHEMES = ("http", "https")
USER_AGENT = "Orbit-Webhook/1"


class DeliveryStatus:
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class WebhookFailed(Incomplete):
    """An attempt did not get a 2xx answer (raised so that the job is retried)."""


# ----------------------------------------------------------------- signing


def signature(secret: str, timestamp: str, body: bytes | str) -> str:
    """The ``X-Orbit-Signature`` value: ``sha256=`` + hex HMAC-SHA256(secret,
    ``f"{timestamp}.{body}"``)."""
    if isinstance(body, str):
        body = body.encode("utf-8")
    message = f"{timestamp}.".encode() + body
    digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(
    secret: str,
    timestamp: str,
    body: bytes | str,
    header: str | None,
    *,
    max_age_seconds: int | None = None,
    now: float | None = None,
) -> bool:
    """Whether ``header`` (``X-Orbit-Signature``) signs ``timestamp`` and ``body`` with
    ``secret``, compared in constant time. With ``max_age_seconds``, a timestamp
    further than that from ``now`` is refused too (protects against replays)."""
    if not header or not secret or timestamp is None:
        return False
    if max_age_seconds is not None:
        try:
            age = abs((time.time() if now is None else now) - int(timestamp))
        except ValueError:
            return False
        if age > max_age_seconds:
            return False
    return hmac.compare_digest(signature(secret, str(timestamp), body), header.strip())


# ----------------------------------------------------------------- recording deliveries


def completed_payload(campaign: Campaign, response: Response) -> dict[str, Any]:
    """What the receiver gets about a completed response (answers by question key, in
    the API's representation). No submission time for anonymous campaigns."""
    body: dict[str, Any] = {
        "id": response.id,
        "version": response.version.number,
        "locale": response.locale,
        "fields": dict(response.fields or {}),
        "answers": services.load_answers(response),
    }
    if not campaign.anonymous and response.submitted_at is not None:
        body["submitted_at"] = response.submitted_at.isoformat()
    return {
        "event": EVENT_COMPLETED,
        "campaign": {"id": campaign.id, "name": campaign.name},
        "questionnaire": campaign.version.questionnaire.key,
        "response": body,
    }


@services.on_completed
def _on_completed(response: Response) -> None:
    campaign = response.campaign
    if campaign is None or not campaign.webhook_url:
        return
    delivery = WebhookDelivery(
        campaign_id=campaign.id,
        response_id=response.id,
        event=EVENT_COMPLETED,
        payload=completed_payload(campaign, response),
        status=DeliveryStatus.PENDING,
        attempts=0,
    )
    db.session.add(delivery)
    db.session.flush()
    _queue(delivery)


def _queue(delivery: WebhookDelivery) -> None:
    enqueue(JOB_NAME, campaign_id=delivery.campaign_id, delivery_id=delivery.id)


def list_deliveries(actor, campaign: Campaign, *, status: str | None = None) -> Select:
    """The campaign's deliveries, newest first."""
    require_admin(actor)
    query = select(WebhookDelivery).where(WebhookDelivery.campaign_id == campaign.id)
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    return query.order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())


def get_delivery(actor, campaign: Campaign, delivery_id: int) -> WebhookDelivery:
    require_admin(actor)
    delivery = db.session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.campaign_id != campaign.id:
        raise NotFound(_l("No such webhook delivery."))
    return delivery


def is_erased(delivery: WebhookDelivery) -> bool:
    return bool((delivery.payload or {}).get("erased"))


def send_again(actor, delivery: WebhookDelivery) -> WebhookDelivery:
    """Queue a failed delivery again, with a full set of retries."""
    require_admin(actor)
    if delivery.status != DeliveryStatus.FAILED:
        raise ConflictError(_l("Only failed deliveries can be sent again."))
    if is_erased(delivery):
        raise ConflictError(_l("The respondent's data was erased: there is nothing to send."))
    campaign = db.session.get(Campaign, delivery.campaign_id)
    if not campaign.webhook_url:
        raise ServiceError(_l("The campaign has no webhook URL any more."))
    delivery.status = DeliveryStatus.PENDING
    db.session.flush()
    audit.record("webhook.resend", delivery, actor=actor,
                 details={"campaign_id": delivery.campaign_id})
    _queue(delivery)
    return delivery


# ----------------------------------------------------------------- sending


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A webhook answers itself: a redirect is a failure, never followed (a POST
    would silently become a GET elsewhere)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def body_of(payload: dict) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def post(url: str, secret: str | None, delivery_id: int, body: bytes) -> tuple[int | None, str]:
    """POST ``body`` to ``url``, signed. Returns ``(status code or None, error)``;
    ``error`` is ``""`` for a 2xx answer."""
    if urlsplit(url).scheme.lower() not in SCHEMES or not urlsplit(url).hostname:
        return None, "Only http:// and https:// URLs can receive webhooks."
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Orbit-Event": EVENT_COMPLETED,
        "X-Orbit-Delivery": str(delivery_id),
        "X-Orbit-Timestamp": timestamp,
    }
    if secret:
        headers["X-Orbit-Signature"] = signature(secret, timestamp, body)
    # The scheme is http(s), checked above.
    request = urllib.request.Request(  # noqa: S310
        url, data=body, headers=headers, method="POST"
    )
    try:
        with _opener.open(request, timeout=TIMEOUT_SECONDS) as answer:
            code = answer.status
            answer.read(1024)
    except urllib.error.HTTPError as exc:
        text = exc.read(300).decode("utf-8", "replace").strip() if exc.fp else ""
        error = f"HTTP {exc.code} {exc.reason}".strip()
        if 300 <= exc.code < 400:
            error += " (redirects are not followed)"
        return exc.code, f"{error}: {text}" if text else error
    except TimeoutError:
        return None, f"No answer within {TIMEOUT_SECONDS} seconds."
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, TimeoutError):
            return None, f"No answer within {TIMEOUT_SECONDS} seconds."
        return None, f"Could not connect: {reason}"
    except (OSError, ValueError) as exc:
        return None, f"Could not send: {exc}"
    if 200 <= code < 300:
        return code, ""
    return code, f"HTTP {code}"


@job(JOB_NAME)
def deliver_webhook(delivery_id: int) -> dict:
    """One attempt at a delivery (the job). Raises :class:`WebhookFailed` when it was
    not delivered, so that the queue retries it; the attempt is recorded all the same.
    The delivery fails for good with the run's last attempt. A failed delivery is
    tried again by a new run ("Send again", or "Run again" on the jobs page)."""
    delivery = db.session.get(WebhookDelivery, delivery_id)
    if delivery is None:
        return {"skipped": "missing"}
    run = current_run()
    if delivery.status == DeliveryStatus.FAILED and run is not None and run.attempts == 1:
        if is_erased(delivery):
            return {"skipped": "erased"}
        delivery.status = DeliveryStatus.PENDING  # a new run of a failed delivery
    if delivery.status != DeliveryStatus.PENDING:
        return {"skipped": delivery.status}
    campaign = db.session.get(Campaign, delivery.campaign_id)
    if campaign.webhook_url:
        code, error = post(
            campaign.webhook_url, campaign.webhook_secret, delivery.id, body_of(delivery.payload)
        )
    else:
        code, error = None, "The campaign has no webhook URL any more."
    delivery.attempts += 1
    delivery.last_status_code = code
    if not error:
        delivery.status = DeliveryStatus.DELIVERED
        delivery.delivered_at = utcnow()
        delivery.last_error = None
        db.session.flush()
        return {"delivered": True, "status_code": code, "attempts": delivery.attempts}
    if run is None or run.attempts >= run.max_attempts:
        delivery.status = DeliveryStatus.FAILED
    delivery.last_error = error[:2000]
    db.session.flush()
    # Kept although the job failed; the queue retries it.
    raise WebhookFailed(f"webhook delivery {delivery.id}: {error}")


