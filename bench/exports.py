"""Benchmark: the failed-records CSV of a 1M-record run, on PostgreSQL.

    .venv/bin/python bench/exports.py [--records 1000000] [--failed-share 0.3] [--repeat 3]

Builds (once; reused while --records and --failed-share match) one event run in its own
database (default `ic_bench_exports`; override with DATABASE_URL) whose failed records carry one
or two errors each, and identities and event names that need CSV quoting or formula
neutralising (commas, quotes, line breaks, a leading "=" or "-"). Then streams
`stats.exports.failed_records_csv` --repeat times and prints, for each, the time to the first
chunk, the total time, records/s, the CPU time of this process, the size and a SHA-256 of the
bytes (equal digests from two versions of the code mean the same file), with the calibration
(`sum(range(10**6))`) and the load average.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import calibration, ensure_database  # noqa: E402

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ic_bench_exports")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "importcenter.settings")

NICKNAME = "bench-exports"

# One statement writes every record: failed ones every 1/share rows; a tenth of those with two
# errors; identities and event names that cycle through the awkward cases.
RECORDS_SQL = """
INSERT INTO imports_recordresult
    (run_id, row_number, success, identity, event_name, errors, error_keys)
SELECT %(run)s, n, NOT failed,
       (ARRAY['user' || n, '-' || n, 'a,b "' || n || '"', '=HYPERLINK(' || n || ')',
              'line' || chr(10) || n])[1 + n %% 5],
       (ARRAY['Charged', 'Bad.Name', 'with, comma', '+1'])[1 + n %% 4],
       CASE WHEN NOT failed THEN '[]'::jsonb
            WHEN n %% 10 = 0 THEN jsonb_build_array(
                jsonb_build_object('field', 'amount', 'code', 'not_numeric',
                                   'message', %(number)s),
                jsonb_build_object('field', 'ts', 'code', 'invalid_timestamp',
                                   'message', %(stamp)s))
            ELSE jsonb_build_array(jsonb_build_object('field', 'amount',
                                   'code', 'not_numeric', 'message', %(number)s)) END,
       CASE WHEN NOT failed THEN ''
            WHEN n %% 10 = 0 THEN '|amount:not_numeric|ts:invalid_timestamp|'
            ELSE '|amount:not_numeric|' END
FROM (SELECT n, n %% %(step)s = 0 AS failed FROM generate_series(1, %(records)s) AS n) AS s
"""


def _build(records: int, share: float):
    from django.db import connection
    from django.utils import timezone

    from imports.models import Datasource, Import, ImportRun
    from validation.errors import ERROR_REFERENCE

    print(f"building: one run of {records:,} records, {share:.0%} failed ...", flush=True)
    started = time.perf_counter()
    Import.objects.filter(nickname=NICKNAME).delete()
    ds, _ = Datasource.objects.get_or_create(name="bench-exports-warehouse", partner="duckdb")
    imp = Import.objects.create(
        nickname=NICKNAME, datasource=ds, sync_type="event", status="scheduled"
    )
    run = ImportRun.objects.create(
        import_obj=imp, state="completed", created_at=timezone.now(), total=records
    )
    step = round(1 / share)
    with connection.cursor() as cur:
        cur.execute(
            RECORDS_SQL,
            {
                "run": run.pk,
                "records": records,
                "step": step,
                "number": ERROR_REFERENCE["not_numeric"].message,
                "stamp": ERROR_REFERENCE["invalid_timestamp"].message,
            },
        )
        cur.execute("ANALYZE imports_recordresult")
    failed = records // step
    ImportRun.objects.filter(pk=run.pk).update(
        successful=records - failed, failed=failed, expected_total=records
    )
    print(f"  built in {time.perf_counter() - started:.0f} s", flush=True)


def _stream(run) -> tuple[float, float, float, int, int, str]:
    from stats import exports

    digest = hashlib.sha256()
    size = lines = 0
    first = None
    wall, cpu = time.perf_counter(), time.process_time()
    for chunk in exports.failed_records_csv(run):
        data = chunk.encode() if isinstance(chunk, str) else chunk
        if first is None:
            first = time.perf_counter() - wall
        digest.update(data)
        size += len(data)
        lines += data.count(b"\n")
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return first or 0.0, wall, cpu, size, lines, digest.hexdigest()[:16]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--failed-share", type=float, default=0.3)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    url = os.environ["DATABASE_URL"]
    if not url.startswith("postgres"):
        print("bench/exports.py measures PostgreSQL; set DATABASE_URL=postgres://...")
        return 2
    ensure_database(url)

    import django

    django.setup()
    from django.core.management import call_command

    from imports.models import ImportRun

    call_command("migrate", verbosity=0)
    run = ImportRun.objects.filter(import_obj__nickname=NICKNAME).first()
    step = round(1 / args.failed_share)
    if run is None or run.total != args.records or run.failed != args.records // step:
        _build(args.records, args.failed_share)
        run = ImportRun.objects.get(import_obj__nickname=NICKNAME)
    print(f"{calibration()} on {os.cpu_count()} cores")
    print(f"failed-records CSV of a run of {run.total:,} records, {run.failed:,} failed:")
    for _ in range(args.repeat):
        first, wall, cpu, size, lines, digest = _stream(run)
        print(
            f"  first chunk {first * 1000:.0f} ms, all in {wall:.2f} s = "
            f"{run.failed / wall:,.0f} records/s; CPU here {cpu:.2f} s; {lines - 1:,} lines, "
            f"{size / 1e6:.1f} MB, sha256 {digest}"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak:.0f} MB; load average now {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
