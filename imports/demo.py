"""The demo warehouse: a DuckDB file of user profiles and events with realistic dirty data.

Every kind of bad value in the reference's Error Reference appears in it, at a share that
varies by day (`day` = days ago, 0 = today) so that a 30-day history shows true trends:
a quiet baseline, a bad patch mid-month (a "schema change" upstream), and a recovery.
The generator is deterministic (seeded), so the demo and the tests see the same rows.
"""

from __future__ import annotations

import csv
import random
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from imports.models import Datasource, Import

PROFILE_ROWS = 20_000
EVENT_ROWS = 100_000
DAYS = 30

FIRST_NAMES = ["Asha", "Ben", "Chloé", "Dev", "Elif", "Farah", "Gustavo", "Hana", "Ivan", "Jun"]
LAST_NAMES = ["Patel", "Smith", "García", "Kowalski", "Nguyen", "Okafor", "Rossi", "Sato"]
DOMAINS = ["example.com", "mail.example.org", "corp.example.net", "shop.example.co.uk"]
PHONE_PREFIXES = ["+91 98", "+1 415", "+44 7700", "+49 151", "+55 11 9"]
EVENTS = ["Product Viewed", "Added To Cart", "Charged", "Search", "Wishlist Added", "Signed Up"]

# The bad values a real warehouse holds, keyed by the rule they break.
BAD_IDENTITIES = ["", "null", "NULL", " N/A ", "undefined", "0", "None", "x" * 1025]
BAD_NUMBERS = ["thirty", "12,5", "N/A", "1.2.3", "NaN"]
BAD_BOOLEANS = ["yes", "Y", "maybe", "2", "opt-in"]
BAD_DATES = ["31/02/2024", "2024-13-01", "tomorrow", "00/00/0000"]
BAD_EMAILS = ["john.doe@", "jane@localhost", "bob at example.com", "a@b", "x@example.test"]
BAD_PHONES = ["9876543210", "+999 1234567", "+91 123", "+1 (415) 555-01234567890", "n/a"]
BAD_EVENT_NAMES = ["Added to cart!", "Checkout.Started", "Promo 50%", "Viewed: Home", "A&B Test"]
SYSTEM_EVENTS = ["App Launched", "app installed", " Notification Viewed ", "UTM Visited"]
BAD_TIMESTAMPS = ["yesterday", "2024-02-30 10:00:00", "171234567890", "32/01/2024"]


def dirty_share(day: int) -> float:
    """Share of rows with a defect on `day` days ago: ~4% normally, worse mid-month."""
    if 12 <= day <= 14:
        return 0.35  # an upstream schema change broke a column for three days
    if day == 20:
        return 0.65  # a bad backfill
    return 0.04


def _day_time(rng: random.Random, now: datetime, day: int) -> datetime:
    return now - timedelta(days=day, seconds=rng.randrange(0, 86_400))


def _profile_rows(rng: random.Random, now: datetime):
    for i in range(PROFILE_ROWS):
        day = i % DAYS
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        row = {
            "user_id": f"user-{i + 1:06d}",
            "full_name": f"{first} {last}",
            "email": f"{first.lower()}.{last.lower()}{i}@{rng.choice(DOMAINS)}",
            "phone": f"{rng.choice(PHONE_PREFIXES)} {rng.randrange(1_000_000, 9_999_999)}",
            "gender": rng.choice(["M", "F", "O"]),
            "dob": f"{rng.randrange(1950, 2006)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}",
            "age": str(rng.randrange(18, 80)),
            "vip": rng.choice(["true", "false", "1", "0"]),
            "signup_date": f"{rng.randrange(1, 29)}/{rng.randrange(1, 13):02d}/2024",
            "ltv": f"{rng.uniform(0, 5000):.2f}",
            "msg_email": rng.choice(["true", "false"]),
            "msg_sms": rng.choice(["1", "0"]),
            "updated_at": _day_time(rng, now, day).isoformat(),
            "day": day,
        }
        if rng.random() < dirty_share(day):
            column, values = rng.choice(
                [
                    ("user_id", BAD_IDENTITIES),
                    ("email", BAD_EMAILS),
                    ("phone", BAD_PHONES),
                    ("age", BAD_NUMBERS),
                    ("vip", BAD_BOOLEANS),
                    ("signup_date", BAD_DATES),
                    ("msg_sms", BAD_BOOLEANS),
                ]
            )
            row[column] = rng.choice(values)
        yield row


def _event_rows(rng: random.Random, now: datetime):
    for i in range(EVENT_ROWS):
        day = i % DAYS
        at = _day_time(rng, now, day)
        style = i % 4
        # Warehouses mix timestamp styles; every one of these is supported.
        timestamp = [
            str(int(at.timestamp())),
            str(int(at.timestamp() * 1000)),
            at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            at.strftime("%d/%m/%Y %H:%M:%S"),
        ][style]
        row = {
            "user_id": f"user-{rng.randrange(1, PROFILE_ROWS + 1):06d}",
            "event_name": rng.choice(EVENTS),
            "event_time": timestamp,
            "amount": f"{rng.uniform(1, 500):.2f}",
            "currency": rng.choice(["INR", "USD", "EUR", "GBP"]),
            "item_count": str(rng.randrange(1, 6)),
            "is_first_purchase": rng.choice(["true", "false"]),
            "updated_at": at.isoformat(),
            "day": day,
        }
        if rng.random() < dirty_share(day):
            column, values = rng.choice(
                [
                    ("user_id", BAD_IDENTITIES),
                    ("event_name", BAD_EVENT_NAMES),
                    ("event_name", SYSTEM_EVENTS),
                    ("event_name", ["", "   "]),
                    ("event_time", BAD_TIMESTAMPS),
                    ("amount", BAD_NUMBERS),
                    ("is_first_purchase", BAD_BOOLEANS),
                ]
            )
            row[column] = rng.choice(values)
        yield row


