"""Benchmark: what alerting costs, on PostgreSQL, at 10,000 scheduled imports.

    .venv/bin/python bench/alerts.py [--rebuild] [--requests 40] [--pages-only]

Builds (once; reused unless --rebuild) 10,000 imports (every 15 minutes for 100 of them, daily
for the rest), 10 completed runs each, and for one import ("bench target") 200 notifications
with a delivery and two attempts each. Then prints, with the calibration (`sum(range(10**6))`)
and the load average:

- the minute's sweep (freshness of every import, lost evaluations, deliveries to re-send);
- one run's evaluation (history queries, six conditions, the notification when one starts);
- the import's Overview page, whose Alerts card is the only page cost alerting adds to runs'
  pages. `--pages-only` times just that page, so a checkout without alerts (main) can be
  measured on the same data for the before/after ratio.

Uses its own database (default `ic_bench_alerts`; override with DATABASE_URL).
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import calibration, ensure_database  # noqa: E402

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ic_bench_alerts")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "importcenter.settings")

IMPORTS = 10_000
FREQUENT = 100
RUNS_EACH = 10
NOTIFICATIONS = 200


def _build() -> None:
    from django.contrib.auth.models import Group, User
    from django.db import transaction
    from django.utils import timezone

    from alerts.models import Channel, Delivery, DeliveryAttempt, Notification
    from imports.models import Datasource, Import, ImportRun

    now = timezone.now()
    with transaction.atomic():
        Import.objects.all().delete()
        Datasource.objects.all().delete()
        Notification.objects.all().delete()
        Channel.objects.all().delete()
        user = User.objects.filter(username="bench-alerts").first() or User.objects.create_user(
            "bench-alerts", password="x"
        )
        user.groups.add(Group.objects.get_or_create(name="Editor")[0])
        ds = Datasource.objects.create(name="Bench", partner="duckdb", settings={"path": "/x"})
        imports = Import.objects.bulk_create(
            Import(
                nickname="bench target" if i == 0 else f"bench-{i:05d}",
                datasource=ds,
                sync_type="profile",
                source="profiles",
                status="scheduled",
                schedule_kind="interval",
                interval_every=15 if i < FREQUENT else 1,
                interval_unit="minutes" if i < FREQUENT else "days",
                next_run_at=now + timedelta(minutes=5),
            )
            for i in range(IMPORTS)
        )
        step = {True: timedelta(minutes=15), False: timedelta(days=1)}
        runs = []
        for i, imp in enumerate(imports):
            for k in range(RUNS_EACH):
                at = now - step[i < FREQUENT] * (RUNS_EACH - k)
                failed = 60 if (i + k) % 17 == 0 else 2
                runs.append(
                    ImportRun(
                        import_obj=imp,
                        state="completed",
                        created_at=at,
                        started_at=at,
                        finished_at=at + timedelta(seconds=30),
                        total=100,
                        successful=100 - failed,
                        failed=failed,
                        expected_total=100,
                    )
                )
        ImportRun.objects.bulk_create(runs, batch_size=5000)
        channel = Channel.objects.create(name="Bench mail", kind="email", email_to="a@b.example")
        target = imports[0]
        for n in range(NOTIFICATIONS):
            note = Notification.objects.create(
                import_obj=target,
                import_nickname=target.nickname,
                condition="health",
                event="triggered" if n % 2 else "recovered",
                summary=f"health 34.98% (Red) on run 10 Nov 15:00, was 96.03% ({n})",
                payload={"type": "alert.triggered", "data": {"title": "x"}},
            )
            item = Delivery.objects.create(
                message_id=f"msg_bench_{n}",
                notification=note,
                channel=channel,
                channel_name=channel.name,
                channel_kind="email",
                event_type="alert.triggered",
                payload=note.payload,
                state="delivered",
                attempts=2,
            )
            DeliveryAttempt.objects.bulk_create(
                DeliveryAttempt(
                    delivery=item, number=a, started_at=now, ok=a == 2, status_code=None
                )
                for a in (1, 2)
            )


def _summary(times: list[float]) -> str:
    times = sorted(times)
    p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
    return f"median {statistics.median(times):7.1f}  p95 {p95:7.1f}  max {times[-1]:7.1f}"


def _time_page(n: int) -> None:
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from imports.models import Import

    client = Client()
    client.force_login(User.objects.get(username="bench-alerts"))
    url = reverse("stats-overview", args=[Import.objects.get(nickname="bench target").code])
    for _ in range(3):
        assert client.get(url).status_code == 200
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        assert client.get(url).status_code == 200
        times.append((time.perf_counter() - t0) * 1000)
    with CaptureQueriesContext(connection) as ctx:
        client.get(url)
    print(f"overview page (ms)       {_summary(times)}  queries {len(ctx.captured_queries)}")


def _time_alerting(n: int) -> None:
    from django.db import connection, transaction
    from django.db.models import F, Max
    from django.utils import timezone

    from alerts import evaluate
    from alerts.models import ConditionState, EvaluatedRun
    from imports.models import Import, ImportRun

    # The data set ages between runs of the bench: shift it so its latest run ended a minute
    # ago, and time the sweep's steady state (nothing starts or clears), as most minutes are.
    latest = ImportRun.objects.aggregate(latest=Max("finished_at"))["latest"]
    shift = timezone.now() - timedelta(minutes=1) - latest
    ImportRun.objects.update(
        created_at=F("created_at") + shift,
        started_at=F("started_at") + shift,
        finished_at=F("finished_at") + shift,
    )
    ConditionState.objects.all().delete()
    # Every run has been evaluated by its own task, as in a steady state: the catch-up finds
    # nothing lost.
    recent = ImportRun.objects.filter(created_at__gte=timezone.now() - timedelta(hours=3))
    EvaluatedRun.objects.bulk_create(
        [EvaluatedRun(run_id=pk) for pk in recent.values_list("pk", flat=True)],
        ignore_conflicts=True,
    )
    with connection.cursor() as cursor:  # the shift's dead rows are the bench's, not the sweep's
        cursor.execute("VACUUM ANALYZE imports_importrun")
    sweeps = []
    for _ in range(5):
        t0 = time.perf_counter()
        with transaction.atomic():
            evaluate.check_freshness()
            evaluate.catch_up()
            transaction.set_rollback(True)  # each sweep sees the same states
        sweeps.append((time.perf_counter() - t0) * 1000)
    print(f"sweep, {IMPORTS:,} imports (ms) {_summary(sweeps)}")

    imports = list(Import.objects.filter(nickname__startswith="bench-")[:n])
    times = []
    for i, imp in enumerate(imports):
        now = timezone.now()
        failed = 90 if i % 2 else 1  # every other run starts or clears a condition
        with transaction.atomic():
            ImportRun.objects.create(
                import_obj=imp,
                state="completed",
                created_at=now,
                started_at=now,
                finished_at=now,
                total=100,
                successful=100 - failed,
                failed=failed,
                expected_total=100,
            )
            t0 = time.perf_counter()
            evaluate.evaluate_import(imp.pk)
            times.append((time.perf_counter() - t0) * 1000)
            transaction.set_rollback(True)
    print(f"one run's evaluation (ms) {_summary(times)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--pages-only", action="store_true")
    args = parser.parse_args()
    ensure_database(os.environ["DATABASE_URL"])

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from imports.models import Import

    settings.ALLOWED_HOSTS = ["testserver"]
    settings.DEBUG = False
    if not args.pages_only:
        call_command("migrate", verbosity=0)
        if args.rebuild or Import.objects.count() != IMPORTS:
            _build()
    gc.collect()
    gc.freeze()
    print(f"checkout {ROOT}")
    print(calibration())
    _time_page(args.requests)
    if not args.pages_only:
        _time_alerting(args.requests)
    print(calibration())
    return 0


if __name__ == "__main__":
    sys.exit(main())
