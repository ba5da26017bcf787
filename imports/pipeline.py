"""The run pipeline: a claimed run's rows from the warehouse through validation into the store.

1. `execute_run` claims the run (`runs.claim_run`), counts the source, and streams it in
   batches. A small run is validated and written inline; a large one is cut into chunks of
   IMPORT_CHUNK_SIZE rows, smaller towards the end (`chunk_rows`): a chunk goes to the
   `ChunkQueue` (the broker, `tasks.BROKER`) when the previously shipped one was taken up by
   another worker, else the coordinator writes it itself (a lone worker does not pay for
   serialising the whole run through the broker). Other workers write shipped chunks with
   `process_chunk`. When the source has an order to cut (its incremental column or primary
   key; `Connector.slice_order`), a chunk is instead a slice of the source planned from one
   statement (`_plan_slices`): whoever writes it reads it from the warehouse itself
   (`process_slice`), and only its bounds cross the broker.
2. Each batch of IMPORT_BATCH_SIZE rows is written in one transaction: RecordResults, profiles
   or events, the error summary and the run's counters. An event run records its failed and
   already-imported rows and its batches' first rows; its imported rows are their events
   (`ImportRun.successes_in_events`). The batch is skipped when its first row
   number is already recorded (a retried or duplicated chunk), and rolled back when the run is no
   longer running (stopped, reaped) — the counter UPDATE doubles as that check. The tables get
   one pre-built COPY buffer per batch (`prepare_batch`, `store`), built on the streaming thread
   and sent by a writer thread (`_writer`), so the database's work on one batch overlaps the
   fetch, validation and preparation of the next.
3. The last batch written finishes the run (`runs.finalize_run`); an error fails it with what
   went wrong (`runs.fail_on_error`), an outage of the broker or the store within seconds.
"""

from __future__ import annotations

import gc
import logging
import operator
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import partial
from hashlib import blake2b
from itertools import chain, compress, islice
from typing import Any, Protocol

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from connectors import ConnectorError
from connectors.base import SliceOrder, row_builder
from imports import failed_values, retry, schema, store
from imports.connections import connector_for
from imports.models import Import, ImportRun, RecordResult
from imports.runs import (
    claim_run,
    fail_on_error,
    fail_run,
    finalize_run,
    maybe_finalize,
    retrying,
)
from validation import MappingError, MappingSpec, validate_batch
from validation.errors import FieldError

log = logging.getLogger(__name__)

State = ImportRun.State

WAREHOUSE_TIMEOUT = "The warehouse did not answer within {seconds} s."


class RunNotActive(Exception):
    """The run left the running state (stopped or reaped) while a worker held it."""


class ChunkQueue(Protocol):
    """Where a coordinator offers chunks of its run to other workers (`tasks.BROKER`)."""

    def put(self, run: ImportRun, index: int, first_row: int, columns: list, values: list):
        """Queue chunk `index` (rows from `first_row`) for `process_chunk`; raises when the
        queue cannot be reached. A chunk put twice is written once."""

    def put_slice(
        self, run: ImportRun, index: int, first_row: int, rows: int, order: dict, bounds: list
    ):
        """Queue chunk `index` for `process_slice`: not its rows but where they are (the slice
        of the source from `bounds[0]` to `bounds[1]` in `order`, `rows` rows numbered from
        `first_row`), which the task reads itself. Raises like `put`."""

    def check(self) -> None:
        """Raise when the queue cannot be reached (chunks put earlier would never be written)."""


# --- Incremental values and sizes ------------------------------------------------------------


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


