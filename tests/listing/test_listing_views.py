"""The Import Center listing: access, columns, filters, sort, pagination, htmx, empty states."""

from __future__ import annotations

import re
from html import escape, unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from imports.filters import SORT_LABELS
from imports.models import Import, ImportRun
from tests import factories
from tests.listing.conftest import make_running

LISTING = "imports-listing"
COLUMNS = [
    "Nickname",
    "Partner",
    "Status",
    "Sync Type",
    "Frequency",
    "Health",
    "Last Run",
    "Datasource",
    "Created On",
    "Created By",
    "Updated On",
    "Updated By",
]


def nicknames(response) -> list[str]:
    """Nicknames of the listed rows, in page order."""
    return re.findall(r'<td class="nickname"><a [^>]*>([^<]+)</a>', response.content.decode())


def headers(response) -> list[str]:
    html = response.content.decode()
    cells = re.findall(r"<th scope=\"col\"[^>]*>(.*?)</th>", html, re.S)
    return [unescape(re.sub(r"<[^>]+>|[▲▼↕]", "", c)).strip() for c in cells]


# --- access ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["imports-listing", "imports-partners"])
def test_anonymous_is_sent_to_sign_in(client, db, name):
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


@pytest.mark.parametrize("name", ["imports-listing", "imports-partners"])
def test_outsider_may_not_see_the_listing(outsider_client, name):
    assert outsider_client.get(reverse(name)).status_code == 403


def test_viewer_sees_rows_but_no_action_buttons(viewer_client, catalogue):
    response = viewer_client.get(reverse(LISTING))
    assert response.status_code == 200
    html = response.content.decode()
    assert len(nicknames(response)) == 5
    for word in (">Pause<", ">Resume<", ">Stop<", ">Run now<", ">Edit<", ">Delete<"):
        assert word not in html
    assert "Create import" not in html
    assert headers(response) == COLUMNS  # no Actions column either


def test_editor_sees_actions_that_fit_each_status(editor_client, catalogue):
    response = editor_client.get(reverse(LISTING))
    html = response.content.decode()
    assert headers(response) == COLUMNS + ["Actions"]
    assert "Create import" in html

    def row(imp):
        match = re.search(rf'<tr id="import-{imp.code}".*?</tr>', html, re.S)
        assert match, imp.nickname
        return match.group(0)

    scheduled, paused, stopped, draft = (
        row(catalogue["green"]),
        row(catalogue["red"]),
        row(catalogue["blank"]),
        row(catalogue["draft"]),
    )
    assert ">Pause<" in scheduled and ">Stop<" in scheduled and ">Resume<" not in scheduled
    assert ">Resume<" in paused and ">Pause<" not in paused
    assert ">Resume<" in stopped and ">Stop<" not in stopped
    assert ">Delete<" in draft and ">Run now<" not in draft and ">Pause<" not in draft
    # A draft's Delete confirms in the browser; a published import's opens a page that names
    # what goes, and comes back here.
    assert 'data-confirm="Delete the draft “Draft one”?' in draft
    delete_url = reverse("imports-delete", args=[catalogue["green"].code])
    assert f'href="{delete_url}?next=%2Fsettings%2Fpartners%2Fimport-center%2F"' in scheduled
    assert f'href="{reverse("imports-delete", args=[catalogue["red"].code])}?next=' in paused
    assert ">Cancel run<" not in scheduled + paused + stopped + draft  # nothing runs
    # Stop asks first and says the run in progress loses its stats (the reference's warning).
    assert "its stats will not be available" in scheduled
    # Every action button posts the page's one row-action form, which carries the CSRF token
    # and the page to come back to.
    pause = reverse("imports-pause", args=[catalogue["green"].code])
    assert f'form="row-action" formaction="{pause}"' in scheduled
    form = re.search(r'<form id="row-action" method="post" hidden>.*?</form>', html, re.S)
    assert 'name="csrfmiddlewaretoken"' in form.group(0)
    assert 'name="next" value="/settings/partners/import-center/"' in form.group(0)
    assert html.count('id="row-action"') == 1


def test_running_row_offers_cancel_run_beside_stop(editor_client, catalogue):
    make_running(catalogue["green"])
    html = editor_client.get(reverse(LISTING)).content.decode()
    row = re.search(rf'<tr id="import-{catalogue["green"].code}".*?</tr>', html, re.S).group(0)
    buttons = re.findall(r"<button[^>]*>([^<]+)</button>", row)
    assert buttons[buttons.index("Stop") + 1] == "Cancel run"
    cancel = re.search(
        r'<button type="submit" form="row-action" formaction="([^"]+)" data-confirm="([^"]+)"'
        r"[^>]*>Cancel run</button>",
        row,
    )
    assert cancel.group(1) == reverse("imports-cancel-run", args=[catalogue["green"].code])
    assert "The schedule goes on" in cancel.group(2)
    # Stop keeps its own warning: the import stops too.
    assert "No further runs start until it is resumed." in row


