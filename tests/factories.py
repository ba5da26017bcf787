"""Plain model factories for tests and benchmarks (no fixtures library needed)."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

from django.contrib.auth.models import Group, User
from django.utils import timezone

from imports.models import Datasource, Import, ImportRun
from validation.health import compute_health

_seq = itertools.count(1)

PASSWORD = "correct-horse-battery-staple"


def make_user(username: str, role: str | None = "Editor", superuser: bool = False) -> User:
    user = User.objects.create_user(
        username=username, password=PASSWORD, is_superuser=superuser, is_staff=superuser
    )
    if role:
        # get_or_create: a transactional test's flush removes the groups the migration made.
        user.groups.add(Group.objects.get_or_create(name=role)[0])
    return user


def make_datasource(name: str | None = None, partner: str = "duckdb", **kwargs) -> Datasource:
    ds = Datasource(
        name=name or f"Warehouse {next(_seq)}",
        partner=partner,
        settings=kwargs.pop("settings", {"path": "/tmp/nowhere.duckdb"}),
        **kwargs,
    )
    ds.save()
    return ds


def make_import(datasource: Datasource, nickname: str | None = None, **kwargs) -> Import:
    defaults = dict(
        sync_type=Import.SyncType.PROFILE,
        source_kind=Import.SourceKind.TABLE,
        source="profiles",
        identity_column="user_id",
        status=Import.Status.SCHEDULED,
        schedule_kind=Import.ScheduleKind.INTERVAL,
        interval_every=15,
        interval_unit=Import.IntervalUnit.MINUTES,
    )
    defaults.update(kwargs)
    return Import.objects.create(
        datasource=datasource, nickname=nickname or f"import-{next(_seq)}", **defaults
    )


def make_run(
    imp: Import,
    state: str = ImportRun.State.COMPLETED,
    total: int = 100,
    failed: int = 0,
    created_at: datetime | None = None,
    update_import: bool = True,
    **kwargs,
) -> ImportRun:
    """A finished run with consistent counters; updates the import's denormalised health."""
    created_at = created_at or timezone.now()
    finished = state in ImportRun.FINISHED_STATES
    run = ImportRun.objects.create(
        import_obj=imp,
        state=state,
        created_at=created_at,
        started_at=created_at if state != ImportRun.State.SKIPPED else None,
        finished_at=created_at + timedelta(seconds=30) if finished else None,
        total=total,
        successful=total - failed - kwargs.get("already_imported", 0),
        failed=failed,
        expected_total=kwargs.pop("expected_total", total),
        **kwargs,
    )
    if update_import:
        fields = {"last_run": run, "last_run_at": created_at}
        if run.gives_import_health:  # as the engine does
            health = compute_health(run.new_total, run.successful)
            fields.update(
                health_run=run, health_band=health.band, health_hundredths=health.hundredths
            )
        Import.objects.filter(pk=imp.pk).update(**fields)
        imp.refresh_from_db()
    return run
