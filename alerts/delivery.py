"""Delivery of one JSON payload to one channel, for anything that notifies (alerts, and the
run-lifecycle webhooks of `alerts.runevents`):

    delivery.queue(channel, delivery.envelope("run.completed", data))

- **Webhooks** get the payload as the request body, signed as Standard Webhooks specifies
  (https://www.standardwebhooks.com): headers `webhook-id` (the delivery's id, the same on every
  retry, so receivers can drop duplicates), `webhook-timestamp` (Unix seconds of the attempt)
  and `webhook-signature` (`v1,` + base64 HMAC-SHA256 of `id.timestamp.body` under the secret's
  base64-decoded bytes, via the `standardwebhooks` package). Any 2xx answer is success.
- **Slack** (incoming webhook) gets a readable message built from the payload's `data.title`,
  `data.summary` and links.
- **Email** goes through Django's email backend (SMTP from the environment; the console in
  development), as plain text.

A delivery is tried on the `alerts` Celery queue, never in the caller: a run that ends never
waits for a slow endpoint. A failed attempt is recorded and retried after the delays of
ALERT_RETRY_SECONDS; the periodic sweep re-sends what a lost task or a dead worker left behind.
Each attempt claims the delivery with a conditional UPDATE, so duplicated tasks send once.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from celery import current_app
from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import F
from django.dispatch import Signal
from django.template.loader import render_to_string
from django.utils import timezone
from standardwebhooks import Webhook

from alerts.channels import Target, target_of
from alerts.models import Channel, Delivery, DeliveryAttempt, Notification

if TYPE_CHECKING:
    from imports.models import ImportRun

log = logging.getLogger(__name__)

State = Delivery.State
Kind = Channel.Kind

# Sent after each attempt, with `delivery` and `outcome` ("delivered", "retrying" or
# "failed": the last attempt failed); for metrics (the API's /metrics counts deliveries).
# Receivers must not raise: their error is logged and the delivery is unaffected.
delivery_attempted = Signal()

TIMEOUT_SECONDS = 10
# A retry further away than this is left to the sweep (every minute) instead of a countdown
# task: a broker holds a delayed task unacknowledged, and Redis redelivers one held longer
# than its visibility timeout.
COUNTDOWN_LIMIT_SECONDS = 300
# A delivery still "sending" this long after its attempt began lost its worker.
STUCK_AFTER = timedelta(minutes=5)
USER_AGENT = "ImportCenter-Webhooks/1"
ERROR_LENGTH = 300


def envelope(event_type: str, data: dict[str, Any], at: datetime | None = None) -> dict:
    """The JSON body every channel is built from: Standard Webhooks' recommended shape."""
    at = (at or timezone.now()).astimezone(UTC)
    return {"type": event_type, "timestamp": at.isoformat().replace("+00:00", "Z"), "data": data}


def queue(
    channel: Channel,
    payload: dict,
    notification: Notification | None = None,
    run: ImportRun | None = None,
) -> Delivery:
    """Record a delivery of `payload` to `channel` (for an alert `notification`, or a `run`'s
    lifecycle event) and send it on the alerts queue once the current transaction commits."""
    delivery = Delivery.objects.create(
        message_id=f"msg_{uuid.uuid4().hex}",
        notification=notification,
        run=run,
        channel=channel,
        channel_name=channel.name,
        channel_kind=channel.kind,
        event_type=payload["type"],
        payload=payload,
        next_attempt_at=timezone.now(),
    )
    transaction.on_commit(lambda: enqueue(delivery.pk))
    return delivery


def enqueue(delivery_id: int, countdown: float = 0) -> None:
    # By the task's name (alerts.tasks.deliver calls this module): no import cycle, and the
    # same routing to the `alerts` queue.
    try:
        current_app.send_task(
            "alerts.deliver", args=[delivery_id], countdown=countdown, retry=False
        )
    except Exception as exc:  # the broker is down: the sweep sends it once it is back
        log.warning("could not enqueue delivery %s: %s", delivery_id, exc)


