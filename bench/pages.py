"""Benchmark: the Import Center listing at 10,000 imports with 30 days of runs, on PostgreSQL.

    .venv/bin/python bench/pages.py [--rebuild] [--requests 60] [--listing-only]

Builds (once; reused on later runs unless --rebuild) 10,000 imports across 20 datasources, 30 days
of runs for each (every 15 minutes for 100 of them, daily for the rest: ~585,000 runs), with
the denormalised health / last-run fields filled as the run engine leaves them and 1% of imports
running. Then times the listing through the Django test client (server time: request in,
response out, templates rendered) for the first page, a partner filter and a sort by health,
and prints median, p95 and the query count of each. Target: p95 <= 50 ms, <= 10 queries.

Uses its own database (default `ic_bench_listing`; override with DATABASE_URL). If
`bench/pages_stats.py` exists (the stats pages' benchmark) it runs afterwards, on its own
default database unless DATABASE_URL was given.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import calibration_ms, django_for_pages, load_average  # noqa: E402

# The stats benchmark gets the caller's environment, not this script's default database
# (it builds its own data set and would replace this one's).
CALLER_ENV = os.environ.copy()
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ic_bench_listing")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "importcenter.settings")

IMPORTS = 10_000
DATASOURCES = 20
FREQUENT = 100  # imports that run every 15 minutes
DAYS = 30
PARTNERS = ["snowflake", "bigquery", "postgresql", "duckdb"]


def _build() -> None:
    from django.contrib.auth.models import Group, User
    from django.db import connection, transaction
    from django.utils import timezone

    from imports.models import Datasource, Import, ImportRun

    print("building: 10,000 imports, 30 days of runs ...", flush=True)
    started = time.perf_counter()
    with connection.cursor() as cur:
        cur.execute(
            "TRUNCATE imports_recordresult, imports_runerrorcount, imports_importrun, "
            "imports_import, imports_datasource RESTART IDENTITY CASCADE"
        )
    editor_group = Group.objects.get(name="Editor")
    users = []
    for i in range(8):
        user, _ = User.objects.get_or_create(username=f"bench-user-{i}")
        user.groups.add(editor_group)
        users.append(user)

    now = timezone.now().replace(second=0, microsecond=0)
    with transaction.atomic():
        sources = Datasource.objects.bulk_create(
            Datasource(name=f"Warehouse {i:02d}", partner=PARTNERS[i % len(PARTNERS)])
            for i in range(DATASOURCES)
        )
        imports = Import.objects.bulk_create(
            (
                Import(
                    nickname=f"import-{i:05d}",
                    datasource=sources[i % DATASOURCES],
                    sync_type="event" if i % 3 == 0 else "profile",
                    status="scheduled" if i % 10 else "paused",
                    schedule_kind="interval",
                    interval_every=15 if i < FREQUENT else 1,
                    interval_unit="minutes" if i < FREQUENT else "days",
                    created_by=users[i % len(users)],
                    updated_by=users[(i + 3) % len(users)],
                )
                for i in range(IMPORTS)
            ),
            batch_size=2000,
        )
        # created_at is auto_now_add: spread it so "newest first" and "Created On" differ.
        with connection.cursor() as cur:
            cur.execute(
                "UPDATE imports_import SET created_at = now() - (id || ' minutes')::interval, "
                "updated_at = now() - ((id % 997) || ' minutes')::interval"
            )

    columns = (
        "code, import_id, trigger, state, created_at, started_at, finished_at, expected_total, "
        "total, successful, failed, already_imported, partial, error, error_kind, error_detail, "
        "spec_snapshot, chunks_total, chunks_done"
    )
    runs = 0
    with transaction.atomic(), connection.cursor() as cur:
        with cur.cursor.copy(f"COPY imports_importrun ({columns}) FROM STDIN") as copy:
            for n, imp in enumerate(imports):
                step = timedelta(minutes=15) if n < FREQUENT else timedelta(days=1)
                count = int(timedelta(days=DAYS) / step)
                for k in range(count, 0, -1):
                    at = now - step * k
                    total = 1000 + (n * 7 + k) % 500
                    # Mostly clean, some noisy, a few empty runs (blank health).
                    failed = 0 if (n + k) % 5 else (n * 13 + k) % total
                    if (n + k) % 97 == 0:
                        total, failed = 0, 0
                    copy.write_row(
                        (uuid.uuid4(), imp.pk, "schedule", "completed", at, at,
                         at + timedelta(seconds=40), total, total, total - failed, failed, 0,
                         False, "", "", "", "{}", 0, 0)
                    )  # fmt: skip
                    runs += 1
    print(f"  {runs:,} runs copied in {time.perf_counter() - started:.0f} s", flush=True)

    with transaction.atomic(), connection.cursor() as cur:
        # What the run engine leaves behind: the latest run, its time and health on the import.
        cur.execute(
            """
            WITH latest AS (
                SELECT DISTINCT ON (import_id) import_id, id, created_at, total, successful
                FROM imports_importrun ORDER BY import_id, created_at DESC
            )
            UPDATE imports_import i SET
                last_run_id = l.id, last_run_at = l.created_at, health_run_id = l.id,
                health_band = CASE
                    WHEN l.total = 0 THEN 'blank'
                    WHEN l.successful = l.total THEN 'green'
                    WHEN l.successful * 10000 / l.total >= 5000 THEN 'yellow'
                    ELSE 'red' END,
                health_hundredths = CASE WHEN l.total = 0 THEN NULL
                    ELSE l.successful * 10000 / l.total END
            FROM latest l WHERE l.import_id = i.id
            """
        )
    # 1% running right now (progress in the listing) and 2% never run yet (no indicator).
    for imp in imports[::100]:
        run = ImportRun.objects.create(
            import_obj=imp, state="running", created_at=now, started_at=now,
            expected_total=50_000, total=12_345, successful=12_000, failed=345,
        )  # fmt: skip
        Import.objects.filter(pk=imp.pk).update(
            status="running", current_run=run, last_run=run, last_run_at=now
        )
    never = [imp.pk for imp in imports[7::50]]
    Import.objects.filter(pk__in=never).update(
        health_band="none", health_hundredths=None, health_run=None
    )
    with connection.cursor() as cur:
        cur.execute("ANALYZE")
    print(f"  built in {time.perf_counter() - started:.0f} s", flush=True)


def _measure(client, url: str, n: int) -> tuple[list[float], float, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(3):  # warm caches, templates and the connection
        assert client.get(url).status_code == 200, url
    times, cpu = [], []
    for _ in range(n):
        t0, c0 = time.perf_counter(), time.process_time()
        response = client.get(url)
        times.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
        assert response.status_code == 200
    with CaptureQueriesContext(connection) as ctx:
        client.get(url)
    return times, statistics.median(cpu), len(ctx.captured_queries)


def _freeze_like_wsgi() -> None:
    """What importcenter/wsgi.py does once the app is loaded: keep the long-lived objects out
    of every full garbage collection (here after the data set is built, so it goes first)."""
    gc.collect()
    gc.freeze()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rebuild", action="store_true", help="rebuild the data set")
    parser.add_argument("--requests", type=int, default=60, help="timed requests per page")
    parser.add_argument(
        "--listing-only", action="store_true", help="skip bench/pages_stats.py afterwards"
    )
    args = parser.parse_args()

    if not django_for_pages("bench/pages.py"):
        return 2
    from django.contrib.auth.models import User
    from django.test import Client
    from django.urls import reverse

    from imports.models import Import, ImportRun

    url = os.environ["DATABASE_URL"]
    if args.rebuild or Import.objects.count() != IMPORTS:
        _build()
    print(
        f"data: {Import.objects.count():,} imports, {ImportRun.objects.count():,} runs "
        f"({url.rsplit('/', 1)[1]})"
    )

    client = Client()
    client.force_login(User.objects.get(username="bench-user-0"))  # an editor: actions render
    _freeze_like_wsgi()
    listing = reverse("imports-listing")
    pages = [
        ("first page", listing),
        ("partner filter", listing + "?partner=snowflake"),
        ("sort by health", listing + "?o=health"),
        ("sort by health, descending", listing + "?o=-health"),
        ("partner + sort by last run, page 3", listing + "?partner=bigquery&o=-last_run&page=3"),
        ("search nickname", listing + "?q=import-09"),
        ("htmx poll (table partial)", listing),
    ]
    calibration_before = calibration_ms()
    print(f"\nlisting, {args.requests} requests each (ms, server time via the test client)")
    print(f"{'page':<38}{'median':>9}{'p95':>9}{'max':>9}{'cpu med':>9}{'queries':>9}")
    worst_p95, worst_queries = 0.0, 0
    for label, page_url in pages:
        if label.startswith("htmx"):
            client.defaults["HTTP_HX_REQUEST"] = "true"
        times, cpu, queries = _measure(client, page_url, args.requests)
        client.defaults.pop("HTTP_HX_REQUEST", None)
        p95 = statistics.quantiles(times, n=20)[18]
        worst_p95, worst_queries = max(worst_p95, p95), max(worst_queries, queries)
        print(
            f"{label:<38}{statistics.median(times):>9.1f}{p95:>9.1f}{max(times):>9.1f}"
            f"{cpu:>9.1f}{queries:>9}"
        )
    verdict = "meets" if worst_p95 <= 50 and worst_queries <= 10 else "MISSES"
    print(f"\nworst p95 {worst_p95:.1f} ms, {worst_queries} queries: {verdict} the target")
    print(
        f"calibration: sum(range(10**6)) takes {calibration_before:.0f} ms before the pages and "
        f"{calibration_ms():.0f} ms after them here (about 12 ms on an idle core); "
        "'cpu med' is this process's CPU time, SQL excluded"
    )
    print(f"load average (1, 5, 15 min): {load_average()} on {os.cpu_count()} cores")

    stats_bench = Path(__file__).with_name("pages_stats.py")
    if stats_bench.exists() and not args.listing_only:
        print(f"\nrunning {stats_bench.name} ...", flush=True)
        subprocess.run([sys.executable, str(stats_bench)], check=False, env=CALLER_ENV)
    return 0


if __name__ == "__main__":
    sys.exit(main())