def test_paused_import_with_a_run_in_progress_offers_cancel_run(editor_client, catalogue):
    red = catalogue["red"]  # paused: its run in progress goes on until it ends or is cancelled
    run = factories.make_run(red, state=ImportRun.State.RUNNING, total=10, expected_total=100)
    Import.objects.filter(pk=red.pk).update(current_run=run)
    html = editor_client.get(reverse(LISTING)).content.decode()
    row = re.search(rf'<tr id="import-{red.code}".*?</tr>', html, re.S).group(0)
    assert ">Resume<" in row and ">Cancel run<" in row
    stopped = re.search(rf'<tr id="import-{catalogue["blank"].code}".*?</tr>', html, re.S)
    assert ">Cancel run<" not in stopped.group(0)  # nothing running


def test_superuser_is_an_editor(client, superuser, catalogue):
    client.force_login(superuser)
    assert ">Pause<" in client.get(reverse(LISTING)).content.decode()


# --- columns -------------------------------------------------------------------------------


def test_rows_show_every_column_of_the_reference(editor_client, catalogue, editor):
    response = editor_client.get(reverse(LISTING) + "?q=Green")
    html = response.content.decode()
    row = re.search(r'<tr id="import-.*?</tr>', html, re.S).group(0)
    assert "Green profiles" in row
    assert reverse("stats-overview", args=[catalogue["green"].code]) in row
    assert "Snowflake" in row and "Scheduled" in row and "User profile" in row
    assert "Every 15 minutes" in row
    assert "100%" in row and "All records processed successfully without errors." in row
    assert "Snow Prod" in row
    assert row.count("<time ") == 3  # last run, created on, updated on: exact time on hover
    assert re.search(r'<time datetime="[^"]+" title="\d{4}-\d\d-\d\d \d\d:\d\d:\d\d', row)
    assert f'<td class="user">{editor.username}</td>' in row


def test_health_states_are_written_out_with_their_meaning(viewer_client, catalogue):
    html = viewer_client.get(reverse(LISTING)).content.decode()
    assert "90.00%" in html  # yellow, with text not only colour
    assert "10.00%" in html
    assert "Blank" in html and "credentials are invalid or have changed" in html
    assert "No indicator" in html and "The first run for this import has not yet completed." in html
    assert "Manually Trigger" in html
    assert "Failed: Invalid credentials" in html  # the blank run's reason under Last Run


def test_running_import_shows_progress_and_polls(viewer_client, catalogue):
    make_running(catalogue["green"], processed=40, expected=100)
    response = viewer_client.get(reverse(LISTING), headers={"HX-Request": "true"})
    html = response.content.decode()
    assert 'hx-trigger="every 3s"' in html
    assert "40 / 100 records" in html
    assert '<progress max="100" value="40">' in html
    # The poll asks for the same filtered URL it was rendered from.
    response = viewer_client.get(reverse(LISTING) + "?partner=snowflake")
    assert (
        'hx-get="/settings/partners/import-center/?partner=snowflake"' in response.content.decode()
    )


def test_polling_stops_when_nothing_on_screen_runs(viewer_client, catalogue):
    make_running(catalogue["green"])
    # Filtered to BigQuery only, no listed import runs: no trigger, so htmx stops polling.
    response = viewer_client.get(
        reverse(LISTING) + "?partner=bigquery", headers={"HX-Request": "true"}
    )
    assert "hx-trigger" not in response.content.decode()


HOSTILE_NICKNAMES = [
    '<script>alert("x")</script>',
    'Quote\'s "double" & <b>bold</b>',
    "W" * 40 + "_" + "m" * 59,  # 100 characters, no space
]


