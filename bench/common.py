"""What every bench script needs: its own PostgreSQL database, and the machine's speed and load
printed beside its figures (machines differ by 3x, and are shared: compare runs as ratios)."""

from __future__ import annotations

import os
import time


def ensure_database(url: str) -> None:
    """Create the database `url` names when it does not exist (a bench never shares one)."""
    import psycopg
    from psycopg import sql

    name = url.rsplit("/", 1)[1].split("?")[0]
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def calibration_ms() -> float:
    """A fixed pure-Python workload, `sum(range(10**6))`, best of five: ~10-15 ms on an idle
    modern core. A busy machine slows it and the figures beside it alike."""
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        sum(range(10**6))
        best = min(best, (time.perf_counter() - started) * 1000)
    return best


def load_average() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def calibration() -> str:
    """The line a bench prints before (and after) its figures."""
    return (
        f"calibration: sum(range(10**6)) takes {calibration_ms():.1f} ms; "
        f"load average {load_average()}"
    )


def django_for_pages(script: str) -> bool:
    """Set Django up on the PostgreSQL database of DATABASE_URL (created if missing, migrated)
    to time pages through the test client; False, after saying why, when it is not PostgreSQL.

    No setup_test_environment(): its template instrumentation copies the context on every
    render and include, a cost a real server never pays."""
    url = os.environ["DATABASE_URL"]
    if not url.startswith("postgres"):
        print(f"{script} measures PostgreSQL; set DATABASE_URL=postgres://...")
        return False
    ensure_database(url)

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    settings.ALLOWED_HOSTS = ["testserver"]
    settings.DEBUG = False
    call_command("migrate", verbosity=0)
    return True
