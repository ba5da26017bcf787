"""State changes of imports: one idempotent function per change, used by views, admin and CLI.

Each function is a conditional UPDATE that acts only when the import is in a state the change
applies to, and returns whether it changed anything: a double click, a retry or two users at
once change the state once. `run_now` returns the new run and refuses with `ActionRefused`.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from imports.models import Import, ImportRun

Status = Import.Status


class ActionRefused(Exception):
    """The change does not apply to the import in its current state (message is user-facing)."""


def _transition(imp: Import, from_states, user, **fields) -> bool:
    fields.setdefault("updated_at", timezone.now())
    if user is not None:
        fields["updated_by"] = user
    changed = Import.objects.filter(pk=imp.pk, status__in=list(from_states)).update(**fields)
    imp.refresh_from_db()
    return bool(changed)


def pause_import(imp: Import, user=None) -> bool:
    """Pause the schedule. A run in progress finishes; no new runs start."""
    return _transition(imp, [Status.SCHEDULED, Status.RUNNING], user, status=Status.PAUSED)


def resume_import(imp: Import, user=None) -> bool:
    """Resume a paused or stopped import: scheduled again, `next_run_at` recomputed from now
    (an interval import keeps its slot alignment). A run still in progress shows as Running."""
    from imports.scheduling import next_run_after

    imp.refresh_from_db()
    next_at = next_run_after(imp, timezone.now())
    status = Status.RUNNING if imp.current_run_id else Status.SCHEDULED
    return _transition(
        imp, [Status.PAUSED, Status.STOPPED], user, status=status, next_run_at=next_at
    )


def stop_import(imp: Import, user=None) -> bool:
    """Stop the import: the run in progress ends `stopped` (no health, partial counts kept),
    its pending chunks are revoked, and no further runs start until it is resumed."""
    from imports import engine

    with transaction.atomic():
        changed = _transition(
            imp, [Status.SCHEDULED, Status.RUNNING, Status.PAUSED], user, status=Status.STOPPED
        )
        if changed:
            engine.stop_active_runs(imp)
            imp.refresh_from_db()
    return changed


def run_now(imp: Import, user=None) -> ImportRun:
    """Trigger a manual run now, through the same path as the schedule. Returns the run."""
    from imports import engine

    imp.refresh_from_db()
    if imp.status == Status.DRAFT:
        raise ActionRefused("Publish the import before running it.")
    if imp.status == Status.STOPPED:
        raise ActionRefused("This import is stopped. Resume it before running it.")
    if imp.current_run_id:
        raise ActionRefused("A run of this import is already in progress.")
    run = engine.trigger_run(imp, trigger=ImportRun.Trigger.MANUAL, user=user)
    imp.refresh_from_db()
    if run.state == ImportRun.State.SKIPPED:
        # Lost a race with the schedule: the run that won is in progress.
        raise ActionRefused("A run of this import is already in progress.")
    return run


def publish_import(imp: Import, user=None) -> bool:
    """Draft → Scheduled, computing the first `next_run_at`."""
    from imports.scheduling import next_run_after

    next_at = next_run_after(imp, timezone.now())
    return _transition(imp, [Status.DRAFT], user, status=Status.SCHEDULED, next_run_at=next_at)


def delete_draft(imp: Import, user=None) -> bool:
    """Delete an import that was never published. Published imports keep their history."""
    deleted, _ = Import.objects.filter(pk=imp.pk, status=Status.DRAFT).delete()
    return bool(deleted)
