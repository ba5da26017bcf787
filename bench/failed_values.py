"""What keeping failed values costs (issue 17, item 4), and how fast a retry is.

1. `prepare`: the CPU time per row of `pipeline.prepare_batch` (the Python half of a batch's
   write: errors JSON, COPY buffers, and now the kept values and source rows) on the
   1M-event bench's rows (`bench/import_e2e.py`: 6% fail), in two checkouts run back to back,
   alternating, `--rounds` times each; the best of 3 passes per process. No database: this is
   the hot path's own cost, which the machine's load disturbs far less than a whole run's
   wall time. (The database half — COPY of ~100-200 more bytes for 6% of the records — is
   measured by `retry` below, in bytes.)
2. `retry`: in a fresh store database, a run of `--failed` event records that all failed
   (their amount mapped as Float holds "n/a"), written by the pipeline with values kept in
   full, and the same with values off; prints the bytes per failed record that keeping costs
   (row sizes as PostgreSQL stores them), then maps amount as a String and times the retry of
   all those records in this process (one worker, writer thread on).

    .venv/bin/python bench/failed_values.py prepare --baseline /work/main [--rounds 5]
    .venv/bin/python bench/failed_values.py retry [--failed 100000] [--name values_bench]

Each prints a calibration (`bench/import_e2e.py`'s: `sum(range(10**6))` and the load average)
before and after.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
PG = "postgres://postgres@127.0.0.1:5432"
sys.path.insert(0, str(ROOT))

from bench.import_e2e import calibration  # noqa: E402


def _rows(n: int, bad_amount: bool = False) -> list[dict]:
    """The 1M-event bench's rows (`EVENTS_SQL`), as the PostgreSQL connector gives them."""
    rows = []
    names = ["Charged", "Product Viewed", "Added To Cart", "Search"]
    for i in range(1, n + 1):
        m = i % 100
        rows.append(
            {
                "id": i,
                "user_id": "null" if m == 7 else f"user{i % 50000}",
                "event_name": "App Launched"
                if m == 11
                else "Bad.Name"
                if m == 13
                else names[i % 4],
                "ts": "yesterday" if m == 17 else f"2024-01-01T00:{i // 60 % 60:02d}:{i % 60:02d}Z",
                "amount": "n/a" if bad_amount or m == 19 else str(round(i * 0.37, 2)),
                "quantity": i % 9,
                "first_order": "maybe" if m == 23 else str(i % 2 == 0).lower(),
                "sku": f"SKU-{i % 1000}",
            }
        )
    return rows


def _setup(root: Path, database: str) -> None:
    sys.path.insert(0, str(root))
    os.environ["DJANGO_SETTINGS_MODULE"] = "importcenter.settings"
    os.environ["DATABASE_URL"] = f"{PG}/{database}"
    import django

    django.setup()


def _snapshot(mapping: dict) -> dict:
    return {
        "sync_type": mapping["sync_type"],
        "identity_kind": "identity",
        "identity_column": mapping["identity_column"],
        "event_name_column": mapping["event_name_column"],
        "mapping": mapping,
        "batch_size": 10_000,
        "chunk_size": 100_000,
    }


def prepare_child(root: Path, rows_total: int) -> None:
    """In a checkout's code: print the best CPU µs per row of prepare_batch over 3 passes."""
    _setup(root, "postgres")  # vendor "postgresql": the COPY path; no connection is made
    from bench.import_e2e import EVENT_MAPPING
    from imports import pipeline
    from validation import validate_batch

    run = SimpleNamespace(
        pk=1, code=uuid.uuid4(), import_obj_id=1, spec_snapshot=_snapshot(EVENT_MAPPING)
    )
    ctx = pipeline._Context(run)
    rows = _rows(rows_total)
    batches = [rows[i : i + 10_000] for i in range(0, len(rows), 10_000)]
    started = time.thread_time()
    outcomes = [validate_batch(b, ctx.spec) for b in batches]
    validation = time.thread_time() - started
    failed = sum(1 for o in outcomes for r in o if r.errors)
    best = float("inf")
    with pipeline._cyclic_gc_paused():
        for _ in range(3):
            started = time.thread_time()
            for k, (batch, outs) in enumerate(zip(batches, outcomes, strict=True)):
                pipeline.prepare_batch(ctx, 1 + k * 10_000, batch, outs)
            best = min(best, time.thread_time() - started)
    parts = ""
    if hasattr(pipeline, "failed_values"):
        parts = f" added_us_per_row={_added_cpu(ctx, batches, outcomes) / rows_total * 1e6:.3f}"
    print(
        f"cpu_us_per_row={best / rows_total * 1e6:.3f} failed_share={failed / rows_total:.3f}"
        f" validate_us_per_row={validation / rows_total * 1e6:.3f}" + parts
    )


