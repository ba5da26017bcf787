"""Errors across runs on the Stats tab: each (field, error) pair over the window's runs with a
health percentage, its marks (new since the run before, grew more than 10×), the order
(identity errors first), the link to the failed records of the latest run that has it, and
who may see it."""

from __future__ import annotations

from datetime import timedelta
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse
from django.utils import timezone

from imports.models import ImportRun, RunErrorCount
from stats import queries
from tests import factories
from tests.stats.conftest import error, make_records
from validation.errors import ERROR_REFERENCE

pytestmark = pytest.mark.django_db

EMAIL = ERROR_REFERENCE["invalid_email"].message
IDENTITY = ERROR_REFERENCE["invalid_identity"].message


def ago(**kw):
    return timezone.now() - timedelta(**kw)


def stats_url(imp) -> str:
    return reverse("stats-stats", args=[imp.code])


def run_with(imp, hours_ago: float, counts: dict[tuple[str, str], int], **kw) -> ImportRun:
    """A completed run whose error summary is `counts` (records are not needed: the table
    reads the per-run summary only)."""
    failed = sum(counts.values())
    run = factories.make_run(
        imp, total=kw.pop("total", failed + 1000), failed=failed, created_at=ago(hours=hours_ago)
    )
    RunErrorCount.objects.bulk_create(
        RunErrorCount(run=run, field=f, code=c, count=n) for (f, c), n in counts.items()
    )
    return run


class _Rows(HTMLParser):
    """The rows of the errors table: each row's cell texts, its link, and its SVG title."""

    def __init__(self):
        super().__init__()
        self.rows: list[dict] = []
        self._in_table = self._in_title = False
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and "errors-table" in (attrs.get("class") or ""):
            self._in_table = True
        elif self._in_table and tag == "tr" and self._cell is None:
            self.rows.append({"cells": [], "href": None, "title": "", "class": attrs.get("class")})
        elif self._in_table and tag == "td":
            self._cell = []
        elif self._in_table and tag == "a" and self.rows:
            self.rows[-1]["href"] = attrs["href"]
        elif self._in_table and tag == "title":
            self._in_title = True

    def handle_endtag(self, tag):
        if tag == "table":
            self._in_table = False
        elif tag == "td" and self._cell is not None:
            self.rows[-1]["cells"].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "title":
            self._in_title = False

    def handle_data(self, data):
        if self._in_title:
            self.rows[-1]["title"] += data
        elif self._cell is not None:
            self._cell.append(data)


def table(client, imp) -> tuple[str, list[dict]]:
    response = client.get(stats_url(imp))
    assert response.status_code == 200
    body = response.content.decode()
    parser = _Rows()
    parser.feed(body)
    return body, [r for r in parser.rows if r["cells"]]


def by_pair(rows: list[dict]) -> dict[tuple[str, str], dict]:
    return {
        (r["cells"][0], r["cells"][1].removesuffix(" New").removesuffix(" More than 10×")): r
        for r in rows
    }


# --- marks ------------------------------------------------------------------------------------


def test_a_pair_new_since_the_previous_run_is_marked_new(viewer_client, imp):
    run_with(imp, 3, {("email", "invalid_email"): 5})
    run_with(imp, 2, {("email", "invalid_email"): 6})
    run_with(imp, 1, {("email", "invalid_email"): 7, ("phone", "invalid_phone"): 3})
    body, rows = table(viewer_client, imp)
    cells = {r["cells"][0]: r["cells"] for r in rows}
    assert cells["phone"][1] == ERROR_REFERENCE["invalid_phone"].message + " New"
    assert cells["email"][1] == EMAIL  # there before: no mark
    assert cells["phone"][3:5] == ["3", "0"]  # latest run, run before
    assert "Marks compare the latest run with a health percentage (" in body


def test_a_pair_back_after_a_gap_is_new_since_the_run_before(imp):
    run_with(imp, 3, {("email", "invalid_email"): 5})
    run_with(imp, 2, {})
    run_with(imp, 1, {("email", "invalid_email"): 5})
    [pair] = queries.errors_across_runs(imp).pairs
    assert (pair.mark, pair.latest, pair.previous) == ("new", 5, 0)
    assert pair.points == "0,2 60,22 120,2"  # 5, 0, 5