def run_sizes(snap: dict[str, Any]) -> tuple[int, int]:
    """A run's (batch size, chunk size): its snapshot's, else the settings'."""
    return (
        snap.get("batch_size") or settings.IMPORT_BATCH_SIZE,
        snap.get("chunk_size") or settings.IMPORT_CHUNK_SIZE,
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
    """How many chunks `_ship_chunks` cuts from `expected` rows: its first batch, written by
    the coordinator as soon as it is read, is chunk 0; then `chunk_rows` sizes. (One more than
    with `ship_every_chunk`, where the first batch is not a chunk of its own.)"""
    chunks, left = 0, expected
    if left > 0:
        chunks, left = 1, left - batch_size
    while left > 0:
        left -= chunk_rows(chunk_size, batch_size, left)
        chunks += 1
    return chunks


# --- Executing a run -------------------------------------------------------------------------


class _Context:
    """What one worker needs to validate and write rows of a run."""

    def __init__(self, run: ImportRun):
        snap = run.spec_snapshot
        self.run_id = run.pk
        self.run_code = run.code
        self.import_id = run.import_obj_id
        self.snap = snap
        self.is_event = snap["sync_type"] == Import.SyncType.EVENT
        # Imported events get no RecordResult of their own (`ImportRun.successes_in_events`).
        self.lean_records = run.successes_in_events
        self.identity_kind = snap["identity_kind"]
        self.identity_column = snap["identity_column"]
        self.event_name_column = snap.get("event_name_column") or None
        self.batch_size, self.chunk_size = run_sizes(snap)
        self.incremental_column = snap.get("incremental_column") or None
        self.since = decode_value(run.since) if self.incremental_column else None
        self.spec = MappingSpec.from_dict(snap["mapping"])
        self.event_key_column = self.spec.event_key_column or None
        # What failed records keep (imports.failed_values), fixed for the whole run.
        self.keep = failed_values.mode()
        self.kept_columns = failed_values.mapped_columns(self.spec)
        # Set once a batch had a key refused (a re-run): later batches go straight to the
        # store's staging path instead of first trying a plain COPY that would fail.
        self.keys_refused = False


_gc_pauses = 0
_gc_lock = threading.Lock()


@contextmanager
def _cyclic_gc_paused():
    """Pause the cyclic garbage collector while rows stream through this process.

    A batch keeps tens of thousands of dicts and tuples alive at once, so the collector's
    allocation-count trigger fires over and over and walks them all: with it running, a lone
    worker spends 35-45% more CPU per row (10.7 against 7.5 us; `bench/import_e2e.py --choices`).
    Rows, outcomes and buffers are acyclic and freed by reference counting, so nothing
    accumulates meanwhile; the collector resumes when the last run or chunk of this process
    ends (nesting-safe for thread pools)."""
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


def execute_run(
    run_id: int, chunk_queue: ChunkQueue | None = None, *, ship_every_chunk: bool = False
) -> None:
    """Claim a queued run and execute it: every row in this process, or, given `chunk_queue`,
    with chunks of a large run offered to other workers through it. `ship_every_chunk` puts
    every chunk on the queue, as if other workers were always free (tests of chunk delivery)."""
    run = claim_run(run_id)
    if run is None:
        return  # a duplicate delivery, or stopped before it started
    try:
        with _cyclic_gc_paused():
            _run_body(run, chunk_queue, ship_every_chunk)
    except RunNotActive:
        return
    except ConnectorError as exc:
        fail_run(run_id, exc.message, exc.kind, exc.detail or "")
    except MappingError as exc:
        fail_run(run_id, f"The column mapping cannot be used: {exc}", "config", "")
    except Exception as exc:
        log.exception("run %s failed", run_id)
        fail_on_error(run_id, exc)


def _run_body(run: ImportRun, chunk_queue: ChunkQueue | None, ship_every_chunk: bool) -> None:
    if run.trigger == ImportRun.Trigger.RETRY:
        _retry_body(run)  # its rows are the kept ones, not the warehouse's
        return
    ctx = _Context(run)
    ds = run.import_obj.datasource
    snap = run.spec_snapshot
    inc = snap.get("incremental_column") or None
    since = decode_value(run.since) if inc else None
    timeout = settings.IMPORT_WAREHOUSE_TIMEOUT_SECONDS
    with connector_for(ds, snap.get("partner")) as conn, _Watchdog(run.pk, conn, timeout) as dog:
        with dog.waiting():
            schema.record_source_columns(run, conn)
            expected = conn.count(snap["source"], since=since, incremental_column=inc)
        _touch(run.pk, expected_total=expected)
        batches = dog.batches(
            conn.iter_batches(
                snap["source"], batch_size=ctx.batch_size, incremental_column=inc, since=since
            )
        )
        tracked = _track_watermark(batches, inc)
        chunked = chunk_queue is not None and expected > ctx.chunk_size
        with dog.waiting():
            plan = _plan_slices(conn, ctx, expected, inc, since) if chunked else None
        if plan is not None:
            order, slices = plan
            chunks_total = _ship_slices(
                run, ctx, conn, dog, order, slices, chunk_queue, ship_every_chunk
            )
        elif chunked:
            chunks_total = _ship_chunks(run, ctx, tracked, expected, chunk_queue, ship_every_chunk)
        else:
            row = 1
            with _writer() as write:
                for batch in tracked:
                    _validate_and_write(ctx, row, batch, write=write)
                    row += len(batch)
    # The warehouse connection is closed before the run can be seen as finished: whoever acts
    # on a finished run (the next run, someone writing to a DuckDB file, which one writer locks)
    # finds the source free.
    watermark = encode_value(tracked.watermark)
    if plan is not None:
        # Each chunk raised the run's watermark to its own largest value (`_write_slice`).
        _finish_shipping(run, chunks_total, chunk_queue)
    elif chunked:
        _finish_shipping(run, chunks_total, chunk_queue, watermark=watermark)
    else:
        _touch(run.pk, watermark=watermark)
        retrying(lambda: finalize_run(run.pk), f"finishing run {run.pk}")


def _retry_body(run: ImportRun) -> None:
    """A retry run (`imports.retry`): the kept source rows of the retried run's failed records,
    validated with the run's own (the import's current) mapping and written as any run's
    batches, in this process (no chunks: a run's failures are a small part of it)."""
    ctx = _Context(run)
    counts = retry.retriable(run.retry_of_id)
    _touch(run.pk, expected_total=counts.kept, not_retried=counts.not_retried or None)
    row = 1
    with _writer() as write:
        for batch in retry.kept_rows(run.retry_of_id, ctx.batch_size):
            _validate_and_write(ctx, row, batch, write=write)
            row += len(batch)
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
                texts = sum(isinstance(v, str) for v in values)
                if 0 < texts < len(values):
                    # A date the driver could not convert ('infinity', year 10000) arrives as
                    # text beside real dates: it fails its record, and moves no watermark.
                    values = [v for v in values if not isinstance(v, str)]
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


def _recorded(run_id: int, row_number: int) -> bool:
    return retrying(
        RecordResult.objects.filter(run_id=run_id, row_number=row_number).exists,
        f"reading run {run_id}",
    )


def _ship_chunks(
    run: ImportRun,
    ctx: _Context,
    batches: _track_watermark,
    expected: int,
    chunk_queue: ChunkQueue,
    ship_every_chunk: bool,
) -> int:
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
    stream = chain.from_iterable(batches)
    index, first_row, waiting = 0, 1, None
    with _writer() as write:
        size = 0 if ship_every_chunk else _write_chunk_here(ctx, stream, 1, write, ctx.batch_size)
        if size:
            index, first_row = 1, first_row + size
        while True:
            _touch(run.pk)  # heartbeat, and stop here when the run was stopped
            rows = chunk_rows(ctx.chunk_size, ctx.batch_size, expected - first_row + 1)
            if ship_every_chunk or waiting is None or _recorded(run.pk, waiting):
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
                    partial(chunk_queue.put, run, index, first_row, columns, values),
                    f"shipping chunk {index} of run {run.pk}",
                )
                waiting, size = first_row, len(values)
                del values
            else:
                size = _write_chunk_here(ctx, stream, first_row, write, rows)
                if not size:
                    break
            index, first_row = index + 1, first_row + size
    return index


