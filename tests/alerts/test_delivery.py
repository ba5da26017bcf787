"""Deliveries against real servers on loopback: a signed webhook whose receiver verifies the
Standard Webhooks signature, a Slack message, an email through SMTP; retries with backoff,
giving up, and what a failed attempt records (never the secret URL)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from standardwebhooks import Webhook

from alerts import delivery, evaluate
from alerts.models import Channel, Delivery
from tests.alerts.conftest import SECRET, make_channel

State = Delivery.State


def due_now(item: Delivery) -> None:
    Delivery.objects.filter(pk=item.pk).update(next_attempt_at=timezone.now())


@pytest.fixture
def queued(db, django_capture_on_commit_callbacks, monkeypatch):
    """Queue a test notification to a channel without a broker; returns its delivery."""
    monkeypatch.setattr(delivery, "enqueue", lambda *args, **kwargs: None)

    def make(channel: Channel) -> Delivery:
        note = evaluate.send_test(channel, None)
        return note.deliveries.get()

    return make


def test_a_webhook_is_signed_and_its_receiver_verifies_it(http_receiver, queued):
    receiver = http_receiver()
    item = queued(make_channel(Channel.Kind.WEBHOOK, url=receiver.url))
    assert delivery.deliver(item.pk) is True
    [request] = receiver.requests
    headers = request.headers
    # The receiver's side: the reference implementation checks the signature and the clock.
    body = Webhook(SECRET).verify(request.body, headers)
    assert headers["webhook-id"] == item.message_id
    assert headers["content-type"] == "application/json"
    assert body["type"] == "alert.test"
    assert body["data"]["event"] == "test"
    item.refresh_from_db()
    assert (item.state, item.attempts) == (State.DELIVERED, 1)
    [attempt] = item.attempts_made.all()
    assert (attempt.ok, attempt.status_code) == (True, 200)


def test_a_tampered_body_fails_verification(http_receiver, queued):
    from standardwebhooks import WebhookVerificationError

    receiver = http_receiver()
    delivery.deliver(queued(make_channel(Channel.Kind.WEBHOOK, url=receiver.url)).pk)
    [request] = receiver.requests
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(request.body.replace(b"test", b"tost"), request.headers)


def test_a_failed_attempt_is_retried_with_the_same_id_then_delivered(http_receiver, queued):
    receiver = http_receiver(statuses=[500])
    item = queued(make_channel(Channel.Kind.WEBHOOK, url=receiver.url))
    before = timezone.now()
    assert delivery.deliver(item.pk) is False
    item.refresh_from_db()
    assert (item.state, item.attempts) == (State.PENDING, 1)
    assert item.last_error == "HTTP 500: endpoint says no"
    # The first retry waits ALERT_RETRY_SECONDS[0] (10 s here): not before.
    assert item.next_attempt_at >= before + timedelta(seconds=10)
    assert delivery.deliver(item.pk) is False  # not due yet: nothing sent
    assert len(receiver.requests) == 1
    due_now(item)
    assert delivery.deliver(item.pk) is True
    ids = [r.headers["webhook-id"] for r in receiver.requests]
    assert ids == [item.message_id, item.message_id]
    item.refresh_from_db()
    assert item.state == State.DELIVERED
    assert [(a.ok, a.status_code) for a in item.attempts_made.all()] == [(False, 500), (True, 200)]


def test_it_gives_up_after_the_last_retry(
    http_receiver, queued, settings, django_capture_on_commit_callbacks
):
    settings.ALERT_RETRY_SECONDS = [1]
    receiver = http_receiver(statuses=[503, 503, 503])
    item = queued(make_channel(Channel.Kind.WEBHOOK, url=receiver.url))
    heard = []
    delivery.delivery_attempted.connect(
        lambda delivery, outcome, **kw: heard.append(outcome), weak=False, dispatch_uid="t"
    )
    try:
        with django_capture_on_commit_callbacks(execute=True):
            delivery.deliver(item.pk)
        due_now(item)
        with django_capture_on_commit_callbacks(execute=True):
            delivery.deliver(item.pk)
    finally:
        delivery.delivery_attempted.disconnect(dispatch_uid="t")
    assert heard == ["retrying", "failed"]  # for metrics
    item.refresh_from_db()
    assert (item.state, item.attempts) == (State.FAILED, 2)
    due_now(item)
    assert delivery.deliver(item.pk) is False
    assert len(receiver.requests) == 2


def test_redirects_are_reported_not_followed(http_receiver, queued):
    receiver = http_receiver(statuses=[302])
    item = queued(make_channel(Channel.Kind.WEBHOOK, url=receiver.url))
    assert delivery.deliver(item.pk) is False
    assert item.attempts_made.get().status_code == 302


def test_an_unreachable_endpoint_is_recorded_without_its_url(queued, http_receiver):
    url = "http://127.0.0.1:9/services/T000/B000/s3cr3t-token"  # discard port: refused
    item = queued(make_channel(Channel.Kind.SLACK, url=url))
    assert delivery.deliver(item.pk) is False
    item.refresh_from_db()
    assert item.last_error.startswith("Could not connect")
    assert "s3cr3t" not in item.last_error and "127.0.0.1" not in item.last_error


def test_slack_gets_a_readable_message_with_links(http_receiver, queued, imp):
    receiver = http_receiver(path="/services/T1/B1/xyz")
    slack = make_channel(Channel.Kind.SLACK, url=receiver.url)
    from tests import factories

    factories.make_run(imp, total=100, failed=90)
    evaluate.import_alerts(imp).channels.set([slack])
    from alerts.models import ImportAlerts

    ImportAlerts.objects.filter(import_obj=imp).update(follows_defaults=False)
    [note] = evaluate.evaluate_import(imp.pk)
    delivery.deliver(note.deliveries.get().pk)
    [request] = receiver.requests
    message = request.json()
    assert message["text"].startswith("Alert: Health below threshold — App events: health 10.00%")
    section = message["blocks"][0]["text"]["text"]
    assert section.startswith(
        f"*<http://testserver/settings/partners/import-center/{imp.code}/alerts/|"
    )
    links = message["blocks"][1]["elements"][0]["text"]
    assert f"/stats/runs/{note.run.code}/|View the run>" in links


def test_slack_text_escapes_what_slack_reserves():
    message = delivery.slack_message(
        delivery.envelope("alert.test", {"title": "<b>&", "summary": "a > b"})
    )
    assert message["text"] == "&lt;b&gt;&amp;: a &gt; b"


def test_email_reaches_a_real_smtp_server(smtp_settings, queued):
    mailbox = smtp_settings
    email = make_channel(Channel.Kind.EMAIL, email_to="ops@example.com, oncall@example.com")
    item = queued(email)
    assert delivery.deliver(item.pk) is True
    [(sender, recipients)] = mailbox.envelopes
    assert recipients == ["ops@example.com", "oncall@example.com"]
    [message] = mailbox.messages
    assert message["Subject"].strip() == f"[Import Center] Test notification — {email.name}"
    body = message.get_content()
    assert "Alerts of your imports will arrive like this." in body
    assert "Alerts: http://testserver/alerts/" in body


def test_an_smtp_failure_is_an_attempt_to_retry(settings, queued, smtp_server):
    from tests.alerts.conftest import free_port

    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()  # nobody listens
    item = queued(make_channel(Channel.Kind.EMAIL, email_to="ops@example.com"))
    assert delivery.deliver(item.pk) is False
    item.refresh_from_db()
    assert item.state == State.PENDING and item.last_error.startswith("ConnectionRefusedError")


def test_a_deleted_or_disabled_channel_is_not_sent_to(http_receiver, queued):
    receiver = http_receiver()
    channel = make_channel(Channel.Kind.WEBHOOK, url=receiver.url)
    item = queued(channel)
    Channel.objects.filter(pk=channel.pk).update(enabled=False)
    assert delivery.deliver(item.pk) is False
    assert Delivery.objects.get(pk=item.pk).last_error == "The channel is disabled."
    channel.delete()
    due_now(item)
    delivery.deliver(item.pk)
    item.refresh_from_db()
    assert (item.state, item.channel_name) == (State.FAILED, channel.name)
    assert receiver.requests == []


def test_rescue_resends_lost_and_stuck_deliveries(queued, monkeypatch):
    sent = []
    item = queued(make_channel(Channel.Kind.EMAIL, email_to="ops@example.com"))
    monkeypatch.setattr(delivery, "enqueue", lambda pk, countdown=0: sent.append(pk))
    assert delivery.rescue() == 0  # just queued: its task is on its way
    Delivery.objects.filter(pk=item.pk).update(
        state=State.SENDING, claimed_at=timezone.now() - timedelta(minutes=6)
    )
    assert delivery.rescue(timezone.now() + timedelta(minutes=2)) == 1
    assert sent == [item.pk]
    assert Delivery.objects.get(pk=item.pk).state == State.PENDING
