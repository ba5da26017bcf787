"""The embedded (filesystem) Celery broker, with messages that appear whole.

Kombu's filesystem transport creates a message's file, then writes it. A worker polling the
folder in between takes the file as it is (it reads without the writer's lock), removes it and
fails to decode it: the message is lost and the worker stops ("Unrecoverable error:
JSONDecodeError"). On a busy machine the sender is often descheduled between the two steps.
Here a message is written under a name the readers skip, then renamed into the queue: a rename
within a folder is atomic, so a reader sees the whole message or none of it.
"""

from __future__ import annotations

import os
import uuid
from time import monotonic

from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps


class Channel(filesystem.Channel):
    def _put(self, queue, payload, **kwargs):
        """Put `payload` onto `queue`: named as kombu names it, so ordering is unchanged."""
        name = f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        # Not "<anything>.<queue>.msg": `_get`, `_size` and `_purge` pass over it.
        partial = os.path.join(self.data_folder_out, f"partial-{uuid.uuid4()}")
        try:
            with open(partial, "wb") as f:
                f.write(str_to_bytes(dumps(payload)))
            os.replace(partial, os.path.join(self.data_folder_out, name))
        except OSError as exc:
            raise filesystem.ChannelError(f"Cannot add file {name!r} to directory") from exc


class Transport(filesystem.Transport):
    Channel = Channel