def _finish_shipping(run: ImportRun, index: int, chunk_queue: ChunkQueue, **fields) -> None:
    """Record how many chunks the run has (and `fields`); the last chunk written finalizes the
    run."""
    _touch(run.pk, chunks_total=index, **fields)
    if index == 0:
        retrying(lambda: finalize_run(run.pk), f"finishing run {run.pk}")  # empty source
    elif not retrying(lambda: maybe_finalize(run.pk), f"finishing run {run.pk}"):
        # Chunks shipped to the queue are still to be written. If the broker is gone they never
        # will be, and the run would sit until the reaper called it "worker lost": check it now
        # (a lone worker writes most chunks itself, so it may not have published for a while).
        retrying(chunk_queue.check, f"reaching the broker for run {run.pk}")


def _row_values(columns: list[str]) -> Callable[[dict], Any]:
    """The function taking a row's values in `columns` order, None where a row lacks one: one
    C call per row when, as with every connector, the row has them all, ~3x quicker than a
    tuple built per row (`bench/import_e2e.py --choices`)."""
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
    ctx: _Context,
    stream: Iterator[dict],
    first_row: int,
    write,
    rows: int,
    before_last: Callable[[], None] | None = None,
) -> int:
    """Validate and write the next chunk (`rows` rows) of `stream` in this process, in the
    batches a chunk task would use; the chunk's last batch counts the chunk done, and
    `before_last` is called once all of the chunk is read, before that batch is written.
    Returns its row count."""
    taken = 0

    def next_part() -> list[dict]:
        return list(islice(stream, min(ctx.batch_size, rows - taken)))

    part = next_part()
    while part:
        start = first_row + taken
        taken += len(part)
        following = next_part() if taken < rows else []
        if not following and before_last is not None:
            before_last()
        _validate_and_write(ctx, start, part, chunk_done=not following, write=write)
        part = following
    return taken