def retry_delays() -> list[int]:
    return list(settings.ALERT_RETRY_SECONDS)


# --- One attempt -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    ok: bool
    status_code: int | None = None
    error: str = ""


def deliver(delivery_id: int) -> bool:
    """Make one attempt at a due delivery; returns whether it is now delivered. Schedules the
    next attempt after a failure, or gives up after the last."""
    now = timezone.now()
    claimed = Delivery.objects.filter(
        pk=delivery_id, state=State.PENDING, next_attempt_at__lte=now
    ).update(state=State.SENDING, claimed_at=now)
    if not claimed:
        return False  # delivered, given up, not yet due, or another worker has it
    delivery = Delivery.objects.select_related("channel").get(pk=delivery_id)
    started = time.monotonic()
    outcome = _attempt(delivery)
    duration_ms = int((time.monotonic() - started) * 1000)
    return _record(delivery, now, duration_ms, outcome)


def _attempt(delivery: Delivery) -> Outcome:
    channel = delivery.channel
    if channel is None:
        return Outcome(False, error="The channel was deleted.")
    if not channel.enabled:
        return Outcome(False, error="The channel is disabled.")
    try:
        target = target_of(channel)
        if channel.kind == Kind.EMAIL:
            return send_email(target, delivery.payload)
        if channel.kind == Kind.SLACK:
            return post_json(target.url, slack_message(delivery.payload))
        return send_webhook(target, delivery.message_id, delivery.payload)
    except Exception as exc:  # a bug or a broken secret must not leave it "sending"
        log.exception("delivery %s failed", delivery.pk)
        return Outcome(False, error=_one_line(f"{type(exc).__name__}: {exc}"))


def _record(delivery: Delivery, started_at: datetime, duration_ms: int, outcome: Outcome) -> bool:
    number = delivery.attempts + 1
    delays = retry_delays()
    with transaction.atomic():
        DeliveryAttempt.objects.create(
            delivery=delivery,
            number=number,
            started_at=started_at,
            duration_ms=duration_ms,
            ok=outcome.ok,
            status_code=outcome.status_code,
            error=outcome.error,
        )
        fields: dict[str, Any] = {"attempts": F("attempts") + 1, "last_error": outcome.error}
        if outcome.ok:
            fields.update(state=State.DELIVERED, delivered_at=timezone.now())
            result = "delivered"
        elif number <= len(delays) and delivery.channel_id is not None:
            delay = delays[number - 1]
            fields.update(
                state=State.PENDING, next_attempt_at=timezone.now() + timedelta(seconds=delay)
            )
            result = "retrying"
            if delay <= COUNTDOWN_LIMIT_SECONDS:
                transaction.on_commit(lambda: enqueue(delivery.pk, countdown=delay))
        else:
            fields.update(state=State.FAILED)
            result = "failed"
        Delivery.objects.filter(pk=delivery.pk, state=State.SENDING).update(**fields)
        transaction.on_commit(lambda: _announce(delivery, result))
    if not outcome.ok:
        log.warning(
            "delivery %s to %s, attempt %s: %s",
            delivery.pk,
            delivery.channel_name,
            number,
            outcome.error,
        )
    return outcome.ok


def _announce(delivery: Delivery, outcome: str) -> None:
    for receiver, error in delivery_attempted.send_robust(
        sender=Delivery, delivery=delivery, outcome=outcome
    ):
        if isinstance(error, Exception):
            log.error("receiver %r of delivery_attempted failed: %r", receiver, error)


