"""Benchmark: the HTTP API's lists at 10,000 imports and 1,000,000 records per run, on PostgreSQL.

    .venv/bin/python bench/api.py [--rebuild] [--requests 60]

Builds (once; reused unless --rebuild) in its own database (default `ic_bench_api`; override
with DATABASE_URL) the listing benchmark's data set (bench/pages.py: 10,000 imports, ~585,000
runs) and the Stats benchmark's (bench/pages_stats.py: a run of 1,000,000 records, 30% failed,
and an import with 2,880 runs), with those scripts' own builders.

Then times, through the Django test client with a real API token (server time: request in,
response out, token checked), the imports list (first page, filters, sorts, a page 100 deep by
cursor), the records of the 1M-record run (first page, failed page 500, all from row 900,000,
by error code, by exact identity), the runs of the 2,880-run import, and a /metrics scrape,
printing median, p95, max and the query count of each, then the listing page and detail pane
on the same data as a yardstick. Target: p95 <= 50 ms for the lists.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ic_bench_api")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "importcenter.settings")

from bench import pages, pages_stats  # noqa: E402  (their builders; after the default above)
from bench.common import calibration_ms, ensure_database  # noqa: E402

RECORDS = 1_000_000
METRICS_TOKEN = "bench-metrics-token"


def _measure(client, url: str, n: int, headers: dict) -> tuple[list[float], float, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(3):  # warm caches and the connection
        assert client.get(url, headers=headers).status_code == 200, url
    times, cpu = [], []
    for _ in range(n):
        t0, c0 = time.perf_counter(), time.process_time()
        response = client.get(url, headers=headers)
        times.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
        assert response.status_code == 200, (url, response.content[:300])
    with CaptureQueriesContext(connection) as ctx:
        client.get(url, headers=headers)
    return times, statistics.median(cpu), len(ctx.captured_queries)


def _cursor_deep(client, url: str, pages_deep: int, headers: dict) -> str:
    """The `next` cursor after following `pages_deep` pages of `url`."""
    cursor = None
    for _ in range(pages_deep):
        sep = "&" if "?" in url else "?"
        page_url = f"{url}{sep}cursor={cursor}" if cursor else url
        cursor = client.get(page_url, headers=headers).json()["next"]
    return cursor


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rebuild", action="store_true", help="rebuild the data set")
    parser.add_argument("--requests", type=int, default=60, help="timed requests per endpoint")
    args = parser.parse_args()

    url = os.environ["DATABASE_URL"]
    if not url.startswith("postgres"):
        print("bench/api.py measures PostgreSQL; set DATABASE_URL=postgres://...")
        return 2
    ensure_database(url)

    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.test import Client

    from api import tokens
    from imports.models import Import, ImportRun, RecordResult

    settings.ALLOWED_HOSTS = ["testserver"]
    settings.DEBUG = False
    settings.METRICS_TOKEN = METRICS_TOKEN
    call_command("migrate", verbosity=0)
    if args.rebuild or Import.objects.count() != pages.IMPORTS + 2:
        pages._build()  # truncates the imports tables first
        pages_stats._build(RECORDS)
    big = ImportRun.objects.get(import_obj__nickname=pages_stats.BIG_NICK)
    many_runs = Import.objects.get(nickname=pages_stats.RUNS_NICK)
    print(
        f"data: {Import.objects.count():,} imports, {ImportRun.objects.count():,} runs, "
        f"{big.total:,} records in the big run ({url.rsplit('/', 1)[1]})"
    )

    user = User.objects.get(username="bench-user-0")  # an Editor
    _, token = tokens.issue_token(user, "bench", read_only=True)
    headers = {"Authorization": f"Bearer {token}"}
    client = Client()
    pages._freeze_like_wsgi()

    imports = "/api/v1/imports"
    records = f"/api/v1/runs/{big.code}/records"
    # Page 500 of the failed records: the cursor is the row number of the 25,000th failure.
    failed_500 = (
        RecordResult.objects.filter(run=big, success=False)
        .order_by("row_number")
        .values_list("row_number", flat=True)[499 * 50 - 1]
    )
    endpoints = [
        ("imports: first page", imports),
        ("imports: partner filter", imports + "?partner=snowflake"),
        ("imports: sort by health", imports + "?o=health"),
        ("imports: sort by -last_run, page 3", None),
        ("imports: nickname, page 100 (cursor)", None),
        ("imports: search nickname", imports + "?q=import-09"),
        ("imports: limit 200", imports + "?limit=200"),
        ("runs: 2,880-run import", f"/api/v1/imports/{many_runs.code}/runs"),
        ("records: first page (all)", records),
        ("records: failed, page 500", f"{records}?result=failed&cursor={failed_500}"),
        ("records: all from row 900,000", f"{records}?cursor=900000"),
        ("records: code invalid_phone", f"{records}?code=invalid_phone"),
        ("records: exact identity", f"{records}?identity=user12345"),
        ("records: limit 500", f"{records}?limit=500"),
    ]
    deep = {
        "imports: sort by -last_run, page 3": (imports + "?o=-last_run", 2),
        "imports: nickname, page 100 (cursor)": (imports + "?o=nickname", 99),
    }
    print(f"calibration before: {calibration_ms():.0f} ms, load {os.getloadavg()[0]:.2f}")
    print(f"\nAPI, {args.requests} requests each (ms, server time via the test client)")
    print(f"{'endpoint':<40}{'median':>9}{'p95':>9}{'max':>9}{'cpu med':>9}{'queries':>9}")
    worst = 0.0
    for label, endpoint in endpoints:
        if endpoint is None:
            base, depth = deep[label]
            endpoint = f"{base}&cursor={_cursor_deep(client, base, depth, headers)}"
        times, cpu, queries = _measure(client, endpoint, args.requests, headers)
        p95 = statistics.quantiles(times, n=20)[18]
        worst = max(worst, p95)
        print(
            f"{label:<40}{statistics.median(times):>9.1f}{p95:>9.1f}{max(times):>9.1f}"
            f"{cpu:>9.1f}{queries:>9}"
        )
    # The same lists as pages, on the same data at the same moment: a yardstick for the load.
    browser = Client()
    browser.force_login(user)
    print("\nthe pages that show the same lists (session, for comparison)")
    for label, page_url in [
        ("listing page: first page", "/settings/partners/import-center/"),
        ("listing page: sort by health", "/settings/partners/import-center/?o=health"),
        ("detail pane: failed, first page", f"/settings/partners/import-center/"
         f"{big.import_obj.code}/stats/runs/{big.code}/?result=failed"),
    ]:  # fmt: skip
        times, cpu, queries = _measure(browser, page_url, args.requests, {})
        p95 = statistics.quantiles(times, n=20)[18]
        print(
            f"{label:<40}{statistics.median(times):>9.1f}{p95:>9.1f}{max(times):>9.1f}"
            f"{cpu:>9.1f}{queries:>9}"
        )
    verdict = "meets" if worst <= 50 else "MISSES"
    print(f"\nworst p95 {worst:.1f} ms: {verdict} the target (p95 <= 50 ms)")

    scrape = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    times, cpu, queries = _measure(client, "/metrics", max(5, args.requests // 6), scrape)
    size = len(client.get("/metrics", headers=scrape).content)
    print(
        f"/metrics at {Import.objects.count():,} imports: median {statistics.median(times):.0f} "
        f"ms (cpu {cpu:.0f} ms), max {max(times):.0f} ms, {queries} queries, "
        f"{size / 1024:.0f} KiB"
    )
    print(
        f"calibration: sum(range(10**6)) takes {calibration_ms():.0f} ms here "
        f"(about 12 ms on an idle core); load average {os.getloadavg()[0]:.2f}; 'cpu med' is "
        "this process's CPU time (SQL excluded)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
