"""The create-import journey in headless Chromium, on the demo DuckDB warehouse.

Create a datasource and test its connection, create an event import (preview, map, dry run,
schedule, publish), Run now, see the run on the Stats tab with the totals the validation
engine gives for the same rows, and drill into a failed record. Screenshots go to tmp_path.
"""

from __future__ import annotations

import re

import duckdb
import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from imports import pipeline, tasks
from imports.demo import build_demo_warehouse
from imports.models import Import, ImportRun
from imports.roles import EDITOR_GROUP, VIEWER_GROUP
from tests import factories

pytestmark = pytest.mark.browser

# Two days of the demo's events: a few thousand rows, every kind of dirty value among them.
SOURCE = "SELECT * FROM events WHERE day < 2"


@pytest.fixture(scope="module")
def demo_warehouse(tmp_path_factory):
    path = tmp_path_factory.mktemp("demo") / "demo_warehouse.duckdb"
    build_demo_warehouse(path)
    return path


@pytest.fixture
def browser_context_args() -> dict:
    return {"viewport": {"width": 1400, "height": 900}, "timezone_id": "UTC"}


@pytest.fixture
def journey_editor(transactional_db):
    for name in (VIEWER_GROUP, EDITOR_GROUP):
        Group.objects.get_or_create(name=name)
    return factories.make_user("wizard-editor", role=EDITOR_GROUP)


