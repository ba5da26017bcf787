"""The embedded (filesystem) broker: a message is in the queue whole or not at all."""

from __future__ import annotations

import os

from kombu import Connection

from importcenter import broker

TRANSPORT = "importcenter.broker:Transport"


def _connection(folder) -> Connection:
    """A connection to a broker in `folder`. Each test uses a queue name of its own: kombu
    remembers the exchanges it declared for the whole process, not per folder."""
    (folder / "control").mkdir(exist_ok=True)
    options = {
        "data_folder_in": str(folder),
        "data_folder_out": str(folder),
        "control_folder": str(folder / "control"),  # kombu's default is ./control
    }
    return Connection("filesystem://", transport=TRANSPORT, transport_options=options)


def test_a_message_being_written_is_not_in_the_queue_yet(tmp_path, monkeypatch):
    # Kombu's own transport creates `<n>_<id>.<queue>.msg` and then writes it: a worker polling
    # in between took an empty file, lost the message and stopped (JSONDecodeError).
    seen_while_writing = []
    write = broker.str_to_bytes

    def watching(text):
        seen_while_writing.append(sorted(os.listdir(tmp_path)))
        return write(text)

    monkeypatch.setattr(broker, "str_to_bytes", watching)
    with _connection(tmp_path) as conn:
        queue = conn.SimpleQueue("jobs")
        queue.put({"n": 1})
        assert len(seen_while_writing) == 1
        assert not [name for name in seen_while_writing[0] if name.endswith(".jobs.msg")]
        assert [name for name in os.listdir(tmp_path) if name.endswith(".jobs.msg")]
        message = queue.get(timeout=1)
        assert message.payload == {"n": 1}
        message.ack()
        queue.close()


def test_every_message_arrives_once_and_nothing_is_left_behind(tmp_path):
    with _connection(tmp_path) as conn:
        queue = conn.SimpleQueue("tasks")
        for n in range(5):
            queue.put({"n": n})
        assert queue.qsize() == 5
        got = []
        for _ in range(5):
            message = queue.get(timeout=1)
            got.append(message.payload["n"])
            message.ack()
        # In kombu's order: by the millisecond of sending (within one, any order).
        assert sorted(got) == [0, 1, 2, 3, 4]
        queue.close()
    assert [name for name in os.listdir(tmp_path) if "tasks" in name] == []
