"""Back and Forward in headless Chromium: the filter form shows the filters its rows were made
with (htmx restores page snapshots, whose selects kept the value the page was served with)."""

from __future__ import annotations

import re

import pytest

from imports.models import Import
from tests import factories

pytestmark = pytest.mark.browser

Status = Import.Status


@pytest.fixture
def statuses(transactional_db):
    editor = factories.make_user("history-editor", role="Editor")
    ds = factories.make_datasource(name="Snow Prod", partner="snowflake")
    factories.make_import(ds, "Draft alpha", status=Status.DRAFT, schedule_kind="manual")
    factories.make_import(ds, "Draft beta", status=Status.DRAFT, schedule_kind="manual")
    factories.make_import(ds, "Paused gamma", status=Status.PAUSED)
    factories.make_import(ds, "Scheduled delta")
    return editor


def sign_in(page, base_url: str, username: str) -> None:
    page.goto(base_url + "/accounts/login/?next=/settings/partners/import-center/")
    page.fill("#id_username", username)
    page.fill("#id_password", factories.PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("#import-table")


def test_back_shows_the_filter_the_rows_were_made_with(
    role_groups_survive_flush, statuses, page, live_server
):
    from playwright.sync_api import expect

    sign_in(page, live_server.url, "history-editor")
    rows = page.locator("#import-table td.nickname a")
    status = page.locator("#id_status")
    expect(rows).to_have_count(4)

    page.select_option("#id_status", "draft")
    expect(page).to_have_url(re.compile(r"status=draft"))
    expect(rows).to_have_count(2)

    # Another filter, then Back: the Draft rows and the Draft filter come back together.
    page.select_option("#id_status", "paused")
    expect(page).to_have_url(re.compile(r"status=paused"))
    expect(rows).to_have_text(["Paused gamma"])
    page.go_back()
    expect(page).to_have_url(re.compile(r"status=draft"))
    expect(rows).to_have_text(["Draft beta", "Draft alpha"])
    expect(status).to_have_value("draft")

    # Back again to the unfiltered rows: "All statuses".
    page.go_back()
    expect(page).to_have_url(re.compile(r"import-center/$"))
    expect(rows).to_have_count(4)
    expect(status).to_have_value("")
    page.go_forward()
    expect(rows).to_have_count(2)
    expect(status).to_have_value("draft")

    # Leave for another page altogether, then Back.
    page.click("#import-table td.nickname a >> nth=0")
    expect(page).not_to_have_url(re.compile(r"import-center/\?"))
    page.go_back()
    expect(page).to_have_url(re.compile(r"status=draft"))
    expect(rows).to_have_text(["Draft beta", "Draft alpha"])
    expect(status).to_have_value("draft")
