"""Run lifecycle signals: the one hook through which alerts, webhooks and metrics learn that a
run started or ended, so the engine never imports them.

Both are sent after the transaction that changed the run's state has committed, with
`run` (an `ImportRun` as it was when the state changed). Receivers must not raise: a receiver's
error is logged and the run is unaffected (`send_robust`).
"""

import logging

from django.db import transaction
from django.dispatch import Signal

log = logging.getLogger(__name__)

# queued → running
run_started = Signal()
# → completed, failed, stopped or skipped
run_ended = Signal()


def send_on_commit(signal: Signal, run) -> None:
    """Send `signal` for `run` once the current transaction commits (at once outside one)."""

    def send():
        for receiver, result in signal.send_robust(sender=type(run), run=run):
            if isinstance(result, Exception):
                log.error("receiver %r of a run signal failed: %r", receiver, result)

    transaction.on_commit(send)