def _added_cpu(ctx, batches, outcomes) -> float:
    """Best of 3: the CPU time of what keeping values adds to `prepare_batch`: the errors with
    their values instead of without, the source rows, and the COPY column of source rows."""
    from imports import failed_values, store

    best = float("inf")
    for _ in range(3):
        started = time.thread_time()
        for batch, outs in zip(batches, outcomes, strict=True):
            sources = {}
            for k, outcome in enumerate(outs):
                if outcome.errors:
                    store.dumps(failed_values.error_dicts(outcome.errors, batch[k], "full"))
                    sources[k] = failed_values.encode_row(batch[k], ctx.kept_columns)
            column = [r"\N"] * len(batch)
            for k, text in sources.items():
                column[k] = store._copy_json(text)
            "".join([f"{s}\t\n" for s in column])  # the field's share of the buffer
        with_values = time.thread_time() - started
        started = time.thread_time()
        for outs in outcomes:
            for outcome in outs:
                if outcome.errors:
                    store.dumps(
                        [
                            {"field": x.field, "code": x.code, "message": x.message}
                            for x in outcome.errors
                        ]
                    )
        best = min(best, with_values - (time.thread_time() - started))
    return best


def prepare(baseline: Path, rounds: int, rows_total: int) -> None:
    print(calibration())
    results: dict[str, list[float]] = {"baseline": [], "this": []}
    added: list[float] = []
    validations: list[float] = []
    for _ in range(rounds):
        for label, root in (("baseline", baseline), ("this", ROOT)):
            out = subprocess.run(
                [sys.executable, __file__, "prepare-child", "--root", str(root)]
                + ["--rows", str(rows_total)],
                capture_output=True,
                text=True,
                check=True,
                # In the checkout: something at start-up puts the working directory first on
                # sys.path, which would mix the two checkouts' modules.
                cwd=root,
                env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"),
            ).stdout
            value = float(out.split("cpu_us_per_row=")[1].split()[0])
            results[label].append(value)
            validations.append(float(out.split("validate_us_per_row=")[1].split()[0]))
            if "added_us_per_row=" in out:
                added.append(float(out.split("added_us_per_row=")[1].split()[0]))
            print(f"  {label:8} {value:.3f} us/row  ({out.strip()})", flush=True)
    base, this = statistics.median(results["baseline"]), statistics.median(results["this"])
    pairs = [t / b for b, t in zip(results["baseline"], results["this"], strict=True)]
    print(
        f"prepare_batch CPU per row, median of {rounds}: baseline {base:.3f} us, this "
        f"{this:.3f} us ({(this / base - 1) * 100:+.1f}%); per pair "
        + ", ".join(f"{(p - 1) * 100:+.1f}%" for p in pairs)
    )
    low_base, low_this = min(results["baseline"]), min(results["this"])
    print(
        f"least of each (interference only adds): baseline {low_base:.3f} us, this "
        f"{low_this:.3f} us ({(low_this / low_base - 1) * 100:+.1f}%)"
    )
    if added:
        share = statistics.median(added) / base * 100
        whole = statistics.median(added) / (base + statistics.median(validations)) * 100
        print(
            f"the added work alone (values and source rows of the failed 6%, the COPY field of "
            f"all), timed apart: median {statistics.median(added):.3f} us per row, {share:.1f}% "
            f"of the baseline's prepare_batch, {whole:.1f}% of validation + prepare_batch (the "
            "worker's own CPU per row, less the connector's fetch)"
        )
    print(calibration())