def rescue(now: datetime | None = None) -> int:
    """The sweep: re-send deliveries whose task was lost (pending past their time) or whose
    worker died mid-attempt (sending for too long). Returns how many were enqueued."""
    now = now or timezone.now()
    stuck = Delivery.objects.filter(state=State.SENDING, claimed_at__lt=now - STUCK_AFTER)
    ids = set(stuck.values_list("pk", flat=True)[:1000])
    Delivery.objects.filter(pk__in=ids, state=State.SENDING).update(
        state=State.PENDING, next_attempt_at=now
    )
    # A grace of a minute: a countdown task due just now is on its way.
    due = Delivery.objects.filter(
        state=State.PENDING, next_attempt_at__lte=now - timedelta(minutes=1)
    )
    ids.update(due.values_list("pk", flat=True)[:1000])
    for pk in sorted(ids):
        enqueue(pk)
    return len(ids)


# --- Channels --------------------------------------------------------------------------------


def signed_headers(secret: str, message_id: str, at: datetime, body: str) -> dict[str, str]:
    """The Standard Webhooks headers of `body` (the exact text sent) signed with `secret`
    (`whsec_` + base64)."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, at, body),
    }


def send_webhook(target: Target, message_id: str, payload: dict) -> Outcome:
    if not target.signing_secret:
        return Outcome(False, error="The webhook has no signing secret.")
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    headers = signed_headers(target.signing_secret, message_id, timezone.now(), body)
    return post_json(target.url, body, headers)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A webhook is answered where it was sent: a redirect is reported, not followed (the
    body and its signature were meant for this URL)."""

    def redirect_request(self, *args, **kwargs):
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def post_json(url: str, body: dict | str, headers: dict[str, str] | None = None) -> Outcome:
    """POST JSON; any 2xx is success. Errors never repeat the URL (it may be a secret)."""
    if not url:
        return Outcome(False, error="The channel has no URL.")
    data = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
    request = urllib.request.Request(
        url,
        data=data.encode(),
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": USER_AGENT, **(headers or {})},
    )
    try:
        with _OPENER.open(request, timeout=TIMEOUT_SECONDS) as response:
            return Outcome(True, response.status)
    except urllib.error.HTTPError as exc:
        answer = _one_line(exc.read(200).decode(errors="replace"))
        return Outcome(False, exc.code, f"HTTP {exc.code}" + (f": {answer}" if answer else ""))
    except urllib.error.URLError as exc:
        return Outcome(False, error=_one_line(f"Could not connect: {exc.reason}"))
    except (TimeoutError, OSError) as exc:
        return Outcome(
            False,
            error=_one_line(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__),
        )


def send_email(target: Target, payload: dict) -> Outcome:
    if not target.recipients:
        return Outcome(False, error="The channel has no recipients.")
    subject, body = email_message(payload)
    try:
        EmailMessage(subject, body, settings.DEFAULT_FROM_EMAIL, target.recipients).send()
    except Exception as exc:  # smtplib's and socket's errors, whatever the backend raises
        return Outcome(False, error=_one_line(f"{type(exc).__name__}: {exc}"))
    return Outcome(True)


def email_message(payload: dict) -> tuple[str, str]:
    data = payload.get("data", {})
    subject = _one_line(f"[Import Center] {data.get('title') or payload.get('type', '')}")
    body = render_to_string("alerts/email.txt", {"payload": payload, "data": data})
    return subject, body


def slack_escape(text: str) -> str:
    """Slack's mrkdwn reserves &, < and > (links are <url|label>)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_message(payload: dict) -> dict:
    data = payload.get("data", {})
    title = slack_escape(data.get("title") or payload.get("type", ""))
    summary = slack_escape(data.get("summary", ""))
    run_url = (data.get("run") or {}).get("url")
    heading = f"*<{data['url']}|{title}>*" if data.get("url") else f"*{title}*"
    links = [f"<{run_url}|View the run>"] if run_url else []
    if (data.get("import") or {}).get("url"):
        links.append(f"<{data['import']['url']}|Open the import>")
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": f"{heading}\n{summary}"}}]
    if links:
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(links)}]}
        )
    # `text` is what notifications and screen readers show.
    return {"text": f"{title}: {summary}", "blocks": blocks}


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= ERROR_LENGTH else line[: ERROR_LENGTH - 1] + "…"