def process_chunk(run_id: int, index: int, first_row: int, columns: list, rows: list) -> None:
    """Validate and write one chunk of a fanned-out run (idempotent on run + row number)."""
    run = retrying(lambda: ImportRun.objects.filter(pk=run_id).first(), f"reading run {run_id}")
    if run is None or run.state != State.RUNNING:
        return
    ctx = _Context(run)
    # One generated dict display per row: ~3x quicker than dict(zip()) (`--choices`).
    build = row_builder(columns)
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
        fail_on_error(run_id, exc)
        return
    retrying(lambda: maybe_finalize(run_id), f"finishing run {run_id}")


# --- Chunks that read their own slice --------------------------------------------------------

# Bounds a chunk message can carry as JSON (`encode_value`); a key of another type (bytes) makes
# the run ship rows instead.
_BOUND_TYPES = (str, int, float, Decimal, date, datetime)


def _plan_slices(
    conn, ctx: _Context, expected: int, inc: str | None, since: Any
) -> tuple[SliceOrder, list[tuple[int, int, Any, Any]]] | None:
    """The chunks of a fanned-out run as slices of the source, each read by whoever writes it:
    (first row, rows, low, high) — the rows from `low` to below `high` on the slice order's
    column, numbered from `first_row`, in the order of `conn.slice_order`. None when the
    source has no order to cut (no incremental column, no primary key) or the partner cannot
    read slices: the coordinator then ships the rows it reads (`_ship_chunks`).

    Chunks start at the rows `planned_chunks` would cut, moved to the first row of a value on
    the order's column (back to their own value's, or on PostgreSQL on to the next value's:
    rows of one value are never split, and chunks of one value merge), so a chunk's rows and
    numbers are the same however often it is read."""
    order = conn.slice_order(ctx.snap["source"], inc)
    if order is None:
        return None
    starts, left = [], expected
    while left > 0:
        starts.append(expected - left + 1)
        left -= (
            ctx.batch_size if len(starts) == 1 else chunk_rows(ctx.chunk_size, ctx.batch_size, left)
        )
    bounds: list[tuple[Any, int]] = []
    for value, first in conn.slice_bounds(ctx.snap["source"], order, starts, inc, since):
        if not bounds or first > bounds[-1][1]:
            bounds.append((value, first))
    if not all(isinstance(v, _BOUND_TYPES) for v, _ in bounds):
        return None
    if not bounds:  # every row has a NULL there: one slice, the whole source
        return order, [(1, expected, None, None)]
    ends = [first for _, first in bounds[1:]] + [expected + 1]
    slices = [
        (
            first,
            end - first,
            value if i else None,
            bounds[i + 1][0] if i + 1 < len(bounds) else None,
        )
        for i, ((value, first), end) in enumerate(zip(bounds, ends, strict=True))
    ]
    return order, slices