def retry_bench(failed: int, name: str) -> None:
    import psycopg

    database = f"ic_{name}"
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as con:
        con.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        con.execute(f"CREATE DATABASE {database}")
    _setup(ROOT, database)
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    print(calibration())
    from bench.import_e2e import EVENT_MAPPING
    from imports import pipeline, runs
    from imports.models import Datasource, Import, ImportRun
    from validation import validate_batch

    ds = Datasource.objects.create(name="bench", partner="postgresql")
    imp = Import.objects.create(
        nickname="bench",
        datasource=ds,
        sync_type="event",
        source="events",
        mapping=EVENT_MAPPING,
        identity_column="user_id",
        event_name_column="event_name",
        timestamp_column="ts",
        status=Import.Status.SCHEDULED,
    )
    rows = _rows(failed, bad_amount=True)

    def failed_run(keep: str) -> ImportRun:
        settings.IMPORT_KEEP_FAILED_VALUES = keep
        run = runs.trigger_run(imp, enqueue=lambda _pk: None)
        ImportRun.objects.filter(pk=run.pk).update(state="running")
        ctx = pipeline._Context(run)
        with pipeline._writer() as write:
            for start in range(0, len(rows), 10_000):
                batch = rows[start : start + 10_000]
                outcomes = validate_batch(batch, ctx.spec)
                write(pipeline.prepare_batch(ctx, start + 1, batch, outcomes))
        runs.finalize_run(run.pk)
        run.refresh_from_db()
        assert run.failed == failed, run.failed
        return run

    full, off = failed_run("full"), failed_run("off")
    with connection.cursor() as cur:
        sizes = {}
        for label, run in (("full", full), ("off", off)):
            cur.execute(
                "SELECT avg(pg_column_size(r.*)), avg(pg_column_size(errors)), "
                "avg(coalesce(pg_column_size(source_row), 0)) "
                "FROM imports_recordresult r WHERE run_id = %s",
                [run.pk],
            )
            sizes[label] = cur.fetchone()
    (row_full, err_full, src_full), (row_off, err_off, _src) = sizes["full"], sizes["off"]
    print(
        f"bytes per failed record: {row_full - row_off:.0f} more with values kept in full "
        f"(row {row_off:.0f} → {row_full:.0f}: errors {err_off:.0f} → {err_full:.0f}, "
        f"source row {src_full:.0f}); the bench's rows: {len(pipeline._Context(full).kept_columns)} "
        "mapped columns"
    )

    mapping = dict(EVENT_MAPPING)
    mapping["fields"] = [
        f | {"type": "String"} if f["column"] == "amount" else f for f in mapping["fields"]
    ]
    Import.objects.filter(pk=imp.pk).update(mapping=mapping, current_run=None)
    imp.refresh_from_db()
    retry = runs.trigger_run(imp, ImportRun.Trigger.RETRY, enqueue=lambda _pk: None, retry_of=full)
    wall, cpu = time.perf_counter(), time.process_time()
    pipeline.execute_run(retry.pk)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    retry.refresh_from_db()
    print(
        f"retry of {failed:,} failed records: {retry.state}, {retry.successful:,} imported, "
        f"{retry.failed:,} failed again; {wall:.1f} s wall ({failed / wall:,.0f} rows/s), "
        f"{cpu:.1f} s CPU of this process"
    )
    print(calibration())
    connection.close()
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as con:
        con.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--baseline", type=Path, required=True, help="the checkout to compare with")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--rows", type=int, default=200_000)
    c = sub.add_parser("prepare-child")
    c.add_argument("--root", type=Path, required=True)
    c.add_argument("--rows", type=int, default=200_000)
    r = sub.add_parser("retry")
    r.add_argument("--failed", type=int, default=100_000)
    r.add_argument("--name", default="values_bench")
    args = parser.parse_args()
    if args.what == "prepare":
        prepare(args.baseline, args.rounds, args.rows)
    elif args.what == "prepare-child":
        prepare_child(args.root, args.rows)
    else:
        retry_bench(args.failed, args.name)


if __name__ == "__main__":
    main()