@pytest.mark.parametrize("nickname", HOSTILE_NICKNAMES)
def test_hostile_nicknames_are_escaped_in_every_cell_and_attribute(
    editor_client, datasource, nickname
):
    published = factories.make_import(datasource, nickname)
    factories.make_run(
        published, state=ImportRun.State.FAILED, total=0, error=f"Role {nickname} refused"
    )
    draft = factories.make_import(datasource, nickname[:90] + " draft", status="draft")
    html = editor_client.get(reverse(LISTING)).content.decode()
    assert "<script>" not in html and "<b>bold" not in html
    escaped = escape(nickname)
    # The link text, the actions' label, a draft's Delete question and the failure's title.
    assert f'<a href="{reverse("stats-overview", args=[published.code])}">{escaped}</a>' in html
    assert f'aria-label="Actions for {escaped}"' in html
    assert f'data-confirm="Delete the draft “{escape(draft.nickname)}”?' in html
    assert f'title="Role {escaped} refused"' in html
    for page in ("imports-stop", "imports-cancel-run", "imports-delete"):
        confirm = editor_client.get(reverse(page, args=[published.code])).content.decode()
        assert escaped in confirm and "<script>" not in confirm and "<b>bold" not in confirm


# --- navigation ----------------------------------------------------------------------------


def test_partners_page_has_the_import_center_tab_active(viewer_client, catalogue):
    html = viewer_client.get(reverse("imports-partners")).content.decode()
    assert re.search(r'<a href="/partners/" aria-current="page">Import center</a>', html)
    assert len(re.findall(r'<tr id="import-', html)) == 5


def test_settings_page_has_breadcrumb_and_partner_filter(viewer_client, catalogue):
    html = viewer_client.get(reverse(LISTING)).content.decode()
    assert "Settings › " in html and ">Partners</a> › " in html
    assert '<select name="partner"' in html
    assert '<option value="snowflake">Snowflake</option>' in html


# --- filters -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query, expected",
    [
        ("partner=snowflake", {"Green profiles", "Red paused", "Draft one"}),
        ("partner=bigquery", {"Yellow events", "Blank stopped"}),
        ("status=paused", {"Red paused"}),
        ("status=draft", {"Draft one"}),
        ("sync_type=event", {"Yellow events"}),
        ("health=green", {"Green profiles"}),
        ("health=yellow", {"Yellow events"}),
        ("health=red", {"Red paused"}),
        ("health=blank", {"Blank stopped"}),
        ("health=none", {"Draft one"}),
        ("created_by=viewer", {"Yellow events"}),
        ("q=ProFiles", {"Green profiles"}),
        ("partner=snowflake&status=scheduled", {"Green profiles"}),
        (
            "partner=&status=&q=",
            {"Green profiles", "Yellow events", "Red paused", "Blank stopped", "Draft one"},
        ),
    ],
)
def test_each_filter_narrows_the_list(viewer_client, catalogue, query, expected):
    response = viewer_client.get(reverse(LISTING) + "?" + query)
    assert response.status_code == 200
    assert set(nicknames(response)) == expected


def test_datasource_filter_takes_the_datasource_code(viewer_client, catalogue, bigquery):
    response = viewer_client.get(reverse(LISTING), {"datasource": str(bigquery.code)})
    assert set(nicknames(response)) == {"Yellow events", "Blank stopped"}


@pytest.mark.parametrize(
    "query, message",
    [
        ("partner=oracle", "oracle is not one of the available choices"),
        ("status=exploded", "exploded is not one of the available choices"),
        ("sync_type=both", "both is not one of the available choices"),
        ("health=purple", "purple is not one of the available choices"),
        ("datasource=not-a-uuid", "is not a valid UUID"),
        # A well-formed UUID that is no datasource's code (a literal: test ids must not vary).
        ("datasource=00000000-0000-4000-8000-000000000000", "Select a valid choice"),
        ("created_by=nobody", "Select a valid choice"),
        ("o=password", "Sort by: Select a valid choice"),
        ("page=0", "greater than or equal to 1"),
        ("page=abc", "Enter a whole number"),
        ("page=99", "That page does not exist"),
    ],
)
def test_invalid_filter_values_answer_400_with_the_error(viewer_client, catalogue, query, message):
    response = viewer_client.get(reverse(LISTING) + "?" + query)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert "<tr id=" not in response.content.decode()


# --- sort ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sort, expected",
    [
        (
            "nickname",
            ["Blank stopped", "Draft one", "Green profiles", "Red paused", "Yellow events"],
        ),
        (
            "-nickname",
            ["Yellow events", "Red paused", "Green profiles", "Draft one", "Blank stopped"],
        ),
        ("health", ["Draft one", "Blank stopped", "Red paused", "Yellow events", "Green profiles"]),
        (
            "-health",
            ["Green profiles", "Yellow events", "Red paused", "Blank stopped", "Draft one"],
        ),
        ("status", ["Draft one", "Red paused", "Green profiles", "Yellow events", "Blank stopped"]),
        (
            "-datasource",
            ["Draft one", "Red paused", "Green profiles", "Blank stopped", "Yellow events"],
        ),
        (
            "frequency",
            ["Yellow events", "Red paused", "Blank stopped", "Green profiles", "Draft one"],
        ),
    ],
)
def test_sort_orders_rows(viewer_client, catalogue, sort, expected):
    response = viewer_client.get(reverse(LISTING), {"o": sort})
    assert response.status_code == 200
    got = nicknames(response)
    if sort in ("-datasource", "frequency"):
        # Ties (same datasource / same schedule) break by primary key, newest-created last
        # ascending and first descending: compare groups, not the tie order.
        assert got[0] == expected[0] or sort == "frequency"
        assert set(got) == set(expected)
        return
    assert got == expected


