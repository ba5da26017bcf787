"""The run engine: trigger, dispatch, execute, fan out, finish, fail, stop, reap and purge runs.

Every state change is a conditional UPDATE that acts only when the row is still in the state it
expects, so duplicated tasks, two beat processes, a Stop racing a finishing run, or a retried
chunk change each thing once.

A run's life:
1. `trigger_run` (from `dispatch_due` for the schedule, `services.run_now` for a user) creates
   the run with a snapshot of the spec and claims the import's `current_run`. If another run
   holds it, the new run is recorded `skipped` instead. The worker task is enqueued on commit.
2. `execute_run` claims the run (queued → running), counts the source, and streams it in
   batches. A small run is validated and written inline; a large one is cut into chunks of
   IMPORT_CHUNK_SIZE rows, smaller towards the end (`chunk_rows`): a chunk goes to the queue as
   a message (`process_chunk`) when the previously shipped one was taken up by another worker,
   else the coordinator writes it itself (a lone worker does not pay for serialising the whole
   run through the broker).
3. Each batch of IMPORT_BATCH_SIZE rows is written in one transaction: RecordResults, profiles
   or events, the error summary and the run's counters. The batch is skipped when its first row
   number is already recorded (a retried or duplicated chunk), and rolled back when the run is no
   longer running (stopped, reaped) — the counter UPDATE doubles as that check. The tables get
   one pre-built COPY buffer per batch (`prepare_batch`, `store`), built on the streaming thread
   and sent by a writer thread (`_writer`), so the database's work on one batch overlaps the
   fetch, validation and preparation of the next.
4. `finalize_run` (inline, or by whichever chunk/coordinator sees the last chunk done) marks it
   completed, sets the import's health and, for incremental imports, the watermark.
"""

from __future__ import annotations

import gc
import logging
import operator
import queue
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import partial
from itertools import chain, compress, islice
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from connectors.base import row_builder
from imports import store
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
WAREHOUSE_TIMEOUT = "The warehouse did not answer within {seconds} s."


class RunNotActive(Exception):
    """The run left the running state (stopped or reaped) while a worker held it."""


# --- Outages of the broker and the store -----------------------------------------------------

# How long a run rides out its broker or store being unreachable (a database restart, a
# failover) before it fails with QUEUE_DOWN or STORE_DOWN. Not a setting: it only has to be
# well under the reaper's timeout, so that the run is named for the real cause, not "worker lost".
OUTAGE_GRACE_SECONDS = 10.0


def _outage_kind(exc: BaseException) -> str:
    """What `exc` says could not be reached: "broker", "store", or "" (any other error)."""
    from django.db import InterfaceError, OperationalError
    from kombu.exceptions import OperationalError as KombuOperationalError

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


# --- Spec snapshot and incremental values ----------------------------------------------------


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


def encode_value(value: Any) -> Any:
    """An incremental value as JSON that `decode_value` turns back into the same Python type."""
    if isinstance(value, datetime):
        return {"type": "datetime", "value": value.isoformat()}
    if isinstance(value, date):
        return {"type": "date", "value": value.isoformat()}
    if isinstance(value, Decimal):
        return {"type": "decimal", "value": str(value)}
    return value


def decode_value(value: Any) -> Any:
    if isinstance(value, dict) and "type" in value:
        kind, text = value["type"], value["value"]
        if kind == "datetime":
            return datetime.fromisoformat(text)
        if kind == "date":
            return date.fromisoformat(text)
        if kind == "decimal":
            return Decimal(text)
    return value


# --- Trigger and dispatch --------------------------------------------------------------------