def test_growth_of_more_than_ten_times_is_marked(viewer_client, imp):
    run_with(imp, 2, {("email", "invalid_email"): 10})
    run_with(imp, 1, {("email", "invalid_email"): 101})
    _body, rows = table(viewer_client, imp)
    assert rows[0]["cells"][1] == EMAIL + " More than 10×"
    assert rows[0]["cells"][3:5] == ["101", "10"]


def test_exactly_ten_times_is_not_marked(viewer_client, imp):
    run_with(imp, 2, {("email", "invalid_email"): 10})
    run_with(imp, 1, {("email", "invalid_email"): 100})
    _body, rows = table(viewer_client, imp)
    assert rows[0]["cells"][1] == EMAIL
    assert queries.errors_across_runs(imp).pairs[0].mark == ""


def test_a_pair_that_disappears_stays_listed_unmarked_and_opens_its_last_run(viewer_client, imp):
    older = run_with(imp, 3, {("phone", "invalid_phone"): 4})
    last_seen = run_with(imp, 2, {("phone", "invalid_phone"): 2, ("email", "invalid_email"): 1})
    run_with(imp, 1, {("email", "invalid_email"): 1})
    errors = queries.errors_across_runs(imp)
    phone = next(p for p in errors.pairs if p.field == "phone")
    assert (phone.latest, phone.previous, phone.mark) == (0, 2, "")
    assert (phone.first.code, phone.last.code) == (older.code, last_seen.code)
    _body, rows = table(viewer_client, imp)
    row = next(r for r in rows if r["cells"][0] == "phone")
    href = urlsplit(row["href"])
    assert href.path == reverse("stats-run-detail", args=[imp.code, last_seen.code])
    assert parse_qs(href.query) == {
        "result": ["failed"],
        "field": ["phone"],
        "code": ["invalid_phone"],
    }


def test_runs_without_a_health_percentage_are_not_compared(viewer_client, imp):
    """A Blank run (credentials failed, nothing read) between two runs neither resets nor
    hides a pair; skipped and stopped runs carry no health at all."""
    run_with(imp, 5, {("email", "invalid_email"): 5})
    factories.make_run(imp, state=ImportRun.State.FAILED, total=0, created_at=ago(hours=4))
    factories.make_run(imp, state=ImportRun.State.SKIPPED, total=0, created_at=ago(hours=3))
    stopped = factories.make_run(
        imp, state=ImportRun.State.STOPPED, total=0, partial=True, created_at=ago(hours=2)
    )
    RunErrorCount.objects.create(run=stopped, field="email", code="invalid_email", count=50)
    latest = run_with(imp, 1, {("email", "invalid_email"): 6})
    errors = queries.errors_across_runs(imp)
    assert errors.run_count == 2 and errors.latest.code == latest.code
    [pair] = errors.pairs
    assert (pair.previous, pair.latest, pair.mark) == (5, 6, "")
    body, _rows = table(viewer_client, imp)
    assert "2 runs with a health percentage in the last 30 days" in body


def test_the_table_follows_a_new_run(viewer_client, imp):
    """Cached as the trend is, yet a run that finishes gives the next view its figures."""
    run_with(imp, 2, {("email", "invalid_email"): 5})
    run_with(imp, 1, {("email", "invalid_email"): 5})
    _body, rows = table(viewer_client, imp)
    assert rows[0]["cells"][1] == EMAIL
    run_with(imp, 0.5, {("email", "invalid_email"): 51})
    _body, rows = table(viewer_client, imp)
    assert rows[0]["cells"][1] == EMAIL + " More than 10×"
    assert rows[0]["cells"][3:5] == ["51", "5"]


def test_one_run_has_nothing_to_compare_and_says_so(viewer_client, imp):
    run_with(imp, 1, {("email", "invalid_email"): 5})
    body, rows = table(viewer_client, imp)
    assert "No marks: only one run in the window has a health percentage" in body
    assert rows[0]["cells"][1] == EMAIL and rows[0]["cells"][4] == "—"
    assert 'class="badge mark-new"' not in body


def test_runs_out_of_the_window_are_left_out(imp, settings):
    run_with(imp, 24 * 31, {("phone", "invalid_phone"): 9})
    run_with(imp, 1, {("email", "invalid_email"): 1})
    assert [p.field for p in queries.errors_across_runs(imp).pairs] == ["email"]


def test_no_errors_and_no_runs_say_so(viewer_client, imp):
    body, _ = table(viewer_client, imp)
    assert "No run in the last 30 days has a health percentage yet" in body
    run_with(imp, 1, {})
    body, _ = table(viewer_client, imp)
    assert "No record failed in these runs." in body


