"""Long values in headless Chromium: a 100-character nickname without spaces and a
1,025-character identity never make a page wider than its window, and the listing's Actions
stay on screen, at 1280 and 1400 px."""

from __future__ import annotations

import pytest
from django.urls import reverse

from imports.models import Import, RecordResult
from tests import factories
from tests.listing.conftest import make_running
from tests.listing.test_listing_history_browser import sign_in

pytestmark = pytest.mark.browser

LONG_NICKNAME = "W" * 40 + "_" + "m" * 59  # 100 characters, no space, wide glyphs
LONG_IDENTITY = "i" * 1025  # one over the limit: a failed record shows it as given
WIDTHS = [1280, 1400]


@pytest.fixture
def long_values(transactional_db):
    editor = factories.make_user("layout-editor", role="Editor")
    ds = factories.make_datasource(name="Snow Prod", partner="snowflake")
    imp = factories.make_import(ds, LONG_NICKNAME, created_by=editor, updated_by=editor)
    run = factories.make_run(imp, total=2, failed=1)
    RecordResult.objects.create(
        run=run,
        row_number=1,
        success=False,
        identity=LONG_IDENTITY,
        errors=[{"field": "user_id", "code": "invalid_identity", "message": "Invalid identity"}],
        error_keys="|user_id:invalid_identity|",
    )
    RecordResult.objects.create(run=run, row_number=2, success=True, identity="u2")
    # A running import too, with Cancel run beside Stop: the widest actions cell.
    running = factories.make_import(ds, "R" * 100, created_by=editor)
    make_running(running)
    factories.make_import(ds, "Short one", status=Import.Status.DRAFT, schedule_kind="manual")
    for i in range(12):  # a page taller than the window: its scroll bar takes width too
        factories.make_import(ds, f"filler-{i:02d}", created_by=editor)
    return {"imp": imp, "run": run, "running": running}


@pytest.fixture
def browser_context_args(width) -> dict:
    return {"viewport": {"width": width, "height": 900}}


def _page_width(page) -> tuple[int, int]:
    return page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")


def _right_edges(page, selector: str) -> list[float]:
    return page.eval_on_selector_all(
        selector, "els => els.map(e => e.getBoundingClientRect().right)"
    )


@pytest.mark.parametrize("width", WIDTHS)
def test_long_values_fit_the_window(
    role_groups_survive_flush, long_values, page, live_server, width, tmp_path
):
    imp, run = long_values["imp"], long_values["run"]
    sign_in(page, live_server.url, "layout-editor")

    # The listing: no wider than the window, every row's actions on screen.
    page.goto(live_server.url + reverse("imports-listing"))
    page.wait_for_selector(f"#import-{imp.code}")
    scroll, inner = _page_width(page)
    assert scroll <= inner, f"listing is {scroll} px wide in a {inner} px window"
    edges = _right_edges(page, "#import-table tr > :last-child")
    assert len(edges) == 16 and max(edges) <= inner, edges
    assert page.locator("#import-table th").last.inner_text() == "Actions"
    region = page.evaluate(
        "(() => { const s = document.querySelector('.listing-scroll');"
        " return [s.scrollWidth, s.clientWidth]; })()"
    )
    assert region[0] <= region[1], f"the table scrolls sideways: {region}"
    # The whole nickname is still there to read and copy.
    link = page.locator(f"#import-{imp.code} td.nickname a")
    assert link.inner_text().replace("\n", "") == LONG_NICKNAME
    page.screenshot(path=str(tmp_path / f"listing-{width}.png"), full_page=True)

    # A message that names the import (here: paused) does not widen the page either.
    page.locator(f"#import-{imp.code}").get_by_role("button", name="Pause").click()
    page.wait_for_selector(".messages")
    assert LONG_NICKNAME in page.locator(".messages").inner_text().replace("\n", "")
    scroll, inner = _page_width(page)
    assert scroll <= inner, f"listing with a message is {scroll} px wide"

    # The import's own pages and the wizard heading with the nickname in it.
    for name, args in (
        ("stats-overview", [imp.code]),
        ("imports-wizard", [imp.code, "source"]),
        ("imports-wizard", [imp.code, "schedule"]),
        ("imports-duplicate", [imp.code]),
    ):
        page.goto(live_server.url + reverse(name, args=args))
        heading = page.locator("h1").first
        assert LONG_NICKNAME in heading.inner_text().replace("\n", "")
        scroll, inner = _page_width(page)
        assert scroll <= inner, f"{name} is {scroll} px wide in a {inner} px window"
        assert heading.bounding_box()["x"] + heading.bounding_box()["width"] <= inner

    # The run detail pane: the 1,025-character identity is cut to a few lines, the whole
    # value still in the cell (copy) and shown on hover.
    page.goto(live_server.url + reverse("stats-run-detail", args=[imp.code, run.code]))
    cell = page.locator("td.identity", has_text="iiii")
    cell.wait_for()
    scroll, inner = _page_width(page)
    assert scroll <= inner, f"run detail is {scroll} px wide in a {inner} px window"
    row_height = cell.evaluate("td => td.parentElement.getBoundingClientRect().height")
    assert row_height < 200, f"the identity row is {row_height} px tall"
    assert cell.evaluate("td => td.textContent") == LONG_IDENTITY
    assert cell.evaluate("td => getComputedStyle(td).textOverflow") == "ellipsis"
    page.screenshot(path=str(tmp_path / f"run-detail-{width}.png"), full_page=True)
    cell.hover()
    hovered = cell.evaluate("td => td.getBoundingClientRect().height")
    assert hovered > row_height  # the whole value shows on hover
    scroll, inner = _page_width(page)
    assert scroll <= inner
