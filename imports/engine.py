"""Run engine entry points. (Minimal version; the run-engine issue completes it.)"""

from __future__ import annotations

from django.utils import timezone

from imports.models import Import, ImportRun


def trigger_run(imp: Import, trigger: str = "manual", user=None) -> ImportRun:
    return ImportRun.objects.create(
        import_obj=imp, trigger=trigger, created_at=timezone.now(), triggered_by=user
    )


def stop_active_runs(imp: Import) -> int:
    return ImportRun.objects.filter(
        import_obj=imp, state__in=[ImportRun.State.QUEUED, ImportRun.State.RUNNING]
    ).update(state=ImportRun.State.STOPPED, finished_at=timezone.now(), partial=True)
