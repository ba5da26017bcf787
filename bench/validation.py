"""Records per second of the validation engine on one core (a benchmark, not a test).

    python bench/validation.py [--records 50000] [--repeat 3]

Two reference rows, each made distinct per record (so no cache answers for free) with about 5%
bad values: a profile row (identity, Name, Email, Phone, Gender, DOB, three typed custom
properties, MSG-email, MSG-sms) and an event row (identity, event name, timestamp, four typed
properties). A third, "event-text", is an event row as text-only warehouses and CSV exports give
it, with about 6% bad values: the timestamp as `yyyy-MM-dd HH:mm:ss` text (distinct per record), a
Date column in `dd/MM/yyyy` with a few hundred distinct values, numbers and booleans as text. Prints the plain path (`validate_record`, the library calls on every Email and Phone)
beside the fast path (`validate_batch` in batches of 10,000, as the run engine calls it).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from validation import FieldMapping, MappingSpec, validate_batch, validate_record  # noqa: E402

PROFILE_SPEC = MappingSpec(
    sync_type="profile",
    identity_column="user_id",
    fields=[
        FieldMapping("full_name", "Name"),
        FieldMapping("email", "Email"),
        FieldMapping("phone", "Phone"),
        FieldMapping("gender", "Gender"),
        FieldMapping("dob", "DOB", "Date"),
        FieldMapping("orders", "orders", "Integer"),
        FieldMapping("ltv", "ltv", "Float"),
        FieldMapping("vip", "vip", "Boolean"),
        FieldMapping("email_ok", "MSG-email", "Boolean"),
        FieldMapping("sms_ok", "MSG-sms", "Boolean"),
    ],
)
EVENT_SPEC = MappingSpec(
    sync_type="event",
    identity_column="user_id",
    event_name_column="event",
    timestamp_column="created_on",
    fields=[
        FieldMapping("amount", "amount", "Float"),
        FieldMapping("quantity", "quantity", "Integer"),
        FieldMapping("coupon", "coupon", "String"),
        FieldMapping("first_order", "first_order", "Boolean"),
    ],
)

BAD = 0.05  # share of values that break a rule
TEXT_BAD = 0.06  # the same for event-text rows
DOMAINS = ["gmail.com", "Example.COM", "mail.co.uk", "yahoo.co.in", "company.io"]
PHONES = ["+91 98{:08d}", "+1 (415) 5{:06d}", "+44 7700 {:06d}", "+49-151-{:08d}", "+61.4{:08d}"]
EVENTS = ["Product Viewed", "Added To Cart", "Charged", "Signed Up", "Searched"]
TEXT_EVENT_SPEC = MappingSpec(
    sync_type="event",
    identity_column="user_id",
    event_name_column="event",
    timestamp_column="created_on",
    fields=[
        FieldMapping("delivery_date", "delivery_date", "Date"),
        FieldMapping("amount", "amount", "Float"),
        FieldMapping("quantity", "quantity", "Integer"),
        FieldMapping("coupon", "coupon", "String"),
        FieldMapping("first_order", "first_order", "Boolean"),
    ],
)


def profile_row(i: int, rnd: random.Random) -> dict[str, object]:
    bad = lambda: rnd.random() < BAD  # noqa: E731
    return {
        "user_id": "null" if bad() else f"user-{i}",
        "full_name": f"Customer {i}",
        "email": f"user{i}@@mail" if bad() else f"first.last{i}@{DOMAINS[i % 5]}",
        "phone": f"98765{i % 100000:05d}" if bad() else PHONES[i % 5].format(i % 10**6),
        "gender": "MF"[i % 2],
        "dob": "31/02/1990" if bad() else f"{1950 + i % 50}-{1 + i % 12:02d}-{1 + i % 28:02d}",
        "orders": "3.5" if bad() else str(i % 40),
        "ltv": "n/a" if bad() else f"{(i % 9000) / 7:.2f}",
        "vip": "yes" if bad() else ("true", "false", "1", "0")[i % 4],
        "email_ok": "maybe" if bad() else "true",
        "sms_ok": "2" if bad() else ("0", "1")[i % 2],
    }


def event_row(i: int, rnd: random.Random) -> dict[str, object]:
    bad = lambda: rnd.random() < BAD  # noqa: E731
    return {
        "user_id": "" if bad() else f"user-{i % 50000}",
        "event": "App Launched" if bad() else EVENTS[i % 5],
        "created_on": "2024-13-45" if bad() else 1_700_000_000 + i,
        "amount": "ten" if bad() else f"{(i % 5000) / 3:.2f}",
        "quantity": "1.5" if bad() else i % 10,
        "coupon": f"SAVE{i % 30}",
        "first_order": "yes" if bad() else i % 2,
    }


def text_event_row(i: int, rnd: random.Random) -> dict[str, object]:
    bad = lambda: rnd.random() < TEXT_BAD  # noqa: E731
    second = 1_700_000_000 + i * 7
    day = 1 + i % 400  # about 400 distinct delivery dates
    return {
        "user_id": "null" if bad() else f"user-{i % 50000}",
        "event": "Notification Sent" if bad() else EVENTS[i % 5],
        "created_on": "2024-02-30 25:00:00"
        if bad()
        else time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(second)),
        "delivery_date": "31/04/2024"
        if bad()
        else time.strftime("%d/%m/%Y", time.gmtime(1_700_000_000 + day * 86400)),
        "amount": "12,50" if bad() else f"{(i % 5000) / 3:.2f}",
        "quantity": "2.5" if bad() else str(i % 10),
        "coupon": f"SAVE{i % 30}",
        "first_order": "yes" if bad() else ("true", "false", "1", "0")[i % 4],
    }


def rate(validate, rows, repeat: int, size: int = 10_000) -> tuple[float, float]:
    """Records per second of CPU time over batches of `size` rows: (best, median) of every batch
    of every repeat. CPU time and the best of many short samples keep other work on a shared
    machine from dragging the figure down; the median shows how much it did."""
    times = []
    for _ in range(repeat):
        for start in range(0, len(rows), size):
            batch = rows[start : start + size]
            began = time.process_time()
            validate(batch)
            times.append((time.process_time() - began) / len(batch))
    return 1 / min(times), 1 / statistics.median(times)


def plain(spec):
    return lambda rows: [validate_record(row, spec) for row in rows]


def batched(spec):
    return lambda rows: validate_batch(rows, spec)


def calibration() -> float:
    """CPU seconds of `sum(range(10**6))`, best of 5: how fast this machine is right now, so
    figures from different runs or machines can be compared as ratios."""
    times = []
    for _ in range(5):
        began = time.process_time()
        sum(range(10**6))
        times.append(time.process_time() - began)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    print(f"calibration: sum(range(10**6)) takes {calibration() * 1000:.1f} ms of CPU")
    rnd = random.Random(7)
    for name, spec, make, target in (
        ("profile", PROFILE_SPEC, profile_row, 50_000),
        ("event", EVENT_SPEC, event_row, 150_000),
        ("event-text", TEXT_EVENT_SPEC, text_event_row, 150_000),
    ):
        rows = [make(i, rnd) for i in range(args.records)]
        validate_batch(rows[:2000], spec)  # warm the spec cache and the lazy phone metadata
        failed = sum(not out.ok for out in validate_batch(rows, spec))
        naive, naive_median = rate(
            plain(spec), rows[: max(1, args.records // 5)], args.repeat, 2000
        )
        fast, fast_median = rate(batched(spec), rows, args.repeat)
        print(
            f"{name:10} validate_batch {fast:>9,.0f} records/s (median {fast_median:,.0f})   "
            f"plain path {naive:>7,.0f} (median {naive_median:,.0f})   x{fast / naive:.1f}   "
            f"target {target:,} {'met' if fast >= target else 'NOT MET'}   "
            f"{failed / len(rows):.0%} of rows fail"
        )


if __name__ == "__main__":
    main()
