"""The alert pages: who may see and change what (anonymous, outsider, viewer, editor, CSRF),
secrets never rendered back, flat query counts, the htmx fragment, the Overview's card."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from alerts import evaluate
from alerts.models import AlertDefaults, Channel, ImportAlerts, Notification
from tests import factories
from tests.alerts.conftest import SECRET, make_channel

SLACK_URL = "https://hooks.slack.com/services/T000/B000/s3cr3tSlackToken"
HOOK_URL = "https://receiver.example.com/hooks/tok3n-in-path"


@pytest.fixture
def channel(db):
    return make_channel(Channel.Kind.SLACK, "Team Slack", url=SLACK_URL)


@pytest.fixture
def noted(imp, channel, django_capture_on_commit_callbacks, monkeypatch):
    """Three notifications of `imp` (Red, recovered, failed), each with a Slack delivery."""
    from alerts import delivery

    monkeypatch.setattr(delivery, "enqueue", lambda *args, **kwargs: None)
    for minutes, kwargs in [
        (3, {"total": 100, "failed": 90}),
        (2, {}),
        (1, {"state": "failed", "total": 0, "error": "The warehouse rejected the credentials."}),
    ]:
        factories.make_run(imp, created_at=timezone.now() - timedelta(minutes=minutes), **kwargs)
    evaluate.evaluate_import(imp.pk)
    assert Notification.objects.count() == 3
    return imp


def _pages(imp, channel):
    return {
        "list": reverse("alerts-list"),
        "run-events": reverse("alerts-run-events"),
        "settings": reverse("alerts-settings"),
        "import": reverse("alerts-import", args=[imp.code]),
        "channel-new": reverse("alerts-channel-create", args=["webhook"]),
        "channel-edit": reverse("alerts-channel-edit", args=[channel.code]),
    }


def _posts(imp, channel):
    return {
        reverse("alerts-settings"): {"health_threshold": "off", "freshness": "off"},
        reverse("alerts-import", args=[imp.code]): {"follows_defaults": "True"},
        reverse("alerts-import-mute", args=[imp.code]): {"hours": "1"},
        reverse("alerts-import-unmute", args=[imp.code]): {},
        reverse("alerts-channel-create", args=["email"]): {"name": "x", "email_to": "a@b.co"},
        reverse("alerts-channel-edit", args=[channel.code]): {"name": "x"},
        reverse("alerts-channel-delete", args=[channel.code]): {},
        reverse("alerts-channel-test", args=[channel.code]): {},
    }


def test_anonymous_is_sent_to_sign_in(client, imp, channel):
    for url in _pages(imp, channel).values():
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_outsider_sees_nothing(outsider_client, imp, channel):
    for url in _pages(imp, channel).values():
        assert outsider_client.get(url).status_code == 403, url


def test_viewer_sees_alerts_and_rules_but_changes_nothing(viewer_client, noted, channel):
    imp = noted
    for name in ("list", "run-events", "settings", "import"):
        assert viewer_client.get(_pages(imp, channel)[name]).status_code == 200
    for name in ("channel-new", "channel-edit"):
        assert viewer_client.get(_pages(imp, channel)[name]).status_code == 403
    for url, data in _posts(imp, channel).items():
        assert viewer_client.post(url, data).status_code == 403, url
    assert AlertDefaults.load().health_threshold == "red"
    assert Channel.objects.filter(pk=channel.pk).exists()
    html = viewer_client.get(reverse("alerts-settings")).content.decode()
    assert "Save default rules" not in html and "Send test notification" not in html
    assert re.search(r'<input type="radio" name="health_threshold" value="red"[^>]* disabled', html)


def test_unknown_codes_are_404(editor_client, db):
    from uuid import uuid4

    assert editor_client.get(reverse("alerts-import", args=[uuid4()])).status_code == 404
    assert editor_client.get(reverse("alerts-channel-edit", args=[uuid4()])).status_code == 404
    assert editor_client.post(reverse("alerts-channel-test", args=[uuid4()])).status_code == 404
    assert editor_client.get(reverse("alerts-channel-create", args=["pager"])).status_code == 404


def test_bad_filters_answer_400(viewer_client, imp):
    assert viewer_client.get(reverse("alerts-list") + "?page=0").status_code == 400
    assert viewer_client.get(reverse("alerts-list") + "?event=nope").status_code == 400
    assert (
        viewer_client.get(reverse("alerts-import", args=[imp.code]) + "?page=x").status_code == 400
    )


def test_every_change_needs_a_csrf_token(editor, imp, channel):
    client = Client(enforce_csrf_checks=True)
    client.force_login(editor)
    for url, data in _posts(imp, channel).items():
        assert client.post(url, data).status_code == 403, url
    assert Channel.objects.filter(pk=channel.pk).exists()
    assert not ImportAlerts.objects.filter(import_obj=imp, muted_until__isnull=False).exists()


def test_alerts_page_lists_every_notification_with_its_deliveries(viewer_client, noted):
    html = viewer_client.get(reverse("alerts-list")).content.decode()
    assert html.count('class="note note-') == 3
    assert "health 10.00% (Red) on run" in html
    assert "failed: The warehouse rejected the credentials." in html
    assert html.count("Slack · Team Slack") == 3
    # Active now: the failure (health recovered).
    active = html.split("Active now")[1].split("Notifications")[0]
    assert "Run failed" in active and "Health below threshold" not in active


def test_alerts_page_query_count_is_flat(viewer_client, noted):
    def count():
        with CaptureQueriesContext(connection) as ctx:
            assert viewer_client.get(reverse("alerts-list")).status_code == 200
        return len(ctx.captured_queries)

    few = count()
    for _ in range(10):
        evaluate.send_test(Channel.objects.get(), None)
    assert count() == few


def test_htmx_gets_only_the_notifications(viewer_client, noted):
    response = viewer_client.get(
        reverse("alerts-list") + "?page=1",
        headers={"HX-Request": "true", "HX-Target": "notifications"},
    )
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="notifications">')
    assert "<nav" not in html.split('<div id="notifications">')[0]
    assert "Active now" not in html


def test_event_filter(viewer_client, noted):
    html = viewer_client.get(reverse("alerts-list") + "?event=recovered").content.decode()
    assert html.count('class="note note-') == 1


def test_editor_saves_default_rules(editor_client, editor, db):
    response = editor_client.post(
        reverse("alerts-settings"),
        {
            "alert_on_failure": "on",
            "health_threshold": "percent",
            "health_below_percent": "90",
            "count_drop_percent": "40",
            "skipped_in_a_row": "",
            "freshness": "hours",
            "freshness_value": "6",
        },
    )
    assert response.status_code == 302
    rules = AlertDefaults.load()
    assert (rules.health_floor(), rules.count_drop_percent, rules.skipped_in_a_row) == (
        9000,
        40,
        None,
    )
    assert (rules.alert_on_blank, rules.freshness, rules.updated_by) == (False, "hours", editor)


def test_a_percentage_threshold_needs_its_percentage(editor_client, db):
    response = editor_client.post(
        reverse("alerts-settings"),
        {
            "health_threshold": "percent",
            "health_below_percent": "",
            "freshness": "off",
            "freshness_value": "2",
        },
    )
    assert response.status_code == 200
    assert "Give a percentage above 0 and up to 100." in response.content.decode()


def test_editor_creates_a_webhook_whose_secret_is_shown_once(editor_client, editor):
    response = editor_client.post(
        reverse("alerts-channel-create", args=["webhook"]),
        {"name": "Receiver", "url": HOOK_URL, "enabled": "on", "use_by_default": "on"},
        follow=True,
    )
    channel = Channel.objects.get(name="Receiver")
    secret = channel.get_secret()
    assert secret["url"] == HOOK_URL and secret["signing_secret"].startswith("whsec_")
    assert channel.target_hint == "https://receiver.example.com/…"
    assert HOOK_URL not in channel.secret_encrypted  # encrypted at rest
    html = response.content.decode()
    assert secret["signing_secret"] in html  # once, right after saving
    assert "tok3n" not in html
    again = editor_client.get(reverse("alerts-settings")).content.decode()
    assert secret["signing_secret"] not in again and "tok3n" not in again


def test_stored_secrets_are_never_rendered_back(editor_client, channel):
    hook = make_channel(Channel.Kind.WEBHOOK, "Hook", url=HOOK_URL)
    for url in (
        reverse("alerts-settings"),
        reverse("alerts-channel-edit", args=[channel.code]),
        reverse("alerts-channel-edit", args=[hook.code]),
    ):
        html = editor_client.get(url).content.decode()
        assert "s3cr3tSlackToken" not in html and "tok3n" not in html and SECRET not in html
    # Invalid input redisplayed: the typed URL is not echoed back either.
    response = editor_client.post(
        reverse("alerts-channel-edit", args=[channel.code]), {"name": "", "url": SLACK_URL + "x"}
    )
    assert response.status_code == 200 and "s3cr3tSlackToken" not in response.content.decode()


def test_editing_without_a_url_keeps_the_stored_one(editor_client, channel):
    response = editor_client.post(
        reverse("alerts-channel-edit", args=[channel.code]), {"name": "Renamed", "enabled": "on"}
    )
    assert response.status_code == 302
    channel.refresh_from_db()
    assert (channel.name, channel.get_secret()["url"], channel.use_by_default) == (
        "Renamed",
        SLACK_URL,
        False,
    )


@pytest.mark.parametrize(
    "kind, data, error",
    [
        (
            "email",
            {"name": "m", "email_to": "ops@example.com, nope"},
            "“nope” is not an email address.",
        ),
        ("slack", {"name": "s", "url": "ftp://x.example/y"}, "Give an http:// or https:// URL."),
        ("slack", {"name": "s"}, "This field is required."),
        ("webhook", {"name": "w", "url": HOOK_URL, "signing_secret": "short"}, "at least 16 bytes"),
    ],
)
def test_channel_form_refuses_bad_input(editor_client, db, kind, data, error):
    response = editor_client.post(reverse("alerts-channel-create", args=[kind]), data)
    assert response.status_code == 200
    assert error in response.content.decode()
    assert not Channel.objects.exists()


def test_environment_channels_are_listed_read_only(editor_client, settings):
    settings.ALERT_SLACK_WEBHOOK_URL = SLACK_URL
    html = editor_client.get(reverse("alerts-settings")).content.decode()
    env = Channel.objects.get(origin="environment")
    assert "Slack (ALERT_SLACK_WEBHOOK_URL)" in html and "from the environment" in html
    assert "s3cr3tSlackToken" not in html
    assert reverse("alerts-channel-edit", args=[env.code]) not in html
    assert editor_client.get(reverse("alerts-channel-edit", args=[env.code])).status_code == 404
    assert reverse("alerts-channel-test", args=[env.code]) in html


def test_send_test_notification_queues_a_delivery(
    editor_client, channel, monkeypatch, django_capture_on_commit_callbacks
):
    from alerts import delivery

    queued = []
    monkeypatch.setattr(delivery, "enqueue", lambda pk, countdown=0: queued.append(pk))
    with django_capture_on_commit_callbacks(execute=True):
        response = editor_client.post(
            reverse("alerts-channel-test", args=[channel.code]), follow=True
        )
    assert "Sent a test notification to “Team Slack”" in response.content.decode()
    note = Notification.objects.get(event="test")
    assert queued == [note.deliveries.get().pk]


def test_editor_mutes_and_unmutes_an_import(editor_client, imp, editor):
    editor_client.post(reverse("alerts-import-mute", args=[imp.code]), {"hours": "4"})
    alerts = ImportAlerts.objects.get(import_obj=imp)
    assert alerts.is_muted() and alerts.muted_by == editor
    assert alerts.muted_until > timezone.now() + timedelta(hours=3, minutes=59)
    html = editor_client.get(reverse("alerts-import", args=[imp.code])).content.decode()
    assert "Muted until" in html
    editor_client.post(reverse("alerts-import-unmute", args=[imp.code]))
    alerts.refresh_from_db()
    assert not alerts.is_muted()
    assert (
        editor_client.post(
            reverse("alerts-import-mute", args=[imp.code]), {"hours": "5"}
        ).status_code
        == 400
    )


def test_editor_gives_an_import_its_own_rules(editor_client, imp, channel):
    response = editor_client.post(
        reverse("alerts-import", args=[imp.code]),
        {
            "follows_defaults": "False",
            "alert_on_failure": "on",
            "health_threshold": "yellow",
            "freshness": "off",
            "freshness_value": "2",
            "channels": [channel.pk],
        },
    )
    assert response.status_code == 302
    alerts = ImportAlerts.objects.get(import_obj=imp)
    assert not alerts.follows_defaults and alerts.health_threshold == "yellow"
    assert list(alerts.channels.all()) == [channel]


def test_viewing_an_import_s_alerts_writes_nothing(viewer_client, imp):
    assert viewer_client.get(reverse("alerts-import", args=[imp.code])).status_code == 200
    assert not ImportAlerts.objects.exists()


def test_the_overview_shows_the_import_s_alerts(viewer_client, noted):
    html = viewer_client.get(reverse("stats-overview", args=[noted.code])).content.decode()
    card = html.split('class="card alerts-card"')[1].split("</section>")[0]
    assert "Run failed" in card
    assert card.count('class="note note-') == 3
    assert reverse("alerts-import", args=[noted.code]) in card
    assert "Slack · Team Slack" in card


def test_the_overview_of_a_quiet_import(viewer_client, imp):
    html = viewer_client.get(reverse("stats-overview", args=[imp.code])).content.decode()
    assert "Nothing is alerting now." in html
