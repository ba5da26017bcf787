"""Celery tasks of the run engine, and every call of the engine to the broker.

The tasks are thin shells that take ids and call `imports.runs` (lifecycle) or
`imports.pipeline` (rows). Enqueueing lives here too: `enqueue_run`, `BROKER` (the chunk queue
the pipeline offers chunks to) and `revoke_chunks` are what `services` and the tasks hand to the
lifecycle and the pipeline, which never import this module.

`acks_late` (settings) means a task whose worker dies is redelivered; every engine function is
idempotent, so a redelivery or a duplicate changes nothing twice.
"""

from __future__ import annotations

import logging

from celery import shared_task

from imports import audit, pipeline, runs
from imports.demo import seed_run_history
from imports.models import Datasource, ImportRun

log = logging.getLogger(__name__)


# --- Enqueueing ------------------------------------------------------------------------------


def enqueue_run(run_id: int) -> None:
    """Hand the run to a worker. A run that cannot be handed over fails, visibly: as the broker
    being unreachable only when it is (any other error is Import Center's own)."""
    try:
        execute_run.apply_async(args=[run_id], retry=False)
    except Exception as exc:
        log.warning("could not enqueue run %s: %r", run_id, exc)
        runs.fail_on_error(run_id, exc)


def chunk_task_id(run_code, index: int) -> str:
    """Deterministic, so Stop can revoke chunks without having stored their ids, and a chunk
    shipped twice is one task."""
    return f"run-{run_code}-chunk-{index}"


class _Broker:
    """The broker as `pipeline.ChunkQueue`: chunks become `process_chunk` tasks (rows) or
    `process_slice` tasks (where to read them)."""

    def put(self, run: ImportRun, index: int, first_row: int, columns: list, values: list):
        # No retry by kombu: the pipeline retries for the outage grace period, so that a broker
        # gone for good fails the run within seconds with QUEUE_DOWN.
        process_chunk.apply_async(
            args=[run.pk, index, first_row, columns, values],
            task_id=chunk_task_id(run.code, index),
            retry=False,
        )

    def put_slice(
        self, run: ImportRun, index: int, first_row: int, rows: int, order: dict, bounds: list
    ):
        process_slice.apply_async(
            args=[run.pk, index, first_row, rows, order, bounds],
            task_id=chunk_task_id(run.code, index),
            retry=False,
        )

    def check(self) -> None:
        """Connect to the broker once; kombu's OperationalError when it cannot be reached."""
        with process_chunk.app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=0, timeout=2)


BROKER = _Broker()


def revoke_chunks(run: ImportRun) -> None:
    """Withdraw the pending chunk tasks of a stopped run (best effort: the state check in every
    batch stops them anyway)."""
    batch_size, chunk_size = pipeline.run_sizes(run.spec_snapshot)
    # +1: the source may have grown after it was counted.
    planned = max(
        run.chunks_total,
        pipeline.planned_chunks(run.expected_total or 0, chunk_size, batch_size) + 1,
    )
    ids = [chunk_task_id(run.code, i) for i in range(planned)]
    try:
        process_chunk.app.control.revoke(ids)
    except Exception as exc:
        log.warning("could not revoke chunks of run %s: %s", run.pk, exc)


# --- Tasks -----------------------------------------------------------------------------------


@shared_task(name="imports.dispatch_due", ignore_result=True)
def dispatch_due() -> int:
    """Beat, every few seconds: trigger the imports whose time has come."""
    return len(runs.dispatch_due(enqueue=enqueue_run))


@shared_task(name="imports.execute_run", ignore_result=True)
def execute_run(run_id: int) -> None:
    pipeline.execute_run(run_id, BROKER)


@shared_task(name="imports.process_chunk", ignore_result=True)
def process_chunk(run_id: int, index: int, first_row: int, columns: list, rows: list) -> None:
    pipeline.process_chunk(run_id, index, first_row, columns, rows)


@shared_task(name="imports.process_slice", ignore_result=True)
def process_slice(
    run_id: int, index: int, first_row: int, rows: int, order: dict, bounds: list
) -> None:
    pipeline.process_slice(run_id, index, first_row, rows, order, bounds)


@shared_task(name="imports.reap_lost_runs", ignore_result=True)
def reap_lost_runs() -> int:
    """Beat, every minute: fail runs whose worker stopped heart-beating."""
    return runs.reap_lost_runs()


@shared_task(name="imports.purge_old_runs", ignore_result=True)
def purge_old_runs() -> None:
    """Beat, daily: drop per-record details and runs past the retention window."""
    runs.purge_old_runs()


@shared_task(name="imports.seed_demo_history", ignore_result=True)
def seed_demo_history(datasource_id: int, days: int) -> None:
    """`seed_demo --history-days N --background`: the demo's past runs, made by the worker."""
    datasource = Datasource.objects.filter(pk=datasource_id).first()
    if datasource is not None:
        with audit.from_command("seed_demo"):  # the demo's mapping edit is the command's
            seed_run_history(datasource, days)