def _ship_slices(
    run: ImportRun,
    ctx: _Context,
    conn,
    dog: _Watchdog,
    order: SliceOrder,
    slices: list[tuple[int, int, Any, Any]],
    chunk_queue: ChunkQueue,
    ship_every_chunk: bool,
) -> int:
    """`_ship_chunks` for a planned run: a chunk goes to the queue as its slice's bounds (a
    few bytes, whatever its size) when the chunk shipped before it has been taken up, else the
    coordinator reads its slice and writes it itself. Chunk 0 (the first batch) is always
    written here, so that the run shows progress at once. Returns the number of chunks."""
    waiting = None
    with _writer() as write:
        for index, (first_row, rows, low, high) in enumerate(slices):
            _touch(run.pk)  # heartbeat, and stop here when the run was stopped
            if ship_every_chunk or (index and (waiting is None or _recorded(run.pk, waiting))):
                bounds = [encode_value(low), encode_value(high)]
                retrying(
                    partial(
                        chunk_queue.put_slice, run, index, first_row, rows, order.as_dict(), bounds
                    ),
                    f"shipping chunk {index} of run {run.pk}",
                )
                waiting = first_row
                continue
            batches = _read_slice(conn, dog, ctx, order, low, high, rows)
            _write_slice(ctx, batches, first_row, rows, write)
    return len(slices)


def _read_slice(conn, dog: _Watchdog, ctx: _Context, order, low, high, rows: int):
    """The batches of one slice, their largest incremental value tracked (a `_track_watermark`).
    A slice reads at most its planned rows, so that rows added to the source since the plan
    never take the numbers of the next slice's; the last one (no `high`) reads to the end."""
    inc = ctx.incremental_column
    return _track_watermark(
        dog.batches(
            conn.iter_slice(
                ctx.snap["source"],
                order,
                low,
                high,
                limit=None if high is None else rows,
                batch_size=ctx.batch_size,
                incremental_column=inc,
                since=ctx.since,
            )
        ),
        inc,
    )


def _write_slice(
    ctx: _Context, batches: _track_watermark, first_row: int, rows: int, write, before_last=None
) -> None:
    """Write one slice as a chunk (its last batch counts it done), first raising the run's
    watermark to the slice's largest value once all of it is read (and calling `before_last`),
    so that the run cannot finish without it."""

    def read_all() -> None:
        if before_last is not None:
            before_last()
        _raise_watermark(ctx.run_id, batches.watermark)

    stream = chain.from_iterable(batches)
    if not _write_chunk_here(ctx, stream, first_row, write, rows, before_last=read_all):
        # The source lost these rows since the plan: the chunk is done all the same.
        read_all()
        write(partial(_count_empty_chunk, ctx.run_id, first_row))


def _count_empty_chunk(run_id: int, first_row: int) -> None:
    """Count the chunk starting at `first_row`, which had no rows, done: once, however often
    it is delivered (a worker may die between this count and the task's acknowledgement)."""

    def counted(run: ImportRun) -> dict[str, Any] | None:
        if first_row in run.empty_chunks:
            return None
        return {
            "chunks_done": F("chunks_done") + 1,
            "empty_chunks": [*run.empty_chunks, first_row],
            "heartbeat_at": timezone.now(),
        }

    _change_running_run(run_id, "empty_chunks", counted)