@pytest.mark.parametrize("key", list(SORT_LABELS))
@pytest.mark.parametrize("direction", ["", "-"])
def test_every_column_sorts_and_marks_its_header(viewer_client, catalogue, key, direction):
    response = viewer_client.get(reverse(LISTING), {"o": direction + key})
    assert response.status_code == 200
    assert len(nicknames(response)) == 5
    html = response.content.decode()
    aria = "descending" if direction else "ascending"
    assert re.search(rf'aria-sort="{aria}"><a [^>]*data-sort="{key}"', html)
    # A second click on the same header reverses the order.
    reverse_sort = key if direction else f"-{key}"
    assert f"o={reverse_sort.replace('-', '-')}" in html


def test_sortable_headers_show_they_sort_before_any_click(viewer_client, catalogue):
    html = viewer_client.get(reverse(LISTING)).content.decode()
    headers = re.findall(
        r'<th scope="col" aria-sort="(\w+)"><a [^>]*data-sort="(\w+)"'
        r'[^>]*>[^<]*<span class="sort-sign" aria-hidden="true">(.)</span>',
        html,
    )
    assert [key for _, key, _ in headers] == list(SORT_LABELS)
    assert {(aria, sign) for aria, _, sign in headers} == {("none", "↕")}


def test_sorted_header_shows_its_direction_and_the_others_stay_unsorted(viewer_client, catalogue):
    html = viewer_client.get(reverse(LISTING), {"o": "-nickname"}).content.decode()
    assert re.search(
        r'aria-sort="descending"><a [^>]*data-sort="nickname"[^>]*>'
        r'Nickname&nbsp;<span class="sort-sign" aria-hidden="true">▼</span>',
        html,
    )
    assert html.count('aria-sort="none"') == len(SORT_LABELS) - 1
    assert html.count('aria-sort="ascending"') == 0


def test_sort_by_last_run_puts_never_run_imports_first_ascending(viewer_client, catalogue):
    got = nicknames(viewer_client.get(reverse(LISTING), {"o": "last_run"}))
    assert got[0] == "Draft one"


def test_default_order_is_newest_first(viewer_client, catalogue):
    assert nicknames(viewer_client.get(reverse(LISTING)))[0] == "Draft one"


def test_sort_links_keep_the_filters(viewer_client, catalogue):
    html = viewer_client.get(reverse(LISTING) + "?partner=snowflake&page=1").content.decode()
    link = re.search(r'<a href="([^"]+)"[^>]*data-sort="health"', html).group(1)
    assert "partner=snowflake" in link and "o=health" in link and "page=" not in link


# --- pagination ----------------------------------------------------------------------------


def test_pagination_pages_through_all_rows(viewer_client, datasource):
    for i in range(30):
        factories.make_import(datasource, f"bulk-{i:02d}")
    first = viewer_client.get(reverse(LISTING), {"o": "nickname"})
    second = viewer_client.get(reverse(LISTING), {"o": "nickname", "page": 2})
    assert len(nicknames(first)) == 25 and len(nicknames(second)) == 5
    assert set(nicknames(first)).isdisjoint(nicknames(second))
    html = first.content.decode()
    assert "1–25 of 30 imports" in html
    assert 'href="?o=nickname&amp;page=2"' in html


# --- htmx ----------------------------------------------------------------------------------


