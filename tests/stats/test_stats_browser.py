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
    expect(page.locator(".trend-summary")).to_contain_text("Health fell from")
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
