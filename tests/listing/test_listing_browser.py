"""End to end in headless Chromium: sign in, filter by partner, sort, pause and resume."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Group

from imports.models import Import
from imports.roles import EDITOR_GROUP, VIEWER_GROUP
from tests import factories

pytestmark = pytest.mark.browser


@pytest.fixture
def journey_data(transactional_db):
    for name in (VIEWER_GROUP, EDITOR_GROUP):
        Group.objects.get_or_create(name=name)
    editor = factories.make_user("journey-editor", role=EDITOR_GROUP)
    snow = factories.make_datasource(name="Snow Prod", partner="snowflake")
    bq = factories.make_datasource(name="BQ Events", partner="bigquery")
    good = factories.make_import(snow, "Snow users", created_by=editor)
    factories.make_run(good, total=200, failed=0)
    mixed = factories.make_import(snow, "Snow orders", sync_type=Import.SyncType.EVENT)
    factories.make_run(mixed, total=200, failed=150)
    factories.make_import(bq, "BQ clicks", sync_type=Import.SyncType.EVENT)
    return {"editor": editor, "good": good}


@pytest.fixture
def browser_context_args() -> dict:
    return {"viewport": {"width": 1600, "height": 900}, "timezone_id": "Asia/Kolkata"}


def _rows(page) -> list[str]:
    return page.locator("#import-table td.nickname a").all_inner_texts()


def test_editor_filters_sorts_pauses_and_resumes(
    role_groups_survive_flush, journey_data, page, live_server, tmp_path
):
    from playwright.sync_api import expect

    good = journey_data["good"]
    page.goto(live_server.url + "/settings/partners/import-center/")

    # Every page needs a signed-in user: we land on the sign-in form.
    expect(page).to_have_url(re.compile(r"/accounts/login/"))
    page.fill("#id_username", "journey-editor")
    page.fill("#id_password", factories.PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Import center")
    expect(page.locator("#import-table td.nickname")).to_have_count(3)

    # Filter by partner: htmx swaps only the table and pushes the filter into the URL.
    page.select_option("#id_partner", "snowflake")
    expect(page).to_have_url(re.compile(r"partner=snowflake"))
    expect(page.locator("#import-table td.nickname")).to_have_count(2)
    assert set(_rows(page)) == {"Snow users", "Snow orders"}

    # Sort by health, then reverse it; the filter stays.
    page.click("th a[data-sort=health]")
    expect(page).to_have_url(re.compile(r"o=health"))
    expect(page.locator("th[aria-sort=ascending] a[data-sort=health]")).to_be_visible()
    assert _rows(page) == ["Snow orders", "Snow users"]
    page.click("th a[data-sort=health]")
    expect(page).to_have_url(re.compile(r"o=-health"))
    expect(page.locator("th[aria-sort=descending]")).to_be_visible()
    assert _rows(page) == ["Snow users", "Snow orders"]
    assert "partner=snowflake" in page.url

    # Pause, then resume, the "Snow users" import; the page comes back filtered and sorted.
    row = page.locator(f"#import-{good.code}")
    row.get_by_role("button", name="Pause").click()
    expect(page.locator(".messages")).to_contain_text("Paused “Snow users”")
    expect(row.locator(".status")).to_have_text("Paused")
    assert "partner=snowflake" in page.url and "o=-health" in page.url
    good.refresh_from_db()
    assert good.status == Import.Status.PAUSED

    row.get_by_role("button", name="Resume").click()
    expect(page.locator(".messages")).to_contain_text("Resumed “Snow users”")
    expect(row.locator(".status")).to_have_text("Scheduled")
    good.refresh_from_db()
    assert good.status == Import.Status.SCHEDULED

    # Stop asks first; dismissing the question changes nothing.
    page.once("dialog", lambda dialog: dialog.dismiss())
    row.get_by_role("button", name="Stop").click()
    expect(row.locator(".status")).to_have_text("Scheduled")

    # Agreeing stops it at once: the answer travels with the form, the server asks no more.
    questions = []
    page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.accept()))
    row.get_by_role("button", name="Stop").click()
    expect(page.locator(".messages")).to_contain_text("Stopped “Snow users”")
    expect(row.locator(".status")).to_have_text("Stopped")
    assert "its stats will not be available" in questions[0]

    shot = tmp_path / "import-center.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