def test_htmx_request_gets_only_the_table_partial(viewer_client, catalogue):
    response = viewer_client.get(
        reverse(LISTING) + "?partner=bigquery", headers={"HX-Request": "true"}
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="import-table"')
    assert "<html" not in html and 'id="filters"' not in html
    assert set(nicknames(response)) == {"Yellow events", "Blank stopped"}


def test_history_restore_request_gets_the_whole_page_with_its_filters(viewer_client, catalogue):
    # htmx asks with both headers when Back reaches a URL it holds no snapshot of; it swaps
    # the answer in for the whole body, so a table partial would lose the page around it.
    response = viewer_client.get(
        reverse(LISTING) + "?status=draft",
        headers={"HX-Request": "true", "HX-History-Restore-Request": "true"},
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="filters"' in html and '<nav class="mainnav"' in html
    assert '<option value="draft" selected>' in html
    assert nicknames(response) == ["Draft one"]


@pytest.mark.parametrize("htmx", [False, True])
def test_page_and_partial_vary_on_the_htmx_headers(viewer_client, catalogue, htmx):
    headers = {"HX-Request": "true"} if htmx else {}
    response = viewer_client.get(reverse(LISTING), headers=headers)
    vary = {v.strip() for v in response["Vary"].split(",")}
    assert {"HX-Request", "HX-History-Restore-Request"} <= vary


def test_full_page_links_work_without_javascript(viewer_client, catalogue):
    html = viewer_client.get(reverse(LISTING)).content.decode()
    assert 'hx-push-url="true"' in html
    # Every hx-get link is also a plain link; the filter form is a plain GET form.
    for tag in re.findall(r"<a [^>]*hx-get[^>]*>", html):
        assert 'href="' in tag
    assert re.search(r'<form id="filters" class="filters" method="get"', html)


# --- empty states --------------------------------------------------------------------------


def test_empty_state_invites_editors_to_create_an_import(editor_client):
    html = editor_client.get(reverse(LISTING)).content.decode()
    assert "No imports yet." in html
    assert reverse("imports-create") in html


def test_empty_state_for_viewers_has_no_create_button(viewer_client):
    html = viewer_client.get(reverse(LISTING)).content.decode()
    assert "No imports yet." in html and "Ask an editor" in html
    assert reverse("imports-create") not in html


def test_no_results_for_filters_offers_to_clear_them(viewer_client, catalogue):
    html = viewer_client.get(reverse(LISTING), {"q": "zzz-nothing"}).content.decode()
    assert "No imports match these filters." in html
    assert "Clear filters" in html
    assert "No imports yet." not in html


# --- query count ---------------------------------------------------------------------------


def _build(datasource, users, count: int) -> None:
    for i in range(count):
        imp = factories.make_import(
            datasource,
            created_by=users[i % 2],
            updated_by=users[(i + 1) % 2],
            status=Import.Status.SCHEDULED,
        )
        factories.make_run(imp, total=100, failed=i % 7)
        if i % 3 == 0:
            make_running(imp)


def _listing_queries(client, query: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(reverse(LISTING) + query)
    assert response.status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize("query", ["", "?partner=duckdb", "?o=-health", "?o=created_by&page=2"])
def test_query_count_is_flat_from_10_to_200_imports(editor_client, editor, viewer, query):
    ds = factories.make_datasource(partner="duckdb")
    _build(ds, [editor, viewer], 30)  # page 2 exists for the paged case
    small = _listing_queries(editor_client, query)
    _build(ds, [editor, viewer], 170)
    large = _listing_queries(editor_client, query)
    assert small == large
    assert large <= 10


def test_query_count_exact_for_the_first_page(
    editor_client, editor, viewer, django_assert_num_queries
):
    ds = factories.make_datasource(partner="duckdb")
    _build(ds, [editor, viewer], 10)
    # session, user, groups, count, page rows, their runs, datasource choices, user choices
    with django_assert_num_queries(8):
        editor_client.get(reverse(LISTING))
    _build(ds, [editor, viewer], 190)
    assert Import.objects.count() == 200 and ImportRun.objects.count() > 200
    with django_assert_num_queries(8):
        editor_client.get(reverse(LISTING))


def test_table_partial_skips_the_filter_choices(
    editor_client, editor, viewer, django_assert_num_queries
):
    """The htmx swap (and the poll while an import runs) renders no filter form: no queries
    for its datasource and creator options. The full page still lists them."""
    ds = factories.make_datasource(partner="duckdb", name="Warehouse <main>")
    _build(ds, [editor, viewer], 10)
    # session, user, groups, count, page rows, their runs
    with django_assert_num_queries(6):
        response = editor_client.get(reverse(LISTING), headers={"HX-Request": "true"})
    assert "<select" not in response.content.decode()
    _build(ds, [editor, viewer], 40)
    with django_assert_num_queries(6):
        editor_client.get(reverse(LISTING) + "?o=-health", headers={"HX-Request": "true"})
    html = editor_client.get(reverse(LISTING)).content.decode()
    assert f'<option value="{ds.code}">Warehouse &lt;main&gt;</option>' in html
    assert f'<option value="{editor.username}">{editor.username}</option>' in html
