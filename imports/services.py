"""State changes of imports: one idempotent function per change, used by views, admin and CLI.

Each function is a conditional UPDATE that acts only when the import is in a state the change
applies to, and returns whether it changed anything: a double click, a retry or two users at
once change the state once.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from imports.models import Import

Status = Import.Status


class ActionRefused(Exception):
    """The change does not apply to the import in its current state (message is user-facing)."""


def _transition(imp: Import, from_states, user, **fields) -> bool:
    fields.setdefault("updated_at", timezone.now())
    if user is not None:
        fields["updated_by"] = user
    changed = Import.objects.filter(pk=imp.pk, status__in=list(from_states)).update(**fields)
    if changed:
        imp.refresh_from_db()
    return bool(changed)


def pause_import(imp: Import, user=None) -> bool:
    """Pause the schedule. A run in progress finishes; no new runs start."""
    return _transition(imp, [Status.SCHEDULED, Status.RUNNING], user, status=Status.PAUSED)


def resume_import(imp: Import, user=None) -> bool:
    """Resume a paused or stopped import: it is scheduled again from now."""
    from imports.scheduling import next_run_after

    next_at = next_run_after(imp, timezone.now())
    return _transition(
        imp, [Status.PAUSED, Status.STOPPED], user, status=Status.SCHEDULED, next_run_at=next_at
    )


def stop_import(imp: Import, user=None) -> bool:
    """Stop the import: the run in progress ends `stopped` (no stats), no further runs."""
    from imports import engine

    with transaction.atomic():
        changed = _transition(
            imp, [Status.SCHEDULED, Status.RUNNING, Status.PAUSED], user, status=Status.STOPPED
        )
        if changed:
            engine.stop_active_runs(imp)
    return changed


def run_now(imp: Import, user=None):
    """Trigger a manual run now (same path as the scheduler). Returns the new run or None."""
    from imports import engine

    if imp.status == Status.DRAFT:
        raise ActionRefused("Publish the import before running it.")
    return engine.trigger_run(imp, trigger="manual", user=user)


def publish_import(imp: Import, user=None) -> bool:
    """Draft → Scheduled, computing the first `next_run_at`."""
    from imports.scheduling import next_run_after

    next_at = next_run_after(imp, timezone.now())
    return _transition(imp, [Status.DRAFT], user, status=Status.SCHEDULED, next_run_at=next_at)


def delete_draft(imp: Import, user=None) -> bool:
    """Delete an import that was never published. Published imports keep their history."""
    deleted, _ = Import.objects.filter(pk=imp.pk, status=Status.DRAFT).delete()
    return bool(deleted)