def trigger_run(
    imp: Import, trigger: str = ImportRun.Trigger.MANUAL, user=None, now: datetime | None = None
) -> ImportRun:
    """Create a run of `imp` and enqueue it on commit; a `skipped` run when one is in progress."""
    now = now or timezone.now()
    with transaction.atomic():
        run = ImportRun.objects.create(
            import_obj=imp,
            trigger=trigger,
            created_at=now,
            triggered_by=user,
            spec_snapshot=snapshot(imp),
            since=imp.watermark if imp.incremental_column else None,
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
        transaction.on_commit(lambda: enqueue_run(run.pk))
    return run


def enqueue_run(run_id: int) -> None:
    """Hand the run to a worker. A run that cannot be handed over fails, visibly: as the broker
    being unreachable only when it is (any other error is Import Center's own)."""
    from imports import tasks

    try:
        tasks.execute_run.apply_async(args=[run_id], retry=False)
    except Exception as exc:
        log.warning("could not enqueue run %s: %r", run_id, exc)
        message, kind = _classify(exc)
        fail_run(run_id, message, kind, str(exc))


def dispatch_due(now: datetime | None = None, limit: int = 500) -> list[ImportRun]:
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
            runs.append(trigger_run(imp, ImportRun.Trigger.SCHEDULE, now=now))
    return runs


# --- Executing a run -------------------------------------------------------------------------


def _sizes(snap: dict[str, Any]) -> tuple[int, int]:
    """A run's (batch size, chunk size): its snapshot's, else the settings'."""
    return (
        snap.get("batch_size") or settings.IMPORT_BATCH_SIZE,
        snap.get("chunk_size") or settings.IMPORT_CHUNK_SIZE,
    )


class _Context:
    """What one worker needs to validate and write rows of a run."""

    def __init__(self, run: ImportRun):
        from validation import MappingSpec

        snap = run.spec_snapshot
        self.run_id = run.pk
        self.run_code = run.code
        self.snap = snap
        self.is_event = snap["sync_type"] == Import.SyncType.EVENT
        self.identity_kind = snap["identity_kind"]
        self.identity_column = snap["identity_column"]
        self.event_name_column = snap.get("event_name_column") or None
        self.batch_size, self.chunk_size = _sizes(snap)
        self.spec = MappingSpec.from_dict(snap["mapping"])


_gc_pauses = 0
_gc_lock = threading.Lock()


@contextmanager
def _cyclic_gc_paused():
    """Pause the cyclic garbage collector while rows stream through this process.

    A batch keeps tens of thousands of dicts and tuples alive at once, so the collector's
    allocation-count trigger fires over and over and walks them all: a third of a run's Python
    time (bench/import_e2e.py). Rows, outcomes and buffers are acyclic and freed by reference
    counting, so nothing accumulates meanwhile; the collector resumes when the last run or chunk
    of this process ends (nesting-safe for thread pools)."""
    global _gc_pauses
    with _gc_lock:
        _gc_pauses += 1
        gc.disable()
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pauses -= 1
            if _gc_pauses == 0:
                gc.enable()


def execute_run(run_id: int, *, fan_out: bool = True) -> None:
    """Claim a queued run and execute it. `fan_out=False` keeps every row in this process."""
    from connectors import ConnectorError
    from validation import MappingError

    now = timezone.now()
    claimed = retrying(
        lambda: ImportRun.objects.filter(pk=run_id, state=State.QUEUED).update(
            state=State.RUNNING, started_at=now, heartbeat_at=now
        ),
        f"claiming run {run_id}",
    )
    if not claimed:
        return  # a duplicate delivery, or stopped before it started
    run = retrying(
        lambda: ImportRun.objects.select_related("import_obj__datasource").get(pk=run_id),
        f"reading run {run_id}",
    )
    send_on_commit(run_started, run)
    try:
        with _cyclic_gc_paused():
            _run_body(run, fan_out)
    except RunNotActive:
        return
    except ConnectorError as exc:
        fail_run(run_id, exc.message, exc.kind, exc.detail or "")
    except MappingError as exc:
        fail_run(run_id, f"The column mapping cannot be used: {exc}", "config", "")
    except Exception as exc:
        log.exception("run %s failed", run_id)
        _fail_on_error(run_id, exc)


def _classify(exc: Exception) -> tuple[str, str]:
    """The run's message and error kind for `exc`. Only an outage is named as one: a store that
    answered with an error (a constraint, bad data) is a bug, not an unreachable database."""
    kind = _outage_kind(exc)
    if kind == "broker":
        return QUEUE_DOWN, "broker"
    if kind == "store":
        return STORE_DOWN, "store"
    return UNEXPECTED, "internal"


def _fail_on_error(run_id: int, exc: Exception) -> None:
    """Fail the run with what `exc` says went wrong. When the store itself is down this write
    waits for it (up to the reaper's timeout, after which the reaper fails the run anyway), so
    that a store back after the grace period still gets the real reason, not "worker lost"."""
    message, kind = _classify(exc)
    detail = traceback.format_exc(limit=5)
    patience = settings.IMPORT_HEARTBEAT_TIMEOUT_SECONDS if kind == "store" else 0
    retrying(
        lambda: fail_run(run_id, message, kind, detail), f"failing run {run_id}", grace=patience
    )


def _run_body(run: ImportRun, fan_out: bool) -> None:
    from imports.connections import connector_for

    ctx = _Context(run)
    ds = run.import_obj.datasource
    snap = run.spec_snapshot
    inc = snap.get("incremental_column") or None
    since = decode_value(run.since) if inc else None
    timeout = settings.IMPORT_WAREHOUSE_TIMEOUT_SECONDS
    with connector_for(ds, snap.get("partner")) as conn, _Watchdog(run.pk, conn, timeout) as dog:
        with dog.waiting():
            expected = conn.count(snap["source"], since=since, incremental_column=inc)
        _touch(run.pk, expected_total=expected)
        batches = dog.batches(
            conn.iter_batches(
                snap["source"], batch_size=ctx.batch_size, incremental_column=inc, since=since
            )
        )
        tracked = _track_watermark(batches, inc)
        if fan_out and expected > ctx.chunk_size:
            _ship_chunks(run, ctx, tracked, expected)
        else:
            row = 1
            with _writer() as write:
                for batch in tracked:
                    _validate_and_write(ctx, row, batch, write=write)
                    row += len(batch)
            _touch(run.pk, watermark=encode_value(tracked.watermark))
            retrying(lambda: finalize_run(run.pk), f"finishing run {run.pk}")


class _Watchdog:
    """Watches this worker's waits on the warehouse (the count, each next batch of the stream).

    A statement waiting on a lock in the warehouse blocks the worker's thread, so the run's
    heartbeat, which otherwise comes with each written batch, would stop, and the statement
    would outlive the run. While a wait lasts, a thread of its own beats every BEAT seconds;
    when the run is no longer running (Stop, Cancel, reaped) it cancels the warehouse's
    statements, and when the wait passes `timeout` seconds it fails the run with
    WAREHOUSE_TIMEOUT and cancels them. The cancelled call then raises in the worker, which
    ends the run's task and frees its slot."""

    TICK = 0.5
    BEAT = 2.0

    def __init__(self, run_id: int, conn, timeout: float):
        self.run_id, self.conn, self.timeout = run_id, conn, timeout
        self._since: float | None = None
        self._done = threading.Event()
        self._acted = False
        self._thread = threading.Thread(target=self._loop, name="ic-watchdog", daemon=True)

    def __enter__(self) -> _Watchdog:
        # Inside an atomic block (a test's transaction) a second connection could not see the
        # run, so it would take it for stopped: no watchdog there, as `_writer` writes in line.
        if not connection.in_atomic_block:
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        if self._thread.is_alive():
            self._thread.join()

    @contextmanager
    def waiting(self):
        self._since = time.monotonic()
        try:
            yield
        finally:
            self._since = None

    def batches(self, batches: Iterable[list[dict]]) -> Iterator[list[dict]]:
        it = iter(batches)
        while True:
            with self.waiting():
                batch = next(it, None)
            if batch is None:
                return
            yield batch

    def _loop(self) -> None:
        try:
            beat = time.monotonic()
            while not self._done.wait(self.TICK) and not self._acted:
                since = self._since
                if since is None:
                    continue
                now = time.monotonic()
                if now - since >= self.timeout:
                    self._acted = True
                    message = WAREHOUSE_TIMEOUT.format(seconds=f"{self.timeout:g}")
                    fail_run(self.run_id, message, "timeout", "", states=[State.RUNNING])
                    self._cancel()
                elif now - max(since, beat) >= self.BEAT:
                    beat = now
                    if not retrying(self._beat, f"heartbeat of run {self.run_id}"):
                        self._acted = True  # stopped, cancelled or reaped meanwhile
                        self._cancel()
        except Exception:
            log.exception("watchdog of run %s failed", self.run_id)
        finally:
            connection.close()  # this thread's own database connection

    def _beat(self) -> int:
        return ImportRun.objects.filter(pk=self.run_id, state=State.RUNNING).update(
            heartbeat_at=timezone.now()
        )

    def _cancel(self) -> None:
        if not self.conn.cancel():
            log.warning("run %s: this warehouse's client cannot cancel a statement", self.run_id)


class _track_watermark:  # noqa: N801 - used like a generator function
    """Pass batches through, remembering the largest incremental value seen."""

    def __init__(self, batches: Iterable[list[dict]], column: str | None):
        self._batches = batches
        self._column = column
        self.watermark: Any = None

    def __iter__(self) -> Iterator[list[dict]]:
        col = self._column
        for batch in self._batches:
            if col:
                values = [r[col] for r in batch if r.get(col) is not None]
                if values:
                    top = max(values)
                    if self.watermark is None or top > self.watermark:
                        self.watermark = top
            yield batch


def _touch(run_id: int, **fields) -> None:
    """Update a running run (heartbeat included); RunNotActive when it is no longer running."""
    fields["heartbeat_at"] = timezone.now()
    running = ImportRun.objects.filter(pk=run_id, state=State.RUNNING)
    if not retrying(lambda: running.update(**fields), f"updating run {run_id}"):
        raise RunNotActive(run_id)


def chunk_task_id(run_code, index: int) -> str:
    """Deterministic, so Stop can revoke chunks without having stored their ids."""
    return f"run-{run_code}-chunk-{index}"


# "adaptive": ship a chunk only when the chunk shipped before it has been taken up by another
# worker, else validate and write it here (see `_ship_chunks`); "all": ship every chunk.
SHIP_POLICY = "adaptive"


def _recorded(run_id: int, row_number: int) -> bool:
    return retrying(
        RecordResult.objects.filter(run_id=run_id, row_number=row_number).exists,
        f"reading run {run_id}",
    )


def chunk_rows(chunk_size: int, batch_size: int, remaining: int) -> int:
    """Rows in the next chunk of a run with `remaining` rows still expected: whole chunks while
    many remain, then a quarter of what remains (never less than a batch), so that the workers
    run out of work together rather than one finishing a whole chunk alone (guided
    self-scheduling). With two workers a fixed 100k-row chunk left one idle for ~12% of a
    1M-row run."""
    if remaining <= 0:  # the source grew after it was counted
        return chunk_size
    return max(min(batch_size, chunk_size), min(chunk_size, remaining // 4))


def planned_chunks(expected: int, chunk_size: int, batch_size: int) -> int:
    """How many chunks `_ship_chunks` cuts from `expected` rows (under the adaptive policy its
    first batch, written by the coordinator as soon as it is read, is a chunk of its own)."""
    chunks, left = 0, expected
    if SHIP_POLICY == "adaptive" and left > 0:
        chunks, left = 1, left - batch_size
    while left > 0:
        left -= chunk_rows(chunk_size, batch_size, left)
        chunks += 1
    return chunks


def _ship_chunks(run: ImportRun, ctx: _Context, batches: _track_watermark, expected: int) -> None:
    """Cut the stream into chunks (sizes from `chunk_rows`; each chunk's rows are fixed when it
    is cut, so every delivery of a chunk covers the same rows). A chunk goes to the queue for
    any worker when the chunk shipped before it has been taken up (its first batch is recorded)
    — a sign that a worker is free; otherwise the coordinator validates and writes it itself as
    it streams. So a lone worker process pays the message (de)serialisation of one chunk, not of
    the whole run, while idle workers still get chunks. `chunks_total` counts both kinds;
    `chunks_done` too.

    The first batch is written here as soon as it is read, as chunk 0: the first chunk to ship
    is read whole before any worker can write a row of it (a quarter of the run, up to a whole
    chunk), and until then the run showed no progress at all ("0 / 100,000 records" ten seconds
    into a run whose warehouse had already given 20,000 rows)."""
    from imports import tasks

    stream = chain.from_iterable(batches)
    index, first_row, waiting = 0, 1, None
    with _writer() as write:
        if SHIP_POLICY == "adaptive":
            size = _write_chunk_here(ctx, stream, first_row, write, ctx.batch_size)
            if size:
                index, first_row = 1, first_row + size
        while True:
            _touch(run.pk)  # heartbeat, and stop here when the run was stopped
            rows = chunk_rows(ctx.chunk_size, ctx.batch_size, expected - first_row + 1)
            if SHIP_POLICY == "all" or waiting is None or _recorded(run.pk, waiting):
                first = next(stream, None)
                if first is None:
                    break
                columns = list(first.keys())
                # Only the values, built as the rows stream by: the chunk's dicts are never all
                # held at once, so the coordinator's memory stays flat.
                rest = islice(stream, rows - 1)
                values = list(map(_row_values(columns), chain((first,), rest)))
                del first
                # Retried here, not by kombu, so that a broker gone for good fails the run
                # within seconds with QUEUE_DOWN (raised to `execute_run`).
                retrying(
                    partial(
                        tasks.process_chunk.apply_async,
                        args=[run.pk, index, first_row, columns, values],
                        task_id=chunk_task_id(run.code, index),
                        retry=False,
                    ),
                    f"shipping chunk {index} of run {run.pk}",
                )
                waiting, size = first_row, len(values)
                del values
            else:
                size = _write_chunk_here(ctx, stream, first_row, write, rows)
                if not size:
                    break
            index, first_row = index + 1, first_row + size
    _touch(run.pk, chunks_total=index, watermark=encode_value(batches.watermark))
    if index == 0:
        retrying(lambda: finalize_run(run.pk), f"finishing run {run.pk}")  # empty source
    elif not retrying(lambda: maybe_finalize(run.pk), f"finishing run {run.pk}"):
        # Chunks shipped to the queue are still to be written. If the broker is gone they never
        # will be, and the run would sit until the reaper called it "worker lost": check it now
        # (a lone worker writes most chunks itself, so it may not have published for a while).
        retrying(_reach_broker, f"reaching the broker for run {run.pk}")


def _reach_broker() -> None:
    """Connect to the broker once; kombu's OperationalError when it cannot be reached."""
    from importcenter.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=0, timeout=2)


def _row_values(columns: list[str]) -> Callable[[dict], Any]:
    """The function taking a row's values in `columns` order, None where a row lacks one (one C
    call per row when, as with every connector, the row has them all)."""
    take = operator.itemgetter(*columns)
    single = len(columns) == 1

    def values(row: dict) -> Any:
        try:
            got = take(row)
        except KeyError:
            return [row.get(c) for c in columns]
        return (got,) if single else got

    return values


def _write_chunk_here(
    ctx: _Context, stream: Iterator[dict], first_row: int, write, rows: int
) -> int:
    """Validate and write the next chunk (`rows` rows) of `stream` in this process, in the
    batches a chunk task would use; the chunk's last batch counts the chunk done. Returns its
    row count."""
    taken = 0

    def next_part() -> list[dict]:
        return list(islice(stream, min(ctx.batch_size, rows - taken)))

    part = next_part()
    while part:
        start = first_row + taken
        taken += len(part)
        following = next_part() if taken < rows else []
        _validate_and_write(ctx, start, part, chunk_done=not following, write=write)
        part = following
    return taken


def process_chunk(run_id: int, index: int, first_row: int, columns: list, rows: list) -> None:
    """Validate and write one chunk of a fanned-out run (idempotent on run + row number)."""
    run = retrying(lambda: ImportRun.objects.filter(pk=run_id).first(), f"reading run {run_id}")
    if run is None or run.state != State.RUNNING:
        return
    ctx = _Context(run)
    build = row_builder(columns)  # one generated dict display: twice as quick as dict(zip())
    try:
        with _cyclic_gc_paused(), _writer() as write:
            for offset in range(0, len(rows), ctx.batch_size):
                part = rows[offset : offset + ctx.batch_size]
                last = offset + ctx.batch_size >= len(rows)
                batch = build(part)
                _validate_and_write(ctx, first_row + offset, batch, chunk_done=last, write=write)
    except RunNotActive:
        return
    except Exception as exc:
        log.exception("chunk %s of run %s failed", index, run_id)
        _fail_on_error(run_id, exc)
        return
    retrying(lambda: maybe_finalize(run_id), f"finishing run {run_id}")


def _validate_and_write(
    ctx: _Context, first_row: int, batch: list[dict], chunk_done=False, write=None
) -> None:
    """Validate a batch and write it (through `write`, a `_writer`, when given)."""
    from validation import validate_batch

    if not batch:
        return
    if _recorded(ctx.run_id, first_row):
        return  # written by an earlier delivery of this chunk: skip the validation too
    outcomes = validate_batch(batch, ctx.spec)
    # Prepared here, written there: the batch's COPY buffers are built on this thread while the
    # writer thread waits on the database for the previous batch (a worker's own database
    # connection does its work on one core, so the two overlap instead of taking turns).
    (write or _call)(prepare_batch(ctx, first_row, batch, outcomes, chunk_done=chunk_done))


def _call(fn, *args, **kwargs) -> None:
    fn(*args, **kwargs)


class _writer:  # noqa: N801 - used like a function: `with _writer() as write:`
    """Writes batches on a second thread with its own database connection, so the store's
    COPY, index updates and commit (database server CPU and fsync) overlap the fetch and
    validation of the next batch (this process's CPU): one worker keeps two cores busy.

    At most one batch waits for the thread, so memory stays bounded. The first error of a write
    (RunNotActive included) is raised in the caller at its next `write(...)` or at the end of
    the `with` block; later batches are then dropped. Inside an atomic block (a test's
    transaction) a second connection could not see the data, so writes happen in line."""

    def __init__(self):
        self._queue: queue.Queue = queue.Queue(maxsize=1)
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self):
        if connection.in_atomic_block:
            return _call
        self._thread = threading.Thread(target=self._loop, name="ic-writer", daemon=True)
        self._thread.start()
        return self

    def __call__(self, fn, *args, **kwargs) -> None:
        self._raise()
        self._queue.put((fn, args, kwargs))

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._thread is None:
            return
        self._queue.put(None)
        self._thread.join()
        if exc_type is None:
            self._raise()

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _loop(self) -> None:
        failed = False
        try:
            while (item := self._queue.get()) is not None:
                if failed:
                    continue  # the caller is told at its next write; drop the rest
                fn, args, kwargs = item
                try:
                    fn(*args, **kwargs)
                except BaseException as exc:  # handed to the caller thread
                    self._error, failed = exc, True
        finally:
            connection.close()  # this thread's own connection


def prepare_batch(
    ctx: _Context, first_row: int, rows, outcomes, chunk_done=False
) -> Callable[[], bool]:
    """Build what a validated batch writes (Python work, on the caller's thread) and return the
    function that writes it in one transaction (database work, on the writer thread). That
    function returns False when an earlier delivery already wrote the batch, and raises
    RunNotActive when the run stopped meanwhile (nothing of the batch lands)."""
    # Column by column: a list comprehension per column is quicker than a tuple per row, and
    # most rows pass, so the failed ones get their error JSON in a loop of their own.
    size = len(outcomes)
    numbers = range(first_row, first_row + size)
    identities = [o.identity for o in outcomes]
    if None in identities:  # not valid: the record shows the source's text
        id_col = ctx.identity_column
        identities = [
            _text(r.get(id_col)) if i is None else i for i, r in zip(identities, rows, strict=True)
        ]
    if ctx.is_event:
        names = [o.event_name for o in outcomes]
        if None in names:
            name_col = ctx.event_name_column
            names = [
                _text(r.get(name_col)) if n is None else n for n, r in zip(names, rows, strict=True)
            ]
    else:
        names = [""] * size
    errs = [o.errors for o in outcomes]
    successes = [not e for e in errs]
    errors_json, keys = ["[]"] * size, [""] * size
    error_counts: Counter = Counter()
    for k in compress(range(size), errs):
        e = errs[k]
        errors_json[k] = store.dumps(
            [{"field": x.field, "code": x.code, "message": x.message} for x in e]
        )
        keys[k] = "|" + "|".join(f"{x.field}:{x.code}" for x in e) + "|"
        error_counts.update((x.field, x.code) for x in e)
    write_records = store.record_columns_writer(
        ctx.run_id,
        numbers,
        successes,
        _cut(identities, 1100),
        names,
        errors_json,
        keys,
    )
    good = list(compress(outcomes, successes))
    total, successful = size, len(good)
    if ctx.is_event:
        now = timezone.now()
        write_rows = store.event_columns_writer(
            ctx.run_code,
            ctx.identity_kind,
            list(compress(numbers, successes)),
            list(compress(identities, successes)),
            list(compress(names, successes)),
            [o.timestamp or now for o in good],
            store.dumps_each([o.payload for o in good]),
        )
    else:
        write_rows, _ = store.profiles_writer(
            ctx.identity_kind,
            zip(compress(identities, successes), [o.payload for o in good], strict=True),
        )
    del identities, names, errs, errors_json, keys, good  # only the buffers wait for the writer
    run_id = ctx.run_id

    def write() -> bool:
        # A store blip rolls the batch back; the next try writes it whole (or finds it written).
        return retrying(write_once, f"writing a batch of run {run_id}")

    def write_once() -> bool:
        try:
            with transaction.atomic():
                if RecordResult.objects.filter(run_id=run_id, row_number=first_row).exists():
                    return False
                write_records()
                write_rows()
                store.add_error_counts(run_id, error_counts)
                # Last, so the run row is locked only for the commit: the counters and the
                # "still running?" check in one statement.
                updates = {
                    "total": F("total") + total,
                    "successful": F("successful") + successful,
                    "failed": F("failed") + (total - successful),
                    "heartbeat_at": timezone.now(),
                }
                if chunk_done:
                    updates["chunks_done"] = F("chunks_done") + 1
                if not ImportRun.objects.filter(pk=run_id, state=State.RUNNING).update(**updates):
                    raise RunNotActive(run_id)
        except IntegrityError:
            # A concurrent delivery of the same chunk committed this batch first.
            if RecordResult.objects.filter(run_id=run_id, row_number=first_row).exists():
                return False
            raise
        return True

    return write


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _cut(texts: list[str], length: int) -> list[str]:
    """`texts` cut to the column's length (one C-speed scan when, as usual, all fit)."""
    if max(map(len, texts), default=0) <= length:
        return texts
    return [t[:length] for t in texts]


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
                run.total = run.successful = run.failed = 0
                run.error = _failure_note(message, validated, None)
                run.save(update_fields=["error", "total", "successful", "failed"])
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
        health = compute_health(run.total, run.successful)
        imports.update(health_band=health.band, health_hundredths=health.hundredths, health_run=run)
    imports.filter(current_run=run).update(current_run=None)
    # Back to Scheduled unless a user paused or stopped it meanwhile.
    imports.filter(status=Status.RUNNING).update(status=Status.SCHEDULED)
    send_on_commit(run_ended, run)


def stop_active_runs(imp: Import) -> int:
    """Stop the import's queued/running runs: no health, counters kept and labelled partial.
    Pending chunk tasks are revoked; chunks in flight see the state and write nothing more."""
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
            transaction.on_commit(lambda run=run: _revoke_chunks(run))
    return stopped


def _revoke_chunks(run: ImportRun) -> None:
    from importcenter.celery import app

    batch_size, chunk_size = _sizes(run.spec_snapshot)
    # +1: the source may have grown after it was counted.
    planned = max(
        run.chunks_total, planned_chunks(run.expected_total or 0, chunk_size, batch_size) + 1
    )
    ids = [chunk_task_id(run.code, i) for i in range(planned)]
    try:
        app.control.revoke(ids)
    except Exception as exc:  # the state check in every batch stops them anyway
        log.warning("could not revoke chunks of run %s: %s", run.pk, exc)


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
            # The next batch_size records in key order, deleted as one range of the key.
            numbers = list(
                run_records.order_by("row_number").values_list("row_number", flat=True)[:batch_size]
            )
            if not numbers:
                break
            records += run_records.filter(row_number__lte=numbers[-1])._raw_delete(using="default")
    while True:
        ids = list(old_runs.values_list("pk", flat=True)[:batch_size])
        if not ids:
            break
        ImportRun.objects.filter(pk__in=ids).delete()
        runs += len(ids)
    return records, runs
