"""End to end, with a real worker, in headless Chromium (issue 17): a date column mapped without
its format fails every row; the Editor reads the rejected values in the run's pane, sets the
date format in Edit, retries the failed records, and the import's health recovers."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from imports import services
from imports.models import Import, ImportRun
from imports.roles import EDITOR_GROUP, VIEWER_GROUP
from tests import factories
from tests.engine.conftest import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.redis]

SHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots" / "retry"
ROWS = 40


def _finished(run: ImportRun):
    def check():
        run.refresh_from_db()
        return run.is_finished

    return check


def test_a_fixed_date_format_and_a_retry_turn_failures_into_successes(
    role_groups_survive_flush, start_worker, warehouse, wh_datasource, page, live_server
):
    from playwright.sync_api import expect

    for name in (VIEWER_GROUP, EDITOR_GROUP):
        Group.objects.get_or_create(name=name)
    factories.make_user("retry-editor", role=EDITOR_GROUP)
    warehouse._execute(
        "CREATE TABLE signups AS SELECT 'u' || i AS user_id, lpad(CAST(1 + i % 28 AS VARCHAR), "
        f"2, '0') || '.12.2024' AS signed FROM range(1, {ROWS + 1}) t(i)"
    )
    # One identity of white space only: it fails whatever the date format.
    warehouse._execute("UPDATE signups SET user_id = ' \t' WHERE user_id = 'u3'")
    imp = factories.make_import(
        wh_datasource,
        nickname="Signups",
        source="signups",
        identity_column="user_id",
        status=Import.Status.SCHEDULED,
        mapping={
            "sync_type": "profile",
            "identity_column": "user_id",
            "identity_kind": "identity",
            "fields": [
                {"column": "signed", "target": "signed_on", "type": "Date", "date_format": None}
            ],
        },
    )
    start_worker()
    first = services.run_now(imp)
    wait_for(_finished(first), 120, what="the first run")
    assert (first.state, first.total, first.failed) == ("completed", ROWS, ROWS)
    SHOTS.mkdir(parents=True, exist_ok=True)

    page.goto(live_server.url + reverse("stats-run-detail", args=[imp.code, first.code]))
    page.fill("#id_username", "retry-editor")
    page.fill("#id_password", factories.PASSWORD)
    page.click("button[type=submit]")
    pane = page.locator("#pane")
    expect(pane.locator(".record-errors").first).to_contain_text("Value: 02.12.2024")
    expect(pane.locator(".values-mode")).to_contain_text("kept in full")
    expect(pane).to_contain_text("40 failed records kept their source row.")
    spaces = pane.locator("code.value-space")
    expect(spaces).to_have_count(1)  # the identity " \t": white space only, shown as such
    expect(spaces.locator(".ws")).to_have_count(2)
    page.screenshot(path=str(SHOTS / "01-red-run-with-values.png"), full_page=True)

    # Edit: the date format of the column, on the Mapping step.
    page.goto(live_server.url + reverse("imports-wizard", args=[imp.code, "mapping"]))
    page.fill("input[aria-label='Date format of signed']", "dd.MM.yyyy")
    page.screenshot(path=str(SHOTS / "02-edit-date-format.png"), full_page=True)
    page.click("button[name=draft]")
    imp.refresh_from_db()
    assert imp.mapping["fields"][0]["date_format"] == "dd.MM.yyyy"

    page.goto(live_server.url + reverse("stats-run-detail", args=[imp.code, first.code]))
    page.click("button:has-text('Retry failed records')")
    expect(page.locator(".messages")).to_contain_text("Retrying 40 failed records of the run of")
    retry = wait_for(
        lambda: ImportRun.objects.filter(trigger="retry", state="completed").first(),
        120,
        what="the retry run",
    )
    assert (retry.retry_of_id, retry.total, retry.successful, retry.failed) == (
        first.pk,
        ROWS,
        ROWS - 1,
        1,
    )
    page.goto(live_server.url + reverse("stats-stats", args=[imp.code]))
    row = page.locator(f"#run-{retry.code}")
    expect(row).to_contain_text("Retry of failed records by retry-editor")
    expect(row).to_contain_text("97.50%")
    expect(page.locator(".trend-legend")).to_contain_text("retry of failed records")
    imp.refresh_from_db()
    assert (imp.health_run_id, imp.health_hundredths) == (retry.pk, 9750)
    page.screenshot(path=str(SHOTS / "03-health-recovered.png"), full_page=True)

    row.locator("td.when a").click()
    pane = page.locator("#run-pane #pane")
    expect(pane).to_contain_text("Retry of the failed records of the run of")
    expect(pane.locator(".record-errors")).to_contain_text("white space only")
    page.screenshot(path=str(SHOTS / "04-retry-run-pane.png"), full_page=True)