# --- order ------------------------------------------------------------------------------------


def test_identity_errors_come_first_then_the_latest_runs_counts(viewer_client, imp):
    run_with(imp, 2, {("email", "invalid_email"): 900, ("user_id", "invalid_identity"): 1})
    run_with(
        imp,
        1,
        {
            ("email", "invalid_email"): 500,
            ("phone", "invalid_phone"): 700,
            ("user_id", "invalid_identity"): 1,
            ("age", "not_numeric"): 0,
        },
    )
    _body, rows = table(viewer_client, imp)
    assert [r["cells"][0] for r in rows] == ["user_id", "phone", "email"]  # a 0 count is no pair
    assert rows[0]["class"] == "identity-error"


# --- the sparkline ----------------------------------------------------------------------------


def test_the_sparkline_has_a_point_per_run_and_an_accessible_title(viewer_client, imp):
    for i, n in enumerate([1, 0, 4]):
        run_with(imp, 3 - i, {("email", "invalid_email"): n} if n else {})
    _body, rows = table(viewer_client, imp)
    title = rows[0]["title"]
    assert title.startswith(f"email · {EMAIL}: failed records in each of 3 runs, ")
    assert title.endswith("at most 4 in a run, 4 in the latest")
    [pair] = queries.errors_across_runs(imp).pairs
    assert pair.points == "0,17 60,22 120,2"  # height 24: 2 px margins, the peak at the top
    assert pair.dot == (120, 2)


def test_many_runs_are_drawn_as_slices_that_keep_their_spikes(imp):
    runs = [
        ImportRun(
            import_obj=imp,
            state="completed",
            total=100,
            successful=99,
            failed=1,
            created_at=ago(minutes=15 * (130 - i)),
        )
        for i in range(130)
    ]
    ImportRun.objects.bulk_create(runs)
    runs = list(ImportRun.objects.filter(import_obj=imp).order_by("created_at"))
    RunErrorCount.objects.bulk_create(
        RunErrorCount(run=r, field="email", code="invalid_email", count=90 if i == 7 else 1)
        for i, r in enumerate(runs)
    )
    [pair] = queries.errors_across_runs(imp).pairs
    assert pair.slice_runs == 3  # 130 runs in at most 60 points
    ys = [float(p.split(",")[1]) for p in pair.points.split()]
    assert len(ys) == 44 and ys.count(2) == 1  # the one spike is at the top


# --- escaping and links -----------------------------------------------------------------------

ODD = "<b>\"Ümlaut\" & 'x'</b>\t%20 100%\u00a0#?=&field=evil"


def test_odd_field_names_are_escaped_and_their_link_filters_on_them(viewer_client, imp):
    run = factories.make_run(imp, total=3, failed=2, created_at=ago(hours=1))
    make_records(
        run,
        [
            ("a", [error(ODD, "invalid_email")]),
            ("b", []),
            ("c", [error("email", "invalid_email")]),
        ],
    )
    body, rows = table(viewer_client, imp)
    assert "<b>" not in body.split('id="errors-heading"')[1].split("</section>")[0]
    assert "&lt;b&gt;&quot;Ümlaut&quot; &amp; &#x27;x&#x27;&lt;/b&gt;" in body
    row = next(r for r in rows if r["cells"][0].startswith('<b>"Ümlaut"'))
    assert row["title"].startswith(f"{ODD} · {EMAIL}")
    query = parse_qs(urlsplit(row["href"]).query, keep_blank_values=True)
    assert query == {"result": ["failed"], "field": [ODD], "code": ["invalid_email"]}
    # The link opens the failed records of that field and error only.
    pane = viewer_client.get(row["href"])
    assert pane.status_code == 200
    records = pane.content.decode().split('id="records"')[1]
    assert '<td class="identity">a</td>' in records
    assert '<td class="identity">c</td>' not in records


def test_a_field_holding_the_key_separator_opens_filtered_by_its_error(viewer_client, imp):
    run = run_with(imp, 1, {("a|b", "invalid_date"): 2})
    _body, [row] = table(viewer_client, imp)
    href = urlsplit(row["href"])
    assert href.path == reverse("stats-run-detail", args=[imp.code, run.code])
    assert parse_qs(href.query) == {"result": ["failed"], "code": ["invalid_date"]}
    assert viewer_client.get(row["href"]).status_code == 200


