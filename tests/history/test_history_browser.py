"""In headless Chromium: the trend's change marker shows what changed on hover, the Stats row
carries its note and link, and the link opens the History tab at the change."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from auditlog.models import LogEntry
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from imports import audit, runs
from imports.models import Import, ImportRun
from imports.roles import EDITOR_GROUP, VIEWER_GROUP
from imports.schema import SchemaChange
from tests import factories
from validation.health import compute_health

pytestmark = pytest.mark.browser

# HISTORY_SHOTS=/some/dir keeps the screenshots for a look by eye.
SHOTS = os.environ.get("HISTORY_SHOTS")

MAPPING = {
    "sync_type": "profile",
    "identity_column": "user_id",
    "identity_kind": "identity",
    "fields": [
        {"column": "email", "target": "Email", "type": "String", "date_format": None},
        {"column": "signup_date", "target": "signup_date", "type": "Date", "date_format": None},
    ],
}


@pytest.fixture
def browser_context_args() -> dict:
    return {"viewport": {"width": 1440, "height": 1000}}


def _run(imp, hours_ago, failed, **fields):
    at = timezone.now() - timedelta(hours=hours_ago)
    imp.refresh_from_db()
    run = runs.trigger_run(imp, now=at, enqueue=lambda run_id: None)
    ImportRun.objects.filter(pk=run.pk).update(
        state=ImportRun.State.COMPLETED,
        total=10_000,
        successful=10_000 - failed,
        failed=failed,
        started_at=at,
        finished_at=at + timedelta(seconds=40),
        source_columns=[["email", "VARCHAR"], ["signup_date", "VARCHAR"]],
        **fields,
    )
    health = compute_health(10_000, 10_000 - failed)
    Import.objects.filter(pk=imp.pk).update(
        current_run=None,
        status=Import.Status.SCHEDULED,
        last_run=run,
        health_run=run,
        health_band=health.band,
        health_hundredths=health.hundredths,
    )
    return run


@pytest.fixture
def changed_import(transactional_db):
    for name in (VIEWER_GROUP, EDITOR_GROUP):
        Group.objects.get_or_create(name=name)
    viewer = factories.make_user("history-viewer", role=VIEWER_GROUP)
    editor = factories.make_user("alice", role=EDITOR_GROUP)
    imp = factories.make_import(
        factories.make_datasource(name="Warehouse"), "Daily profiles", mapping=MAPPING
    )
    for i in range(8):
        _run(imp, 30 - i, failed=430 + 10 * (i % 3))
    imp.refresh_from_db()
    imp.mapping = {
        **MAPPING,
        "fields": [{**MAPPING["fields"][0], "target": "Email 2"}, MAPPING["fields"][1]],
    }
    with audit.from_command("test", actor=editor):
        imp.save()
    # Made half an hour before the next run, as the runs are placed in the past.
    LogEntry.objects.filter(pk=LogEntry.objects.latest("pk").pk).update(
        timestamp=timezone.now() - timedelta(hours=21, minutes=30)
    )
    retyped = SchemaChange(retyped=(("signup_date", "DATE", "VARCHAR"),)).to_json()
    fell = _run(imp, 21, failed=3508, schema_change=retyped)
    for i in range(6):
        _run(imp, 20 - i, failed=450)
    return {"imp": imp, "fell": fell, "viewer": viewer}


def _shot(page, name: str, tmp_path: Path) -> None:
    folder = Path(SHOTS) if SHOTS else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / name), full_page=True)
    assert (folder / name).stat().st_size > 10_000


def test_hovering_a_marker_says_what_changed_and_the_note_links_to_the_change(
    role_groups_survive_flush, changed_import, page, live_server, tmp_path
):
    from playwright.sync_api import expect

    imp, fell = changed_import["imp"], changed_import["fell"]
    page.goto(live_server.url + reverse("login"))
    page.fill("#id_username", "history-viewer")
    page.fill("#id_password", factories.PASSWORD)
    page.click("button[type=submit]")
    page.goto(live_server.url + reverse("stats-stats", args=[imp.code]))

    expect(page.locator(".trend-summary")).to_contain_text(
        "the first run after the mapping was edited and the source column `signup_date` "
        "changed type from DATE to VARCHAR"
    )
    marker = page.locator("svg.trend g.marker")
    expect(marker).to_have_count(1)
    tip = page.locator("#chart-tip")
    expect(tip).to_have_count(0)
    marker.hover()
    expect(tip).to_be_visible()
    expect(tip).to_contain_text("the first run after")
    expect(tip).to_contain_text("the mapping was edited by alice on")
    expect(tip).to_contain_text("changed type from DATE to VARCHAR")
    box, tip_box = marker.bounding_box(), tip.bounding_box()
    assert abs(tip_box["x"] - box["x"]) < 60  # beside the marker it explains
    _shot(page, "stats-marker-hover.png", tmp_path)
    page.mouse.move(5, 5)
    expect(tip).to_be_hidden()

    # Keyboard: the marker takes focus and shows the same tooltip.
    marker.focus()
    expect(tip).to_be_visible()

    notes = page.locator(f"#notes-{fell.code}")
    expect(notes).to_contain_text("First run after a change: the mapping was edited by alice")
    expect(notes).to_contain_text("`signup_date`: DATE → VARCHAR")
    notes.scroll_into_view_if_needed()
    _shot(page, "stats-notes.png", tmp_path)

    notes.get_by_role("link", name="the mapping was edited").click()
    change = page.locator(".change:target")
    expect(change).to_contain_text("Changed the import")
    expect(change).to_contain_text("email: target Email → Email 2")
    expect(change).to_contain_text("by alice, with the test command")
    _shot(page, "history-tab.png", tmp_path)
