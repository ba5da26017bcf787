"""ReadAhead: a stream's fetch loop on its own thread, one batch ahead of the consumer."""

from __future__ import annotations

import threading
import time

import pytest

from connectors import ConnectorError
from connectors.base import Connector, ReadAhead

# The partners whose streams read ahead (measured to help: see bench/connectors.py). DuckDB's
# fetch is in-process conversion that holds the GIL; Snowflake's connector already downloads
# result chunks on threads of its own.
# PostgreSQL only when it streams through a named cursor: libpq 17's chunked rows need no thread.
READ_AHEAD = {"postgresql", "bigquery"}


def reads_ahead(partner: str) -> bool:
    from connectors import postgresql

    return partner in READ_AHEAD and not (partner == "postgresql" and postgresql._CHUNKED_ROWS)


def wait_until(check, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.001)


class Source:
    """A batch generator that records what it produced, where it ran and where it was closed.

    The tests wait on its events, never on the clock: `started` is set when it is first asked
    for an item, `fetched[i]` once item i is made. A consumer that keeps `requested` (how many
    items it has asked for) makes it note each item asked for before the consumer has even
    asked for the one before it (`early`): the check happens at the fetch itself, so it needs
    no grace period."""

    def __init__(self, count: int = 10, fail_at: int | None = None):
        self.count, self.fail_at = count, fail_at
        self.produced: list[int] = []
        self.threads: set[str] = set()
        self.closed_on: str | None = None
        self.started = threading.Event()
        self.fetched = [threading.Event() for _ in range(count)]
        self.requested: int | None = None
        self.early: list[int] = []

    def __call__(self):
        try:
            for i in range(self.count):
                self.started.set()
                self.threads.add(threading.current_thread().name)
                if self.requested is not None and i > self.requested:
                    self.early.append(i)
                if i == self.fail_at:
                    raise ConnectorError("query", "The warehouse could not run it.", "boom")
                self.produced.append(i)
                self.fetched[i].set()
                yield [i] * 3
        finally:
            self.closed_on = threading.current_thread().name


@pytest.fixture
def no_thread_errors(monkeypatch):
    """Fails the test if any thread lets an exception escape (it would be printed)."""
    escaped = []
    monkeypatch.setattr(threading, "excepthook", escaped.append)
    yield
    assert escaped == []


def test_items_arrive_in_order_from_another_thread(no_thread_errors):
    src = Source(50)
    with ReadAhead(src(), name="t-read-ahead") as items:
        assert list(items) == [[i] * 3 for i in range(50)]
    assert src.threads == {"t-read-ahead"}
    assert src.closed_on == "t-read-ahead"


def test_empty_source_ends_at_once(no_thread_errors):
    baseline = threading.active_count()
    with ReadAhead(Source(0)()) as items:
        assert list(items) == []
        assert next(items, None) is None
    assert threading.active_count() == baseline


def test_error_surfaces_after_the_earlier_items_as_the_same_error(no_thread_errors):
    baseline = threading.active_count()
    src = Source(10, fail_at=4)
    got = []
    with pytest.raises(ConnectorError) as info, ReadAhead(src()) as items:
        for item in items:
            got.append(item)
    assert got == [[i] * 3 for i in range(4)]
    assert info.value.kind == "query"
    assert str(info.value) == "The warehouse could not run it."
    assert info.value.detail == "boom"
    assert threading.active_count() == baseline


def test_thread_is_never_more_than_one_item_ahead(no_thread_errors):
    src = Source(8)
    src.requested = 1  # the `for` asks for item 0
    with ReadAhead(src()) as items:
        for k, item in enumerate(items):
            assert item == [k] * 3
            # While item k is held, the thread fetches item k + 1 and no further.
            assert len(src.produced) <= k + 2
            if k + 1 < src.count:
                assert src.fetched[k + 1].wait(10)
                assert len(src.produced) == k + 2
            src.requested = k + 2  # the `for` asks for item k + 1 next
    # Item j was never fetched before the consumer asked for item j - 1.
    assert src.early == []


def test_nothing_runs_until_the_first_item_is_asked_for():
    baseline = threading.active_count()
    src = Source(3)
    items = ReadAhead(src())
    # A thread started here would be counted at once (it would wait for the consumer with
    # item 0 made), and `started` would be set.
    assert threading.active_count() == baseline
    assert not src.started.is_set() and src.produced == []
    items.close()
    assert threading.active_count() == baseline
    assert list(items) == []


@pytest.mark.parametrize("how", ["break", "generator close", "consumer error"])
def test_stopping_early_joins_the_thread_and_closes_the_source_there(how, no_thread_errors):
    baseline = threading.active_count()
    src = Source(1000)

    def consume():
        # The shape of every partner's iter_batches.
        with ReadAhead(src(), name="early-read-ahead") as items:
            for item in items:
                yield list(item)

    if how == "break":
        with ReadAhead(src(), name="early-read-ahead") as items:
            for k, _ in enumerate(items):
                if k == 2:
                    break
    elif how == "generator close":
        gen = consume()
        next(gen), next(gen), next(gen)
        gen.close()
    else:
        with pytest.raises(ZeroDivisionError):
            for k, _ in enumerate(consume()):
                if k == 2:
                    1 / 0  # noqa: B018
    assert threading.active_count() == baseline
    assert src.closed_on == "early-read-ahead"  # the cursor is released on its own thread
    assert len(src.produced) <= 4  # items 0-2 consumed, at most one fetched ahead


