"""Celery tasks of alerts, on the `alerts` queue (importcenter/celery.py routes `alerts.*`):
thin shells over `alerts.evaluate` and `alerts.delivery`."""

from __future__ import annotations

import logging

from celery import shared_task

log = logging.getLogger(__name__)


@shared_task(name="alerts.evaluate_import", ignore_result=True)
def evaluate_import(import_id: int) -> int:
    from alerts import evaluate

    return len(evaluate.evaluate_import(import_id))


@shared_task(name="alerts.deliver", ignore_result=True)
def deliver(delivery_id: int) -> bool:
    from alerts import delivery

    return delivery.deliver(delivery_id)


@shared_task(name="alerts.sweep", ignore_result=True)
def sweep() -> dict:
    """Beat, every minute: freshness, lost evaluations and deliveries, mutes that ended."""
    from alerts import evaluate

    return evaluate.sweep()


def on_run_ended(sender, run, **kwargs) -> None:
    """`imports.signals.run_ended` (sent after commit): queue the import's evaluation, nothing
    more, so a run never waits on alerting. A broker that cannot take it loses nothing: the
    sweep evaluates runs that ended without an evaluation."""
    try:
        evaluate_import.apply_async(args=[run.import_obj_id], retry=False)
    except Exception as exc:  # kombu's OperationalError and friends
        log.warning("could not queue the alert evaluation of run %s: %s", run.pk, exc)
