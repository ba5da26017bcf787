"""The run lifecycle: trigger, claim, finalize, fail, stop, reap and purge runs.

Every state change is a conditional UPDATE that acts only when the row is still in the state it
expects, so duplicated tasks, two beat processes, a Stop racing a finishing run, or a retried
chunk change each thing once.

A run's life (the rows in between are `imports.pipeline`'s work):
1. `trigger_run` (from `dispatch_due` for the schedule, `services.run_now` for a user) creates
   the run with a snapshot of the spec and claims the import's `current_run`. If another run
   holds it, the new run is recorded `skipped` instead. The caller's `enqueue` hands the run to
   a worker on commit (`tasks.enqueue_run`): this module never touches the broker.
2. `claim_run` (queued → running) by the worker that executes it.
3. `finalize_run` (running → completed) once every row is written; `fail_run` or
   `stop_active_runs` end it otherwise, and `reap_lost_runs` fails runs whose worker died.
4. `purge_old_runs` drops runs and their records past the retention window.

Runs start and end through `imports.signals` (sent after commit), for alerts and metrics.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import BooleanField, ExpressionWrapper, Q
from django.utils import timezone
from kombu.exceptions import OperationalError as KombuOperationalError

from imports.audit import config_change_for
from imports.models import Event, Import, ImportRun, RecordResult, RunErrorCount
from imports.scheduling import next_run_after
from imports.signals import run_ended, run_started, send_on_commit
from validation.health import compute_health

log = logging.getLogger(__name__)

State = ImportRun.State
Status = Import.Status
ACTIVE_STATES = (State.QUEUED, State.RUNNING)

SKIP_REASON = "Skipped — the previous run was still running."
WORKER_LOST = (
    "The worker running this import stopped responding (worker lost). "
    "The import keeps its schedule; the next run starts afresh."
)
NEVER_STARTED = "No worker picked this run up in time, so it never started."
QUEUE_DOWN = "The task queue (broker) could not be reached, so the run could not go on."
UNEXPECTED = "The run failed on an unexpected error. The run log has the details."
STORE_DOWN = "The Import Center database could not be reached, so the run could not go on."


# --- Outages of the broker and the store -----------------------------------------------------

# How long a run rides out its broker or store being unreachable (a database restart, a
# failover) before it fails with QUEUE_DOWN or STORE_DOWN. Not a setting: it only has to be
# well under the reaper's timeout, so that the run is named for the real cause, not "worker lost".
OUTAGE_GRACE_SECONDS = 10.0


def _outage_kind(exc: BaseException) -> str:
    """What `exc` says could not be reached: "broker", "store", or "" (any other error)."""
    if isinstance(exc, KombuOperationalError | ConnectionError):
        return "broker"
    if isinstance(exc, OperationalError | InterfaceError):
        return "store"
    return ""


def retrying(op: Callable[[], Any], what: str, grace: float = OUTAGE_GRACE_SECONDS) -> Any:
    """`op()`, called again with backoff while the broker or the store cannot be reached, for
    up to `grace` seconds; then the last error is raised (and named by `_classify`). `op` must
    be safe to repeat: every write of the run path is (conditional UPDATEs, batches skipped when
    already recorded, chunk tasks with fixed ids).

    A broken store connection is closed before the next try, so Django opens a fresh one. In an
    atomic block (a test's transaction) closing it would lose the transaction: no retry there."""
    deadline = time.monotonic() + grace
    delay = 0.25
    while True:
        try:
            return op()
        except Exception as exc:
            kind = _outage_kind(exc)
            if not kind or time.monotonic() + delay > deadline:
                raise
            if kind == "store":
                if connection.in_atomic_block:
                    raise
                try:
                    connection.close()
                except Exception:  # a broken connection may fail to close; it is dropped anyway
                    pass
            log.warning("%s: the %s could not be reached (%s); retrying", what, kind, exc)
            time.sleep(delay)
            delay = min(delay * 2, 2.0)


def _classify(exc: Exception) -> tuple[str, str]:
    """The run's message and error kind for `exc`. Only an outage is named as one: a store that
    answered with an error (a constraint, bad data) is a bug, not an unreachable database."""
    kind = _outage_kind(exc)
    if kind == "broker":
        return QUEUE_DOWN, "broker"
    if kind == "store":
        return STORE_DOWN, "store"
    return UNEXPECTED, "internal"


def fail_on_error(run_id: int, exc: Exception) -> None:
    """Fail the run with what `exc` (being handled) says went wrong. When the store itself is
    down this write waits for it (up to the reaper's timeout, after which the reaper fails the
    run anyway), so that a store back after the grace period still gets the real reason, not
    "worker lost"."""
    message, kind = _classify(exc)
    detail = traceback.format_exc(limit=5)
    patience = settings.IMPORT_HEARTBEAT_TIMEOUT_SECONDS if kind == "store" else 0
    retrying(
        lambda: fail_run(run_id, message, kind, detail), f"failing run {run_id}", grace=patience
    )


# --- Trigger, dispatch and claim -------------------------------------------------------------


def snapshot(imp: Import) -> dict[str, Any]:
    """What a run reads from its import, frozen at trigger time: an edit during the run does
    not change the run."""
    return {
        "partner": imp.datasource.partner,
        "datasource_id": imp.datasource_id,
        "sync_type": imp.sync_type,
        "source_kind": imp.source_kind,
        "source": imp.source,
        "mapping": imp.mapping,
        "identity_column": imp.identity_column,
        "identity_kind": imp.identity_kind,
        "event_name_column": imp.event_name_column,
        "timestamp_column": imp.timestamp_column,
        "incremental_column": imp.incremental_column,
        "batch_size": settings.IMPORT_BATCH_SIZE,
        "chunk_size": settings.IMPORT_CHUNK_SIZE,
    }


def trigger_run(
    imp: Import,
    trigger: str = ImportRun.Trigger.MANUAL,
    user=None,
    now: datetime | None = None,
    *,
    enqueue: Callable[[int], None],
    retry_of: ImportRun | None = None,
) -> ImportRun:
    """Create a run of `imp` and `enqueue(run id)` on commit; a `skipped` run (not enqueued)
    when one is in progress. `retry_of`: a retry run of that run's failed records
    (`imports.retry`), which reads no warehouse, so no incremental bound."""
    now = now or timezone.now()
    with transaction.atomic():
        run = ImportRun.objects.create(
            import_obj=imp,
            trigger=trigger,
            created_at=now,
            triggered_by=user,
            spec_snapshot=snapshot(imp),
            config_change_id=config_change_for(imp),
            since=imp.watermark if imp.incremental_column and retry_of is None else None,
            retry_of=retry_of,
        )
        claimed = Import.objects.filter(pk=imp.pk, current_run__isnull=True).update(
            current_run=run, last_run=run, last_run_at=now
        )
        if not claimed:
            ImportRun.objects.filter(pk=run.pk).update(
                state=State.SKIPPED, finished_at=now, error=SKIP_REASON
            )
            run.refresh_from_db()
            send_on_commit(run_ended, run)
            return run
        Import.objects.filter(pk=imp.pk, status=Status.SCHEDULED).update(status=Status.RUNNING)
        transaction.on_commit(lambda: enqueue(run.pk))
    return run


def dispatch_due(
    now: datetime | None = None, limit: int = 500, *, enqueue: Callable[[int], None]
) -> list[ImportRun]:
    """Trigger every import whose `next_run_at` has come. Each import's slot is claimed by a
    compare-and-set on `next_run_at`, so two dispatchers racing start each run once."""
    now = now or timezone.now()
    due = list(
        Import.objects.filter(
            status__in=[Status.SCHEDULED, Status.RUNNING], next_run_at__lte=now
        ).values_list("pk", "next_run_at")[:limit]
    )
    runs = []
    for pk, due_at in due:
        with transaction.atomic():
            imp = Import.objects.select_related("datasource").filter(pk=pk).first()
            if imp is None or imp.next_run_at != due_at:
                continue
            upcoming = next_run_after(imp, now)
            claimed = Import.objects.filter(
                pk=pk, next_run_at=due_at, status__in=[Status.SCHEDULED, Status.RUNNING]
            ).update(next_run_at=upcoming)
            if claimed != 1:
                continue
            imp.next_run_at = upcoming
            runs.append(trigger_run(imp, ImportRun.Trigger.SCHEDULE, now=now, enqueue=enqueue))
    return runs


def claim_run(run_id: int) -> ImportRun | None:
    """queued → running, for the worker that executes the run; None when another delivery of
    its task claimed it first, or it was stopped before it started."""
    now = timezone.now()
    claimed = retrying(
        lambda: ImportRun.objects.filter(pk=run_id, state=State.QUEUED).update(
            state=State.RUNNING,
            started_at=now,
            heartbeat_at=now,
            # An event run's imported rows are recorded as their events only.
            successes_in_events=ExpressionWrapper(
                Q(spec_snapshot__sync_type=Import.SyncType.EVENT), output_field=BooleanField()
            ),
        ),
        f"claiming run {run_id}",
    )
    if not claimed:
        return None
    run = retrying(
        lambda: ImportRun.objects.select_related("import_obj__datasource").get(pk=run_id),
        f"reading run {run_id}",
    )
    send_on_commit(run_started, run)
    return run


# --- Ending a run ----------------------------------------------------------------------------


def maybe_finalize(run_id: int) -> bool:
    """Finish a fanned-out run once its chunks are all written. Called by every chunk and by
    the coordinator; `chunks_total` stays 0 until the coordinator has shipped the last chunk,
    and the conditional UPDATE in `finalize_run` makes the finish happen once."""
    run = ImportRun.objects.filter(pk=run_id, state=State.RUNNING).first()
    if run is None or run.chunks_total == 0 or run.chunks_done < run.chunks_total:
        return False
    return finalize_run(run_id)


def finalize_run(run_id: int) -> bool:
    """running → completed; the import gets this run's health and, when incremental, its
    watermark (saved on completion only, so a failed run re-reads its rows next time)."""
    now = timezone.now()
    with transaction.atomic():
        if not ImportRun.objects.filter(pk=run_id, state=State.RUNNING).update(
            state=State.COMPLETED, finished_at=now, heartbeat_at=now
        ):
            return False
        run = ImportRun.objects.get(pk=run_id)
        if run.spec_snapshot.get("incremental_column") and run.watermark is not None:
            Import.objects.filter(pk=run.import_obj_id).update(watermark=run.watermark)
        _settle_import(run)
    return True


def fail_run(
    run_id: int, message: str, kind: str = "", detail: str = "", states=ACTIVE_STATES, **match
) -> bool:
    """queued/running → failed with a user-facing message; the import's health stays that of
    its latest completed run.

    An event run's appended events are withdrawn (the next run re-reads those rows, since the
    watermark did not move), so a failed run never leaves half a delivery to be duplicated. Its
    records and counters go with them: the run processed no data (Blank health), and its
    message says how many rows were validated and not kept. A profile run's merged profiles
    stay (merges are idempotent), so its counters stand for what was really imported."""
    now = timezone.now()
    with transaction.atomic():
        # The UPDATE locks the run row: a batch committing meanwhile waits for it, then finds
        # the run no longer running and rolls back, so the counters read below are final.
        if not ImportRun.objects.filter(pk=run_id, state__in=list(states), **match).update(
            state=State.FAILED,
            finished_at=now,
            error=message,
            error_kind=kind[:20],
            error_detail=detail,
        ):
            return False
        run = ImportRun.objects.get(pk=run_id)
        validated = run.total
        if run.spec_snapshot.get("sync_type") == Import.SyncType.EVENT:
            Event.objects.filter(run_code=run.code).delete()
            if validated:
                RecordResult.objects.filter(run_id=run_id).delete()
                RunErrorCount.objects.filter(run_id=run_id).delete()
                run.total = run.successful = run.failed = run.already_imported = 0
                run.error = _failure_note(message, validated, None)
                run.save(
                    update_fields=["error", "total", "successful", "failed", "already_imported"]
                )
        elif validated:
            run.error = _failure_note(message, validated, run.successful)
            run.save(update_fields=["error"])
        _settle_import(run)
    return True


def _failure_note(message: str, validated: int, kept: int | None) -> str:
    """The failed run's message and what became of the rows it validated: `kept` None when
    none were kept, else how many were imported and stay."""
    rows = "1 row was" if validated == 1 else f"{validated:,} rows were"
    if kept is None:
        what = "none were kept"
    elif kept == 0:
        what = "none passed validation, so none were imported"
    else:
        what = f"the {kept:,} that passed were imported and kept"
    end = "" if message.endswith((".", "!", "?")) else "."
    return f"{message}{end} {rows} validated before the run failed; {what}."


def _settle_import(run: ImportRun) -> None:
    """The import's denormalised fields after `run` ended (its health: see
    `ImportRun.gives_import_health`)."""
    imports = Import.objects.filter(pk=run.import_obj_id)
    if run.gives_import_health:
        health = compute_health(run.new_total, run.successful)
        imports.update(health_band=health.band, health_hundredths=health.hundredths, health_run=run)
    imports.filter(current_run=run).update(current_run=None)
    # Back to Scheduled unless a user paused or stopped it meanwhile.
    imports.filter(status=Status.RUNNING).update(status=Status.SCHEDULED)
    send_on_commit(run_ended, run)


def stop_active_runs(imp: Import, *, revoke: Callable[[ImportRun], None]) -> int:
    """Stop the import's queued/running runs: no health, counters kept and labelled partial.
    `revoke(run)` withdraws each stopped run's pending chunk tasks on commit; chunks in flight
    see the state and write nothing more."""
    now = timezone.now()
    stopped = 0
    runs = list(ImportRun.objects.filter(import_obj=imp, state__in=ACTIVE_STATES))
    for run in runs:
        if ImportRun.objects.filter(pk=run.pk, state__in=ACTIVE_STATES).update(
            state=State.STOPPED, finished_at=now, partial=True
        ):
            stopped += 1
            run.refresh_from_db()
            _settle_import(run)
            transaction.on_commit(lambda run=run: revoke(run))
    return stopped


# --- Recovery and retention ------------------------------------------------------------------


def reap_lost_runs(now: datetime | None = None) -> int:
    """Fail runs whose worker stopped heart-beating; the import keeps its schedule."""
    now = now or timezone.now()
    timeout = timedelta(seconds=settings.IMPORT_HEARTBEAT_TIMEOUT_SECONDS)
    reaped = 0
    stale = ImportRun.objects.filter(state=State.RUNNING, heartbeat_at__lt=now - timeout)
    for pk in stale.values_list("pk", flat=True):
        reaped += fail_run(
            pk, WORKER_LOST, "worker", "", states=[State.RUNNING], heartbeat_at__lt=now - timeout
        )
    # A queued run no worker took for ten timeouts: its message was lost with the broker.
    never = ImportRun.objects.filter(state=State.QUEUED, created_at__lt=now - timeout * 10)
    for pk in never.values_list("pk", flat=True):
        reaped += fail_run(pk, NEVER_STARTED, "worker", "", states=[State.QUEUED])
    return reaped


def purge_old_runs(now: datetime | None = None, batch_size: int = 10_000) -> tuple[int, int]:
    """Delete RecordResults, then runs, older than IMPORT_STATS_RETENTION_DAYS, in bounded
    batches so no statement holds locks on millions of rows. Returns (records, runs)."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.IMPORT_STATS_RETENTION_DAYS)
    old_runs = ImportRun.objects.filter(created_at__lt=cutoff).exclude(state__in=ACTIVE_STATES)
    records = runs = 0
    for run_id in list(old_runs.values_list("pk", flat=True)):
        run_records = RecordResult.objects.filter(run_id=run_id)
        while True:
            # The next batch_size records in key order, deleted as one range of the key. Nothing
            # cascades from a record and no signal listens, so delete() is Django's fast path:
            # one DELETE … WHERE run_id AND row_number <= n, as quick as `_raw_delete` was
            # (300k records: 3.3 s against 4.5 s, best of 3, on a busy machine).
            numbers = list(
                run_records.order_by("row_number").values_list("row_number", flat=True)[:batch_size]
            )
            if not numbers:
                break
            records += run_records.filter(row_number__lte=numbers[-1]).delete()[0]
    while True:
        ids = list(old_runs.values_list("pk", flat=True)[:batch_size])
        if not ids:
            break
        ImportRun.objects.filter(pk__in=ids).delete()
        runs += len(ids)
    return records, runs
