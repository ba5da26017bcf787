"""`runs.retrying`: what the run path does while the broker or the store cannot be reached."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, OperationalError
from kombu.exceptions import OperationalError as KombuOperationalError

from imports import runs


@pytest.fixture
def clock(monkeypatch):
    """A fake clock that `time.sleep` moves on, so the backoff costs no real time."""
    now = [0.0]
    sleeps: list[float] = []

    def sleep(seconds):
        sleeps.append(seconds)
        now[0] += seconds

    monkeypatch.setattr(runs.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(runs.time, "sleep", sleep)
    return sleeps


def _failing(times: int, error: Exception):
    calls = []

    def op():
        calls.append(1)
        if len(calls) <= times:
            raise error
        return "done"

    return op, calls


def test_a_broker_blip_is_retried_with_backoff(clock):
    op, calls = _failing(3, KombuOperationalError("Connection refused"))
    assert runs.retrying(op, "shipping") == "done"
    assert len(calls) == 4
    assert clock == [0.25, 0.5, 1.0]


def test_a_store_blip_is_retried_on_a_fresh_connection(clock, monkeypatch):
    closed = []
    monkeypatch.setattr(runs.connection, "close", lambda: closed.append(1))
    op, calls = _failing(2, OperationalError("server closed the connection unexpectedly"))
    assert runs.retrying(op, "writing") == "done"
    assert len(closed) == 2


def test_an_outage_past_the_grace_raises_the_last_error(clock):
    op, calls = _failing(1000, KombuOperationalError("Connection refused"))
    with pytest.raises(KombuOperationalError):
        runs.retrying(op, "shipping")
    assert sum(clock) <= runs.OUTAGE_GRACE_SECONDS
    assert 5 <= len(calls) < 20
    assert runs._classify(KombuOperationalError("x")) == (runs.QUEUE_DOWN, "broker")
    assert runs._classify(OperationalError("x")) == (runs.STORE_DOWN, "store")
    # A store that answered with an error was reached: that is no outage.
    assert runs._classify(IntegrityError("x")) == (runs.UNEXPECTED, "internal")


def test_other_errors_are_not_retried(clock):
    op, calls = _failing(1, ValueError("a bug"))
    with pytest.raises(ValueError):
        runs.retrying(op, "writing")
    assert (len(calls), clock) == (1, [])
