"""Wizard journeys in headless Chromium: a 1,000-column source mapped in one POST, a refused
dry-run sample size that keeps the previous result, and the schedule's minimum interval shown
live. Screenshots (1280 px wide) go to tmp_path."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from imports.roles import EDITOR_GROUP, VIEWER_GROUP
from tests import factories

pytestmark = pytest.mark.browser

WIDTH = 1_000


@pytest.fixture
def browser_context_args() -> dict:
    return {"viewport": {"width": 1280, "height": 900}, "timezone_id": "UTC"}


@pytest.fixture
def wide_draft(transactional_db, wide_draft_of):
    for name in (VIEWER_GROUP, EDITOR_GROUP):
        Group.objects.get_or_create(name=name)
    editor = factories.make_user("wide-editor", role=EDITOR_GROUP)
    columns = ["user_id", *(f"attr_{i:04d}" for i in range(WIDTH - 1))]
    return wide_draft_of(columns, [("u1", "a"), ("null", "b")], created_by=editor)


def test_map_1000_columns_dry_run_and_schedule_minimum(
    role_groups_survive_flush, wide_draft, page, live_server, tmp_path
):
    from playwright.sync_api import expect

    expect.set_options(timeout=30_000)
    shots = tmp_path / "screenshots"
    shots.mkdir()

    page.goto(live_server.url + reverse("imports-wizard", args=[wide_draft.code, "mapping"]))
    page.fill("#id_username", "wide-editor")
    page.fill("#id_password", factories.PASSWORD)
    page.click("button[type=submit]")

    # Mapping: 1,000 rows, all posted at once.
    expect(page.locator("table.mapping-table tbody tr")).to_have_count(WIDTH)
    page.select_option("#id_identity_column", "user_id")
    page.screenshot(path=str(shots / "01-mapping-1000-top.png"))
    page.locator("table.mapping-table tbody tr").last.scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "02-mapping-1000-bottom.png"))
    page.click("button[name=next]")
    expect(page.locator(".wizard-steps .current")).to_contain_text("Dry run")
    wide_draft.refresh_from_db()
    # The identity column is pre-set (and unticked as a property): every other column maps.
    assert wide_draft.identity_column == "user_id"
    assert len(wide_draft.mapping["fields"]) == WIDTH - 1

    # Dry run: a result, then a refused size keeps it and says the range.
    page.fill("#id_sample_size", "100")
    page.click("button[name=run]")
    expect(page.locator("#results")).to_contain_text("Result of 2 rows")
    page.fill("#id_sample_size", "0")
    page.click("button[name=run]")
    expect(page.locator("#id_sample_size_errors")).to_have_text(
        "Enter a whole number of rows from 1 to 10,000."
    )
    expect(page.locator("#results")).to_contain_text("Result of 2 rows")
    page.screenshot(path=str(shots / "03-dry-run-refused-size.png"), full_page=True)
    page.click("button:has-text('Continue to schedule')")

    # Schedule: the minimum beside the field, and live in the preview when below it.
    expect(page.locator(".field-interval_every .help")).to_have_text("At least 15 minutes in all.")
    page.check("input[name=schedule_kind][value=interval]")
    page.select_option("#id_interval_unit", "minutes")
    page.fill("#id_interval_every", "5")
    expect(page.locator("#next-runs")).to_contain_text("The shortest interval is 15 minutes.")
    page.screenshot(path=str(shots / "04-schedule-below-minimum.png"), full_page=True)
    page.fill("#id_interval_every", "15")
    expect(page.locator("#next-runs li")).to_have_count(5)
    page.screenshot(path=str(shots / "05-schedule-at-minimum.png"), full_page=True)
    assert len(list(shots.glob("*.png"))) == 5


def test_test_connection_marks_each_wrong_field(
    role_groups_survive_flush, transactional_db, page, live_server, tmp_path
):
    from playwright.sync_api import expect

    expect.set_options(timeout=30_000)
    for name in (VIEWER_GROUP, EDITOR_GROUP):
        Group.objects.get_or_create(name=name)
    factories.make_user("ds-editor", role=EDITOR_GROUP)
    page.goto(live_server.url + reverse("datasources-create") + "?partner=postgresql")
    page.fill("#id_username", "ds-editor")
    page.fill("#id_password", factories.PASSWORD)
    page.click("button[type=submit]")
    page.fill("#id_port", "99999999")
    page.fill("#id_password", "typed secret")
    page.click("button:has-text('Test connection')")
    expect(page.locator("#test-result")).to_contain_text("Fix these fields first.")
    expect(page.locator("#id_port_errors")).to_have_text("Enter a port number from 1 to 65535.")
    expect(page.locator("#id_host_errors")).to_have_text("This field is required.")
    # Nothing typed is lost: only the error slots were swapped.
    expect(page.locator("#id_password")).to_have_value("typed secret")
    expect(page.locator("#id_port")).to_have_value("99999999")
    page.screenshot(path=str(tmp_path / "datasource-test-marks.png"), full_page=True)
