"""State changes of imports: one idempotent function per change, used by views, admin and CLI.

Each function is a conditional UPDATE that acts only when the import is in a state the change
applies to, and returns whether it changed anything: a double click, a retry or two users at
once change the state once. `run_now` returns the new run and refuses with `ActionRefused`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Count, Sum
from django.utils import timezone

from imports import audit, retry, runs, tasks
from imports.models import Import, ImportRun

log = logging.getLogger(__name__)

Status = Import.Status


class ActionRefused(Exception):
    """The change does not apply to the import in its current state (message is user-facing)."""


def _transition(imp: Import, from_states, user, **fields) -> bool:
    fields.setdefault("updated_at", timezone.now())
    if user is not None:
        fields["updated_by"] = user
    before = imp.status
    changed = Import.objects.filter(pk=imp.pk, status__in=list(from_states)).update(**fields)
    imp.refresh_from_db()
    if changed:
        audit.record_update(imp, {"status": [before, imp.status]})
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
    with transaction.atomic():
        changed = _transition(
            imp, [Status.SCHEDULED, Status.RUNNING, Status.PAUSED], user, status=Status.STOPPED
        )
        if changed:
            runs.stop_active_runs(imp, revoke=tasks.revoke_chunks)
            imp.refresh_from_db()
    return changed


def cancel_run(imp: Import, user=None) -> bool:
    """Cancel the run in progress only: it ends `stopped` (no health, partial counts kept, its
    pending chunks revoked: Stop's own engine path), while the import keeps its status and
    schedule. A Running import is Scheduled again; `next_run_at` does not move. Returns
    whether a run was stopped."""
    with transaction.atomic():
        stopped = runs.stop_active_runs(imp, revoke=tasks.revoke_chunks)
    imp.refresh_from_db()
    if stopped:
        log.info("run of import %s (%s) cancelled by %s", imp.code, imp.nickname, _who(user))
    return bool(stopped)


def run_now(imp: Import, user=None, trigger: str = ImportRun.Trigger.MANUAL) -> ImportRun:
    """Trigger a run now (the Run now button; the HTTP API passes `trigger=API`), through the
    same path as the schedule. Returns the run."""
    return _start(imp, trigger, user)


def _start(imp: Import, trigger: str, user, retry_of: ImportRun | None = None) -> ImportRun:
    imp.refresh_from_db()
    if imp.status == Status.DRAFT:
        raise ActionRefused("Publish the import before running it.")
    if imp.status == Status.STOPPED:
        raise ActionRefused("This import is stopped. Resume it before running it.")
    if imp.current_run_id:
        raise ActionRefused("A run of this import is already in progress.")
    run = runs.trigger_run(
        imp, trigger=trigger, user=user, enqueue=tasks.enqueue_run, retry_of=retry_of
    )
    imp.refresh_from_db()
    if run.state == ImportRun.State.SKIPPED:
        # Lost a race with the schedule: the run that won is in progress.
        raise ActionRefused("A run of this import is already in progress.")
    return run


def retry_failed(imp: Import, run: ImportRun, user=None) -> ImportRun:
    """Retry the failed records of `run` (`imports.retry`): a run of its own, started as Run
    now starts one. Returns the retry run."""
    refused = retry.refusal(run)
    if refused:
        raise ActionRefused(refused)
    return _start(imp, ImportRun.Trigger.RETRY, user, retry_of=run)


def publish_import(imp: Import, user=None) -> bool:
    """Draft → Scheduled, computing the first `next_run_at`."""
    from imports.scheduling import next_run_after

    next_at = next_run_after(imp, timezone.now())
    return _transition(imp, [Status.DRAFT], user, status=Status.SCHEDULED, next_run_at=next_at)


def delete_draft(imp: Import, user=None) -> bool:
    """Delete an import that was never published (no runs, nothing to confirm)."""
    deleted, _ = Import.objects.filter(pk=imp.pk, status=Status.DRAFT).delete()
    return bool(deleted)


@dataclass(frozen=True)
class DeletionScope:
    """What deleting an import takes with it: its runs and their per-record details."""

    runs: int
    records: int
    running: bool


def deletion_scope(imp: Import) -> DeletionScope:
    """The runs and record details that go with `imp` (records as the runs counted them: one
    aggregate, not a count over millions of detail rows)."""
    figures = ImportRun.objects.filter(import_obj=imp).aggregate(
        runs=Count("pk"), records=Sum("total")
    )
    running = ImportRun.objects.filter(
        import_obj=imp, state__in=[ImportRun.State.QUEUED, ImportRun.State.RUNNING]
    ).exists()
    return DeletionScope(
        figures["runs"], figures["records"] or 0, running or bool(imp.current_run_id)
    )


def delete_import(imp: Import, user=None) -> DeletionScope:
    """Delete an import, published or not, with its runs, their record details and error
    summaries. Events and profiles it already imported stay (they are keyed by run code and
    identity, not linked to the run). Refused with ActionRefused while a run is in progress.
    The deletion is recorded in the admin log (who, what) and in the application log.

    The import's row is locked first, so the schedule cannot start a run meanwhile (its claim
    is a conditional UPDATE of that row) and two deletions delete once."""
    from django.contrib.admin.models import DELETION, LogEntry

    with transaction.atomic():
        locked = Import.objects.select_for_update().filter(pk=imp.pk).first()
        if locked is None:
            raise ActionRefused(f"“{imp.nickname}” was already deleted.")
        scope = deletion_scope(locked)
        if scope.running:
            raise ActionRefused(
                f"A run of “{locked.nickname}” is in progress. Stop it or cancel the run, "
                "then delete the import."
            )
        if user is not None and user.is_authenticated:
            LogEntry.objects.log_actions(
                user.pk,
                [locked],
                DELETION,
                change_message=(
                    f"Deleted the import with {scope.runs} run(s) and {scope.records} "
                    "record detail(s); imported events and profiles kept."
                ),
                single_object=True,
            )
        locked.delete()
    log.info(
        "import %s (%s, %s) deleted by %s with %d run(s) and %d record detail(s)",
        imp.code,
        imp.nickname,
        imp.get_status_display(),
        _who(user),
        scope.runs,
        scope.records,
    )
    return scope


def _who(user) -> str:
    if user is None or not user.is_authenticated:
        return "the system"
    return f"{user.get_username()} (id {user.pk})"
