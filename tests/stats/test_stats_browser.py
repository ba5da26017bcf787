"""End to end in headless Chromium: open an import's Stats tab, click a yellow run, filter its
failed records, and read an exact Error Reference message."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from imports.models import ImportRun
from imports.roles import EDITOR_GROUP, VIEWER_GROUP
from tests import factories
from tests.stats.conftest import error, make_records
from validation.errors import ERROR_REFERENCE

pytestmark = pytest.mark.browser


@pytest.fixture
def browser_context_args() -> dict:
    return {"viewport": {"width": 1440, "height": 1000}}


@pytest.fixture
def stats_data(transactional_db):
    for name in (VIEWER_GROUP, EDITOR_GROUP):
        Group.objects.get_or_create(name=name)
    viewer = factories.make_user("stats-viewer", role=VIEWER_GROUP)
    imp = factories.make_import(factories.make_datasource(name="Snow Prod"), "Snow users")
    now = timezone.now()
    for i in range(12):
        factories.make_run(imp, total=500, failed=i % 3, created_at=now - timedelta(hours=14 - i))
    factories.make_run(
        imp,
        state=ImportRun.State.SKIPPED,
        total=0,
        created_at=now - timedelta(hours=2, minutes=15),
        update_import=False,
    )
    yellow = factories.make_run(imp, total=40, failed=12, created_at=now - timedelta(hours=2))
    specs = [(f"user{i}@example.com", []) for i in range(40)]
    for i in range(0, 24, 2):
        specs[i] = (f"user{i}", [error("email", "invalid_email")])
    specs[3] = ("null", [error("user_id", "invalid_identity")])
    specs[5] = ("user5", [error("phone", "invalid_phone")])
    make_records(run=yellow, specs=specs)
    factories.make_run(
        imp, state=ImportRun.State.FAILED, total=0, error="Invalid credentials.", error_kind="auth"
    )
    return {"viewer": viewer, "imp": imp, "yellow": yellow}


def test_viewer_drills_into_a_yellow_run(
    role_groups_survive_flush, stats_data, page, live_server, tmp_path
):
    from playwright.sync_api import expect

    imp, yellow = stats_data["imp"], stats_data["yellow"]
    page.goto(live_server.url + reverse("login"))
    page.fill("#id_username", "stats-viewer")
    page.fill("#id_password", factories.PASSWORD)
    page.click("button[type=submit]")
    page.goto(live_server.url + reverse("stats-stats", args=[imp.code]))
    expect(page.locator("svg.trend")).to_be_visible()
    expect(page.locator(".trend-summary")).to_contain_text("Health fell by more than 10 points")
    expect(page.locator("tbody.run-skipped")).to_contain_text(
        "Skipped — the previous run was still running"
    )
    page.screenshot(path=str(tmp_path / "stats-tab.png"), full_page=True)

    page.locator(f"#run-{yellow.code} td.when a").click()
    pane = page.locator("#run-pane #pane")
    expect(pane).to_be_visible()
    assert page.url.endswith(reverse("stats-run-detail", args=[imp.code, yellow.code]))
    summary = pane.locator("table.error-summary tbody tr")
    expect(summary.first).to_contain_text(ERROR_REFERENCE["invalid_identity"].message)
    expect(pane.locator("#records tbody tr")).to_have_count(14)  # failed by default

    pane.locator("#f-code").select_option("invalid_phone")
    expect(pane.locator("#records tbody tr")).to_have_count(1)
    expect(pane.locator("#records .error-message")).to_have_text(
        "Phone number must start with a valid country code and contain more than 4 digits"
    )
    assert "code=invalid_phone" in page.url
    page.screenshot(path=str(tmp_path / "run-pane-filtered.png"), full_page=True)

    # The pushed URL opens on its own.
    page.reload()
    expect(page.locator("#records .error-message")).to_have_text(
        ERROR_REFERENCE["invalid_phone"].message
    )
    page.screenshot(path=str(tmp_path / "run-detail-page.png"), full_page=True)
    for name in ("stats-tab.png", "run-pane-filtered.png", "run-detail-page.png"):
        assert (tmp_path / name).stat().st_size > 10_000


SHOTS = None  # set to a directory path to keep the screenshots for a look by eye


def _sign_in(page, base_url: str, username: str) -> None:
    page.goto(base_url + reverse("login"))
    page.fill("#id_username", username)
    page.fill("#id_password", factories.PASSWORD)
    page.click("button[type=submit]")


def _fits(page) -> bool:
    """Nothing wider than the window: no horizontal scrolling of the page."""
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


@pytest.mark.parametrize("width", [1280, 1400])
def test_stopped_run_and_long_search_in_the_pane(
    role_groups_survive_flush, stats_data, browser, live_server, tmp_path, width
):
    from playwright.sync_api import expect

    imp, yellow = stats_data["imp"], stats_data["yellow"]
    editor = factories.make_user("stats-editor", role=EDITOR_GROUP)
    factories.make_run(
        imp,
        total=40,
        created_at=timezone.now() - timedelta(hours=1, minutes=30),
        trigger=ImportRun.Trigger.MANUAL,
        triggered_by=editor,
    )
    stopped = factories.make_run(
        imp,
        state=ImportRun.State.STOPPED,
        total=0,
        partial=True,
        created_at=timezone.now() - timedelta(hours=1),
        update_import=False,
    )
    ImportRun.objects.filter(pk=stopped.pk).update(successful=19_500, failed=500)
    make_records(stopped, [("kept", []), ("bad", [error("email", "invalid_email")])])
    shots = SHOTS or str(tmp_path)
    context = browser.new_context(viewport={"width": width, "height": 1000})
    page = context.new_page()
    _sign_in(page, live_server.url, "stats-viewer")
    page.goto(live_server.url + reverse("stats-stats", args=[imp.code]))
    row = page.locator(f"#run-{stopped.code}")
    expect(row).to_contain_text("20,000 records ingested before the stop (partial)")
    expect(row.locator(".badge")).to_have_count(0)
    expect(page.locator("table.stats-table thead")).to_contain_text("Triggered by")
    expect(page.locator("table.stats-table")).to_contain_text("Run now by stats-editor")
    assert _fits(page)
    page.screenshot(path=f"{shots}/stats-{width}.png", full_page=True)

    row.locator("td.when a").click()
    pane = page.locator("#run-pane #pane")
    expect(pane).to_contain_text(
        "Stopped — stats not available · 20,000 records ingested before the stop (partial)"
    )
    expect(pane.locator("dl.run-facts")).to_have_count(0)
    expect(pane.locator("#records")).to_have_count(0)
    assert _fits(page)
    page.screenshot(path=f"{shots}/stopped-pane-{width}.png", full_page=True)

    # An identity search too long to be one: the message shows in the pane.
    page.locator(f"#run-{yellow.code} td.when a").click()
    expect(pane.locator("#records tbody tr")).to_have_count(14)
    expect(pane.locator("#f-q")).to_have_attribute("placeholder", "Identity (exact match)")
    pane.locator("#f-q").fill("x" * 1101)
    pane.locator("#f-q").press("Enter")
    expect(pane.locator("#records [role=alert]")).to_contain_text("This search is too long")
    expect(pane.locator("#records tbody tr")).to_have_count(0)
    assert _fits(page)
    page.screenshot(path=f"{shots}/long-search-{width}.png", full_page=True)
    context.close()


def test_overview_follows_a_run_to_its_end(
    role_groups_survive_flush, stats_data, browser, live_server
):
    from playwright.sync_api import expect

    from imports.models import Import

    imp = stats_data["imp"]
    run = factories.make_run(imp, state=ImportRun.State.RUNNING, total=0, update_import=False)
    Import.objects.filter(pk=imp.pk).update(current_run=run, status=Import.Status.RUNNING)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    _sign_in(page, live_server.url, "stats-viewer")
    page.goto(live_server.url + reverse("stats-overview", args=[imp.code]))
    expect(page.locator(".current-run")).to_contain_text("Running · 0 records processed")

    ImportRun.objects.filter(pk=run.pk).update(successful=7, failed=0)
    expect(page.locator(".current-run")).to_contain_text("7 records processed")

    ImportRun.objects.filter(pk=run.pk).update(
        state=ImportRun.State.COMPLETED, total=7, finished_at=timezone.now()
    )
    Import.objects.filter(pk=imp.pk).update(
        current_run=None, status=Import.Status.SCHEDULED, health_run=run, health_band="green"
    )
    expect(page.locator(".current-run")).to_have_count(0)
    expect(page.locator(".import-head .status")).to_have_text("Scheduled")
    expect(page.locator("#overview-live")).not_to_have_attribute("hx-trigger", "every 2s")
    context.close()
