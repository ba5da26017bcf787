"""The run detail pane: error summary, filters, identity search, keyset pagination, expiry."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import quote

import pytest
from django.urls import reverse
from django.utils import timezone

from imports.models import Event, ImportRun, RecordResult
from stats.queries import RECORDS_PAGE_SIZE
from tests import factories
from tests.stats.conftest import error, make_records
from validation.errors import ERROR_REFERENCE

pytestmark = pytest.mark.django_db


def detail_url(run: ImportRun, query: str = "") -> str:
    url = reverse("stats-run-detail", args=[run.import_obj.code, run.code])
    return f"{url}?{query}" if query else url


def rows(body: str) -> list[int]:
    return [
        int(n) for n in re.findall(r'<td class="num">(\d+)</td>\s*<td><span class="badge', body)
    ]


def test_failed_records_by_default_with_errors_and_resolutions(viewer_client, yellow_run):
    body = viewer_client.get(detail_url(yellow_run)).content.decode()
    assert rows(body) == [2, 5, 8]
    assert '<option value="failed" selected>' in body
    email = ERROR_REFERENCE["invalid_email"]
    assert f'<span class="error-message">{email.message}</span>' in body
    assert email.resolution.replace("\u201c", "“") in body
    assert ERROR_REFERENCE["invalid_phone"].message in body
    assert "Event Name" not in body  # profile import


def test_all_records_by_default_when_nothing_failed(viewer_client, imp):
    run = factories.make_run(imp, total=3, failed=0)
    make_records(run, [("a", []), ("b", []), ("c", [])])
    body = viewer_client.get(detail_url(run)).content.decode()
    assert rows(body) == [1, 2, 3]
    assert body.count(">Success</span>") == 3


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("result=all", list(range(1, 11))),
        ("result=success", [1, 3, 4, 6, 7, 9, 10]),
        ("result=failed", [2, 5, 8]),
        ("result=failed&code=invalid_email", [5, 8]),
        ("result=failed&field=phone", [8]),
        ("result=all&field=email&code=invalid_email", [5, 8]),
        ("code=invalid_identity", [2]),
        ("field=email&code=invalid_phone", []),
        ("result=all&q=user8", [8]),
        ("result=all&q=+user1@example.com+", [1]),
        ("q=nobody", []),
    ],
)
def test_filters_and_identity_search(viewer_client, yellow_run, query, expected):
    body = viewer_client.get(detail_url(yellow_run, query)).content.decode()
    assert rows(body) == expected
    if not expected:
        assert "No records match these filters." in body


@pytest.mark.parametrize(
    "query",
    ["result=maybe", "code=Bad-Code", "field=a|b", "after=-1", "after=x", "code=" + "x" * 41],
)
def test_invalid_filters_are_400(viewer_client, yellow_run, query):
    assert viewer_client.get(detail_url(yellow_run, query)).status_code == 400


def test_error_summary_puts_identity_errors_first_and_links_filters(viewer_client, imp):
    run = factories.make_run(imp, total=20, failed=12)
    specs = [(f"u{i}", []) for i in range(20)]
    for i in range(10):
        specs[i] = (f"u{i}", [error("email", "invalid_email")])
    specs[10] = ("", [error("user_id", "invalid_identity")])
    specs[11] = ("n/a", [error("user_id", "invalid_identity")])
    make_records(run, specs)
    body = viewer_client.get(detail_url(run)).content.decode()
    summary = body.split('class="table error-summary"')[1].split("</table>")[0]
    assert summary.index("Invalid identity or CleverTap ID") < summary.index("Email is not valid")
    assert 'class="identity-error"' in summary
    assert "result=failed&amp;field=user_id&amp;code=invalid_identity" in summary
    assert ">10</a>" in summary and ">2</a>" in summary


def test_keyset_pagination_walks_every_failed_record_once(viewer_client, imp):
    n = RECORDS_PAGE_SIZE * 2 + 7
    run = factories.make_run(imp, total=n * 2, failed=n)
    specs = []
    for i in range(n * 2):
        specs.append((f"id{i}", [error("email", "invalid_email")] if i % 2 else []))
    make_records(run, specs)
    seen: list[int] = []
    url = detail_url(run)
    pages = 0
    while url:
        body = viewer_client.get(url).content.decode().replace("&amp;", "&")
        seen += rows(body)
        pages += 1
        match = re.search(r'href="([^"]+)"[^>]*>Next page', body)
        url = match.group(1) if match else None
        if url:
            assert "result=failed" in url
    assert pages == 3
    assert seen == list(range(2, n * 2 + 1, 2))
    # A later page links back to the first.
    body = viewer_client.get(detail_url(run, f"after={seen[60]}")).content.decode()
    assert "« First page" in body
    assert rows(body)[0] == seen[61]


def test_page_after_the_last_record_is_empty(viewer_client, yellow_run):
    body = viewer_client.get(detail_url(yellow_run, "after=8")).content.decode()
    assert rows(body) == []
    assert "No more records." in body


def test_event_import_shows_event_names(viewer_client, event_imp):
    run = factories.make_run(event_imp, total=2, failed=1)
    make_records(run, [("u1", []), ("u2", [error("event", "system_event")])], event="App Launched")
    body = viewer_client.get(detail_url(run, "result=all")).content.decode()
    assert '<th scope="col">Event Name</th>' in body
    assert "<td>App Launched</td>" in body
    assert ERROR_REFERENCE["system_event"].message in body


def test_run_older_than_the_window_explains_why(viewer_client, imp):
    run = factories.make_run(
        imp, total=10, failed=1, created_at=timezone.now() - timedelta(days=31)
    )
    response = viewer_client.get(detail_url(run))
    assert response.status_code == 200
    assert (
        "Detailed records are available only for runs completed within the last 30 days"
        in response.content.decode()
    )
    assert "records-table" not in response.content.decode()


def test_retention_setting_is_the_number_in_the_sentence(viewer_client, imp, settings):
    settings.IMPORT_STATS_RETENTION_DAYS = 7
    run = factories.make_run(imp, total=10, created_at=timezone.now() - timedelta(days=8))
    body = viewer_client.get(detail_url(run)).content.decode()
    assert "Detailed records are available only for runs completed within the last 7 days" in body


def test_htmx_row_click_returns_the_pane_only(viewer_client, yellow_run):
    response = viewer_client.get(
        detail_url(yellow_run), headers={"HX-Request": "true", "HX-Target": "run-pane"}
    )
    body = response.content.decode()
    assert body.lstrip().startswith('<section id="pane"')
    assert "<html" not in body and 'class="tabs"' not in body
    assert "error-summary" in body


def test_htmx_filter_returns_the_records_only(viewer_client, yellow_run):
    response = viewer_client.get(
        detail_url(yellow_run, "code=invalid_phone"),
        headers={"HX-Request": "true", "HX-Target": "records"},
    )
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="records">')
    assert "error-summary" not in body and "<form" not in body
    assert rows(body) == [8]


def test_failed_run_pane_shows_the_error(viewer_client, imp):
    run = factories.make_run(
        imp, state=ImportRun.State.FAILED, total=0, error="Invalid credentials.", error_kind="auth"
    )
    body = viewer_client.get(detail_url(run)).content.decode()
    assert "Run failed: Invalid credentials." in body
    assert "This run processed no records." in body


def test_failed_run_pane_shows_the_warehouse_reason(viewer_client, imp):
    # Issue 15: the driver's own reason was only in error_detail, visible in the admin.
    run = factories.make_run(
        imp,
        state=ImportRun.State.FAILED,
        total=0,
        error="The warehouse could not run the query.",
        error_kind="query",
        error_detail='UndefinedColumn: column "amout" does not exist\nLINE 1: SELECT amout ...',
    )
    body = viewer_client.get(detail_url(run)).content.decode()
    assert "Run failed: The warehouse could not run the query." in body
    assert "The warehouse said: column &quot;amout&quot; does not exist" in body
    assert "LINE 1" not in body and "UndefinedColumn" not in body


@pytest.mark.parametrize(
    ("kind", "detail"),
    [
        ("internal", "Traceback (most recent call last):\n  File ..."),
        ("store", "OperationalError: could not write"),
        ("config", "anything"),
        ("query", ""),
    ],
)
def test_failed_run_pane_shows_no_reason_that_is_not_the_warehouses(
    viewer_client, imp, kind, detail
):
    run = factories.make_run(
        imp,
        state=ImportRun.State.FAILED,
        total=0,
        error="Failed.",
        error_kind=kind,
        error_detail=detail,
    )
    body = viewer_client.get(detail_url(run)).content.decode()
    assert "Run failed: Failed." in body
    assert "The warehouse said" not in body


def test_detail_query_count_is_flat(viewer_client, imp, django_assert_num_queries):
    small = factories.make_run(imp, total=3, failed=1)
    make_records(small, [("a", []), ("b", [error("email", "invalid_email")]), ("c", [])])
    big = factories.make_run(imp, total=200, failed=100)
    make_records(
        big,
        [
            (
                f"u{i}",
                [error("email", "invalid_email"), error("phone", "invalid_phone")] if i % 2 else [],
            )
            for i in range(200)
        ],
    )
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    counts = []
    for run in (small, big):
        with CaptureQueriesContext(connection) as ctx:
            assert viewer_client.get(detail_url(run, "result=all")).status_code == 200
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1]


# --- a stopped run ----------------------------------------------------------------------------


def stopped_run(imp):
    run = factories.make_run(imp, state=ImportRun.State.STOPPED, total=0, partial=True)
    ImportRun.objects.filter(pk=run.pk).update(successful=19_000, failed=1_000)
    make_records(run, [("kept", []), ("bad", [error("email", "invalid_email")])])
    return run


@pytest.mark.parametrize("htmx", [False, True])
def test_stopped_run_pane_shows_only_the_note_and_partial_count(viewer_client, imp, htmx):
    run = stopped_run(imp)
    headers = {"HX-Request": "true", "HX-Target": "run-pane"} if htmx else {}
    response = viewer_client.get(detail_url(run, "result=all"), headers=headers)
    assert response.status_code == 200
    body = response.content.decode()
    pane = body[body.index('<section id="pane"') :]
    assert "Stopped — stats not available · 20,000 records ingested before the stop (partial)" in (
        pane
    )
    for absent in ("Total Records", "Successful Syncs", "Failed Syncs", "badge", "Errors by field"):
        assert absent not in pane
    assert "records-table" not in pane and "kept" not in pane and "<form" not in pane


def test_stopped_run_of_one_record_says_record(viewer_client, imp):
    run = factories.make_run(imp, state=ImportRun.State.STOPPED, total=0, partial=True)
    ImportRun.objects.filter(pk=run.pk).update(successful=1, failed=0)
    body = viewer_client.get(detail_url(run)).content.decode()
    assert "1 record ingested before the stop (partial)" in body


def test_anonymous_and_outsider_cannot_open_a_stopped_run(outsider_client, imp):
    from django.test import Client

    run = stopped_run(imp)
    assert Client().get(detail_url(run)).status_code == 302
    assert outsider_client.get(detail_url(run)).status_code == 403


def test_the_pane_shows_each_rejected_value_beside_its_message_and_the_mode(
    viewer_client, imp, settings
):
    settings.IMPORT_KEEP_FAILED_VALUES = "masked"
    run = factories.make_run(imp, total=3, failed=3)
    make_records(
        run,
        [
            ("u1", [error("email", "invalid_email") | {"value": "<b>a@</b>\t"}]),
            ("u2", [error("email", "invalid_email") | {"value": None}]),
            ("u3", [error("email", "invalid_email") | {"value": "y" * 200, "cut": True}]),
        ],
    )
    body = viewer_client.get(detail_url(run)).content.decode()
    assert "<b>a@</b>" not in body
    assert '<code class="value">&lt;b&gt;a@&lt;/b&gt;<span class="ws" title="tab">' in body
    assert '<span class="value value-null">NULL</span>' in body
    assert "cut at 200 characters" in body
    assert "kept masked: their shape only (IMPORT_KEEP_FAILED_VALUES=masked)" in body


def test_values_never_reach_a_user_not_signed_in(imp):
    from django.test import Client

    run = factories.make_run(imp, total=1, failed=1)
    make_records(run, [("u1", [error("email", "invalid_email") | {"value": "secret@x.org"}])])
    for url in (detail_url(run), reverse("stats-run-failed-export", args=[imp.code, run.code])):
        response = Client().get(url)
        assert response.status_code == 302 and b"secret" not in response.content
    assert Client().get(f"/api/v1/runs/{run.code}/records").status_code == 401


def test_records_show_a_blank_identity_as_the_dry_run_does(viewer_client, imp):
    run = factories.make_run(imp, total=1, failed=1)
    make_records(run, [("", [error("user_id", "invalid_identity")])])
    body = viewer_client.get(detail_url(run)).content.decode()
    assert '<td class="identity">(blank)</td>' in body and "(empty)" not in body


# --- identity search -------------------------------------------------------------------------

TOO_LONG = "x" * 1101
TOO_LONG_MESSAGE = (
    "This search is too long: an identity search takes at most 1100 characters (this one has"
    " 1101). Enter one exact identity."
)


def test_too_long_identity_search_answers_in_the_records_region(viewer_client, yellow_run):
    response = viewer_client.get(
        detail_url(yellow_run, f"result=all&q={TOO_LONG}"),
        headers={"HX-Request": "true", "HX-Target": "records"},
    )
    assert response.status_code == 400
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="records">')  # what the pane swaps in
    assert TOO_LONG_MESSAGE in body and 'role="alert"' in body
    assert rows(body) == []


def test_too_long_identity_search_opened_directly_is_a_styled_page(viewer_client, yellow_run):
    response = viewer_client.get(detail_url(yellow_run, f"q={TOO_LONG}"))
    assert response.status_code == 400
    body = response.content.decode()
    assert body.startswith("<!doctype html>") and "stats.css" in body
    assert 'class="tabs"' in body and '<section id="pane"' in body
    assert TOO_LONG_MESSAGE in body
    assert TOO_LONG not in body  # the value is not echoed back


def test_identity_of_1024_characters_with_spaces_is_searchable(viewer_client, imp):
    identity = "a" * 1025  # an invalid identity is still a record someone looks for
    run = factories.make_run(imp, total=1, failed=1)
    make_records(run, [(identity, [error("user_id", "invalid_identity")])])
    body = viewer_client.get(detail_url(run, f"q=+{identity}+")).content.decode()
    assert rows(body) == [1]


def test_identity_search_placeholder_says_the_match_is_exact(viewer_client, yellow_run):
    body = viewer_client.get(detail_url(yellow_run)).content.decode()
    assert 'placeholder="Identity (exact match)"' in body


def test_pane_shows_its_400_answers(viewer_client, yellow_run):
    # htmx does not swap a 4xx by default; the pane opts in for its styled 400s.
    body = viewer_client.get(detail_url(yellow_run)).content.decode()
    assert "event.detail.xhr.status === 400" in body


def test_pane_says_who_triggered_the_run_and_how_long_it_took(viewer_client, imp, editor):
    run = factories.make_run(imp, total=1, trigger=ImportRun.Trigger.MANUAL, triggered_by=editor)
    body = viewer_client.get(detail_url(run)).content.decode()
    assert f"Run now by {editor.get_username()} · Completed · 30 s" in body


# --- hostile values ----------------------------------------------------------------------------

SCRIPT = '<script>alert("x")</script>'


def test_record_values_are_escaped(viewer_client, event_imp):
    # Identities, event names and error fields come from the warehouse as they are.
    run = factories.make_run(event_imp, total=2, failed=2)
    make_records(
        run,
        [
            (SCRIPT, [error("event", "prohibited_event_char")]),
            ('it\'s "quoted"', [error('col"><img src=x onerror=alert(1)>', "not_numeric")]),
        ],
        event="\"><svg onload=alert('e')>",
    )
    body = viewer_client.get(detail_url(run)).content.decode()
    assert rows(body) == [1, 2]
    assert "<script>alert" not in body and "<svg onload" not in body and "<img src=x" not in body
    assert '<td class="identity">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;</td>' in body
    assert '<td class="identity">it&#x27;s &quot;quoted&quot;</td>' in body
    assert "<td>&quot;&gt;&lt;svg onload=alert(&#x27;e&#x27;)&gt;</td>" in body
    assert "<code>col&quot;&gt;&lt;img src=x onerror=alert(1)&gt;</code>" in body


def test_identity_of_1024_characters_shows_whole(viewer_client, imp):
    identity = "x" * 1024
    run = factories.make_run(imp, total=1, failed=1)
    make_records(run, [(identity, [error("email", "invalid_email")])])
    body = viewer_client.get(detail_url(run)).content.decode()
    assert f'<td class="identity">{identity}</td>' in body


def test_run_error_and_nickname_are_escaped_in_the_pane(viewer_client, datasource):
    imp = factories.make_import(datasource, nickname="N" * 100)
    run = factories.make_run(
        imp, state=ImportRun.State.FAILED, total=0, error=SCRIPT, error_kind="query"
    )
    body = viewer_client.get(detail_url(run)).content.decode()
    assert "<script>alert" not in body
    assert "Run failed: &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in body
    assert f"<h1>{'N' * 100}</h1>" in body


def test_an_event_run_shows_its_imported_rows_from_the_events(viewer_client, event_imp):
    # As the engine writes an event run (`successes_in_events`): records for the batch's first
    # row, the failure and the row imported before; the imported rows are events only.
    run = factories.make_run(event_imp, total=5, failed=1, successes_in_events=True)
    run.spec_snapshot = {"sync_type": "event"}
    run.save(update_fields=["spec_snapshot"])
    make_records(run, [("u1", [])], event="Charged")
    RecordResult.objects.create(
        run=run,
        row_number=3,
        success=False,
        identity="u3",
        event_name="Charged",
        errors=[error("event", "system_event")],
        error_keys="|event:system_event|",
    )
    RecordResult.objects.create(
        run=run,
        row_number=4,
        success=True,
        already_imported=True,
        identity="u4",
        event_name="Charged",
    )
    for n, identity in [(1, "u1"), (2, SCRIPT), (5, "u5")]:
        Event.objects.create(
            identity_kind="user_id",
            identity=identity,
            event_name="\"><svg onload=alert('e')>",
            occurred_at=timezone.now(),
            run_code=run.code,
            row_number=n,
            import_id=event_imp.pk,
        )
    body = viewer_client.get(detail_url(run, "result=all")).content.decode()
    assert rows(body) == [1, 2, 3, 4, 5]
    assert '<td class="identity">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;</td>' in body
    assert "<script>alert" not in body and "<svg onload" not in body
    assert ERROR_REFERENCE["system_event"].message in body
    assert rows(viewer_client.get(detail_url(run, "result=success")).content.decode()) == [
        1,
        2,
        4,
        5,
    ]
    assert rows(viewer_client.get(detail_url(run)).content.decode()) == [3]  # Failed, the default
    body = viewer_client.get(detail_url(run, f"result=all&q={quote(SCRIPT)}")).content.decode()
    assert rows(body) == [2]
    paged = viewer_client.get(detail_url(run, "result=all&after=3")).content.decode()
    assert rows(paged) == [4, 5]
