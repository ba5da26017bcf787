"""Reading timestamps that Python cannot represent, so one stored value never breaks a page.

PostgreSQL's `timestamptz` reaches year 294276 (and `infinity`); Python's `datetime` stops at
9999-12-31. A value past that (an import's "run once at" saved as 9999-12-31 23:00 New York
time is 10000-01-01 04:00 UTC) made psycopg raise on every query that read the row: the
listing, the overview, Stats, the wizard, the admin all answered 500. Such a value now loads
as `FAR_FUTURE` (and one before year 1 as `FAR_PAST`): a time every time zone can still show,
which `imports.scheduling` reports as out of range and which forms refuse to save again.
"""

from __future__ import annotations

from datetime import UTC, datetime

from psycopg import DataError
from psycopg.types.datetime import TimestamptzLoader

# Two days inside Python's range, so converting to any time zone (offsets stay under 26 hours)
# cannot overflow again.
FAR_FUTURE = datetime(9999, 12, 30, tzinfo=UTC)
FAR_PAST = datetime(1, 1, 3, tzinfo=UTC)


def _clamped(data) -> datetime | None:
    """FAR_FUTURE / FAR_PAST for a timestamp out of Python's range, None for any other text."""
    text = bytes(data).decode("utf-8", "replace").strip()
    if text == "-infinity" or text.endswith("BC"):
        return FAR_PAST
    year = text.split("-", 1)[0]
    if text == "infinity" or (year.isdigit() and len(year) > 4):
        return FAR_FUTURE
    return None


def clamping_tz_loader(tz):
    """A `timestamptz` loader in zone `tz` (as Django's own) that clamps out-of-range values."""

    class ClampingTzLoader(TimestamptzLoader):
        # Django compares this attribute with the connection's zone before each cursor.
        timezone = tz

        def load(self, data):
            try:
                value = super().load(data)
            except DataError:
                value = _clamped(data)
                if value is None:
                    raise
            return value.replace(tzinfo=self.timezone)

    return ClampingTzLoader


def register_clamping_loader(sender, connection, **kwargs) -> None:
    """`connection_created` receiver: PostgreSQL (psycopg 3) connections read timestamps safely."""
    if connection.vendor != "postgresql":
        return
    raw = connection.connection
    if not hasattr(raw, "adapters"):  # psycopg2 has no per-connection loaders
        return
    raw.adapters.register_loader("timestamptz", clamping_tz_loader(connection.timezone))