def _change_running_run(
    run_id: int, field: str, change: Callable[[ImportRun], dict[str, Any] | None]
) -> None:
    """Update the running run by what `change` makes of its `field`, read under the run's row
    lock (chunks of one run end at the same time on several workers); `change` returns the
    fields to update, or None. RunNotActive when the run is no longer running."""

    def locked() -> bool:
        with transaction.atomic():
            run = (
                ImportRun.objects.select_for_update()
                .filter(pk=run_id, state=State.RUNNING)
                .only(field)
                .first()
            )
            if run is None:
                return False
            updates = change(run)
            if updates:
                ImportRun.objects.filter(pk=run_id).update(**updates)
            return True

    if not retrying(locked, f"updating run {run_id}"):
        raise RunNotActive(run_id)


def _higher(a: Any, b: Any) -> Any:
    """The larger of two incremental values, None and text (a date the driver could not read,
    as `_track_watermark` keeps it) losing to any other value."""
    if a is None or (isinstance(a, str) and b is not None and not isinstance(b, str)):
        return b
    if b is None or (isinstance(b, str) and not isinstance(a, str)):
        return a
    return max(a, b)


def _raise_watermark(run_id: int, value: Any) -> None:
    """Raise the running run's watermark to `value` when it is higher (chunks of one run end
    in any order); RunNotActive when the run is no longer running."""
    if value is None:
        return

    def raised(run: ImportRun) -> dict[str, Any] | None:
        current = None if run.watermark is None else decode_value(run.watermark)
        higher = _higher(current, value)
        return None if higher is current else {"watermark": encode_value(higher)}

    _change_running_run(run_id, "watermark", raised)


def process_slice(
    run_id: int, index: int, first_row: int, rows: int, order: dict, bounds: list
) -> None:
    """Read, validate and write one chunk of a fanned-out run from its own slice of the source
    (idempotent on run + row number: a slice reads the same rows in the same order each time).
    The chunk's warehouse connection is closed before its last batch, which may finish the
    run, is written."""
    run = retrying(lambda: ImportRun.objects.filter(pk=run_id).first(), f"reading run {run_id}")
    if run is None or run.state != State.RUNNING:
        return
    ctx = _Context(run)
    low, high = (decode_value(b) for b in bounds)
    timeout = settings.IMPORT_WAREHOUSE_TIMEOUT_SECONDS
    conn = connector_for(run.import_obj.datasource, ctx.snap.get("partner"))
    try:
        with _cyclic_gc_paused(), _writer() as write:
            with conn, _Watchdog(run_id, conn, timeout) as dog:
                batches = _read_slice(conn, dog, ctx, SliceOrder.from_dict(order), low, high, rows)
                _write_slice(ctx, batches, first_row, rows, write, before_last=conn.close)
    except Exception as exc:
        _fail_chunk(run_id, index, exc)
        return
    retrying(lambda: maybe_finalize(run_id), f"finishing run {run_id}")


def _fail_chunk(run_id: int, index: int, exc: Exception) -> None:
    """What a chunk task does with the error `exc` (being handled) that ended it."""
    if isinstance(exc, RunNotActive):
        return  # stopped, cancelled or reaped: nothing more to write
    if isinstance(exc, ConnectorError):
        fail_run(run_id, exc.message, exc.kind, exc.detail or "")
        return
    log.exception("chunk %s of run %s failed", index, run_id)
    fail_on_error(run_id, exc)


