"""The health trend's headline on the demo's real run history: every figure it quotes is a real
run's health at that run's time, for every demo import."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from history import marks
from imports.demo import DAYS, SCHEMA_PATCH_DAYS, build_demo_warehouse, seed_run_history
from imports.management.commands.seed_demo import Command
from imports.models import Import, ImportRun
from stats import queries
from stats.charts import _when, build_trend

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

QUOTED = re.compile(r"(\d+(?:\.\d\d)?%) on (\d{1,2} \w{3} \d\d:\d\d)")


@pytest.fixture
def demo_history(tmp_path, settings, monkeypatch):
    """The demo's generator, imports and real runs (the engine executes each day), with 200
    rows a day instead of 667 and 3,333: the same daily defect shares shape the history, at
    a tenth of the cost."""
    from imports import demo

    monkeypatch.setattr(demo, "PROFILE_ROWS", 6_000)
    monkeypatch.setattr(demo, "EVENT_ROWS", 6_000)
    settings.TIME_ZONE = "UTC"
    path = tmp_path / "demo.duckdb"
    build_demo_warehouse(path)
    settings.DEMO_WAREHOUSE_PATH = path
    owner = User.objects.create_user("editor")
    command = Command()
    datasource = command._datasource(owner)
    command._imports(datasource, owner)
    seed_run_history(datasource, DAYS)
    return datasource


def test_headline_on_the_demo_history(demo_history):
    published = Import.objects.exclude(status=Import.Status.DRAFT)
    assert published.count() >= 4
    for imp in published:
        rows = queries.trend_rows(imp)
        real = {
            (run.health.label, _when(run.created_at))
            for run in ImportRun.objects.filter(
                import_obj=imp, state__in=list(ImportRun.HEALTH_STATES)
            )
        }
        summary = build_trend(rows, queries.retention_days()).summary
        quoted = QUOTED.findall(summary)
        assert quoted, summary
        for figure in quoted:
            assert figure in real, (imp.nickname, figure, summary)
        latest = ImportRun.objects.filter(
            import_obj=imp, state__in=list(ImportRun.HEALTH_STATES), total__gt=0
        ).latest("created_at")
        assert (
            f"The latest run with a percentage, on {_when(latest.created_at)}, had {latest.health.label}"
            in (summary)
        )

    # The demo's main import: its two real falls, the larger first, and its recovery.
    imp = Import.objects.get(nickname="Daily profile sync")
    runs = list(
        ImportRun.objects.filter(import_obj=imp, created_at__gte=queries.window_start())
        .filter(state__in=list(ImportRun.HEALTH_STATES))
        .order_by("created_at")
    )
    hundredths = [run.health.hundredths for run in runs]
    falls = [
        (before, after)
        for before, after in zip(runs, runs[1:], strict=False)
        if before.health.hundredths - after.health.hundredths > 1000
    ]
    assert len(falls) == 2  # the bad backfill (day 20) and the schema change (days 14-12)
    largest = max(falls, key=lambda f: f[0].health.hundredths - f[1].health.hundredths)
    summary = build_trend(queries.trend_rows(imp), queries.retention_days()).summary
    first = (
        f"{largest[0].health.label} on {_when(largest[0].created_at)} to "
        f"{largest[1].health.label} on {_when(largest[1].created_at)}"
    )
    assert f"largest first: {first}; " in summary
    assert "health has recovered from the largest fall" in summary
    assert min(hundredths) == largest[1].health.hundredths
    assert timezone.now() - largest[1].created_at > timezone.timedelta(days=19)

    # The bad patch's first run came right after the demo's mapping edit and the upstream
    # schema change: the other fall says so, and the trend marks both, and the recovery.
    patch = next(f for f in falls if f is not largest)
    assert timezone.now() - patch[1].created_at > timezone.timedelta(days=min(SCHEMA_PATCH_DAYS))
    trend = marks.trend_with_changes(imp, queries.retention_days())
    assert (
        f"{patch[0].health.label} on {_when(patch[0].created_at)} to "
        f"{patch[1].health.label} on {_when(patch[1].created_at)}, the first run after the "
        "mapping was edited and the source column `signup_date` changed type from DATE to "
        "VARCHAR"
    ) in trend.summary
    at_patch = [c for c in trend.changes if c.at == patch[1].created_at]
    assert [c.kinds for c in at_patch] == [("mapping", "schema")]
    assert "the mapping was edited by editor on" in at_patch[0].tooltip
    recovery = [c for c in trend.changes if c.at > patch[1].created_at]
    assert [c.cause for c in recovery] == [
        "the source column `signup_date` changed type from VARCHAR to DATE"
    ]