# --- access and cost --------------------------------------------------------------------------


def test_a_viewer_sees_the_table(viewer_client, imp, yellow_run):
    body, rows = table(viewer_client, imp)
    assert "Errors across runs" in body
    assert [r["cells"][0] for r in rows] == ["user_id", "email", "phone"]
    assert rows[0]["cells"][1] == IDENTITY


def test_anonymous_is_sent_to_login(client, imp, yellow_run):
    response = client.get(stats_url(imp))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_outsider_is_refused(outsider_client, imp, yellow_run):
    assert outsider_client.get(stats_url(imp)).status_code == 403


def test_the_table_costs_two_queries_however_many_runs_and_pairs(viewer_client, imp):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert viewer_client.get(stats_url(imp)).status_code == 200
        return len(ctx.captured_queries)

    run_with(imp, 1, {("email", "invalid_email"): 1})
    few = count()
    for i in range(40):
        run_with(imp, 2 + i, {(f"col{i}", "not_numeric"): i + 1, ("email", "invalid_email"): 2})
    assert count() == few
    assert len(queries.errors_across_runs(imp).pairs) == 41


# --- in a browser -----------------------------------------------------------------------------


@pytest.mark.browser
def test_viewer_opens_a_new_pair_from_the_stats_tab(
    role_groups_survive_flush, transactional_db, page, live_server, tmp_path
):
    from playwright.sync_api import expect

    factories.make_user("errors-viewer", role="Viewer")
    imp = factories.make_import(factories.make_datasource(name="Snow Prod"), "Snow users")
    for i in range(30):
        run_with(imp, 40 - i, {("email", "invalid_email"): 20 + (i * 7) % 13})
    run_with(
        imp,
        9,
        {
            ("email", "invalid_email"): 3,
            ("signup_date", "invalid_date"): 4,
            (ODD, "not_numeric"): 2,
        },
    )
    latest = factories.make_run(imp, total=60, failed=56, created_at=ago(hours=1))
    specs = [(f"user{i}", [error("signup_date", "invalid_date")]) for i in range(50)]
    specs += [(f"user{i}@x.com", [error("email", "invalid_email")]) for i in range(50, 55)]
    specs += [("null", [error("user_id", "invalid_identity")])]
    specs += [(f"ok{i}", []) for i in range(4)]
    make_records(latest, specs)

    page.goto(reverse("login"))
    page.fill("#id_username", "errors-viewer")
    page.fill("#id_password", factories.PASSWORD)
    page.click("button[type=submit]")
    page.goto(stats_url(imp))
    rows = page.locator("table.errors-table tbody tr")
    expect(rows).to_have_count(4)
    expect(rows.nth(3).locator("td.field")).to_have_text(ODD.replace("\t", " "))
    expect(rows.nth(0)).to_contain_text(IDENTITY)
    expect(rows.nth(0).locator(".mark-new")).to_have_text("New")
    date_row = rows.filter(has_text=ERROR_REFERENCE["invalid_date"].message)
    expect(date_row.locator(".mark-grew")).to_have_text("More than 10×")
    expect(rows.nth(0).locator("svg.spark title")).to_contain_text("failed records in each of")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path=str(tmp_path / "errors-across-runs.png"), full_page=True)
    page.locator(".errors-card").screenshot(path=str(tmp_path / "errors-card.png"))
    page.set_viewport_size({"width": 1024, "height": 900})  # the layout's narrow step
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.locator(".errors-card").screenshot(path=str(tmp_path / "errors-card-1024.png"))
    page.set_viewport_size({"width": 1440, "height": 1000})

    date_row.locator("a").click()
    pane = page.locator("#run-pane #pane")
    expect(pane.locator("#records tbody tr")).to_have_count(50)
    expect(pane.locator("#f-field")).to_have_value("signup_date")
    expect(pane.locator("#f-code")).to_have_value("invalid_date")
    assert "field=signup_date" in page.url and "code=invalid_date" in page.url
    # The pane comes into view (the table is above it).
    expect(pane.locator("#pane-heading")).to_be_in_viewport()
    page.screenshot(path=str(tmp_path / "errors-pair-opened.png"))
    shots = __import__("os").environ.get("ERRORS_SHOTS")
    if shots:  # keep them for a look by eye
        import shutil

        for name in ("errors-card.png", "errors-card-1024.png", "errors-pair-opened.png"):
            shutil.copy(tmp_path / name, shots)
