"""Celery tasks of the run engine: thin shells that take ids and call `imports.engine`.

`acks_late` (settings) means a task whose worker dies is redelivered; every engine function is
idempotent, so a redelivery or a duplicate changes nothing twice.
"""

from __future__ import annotations

from celery import shared_task

from imports import engine


@shared_task(name="imports.dispatch_due", ignore_result=True)
def dispatch_due() -> int:
    """Beat, every few seconds: trigger the imports whose time has come."""
    return len(engine.dispatch_due())


@shared_task(name="imports.execute_run", ignore_result=True)
def execute_run(run_id: int) -> None:
    engine.execute_run(run_id)


@shared_task(name="imports.process_chunk", ignore_result=True)
def process_chunk(run_id: int, index: int, first_row: int, columns: list, rows: list) -> None:
    engine.process_chunk(run_id, index, first_row, columns, rows)


@shared_task(name="imports.reap_lost_runs", ignore_result=True)
def reap_lost_runs() -> int:
    """Beat, every minute: fail runs whose worker stopped heart-beating."""
    return engine.reap_lost_runs()


@shared_task(name="imports.purge_old_runs", ignore_result=True)
def purge_old_runs() -> None:
    """Beat, daily: drop per-record details and runs past the retention window."""
    engine.purge_old_runs()


@shared_task(name="imports.seed_demo_history", ignore_result=True)
def seed_demo_history(datasource_id: int, days: int) -> None:
    """`seed_demo --history-days N --background`: the demo's past runs, made by the worker."""
    from imports.demo import seed_run_history
    from imports.models import Datasource

    datasource = Datasource.objects.filter(pk=datasource_id).first()
    if datasource is not None:
        seed_run_history(datasource, days)