def _validate_and_write(
    ctx: _Context, first_row: int, batch: list[dict], chunk_done=False, write=None
) -> None:
    """Validate a batch and write it (through `write`, a `_writer`, when given)."""
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
    validation of the next batch (this process's CPU): one worker keeps two cores busy, and
    a lone worker imports 1.3-1.5x the rows per second it does writing in line (34k against
    26k; `bench/import_e2e.py --choices`).

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
    if ctx.is_event and ctx.event_key_column:
        _require_event_key(ctx.event_key_column, rows, outcomes)
    errs = [o.errors for o in outcomes]
    successes = [not e for e in errs]
    errors_json, keys = ["[]"] * size, [""] * size
    source_rows: dict[int, str] = {}
    keep, kept_columns = ctx.keep, ctx.kept_columns
    keep_rows = keep == failed_values.FULL
    error_counts: Counter = Counter()
    for k in compress(range(size), errs):
        e, row = errs[k], rows[k]
        errors_json[k] = store.dumps(failed_values.error_dicts(e, row, keep))
        keys[k] = "|" + "|".join(f"{x.field}:{x.code}" for x in e) + "|"
        error_counts.update((x.field, x.code) for x in e)
        if keep_rows:
            source_rows[k] = failed_values.encode_row(row, kept_columns)
    record_identities = _cut(identities, 1100)
    if ctx.lean_records:
        # The batch's first row (the marker `write_once` looks for) and its failed rows; its
        # imported rows are read from Event, and those refused as imported before are recorded
        # once the store has said which they are.
        recorded = [0, *compress(range(1, size), errs[1:])] if size else []
        write_records = store.record_columns_writer(
            ctx.run_id,
            [numbers[k] for k in recorded],
            [successes[k] for k in recorded],
            [record_identities[k] for k in recorded],
            [names[k] for k in recorded],
            [errors_json[k] for k in recorded],
            [keys[k] for k in recorded],
            {j: source_rows[k] for j, k in enumerate(recorded) if k in source_rows},
        )
    else:
        write_records = store.record_columns_writer(
            ctx.run_id, numbers, successes, record_identities, names, errors_json, keys, source_rows
        )
    good = list(compress(outcomes, successes))
    total, successful = size, len(good)
    good_numbers: list[int] = []
    good_identities: list[str] = []
    good_names: list[str] = []
    if ctx.is_event:
        now = timezone.now()
        good_numbers = list(compress(numbers, successes))
        good_identities = list(compress(identities, successes))
        good_names = list(compress(names, successes))
        properties = store.dumps_each([o.payload for o in good], sort_keys=True)
        if ctx.event_key_column:
            col = ctx.event_key_column
            event_keys = column_keys([r[col] for r in compress(rows, successes)])
        else:
            event_keys = default_keys(
                ctx.identity_kind, good_identities, good_names, good, properties
            )
        write_rows = store.event_columns_writer(
            ctx.run_code,
            ctx.import_id,
            ctx.identity_kind,
            good_numbers,
            good_identities,
            good_names,
            [o.timestamp or now for o in good],
            properties,
            event_keys,
            staged=ctx.keys_refused,
        )
    else:
        write_profiles, _ = store.profiles_writer(
            ctx.identity_kind,
            zip(compress(identities, successes), [o.payload for o in good], strict=True),
        )

        def write_rows() -> list[int]:
            write_profiles()
            return []

    run_id = ctx.run_id

    def record_refused(refused: list[int]) -> None:
        # Still success=True (valid, and out of the detail pane's "Failed" filter and the
        # failed-records CSV); the flag keeps it out of the successes.
        if not ctx.lean_records:  # an event run claimed before `successes_in_events`
            RecordResult.objects.filter(run_id=run_id, row_number__in=refused).update(
                already_imported=True
            )
            return
        # Lean records: no record yet, but for the batch's first row.
        if refused[0] == first_row:
            RecordResult.objects.filter(run_id=run_id, row_number=first_row).update(
                already_imported=True
            )
            refused = refused[1:]
        at = {n: k for k, n in enumerate(good_numbers)}
        picked = [at[n] for n in refused]
        store.record_columns_writer(
            run_id,
            refused,
            [True] * len(refused),
            [good_identities[k] for k in picked],
            [good_names[k] for k in picked],
            ["[]"] * len(refused),
            [""] * len(refused),
            {},
            already_imported=True,
        )()

    # Only the buffers wait for the writer (and, in an event run, the imported rows' identities
    # and names, which a refused row's record needs).
    del identities, record_identities, names, errs, errors_json, keys, source_rows, good

    def write() -> bool:
        # A store blip rolls the batch back; the next try writes it whole (or finds it written).
        with store.row_data_withheld():
            return retrying(write_once, f"writing a batch of run {run_id}")

    def write_once() -> bool:
        try:
            with transaction.atomic():
                if RecordResult.objects.filter(run_id=run_id, row_number=first_row).exists():
                    return False
                write_records()
                # Rows refused for a key already imported. A retried batch never gets here (its
                # records are found above, in the same transaction as its events), so a run's
                # own events never count as imported before.
                refused = write_rows()
                if refused:
                    ctx.keys_refused = True
                    record_refused(refused)
                store.add_error_counts(run_id, error_counts)
                # Last, so the run row is locked only for the commit: the counters and the
                # "still running?" check in one statement.
                updates = {
                    "total": F("total") + total,
                    "successful": F("successful") + (successful - len(refused)),
                    "failed": F("failed") + (total - successful),
                    "already_imported": F("already_imported") + len(refused),
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


# --- Event keys ------------------------------------------------------------------------------


def _require_event_key(column: str, rows: list[dict], outcomes: list) -> None:
    """Fail the records whose event key column is blank or NULL: such an event has no key."""
    for row, outcome in zip(rows, outcomes, strict=True):
        value = row.get(column)
        if value is None or (isinstance(value, str) and not value.strip()):
            outcome.errors.append(FieldError(column, MISSING_EVENT_KEY, MISSING_EVENT_KEY_MESSAGE))


# Not in DESIGN.md's error table (its codes are exactly the reference's, held by a test): this
# one exists only for imports with an event key column chosen.
MISSING_EVENT_KEY = "missing_event_key"
MISSING_EVENT_KEY_MESSAGE = "Event key is missing"


def column_keys(values: list[Any]) -> list[str]:
    """Event keys from the chosen key column's source values (their text): 16-byte BLAKE2b
    digests in hexadecimal, the text of the store's uuid column."""
    return [blake2b(_text(v).encode(), digest_size=16).hexdigest() for v in values]


def default_keys(
    identity_kind: str, identities: list[str], names: list[str], outcomes: list, props: list[str]
) -> list[str]:
    """Event keys when no key column is chosen: a digest of the mapped identity (and its kind),
    event name, the source's timestamp (empty when blank — not the processing time, which
    differs on every run) and the properties as canonical JSON (`dumps_each(sort_keys=True)`).
    The fields are joined by the ASCII unit separator, the properties (JSON, which escapes it)
    last.

    The first 4 bytes are the source timestamp's seconds (0 when blank), the other 12 a
    BLAKE2b digest: sources mostly hold events in time order, so new keys land near each other
    in the store's unique index, as a UUIDv7's do, instead of on random pages of it."""
    stamps = [o.timestamp for o in outcomes]
    seconds = [int(t.timestamp()) & 0xFFFFFFFF if t else 0 for t in stamps]
    head = f"{identity_kind}\x1f"
    # The 16 bytes in hexadecimal by one .hex(): a format spec a row cost ~0.8 us more.
    return [
        (
            s.to_bytes(4, "big")
            + blake2b(f"{head}{i}\x1f{n}\x1f{x}\x1f{p}".encode(), digest_size=12).digest()
        ).hex()
        for i, n, s, x, p in zip(identities, names, seconds, _iso_texts(stamps), props, strict=True)
    ]


def _iso_texts(stamps: list[datetime | None]) -> list[str]:
    """`isoformat()` of each timestamp ("" for None). Validated timestamps are UTC datetimes,
    which orjson writes as `isoformat()` does, a whole column in one C call. `isoformat()` a
    row was most of default_keys, itself a sixth of a worker's CPU on bench/import_e2e.py's
    events_typed; with this and the one .hex() above, 50k keys take 2.8 us a row, not 7.4."""
    if None in stamps or any(t.tzinfo is not UTC for t in stamps):
        return [t.isoformat() if t else "" for t in stamps]
    return store.copy_timestamps(stamps)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _cut(texts: list[str], length: int) -> list[str]:
    """`texts` cut to the column's length (one C-speed scan when, as usual, all fit)."""
    if max(map(len, texts), default=0) <= length:
        return texts
    return [t[:length] for t in texts]
