"""Alerts in headless Chromium: an Editor adds a webhook channel (its secret shown once),
sends a test notification and finds it, with its attempt, on the Alerts page; mutes an import;
a Viewer sees the same pages without a single control that changes anything."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from alerts import delivery, evaluate
from imports.roles import EDITOR_GROUP, VIEWER_GROUP
from tests import factories

pytestmark = pytest.mark.browser


@pytest.fixture
def alert_data(transactional_db, monkeypatch):
    for name in (VIEWER_GROUP, EDITOR_GROUP):
        Group.objects.get_or_create(name=name)
    factories.make_user("alert-editor", role=EDITOR_GROUP)
    factories.make_user("alert-viewer", role=VIEWER_GROUP)
    imp = factories.make_import(factories.make_datasource(), "Nightly users")
    factories.make_run(imp, created_at=timezone.now() - timedelta(minutes=2), total=100, failed=80)
    evaluate.evaluate_import(imp.pk)
    # The live server delivers in its own thread, at once: no broker, no worker.
    monkeypatch.setattr(delivery, "enqueue", lambda pk, countdown=0: delivery.deliver(pk))
    return imp


def _sign_in(page, live_server, username):
    page.goto(live_server.url + "/alerts/")
    page.fill("#id_username", username)
    page.fill("#id_password", factories.PASSWORD)
    page.click("button[type=submit]")


def test_editor_adds_a_webhook_tests_it_and_mutes_an_import(
    role_groups_survive_flush, alert_data, page, live_server, http_receiver, tmp_path
):
    from playwright.sync_api import expect

    receiver = http_receiver("/hooks/team")
    _sign_in(page, live_server, "alert-editor")
    expect(page.locator("h1")).to_have_text("Alerts")
    expect(page.locator(".active-table")).to_contain_text("Health below threshold")

    page.click("text=Rules and channels")
    page.click("text=New webhook channel")
    page.fill("#id_name", "Team receiver")
    page.fill("#id_url", receiver.url)
    page.click("button:has-text('Save')")
    secret = page.locator(".msg", has_text="signing secret")
    expect(secret).to_contain_text(re.compile(r"whsec_\S+"))
    page.screenshot(path=str(tmp_path / "settings.png"), full_page=True)
    assert receiver.url not in page.content()

    row = page.locator("tr", has_text="Team receiver")
    row.locator("button", has_text="Send test notification").click()
    expect(page.locator(".msg-success")).to_contain_text("Sent a test notification")
    expect(page.locator("tr", has_text="Team receiver")).to_contain_text("Delivered")
    assert len(receiver.requests) == 1

    page.click("text=Notifications")
    test_note = page.locator(".note-test")
    expect(test_note).to_contain_text("Webhook · Team receiver")
    test_note.locator("summary", has_text="Attempts").click()
    expect(test_note.locator("details.attempts")).to_contain_text("HTTP 200")
    page.screenshot(path=str(tmp_path / "alerts.png"), full_page=True)

    page.click("a:has-text('Nightly users')")
    page.select_option("#id_hours", "4")
    page.click("button:has-text('Mute')")
    expect(page.locator(".held", has_text="Muted until")).to_be_visible()
    expect(page.locator("button", has_text="Unmute")).to_be_visible()


def test_viewer_sees_alerts_and_rules_without_controls(
    role_groups_survive_flush, alert_data, page, live_server
):
    from playwright.sync_api import expect

    _sign_in(page, live_server, "alert-viewer")
    expect(page.locator(".note-triggered")).to_contain_text("health 20.00% (Red)")
    page.click("text=Rules and channels")
    expect(page.locator("text=Viewers see the rules; an Editor changes them.")).to_be_visible()
    expect(page.locator("button")).to_have_count(1)  # Sign out, nothing else
    expect(page.locator("input[name=health_threshold][value=red]")).to_be_disabled()
    page.goto(live_server.url + f"/settings/partners/import-center/{alert_data.code}/")
    expect(page.locator(".alerts-card")).to_contain_text("Health below threshold")
    expect(page.locator(".alerts-card button")).to_have_count(0)


def test_editor_subscribes_a_webhook_to_run_events_and_finds_each_delivery(
    role_groups_survive_flush, alert_data, page, live_server, http_receiver, tmp_path
):
    from playwright.sync_api import expect

    from alerts import runevents
    from alerts.models import Channel

    receiver = http_receiver("/hooks/dagster", statuses=[500])
    _sign_in(page, live_server, "alert-editor")
    page.click("text=Rules and channels")
    page.click("text=New webhook channel")
    page.fill("#id_name", "Dagster sensor")
    page.fill("#id_url", receiver.url)
    page.check("input[name=run_events][value=ended]")
    page.check("input[name=run_event_imports][value=all]")
    page.screenshot(path=str(tmp_path / "channel-form.png"), full_page=True)
    page.click("button:has-text('Save')")
    row = page.locator("tr", has_text="Dagster sensor")
    expect(row).to_contain_text("Runs that end: completed, failed, stopped, skipped · every import")
    assert Channel.objects.get(name="Dagster sensor").run_events == "ended"

    run = factories.make_run(alert_data, total=1_024, failed=24)
    runevents.emit(run, "completed")  # the live server's thread tries it at once: 500
    page.click("text=Run events")
    expect(page.locator("h1")).to_have_text("Run events")
    item = page.locator(".note", has_text="run.completed")
    expect(item).to_contain_text("Nightly users")
    expect(item).to_contain_text("1,024 records, 1,000 successful, 24 failed; health 97.65%")
    expect(item.locator(".delivery").first).to_have_text("Pending")
    item.locator("summary", has_text="Attempts").click()
    expect(item.locator(".attempts")).to_contain_text("HTTP 500: endpoint says no")
    page.screenshot(path=str(tmp_path / "run-events.png"), full_page=True)
    page.select_option("#id_state", "delivered")
    expect(page.locator("#run-events")).to_contain_text("No run events match.")
    assert "state=delivered" in page.url