def _expected_totals(path, mapping: dict) -> tuple[int, int]:
    """What the validation engine says about the same rows, computed without the app."""
    from validation import MappingSpec, validate_batch

    con = duckdb.connect(str(path), read_only=True)
    cursor = con.execute(SOURCE)
    names = [d[0] for d in cursor.description]
    rows = [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
    con.close()
    outcomes = validate_batch(rows, MappingSpec.from_dict(mapping))
    return len(rows), sum(1 for o in outcomes if not o.ok)


def test_create_event_import_journey(
    role_groups_survive_flush,
    journey_editor,
    demo_warehouse,
    page,
    live_server,
    tmp_path,
    monkeypatch,
):
    # The worker's part is played by this test: Run now queues, we execute the run inline.
    queued: list[int] = []
    monkeypatch.setattr(tasks, "enqueue_run", queued.append)
    from playwright.sync_api import expect

    # Other test suites share this machine's two cores; give slow moments room.
    expect.set_options(timeout=20_000)

    shots = tmp_path / "screenshots"
    shots.mkdir()

    def shot(page, name):
        page.screenshot(path=str(shots / f"{name}.png"), full_page=True)

    page.goto(live_server.url + reverse("datasources-list"))
    page.fill("#id_username", "wizard-editor")
    page.fill("#id_password", factories.PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Datasources")

    # 1. Datasource: pick DuckDB, fill the path, Test connection (htmx), save.
    page.click("text=New datasource")
    page.click("a.partner-card:has-text('DuckDB')")
    page.fill("#id_name", "Demo warehouse")
    page.fill("#id_path", str(demo_warehouse))
    page.click("button:has-text('Test connection')")
    expect(page.locator("#test-result")).to_contain_text("Connection succeeded.")
    shot(page, "01-datasource-test-connection")
    page.click("button:has-text('Save')")
    expect(page.locator(".msg-success")).to_contain_text("Demo warehouse")
    # The list's own Test connection button works too.
    page.click("tbody button:has-text('Test connection')")
    expect(page.locator(".test-slot")).to_contain_text("Connection succeeded.")
    shot(page, "02-datasources-list")

    # 2. Source step: a SQL query, Preview results shows 20 rows with types.
    page.goto(live_server.url + reverse("imports-create"))
    page.fill("#id_nickname", "Demo purchases")
    page.select_option("#id_datasource", label="Demo warehouse")
    page.check("input[name=source_kind][value=query]")
    page.fill("#id_source", SOURCE)
    page.click("button:has-text('Preview results')")
    expect(page.locator("#preview table tbody tr")).to_have_count(20)
    expect(page.locator("#preview thead")).to_contain_text("VARCHAR")
    shot(page, "03-source-preview")
    page.click("button[name=next]")

    # 3. Mapping step: Event import, event-name and timestamp columns, typed properties.
    expect(page.locator(".wizard-steps .current")).to_contain_text("Mapping")
    page.check("input[name=sync_type][value=event]")
    page.select_option("#id_identity_column", "user_id")
    page.select_option("#id_event_name_column", "event_name")
    page.select_option("#id_timestamp_column", "event_time")
    types = {"amount": "float", "item_count": "integer", "is_first_purchase": "boolean"}
    for row in page.locator("table.mapping-table tbody tr").all():
        column = row.locator("code").inner_text()
        include = row.locator("input[type=checkbox]")
        if column in ("user_id", "event_name", "event_time", "day", "updated_at"):
            include.uncheck()
        else:
            include.check()
        if column in types:
            row.locator("select").select_option(types[column])
    shot(page, "04-mapping")
    page.click("button[name=next]")

    # 4. Dry run: the sample's errors include system events and prohibited characters.
    expect(page.locator(".wizard-steps .current")).to_contain_text("Dry run")
    page.fill("#id_sample_size", "5000")
    page.click("button[name=run]")
    groups = page.locator("#error-groups")
    expect(groups).to_contain_text("The system event name cannot be processed from the data source")
    expect(groups).to_contain_text("Event name contains a prohibited character")
    expect(page.locator("#failed-rows tbody tr").first).to_be_visible()
    shot(page, "05-dry-run")
    page.click("button:has-text('Continue to schedule')")

    # 5. Schedule: every 2 hours; the next five runs update live; Publish.
    page.check("input[name=schedule_kind][value=interval]")
    page.fill("#id_interval_every", "2")
    page.select_option("#id_interval_unit", "hours")
    page.select_option("#id_schedule_timezone", "Asia/Kolkata")
    expect(page.locator("#next-runs li")).to_have_count(5)
    shot(page, "06-schedule")
    page.click("button[name=publish]")
    expect(page.locator(".msg-success")).to_contain_text("published")

    imp = Import.objects.get(nickname="Demo purchases")
    assert imp.status == Import.Status.SCHEDULED and imp.next_run_at is not None
    assert imp.sync_type == "event" and imp.timestamp_column == "event_time"

    # 6. Run now from the listing; the "worker" executes it.
    row = page.locator("tr", has_text="Demo purchases")
    row.locator("button:has-text('Run now')").click()
    expect(page.locator(".msg").first).to_be_visible()
    assert len(queued) == 1
    pipeline.execute_run(queued[0])
    run = ImportRun.objects.get(pk=queued[0])
    total, failed = _expected_totals(demo_warehouse, imp.mapping)
    assert run.state == ImportRun.State.COMPLETED, run.error
    assert (run.total, run.failed, run.successful) == (total, failed, total - failed)
    assert failed > 0

    # 7. The Stats tab shows the run with those totals; drill into a failed record.
    page.goto(live_server.url + reverse("stats-stats", args=[imp.code]))
    stats_row = page.locator(f"#run-{run.code}")
    expect(stats_row).to_contain_text(f"{total:,}")
    expect(stats_row).to_contain_text(f"{total - failed:,}")
    expect(stats_row).to_contain_text(f"{failed:,}")
    shot(page, "07-stats")
    stats_row.locator(f"a:has-text('{failed:,}')").click()
    expect(page).to_have_url(re.compile(r"result=failed"))
    failed_cell = page.locator("#records tbody tr").first
    expect(failed_cell).to_contain_text("Failed")
    expect(failed_cell.locator(".error-message").first).to_be_visible()
    shot(page, "08-failed-record")
    assert len(list(shots.glob("*.png"))) == 8