def test_stopping_waits_for_the_fetch_in_progress(no_thread_errors):
    started, release = threading.Event(), threading.Event()
    closed = []

    def slow():
        try:
            yield 1
            started.set()
            release.wait(10)
            yield 2
        finally:
            closed.append(threading.current_thread().name)

    items = ReadAhead(slow(), name="slow-read-ahead")
    # `close()` calls `on_end` once it has asked the thread to stop, before waiting for it.
    stop_asked = threading.Event()
    items.on_end = lambda _: stop_asked.set()
    closed_when_close_returned: list[list[str]] = []

    def stop():
        items.close()
        closed_when_close_returned.append(list(closed))

    assert next(items) == 1
    assert started.wait(10)
    stopper = threading.Thread(target=stop)
    stopper.start()
    assert stop_asked.wait(10)
    assert stopper.is_alive() and closed == []  # the driver is still busy: close waits for it
    release.set()
    stopper.join(10)
    assert not stopper.is_alive()
    assert closed == ["slow-read-ahead"]
    assert closed_when_close_returned == [["slow-read-ahead"]]


def test_a_failure_while_closing_early_is_not_printed(no_thread_errors, capfd):
    def broken_cleanup():
        try:
            while True:
                yield [1]
        finally:
            raise RuntimeError("cursor already gone")

    baseline = threading.active_count()
    with ReadAhead(broken_cleanup()) as items:
        next(items)
    assert threading.active_count() == baseline
    assert capfd.readouterr().err == ""


def test_stopped_by_someone_else_the_consumer_gets_a_connector_error(no_thread_errors):
    src = Source(100)
    items = ReadAhead(src())
    next(items)
    items.stop()  # what Connector.close() does to a stream still being read
    with pytest.raises(ConnectorError) as info:
        next(items)
    assert info.value.kind == "network"
    assert src.closed_on is not None and src.closed_on != threading.current_thread().name
    items.close()


# --- through the connectors ------------------------------------------------------------------


def readers() -> list[threading.Thread]:
    """The read-ahead threads alive (drivers may run threads of their own, so the connector
    tests count these rather than all threads)."""
    return [t for t in threading.enumerate() if t.name.endswith("-read-ahead")]


def test_connector_exit_stops_a_stream_still_held(warehouse, no_thread_errors):
    # The run engine's path when a run is stopped: an exception leaves the `with` block while
    # the batch generator is still referenced (it is closed only later, by garbage collection).
    with pytest.raises(RuntimeError), warehouse.connect() as c:
        batches = c.iter_batches(warehouse.table, batch_size=1_000)
        assert len(next(batches)) == 1_000
        expected = [f"{c.partner}-read-ahead"] if reads_ahead(c.partner) else []
        assert [t.name for t in readers()] == expected
        raise RuntimeError("run stopped")
    assert readers() == []
    batches.close()
    assert readers() == []


def test_closing_a_stream_early_leaves_the_connector_usable(warehouse, no_thread_errors):
    with warehouse.connect() as c:
        batches = c.iter_batches(warehouse.table, batch_size=1_000)
        next(batches), next(batches)
        batches.close()
        assert readers() == []
        assert c.count(warehouse.table) > 0
        for _ in c.iter_batches(warehouse.table, batch_size=1_000):
            break
        assert readers() == []
        assert sum(len(b) for b in c.iter_batches("SELECT id FROM users WHERE id <= 2500", 1_000))


class FakeConnector(Connector):
    """A partner whose stream is a Source, read ahead like the real ones."""

    partner = "fake"

    def __init__(self, source: Source):
        super().__init__({})
        self.source = source

    def iter_batches(self, source: str, batch_size: int = 10_000, **kwargs):
        with self.read_ahead(self.source()) as batches:
            for batch in batches:
                yield list(batch)


def test_connector_close_mid_stream_stops_it_and_is_a_connector_error(no_thread_errors):
    src = Source(100)
    c = FakeConnector(src)
    batches = c.iter_batches("t")
    next(batches)
    assert [t.name for t in readers()] == ["fake-read-ahead"]
    c.close()
    assert readers() == []
    assert src.closed_on == "fake-read-ahead"
    with pytest.raises(ConnectorError) as info:
        next(batches)
    assert info.value.kind == "network"
    assert len(src.produced) <= 2


def test_the_connector_forgets_streams_that_ended(no_thread_errors):
    """A long-lived connector streaming many times keeps no finished stream (nor its thread)."""
    c = FakeConnector(Source(3))
    for _ in range(3):
        assert len(list(c.iter_batches("t"))) == 3
    batches = c.iter_batches("t")
    next(batches)
    batches.close()
    assert c._streams == set()


@pytest.mark.postgres
def test_postgres_early_close_ends_the_streams_session(pg_streams, no_thread_errors):
    import psycopg

    from .conftest import PG_URL

    database = pg_streams.settings["database"]

    def sessions() -> int:
        with psycopg.connect(PG_URL, autocommit=True) as admin:
            query = (
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = %s AND application_name = 'import-center'"
            )
            return admin.execute(query, [database]).fetchone()[0]

    with pg_streams.connect() as c:
        batches = c.iter_batches(pg_streams.table, batch_size=1_000)
        next(batches)
        (stream_conn,) = c._stream_conns
        assert sessions() == 1
        batches.close()
        assert stream_conn.closed and not c._stream_conns
        wait_until(lambda: sessions() == 0)  # the server ended the stream's query and session


@pytest.mark.postgres
def test_postgres_connector_exit_closes_a_held_streams_connection(pg_streams, no_thread_errors):
    with pg_streams.connect() as c:
        batches = c.iter_batches(pg_streams.table, batch_size=1_000)
        next(batches)
        (stream_conn,) = c._stream_conns
    assert stream_conn.closed
    batches.close()  # closing the generator afterwards is harmless