PROFILE_COLUMNS = {
    "user_id": "VARCHAR",
    "full_name": "VARCHAR",
    "email": "VARCHAR",
    "phone": "VARCHAR",
    "gender": "VARCHAR",
    "dob": "VARCHAR",
    "age": "VARCHAR",
    "vip": "VARCHAR",
    "signup_date": "VARCHAR",
    "ltv": "VARCHAR",
    "msg_email": "VARCHAR",
    "msg_sms": "VARCHAR",
    "updated_at": "TIMESTAMPTZ",
    "day": "INTEGER",
}
EVENT_COLUMNS = {
    "user_id": "VARCHAR",
    "event_name": "VARCHAR",
    "event_time": "VARCHAR",
    "amount": "VARCHAR",
    "currency": "VARCHAR",
    "item_count": "VARCHAR",
    "is_first_purchase": "VARCHAR",
    "updated_at": "TIMESTAMPTZ",
    "day": "INTEGER",
}


def _load(con, table: str, columns: dict[str, str], rows, workdir: Path) -> None:
    path = workdir / f"{table}.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(columns))
        writer.writeheader()
        writer.writerows(rows)
    column_sql = ", ".join(f"'{name}': '{kind}'" for name, kind in columns.items())
    # Identifiers and the path are ours, not user input; DuckDB cannot bind these as parameters.
    con.execute(
        f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM read_csv(?, header=true, "  # noqa: S608
        f"columns={{{column_sql}}}, quote='\"', escape='\"', nullstr='\\N')",
        [str(path)],
    )


def build_demo_warehouse(path: Path, now: datetime | None = None, seed: int = 20261128) -> bool:
    """Write the demo warehouse to `path` unless it is already complete. Returns True if built."""
    import duckdb

    if path.exists() and _is_complete(path):
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = path.with_suffix(".building.duckdb")
    tmp_path.unlink(missing_ok=True)
    now = now or datetime.now(UTC)
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as workdir, duckdb.connect(str(tmp_path)) as con:
        _load(con, "profiles", PROFILE_COLUMNS, _profile_rows(rng, now), Path(workdir))
        _load(con, "events", EVENT_COLUMNS, _event_rows(rng, now), Path(workdir))
    # Readers never see a half-written warehouse.
    tmp_path.replace(path)
    return True


def _is_complete(path: Path) -> bool:
    import duckdb

    try:
        with duckdb.connect(str(path), read_only=True) as con:
            profiles = con.execute("SELECT count(*) FROM profiles").fetchone()[0]
            events = con.execute("SELECT count(*) FROM events").fetchone()[0]
    except duckdb.Error:
        return False
    return profiles == PROFILE_ROWS and events == EVENT_ROWS


# --- Run history: real runs of the demo imports, placed in the past ---------------------------


def seed_run_history(datasource: Datasource, days: int) -> int:
    """Execute real runs of the published demo imports, one per day for the last `days` days,
    each reading that day's rows of the demo warehouse (its `day` column: days ago), with the
    run's timestamps placed on that day. Idempotent: a day that already has a run is skipped."""
    from django.utils import timezone

    from imports.models import Import, ImportRun

    now = timezone.now()
    done = 0
    published = Import.objects.filter(datasource=datasource).exclude(status=Import.Status.DRAFT)
    for imp in published.order_by("pk"):
        for day in range(days, 0, -1):
            at = (now - timedelta(days=day)).replace(minute=0, second=0, microsecond=0)
            if imp.runs.filter(created_at__date=at.date()).exists():
                continue
            run = _history_run(imp, day, at)
            done += 1
            finished = at + (run.finished_at - run.started_at if run.finished_at else timedelta())
            ImportRun.objects.filter(pk=run.pk).update(
                started_at=at, heartbeat_at=finished, finished_at=finished
            )
    return done


def _history_run(imp: Import, day: int, at):
    from imports import pipeline, runs
    from imports.models import Import, ImportRun

    status, current = imp.status, imp.current_run_id
    if current:
        return ImportRun.objects.get(pk=current)
    # Not enqueued: executed here, not by a worker.
    run = runs.trigger_run(imp, ImportRun.Trigger.SCHEDULE, now=at, enqueue=lambda run_id: None)
    snap = dict(run.spec_snapshot)
    source = snap["source"].strip().rstrip(";")
    inner = source if snap["source_kind"] == Import.SourceKind.QUERY else f"SELECT * FROM {source}"  # noqa: S608
    snap["source"] = f"SELECT * FROM ({inner}) AS s WHERE day = {int(day)}"  # noqa: S608
    snap["source_kind"] = Import.SourceKind.QUERY
    ImportRun.objects.filter(pk=run.pk).update(spec_snapshot=snap)
    pipeline.execute_run(run.pk)
    # The user's status (stopped, paused) is theirs; the history run must not change it.
    Import.objects.filter(pk=imp.pk).update(status=status)
    run.refresh_from_db()
    return run
