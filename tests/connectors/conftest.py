"""Local warehouses for the connector tests, one per partner, each seeded with ``users``.

``users`` has ROWS rows: id 1..ROWS, name ``user_<id>``, d (date: 2024-01-01 + id % 365 days),
ts (timestamp: 2024-01-01 00:00:00 + id seconds), amt (decimal: id / 100), f (float: id * 1.5),
b (boolean: id is even).

* DuckDB: a file in the test tmpdir.
* PostgreSQL: a throwaway database on 127.0.0.1:5432 (marked ``postgres``), dropped afterwards.
* Snowflake: fakesnow's server (plus a password check, see fakesnow_auth_server.py) as a
  subprocess, driven by the real snowflake connector over HTTP.
* BigQuery: the bqemulator server from its own venv (scripts/bqemulator/setup.sh creates it when
  missing), driven by the real google-cloud-bigquery client with anonymous credentials.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from connectors import get_connector

ROWS = 100_000
REPO = Path(__file__).resolve().parents[2]
PG_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
SF_PASSWORD = "s3cret-pw"


@dataclass
class Warehouse:
    """What the shared contract tests need to know about one partner's local warehouse."""

    partner: str
    settings: dict[str, Any]
    secret: dict[str, Any] | None
    table: str = "users"
    # A SELECT that fails while its result is being produced.
    failing_query: str = ""
    # Whether the failure above surfaces only after some batches (a true mid-stream failure).
    fails_after_first_batch: bool = False
    bad_auth: Callable[[], Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def connect(self):
        return get_connector(self.partner, self.settings, self.secret)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check: Callable[[], bool], proc: subprocess.Popen, what: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited early:\n{log.read_text()[-3000:]}")
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not become ready:\n{log.read_text()[-3000:]}")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# --- DuckDB ----------------------------------------------------------------------------------

DUCKDB_SEED = f"""
CREATE TABLE users AS SELECT
    range::BIGINT AS id,
    'user_' || range AS name,
    DATE '2024-01-01' + (range % 365)::INTEGER AS d,
    TIMESTAMP '2024-01-01' + to_seconds(range) AS ts,
    (range / 100)::DECIMAL(12, 2) AS amt,
    (range * 1.5)::DOUBLE AS f,
    range % 2 = 0 AS b
FROM range(1, {ROWS} + 1)
"""


@pytest.fixture(scope="session")
def duckdb_warehouse(tmp_path_factory) -> Warehouse:
    import duckdb

    folder = tmp_path_factory.mktemp("duckdb")
    path = folder / "warehouse.duckdb"
    with duckdb.connect(str(path)) as db:
        db.execute(DUCKDB_SEED)
        db.execute("COPY (SELECT * FROM users WHERE id <= 1000) TO ?", [str(folder / "u.parquet")])
        db.execute("COPY (SELECT * FROM users WHERE id <= 1000) TO ?", [str(folder / "u.csv")])
    return Warehouse(
        "duckdb",
        {"path": str(path)},
        None,
        # Large enough that DuckDB's result buffer fills before the failing rows are reached.
        failing_query=(
            "SELECT CASE WHEN range > 3000000 THEN error('boom') ELSE range END AS x "
            "FROM range(4000000)"
        ),
        fails_after_first_batch=True,
        extra={"folder": folder},
    )


# --- PostgreSQL ------------------------------------------------------------------------------

PG_SEED = f"""
CREATE TABLE users AS SELECT
    g::bigint AS id,
    'user_' || g AS name,
    (DATE '2024-01-01' + (g % 365))::date AS d,
    TIMESTAMP '2024-01-01' + g * INTERVAL '1 second' AS ts,
    (g / 100.0)::numeric(12, 2) AS amt,
    (g * 1.5)::double precision AS f,
    g % 2 = 0 AS b
FROM generate_series(1, {ROWS}) AS g
"""


@pytest.fixture(scope="session")
def postgres_warehouse() -> Iterator[Warehouse]:
    import psycopg

    name = f"ic_connectors_test_{secrets.token_hex(4)}"
    with psycopg.connect(PG_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        with psycopg.connect(PG_URL, dbname=name, autocommit=True) as conn:
            conn.execute(PG_SEED)
            conn.execute("ANALYZE users")
        info = psycopg.conninfo.conninfo_to_dict(PG_URL)
        settings = {
            "host": info.get("host", "127.0.0.1"),
            "port": int(info.get("port", 5432)),
            "database": name,
            "user": info.get("user", "postgres"),
            "sslmode": "disable",
        }
        yield Warehouse(
            "postgresql",
            settings,
            {"password": info.get("password") or "unused-with-trust-auth"},
            failing_query="SELECT id, 1 / (id - 50000) AS x FROM users",
            fails_after_first_batch=True,
        )
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- Snowflake (fakesnow) --------------------------------------------------------------------

SF_SEED = f"""
CREATE OR REPLACE TABLE users AS SELECT
    seq4() + 1 AS id,
    'user_' || (seq4() + 1) AS name,
    DATEADD(day, (seq4() + 1) % 365, '2024-01-01'::date) AS d,
    DATEADD(second, seq4() + 1, '2024-01-01 00:00:00'::timestamp_ntz) AS ts,
    ((seq4() + 1) / 100)::number(12, 2) AS amt,
    ((seq4() + 1) * 1.5)::float AS f,
    (seq4() + 1) % 2 = 0 AS b
FROM TABLE(GENERATOR(ROWCOUNT => {ROWS}))
"""


@pytest.fixture(scope="session")
def snowflake_server(tmp_path_factory) -> Iterator[dict[str, Any]]:
    port = free_port()
    log = tmp_path_factory.mktemp("fakesnow") / "server.log"
    script = Path(__file__).with_name("fakesnow_auth_server.py")
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, str(script), str(port), SF_PASSWORD], stdout=out, stderr=out
        )
    try:
        wait_for(
            lambda: socket.create_connection(("127.0.0.1", port), 1).close() is None,
            proc,
            "fakesnow",
            log,
        )
        yield {"host": "127.0.0.1", "port": port, "protocol": "http"}
    finally:
        stop(proc)


@pytest.fixture(scope="session")
def snowflake_warehouse(snowflake_server) -> Warehouse:
    import snowflake.connector

    settings = {
        "account": "fakesnow",
        "user": "loader",
        "warehouse": "COMPUTE_WH",
        "database": "ANALYTICS",
        "schema": "PUBLIC",
        "role": "LOADER",
        **snowflake_server,
    }
    with snowflake.connector.connect(
        user="loader", password=SF_PASSWORD, account="fakesnow", **snowflake_server
    ) as conn:
        cur = conn.cursor()
        cur.execute("CREATE DATABASE IF NOT EXISTS ANALYTICS")
        cur.execute("CREATE SCHEMA IF NOT EXISTS ANALYTICS.PUBLIC")
        cur.execute("USE SCHEMA ANALYTICS.PUBLIC")
        cur.execute(SF_SEED)
    return Warehouse(
        "snowflake",
        settings,
        {"password": SF_PASSWORD},
        failing_query=(
            "SELECT CASE WHEN id > 50000 THEN 'x' ELSE id::varchar END::int AS x FROM users"
        ),
        fails_after_first_batch=False,
    )


# --- BigQuery (bqemulator) -------------------------------------------------------------------

BQ_PROJECT = "test-proj"
BQ_SEED = f"""
CREATE OR REPLACE TABLE ds.users AS SELECT
    x AS id,
    CONCAT('user_', CAST(x AS STRING)) AS name,
    DATE_ADD(DATE '2024-01-01', INTERVAL MOD(x, 365) DAY) AS d,
    DATETIME_ADD(DATETIME '2024-01-01 00:00:00', INTERVAL x SECOND) AS ts,
    CAST(CAST(x AS NUMERIC) / 100 AS NUMERIC) AS amt,
    x * 1.5 AS f,
    MOD(x, 2) = 0 AS b
FROM UNNEST(GENERATE_ARRAY(1, {ROWS})) AS x
"""


def bqemulator_venv() -> Path:
    """The emulator's venv, created by scripts/bqemulator/setup.sh when missing."""
    venv = Path(os.environ.get("BQEMU_VENV", REPO / "var" / "bqemu-venv"))
    subprocess.run(
        ["bash", str(REPO / "scripts" / "bqemulator" / "setup.sh")],
        check=True,
        env={**os.environ, "BQEMU_VENV": str(venv)},
        stdout=subprocess.DEVNULL,
    )
    return venv


@pytest.fixture(scope="session")
def bigquery_server(tmp_path_factory) -> Iterator[str]:
    venv = bqemulator_venv()
    home = tmp_path_factory.mktemp("bqemu-home")
    env = {**os.environ, "HOME": str(home)}
    # The emulator INSTALLs DuckDB's spatial extension at start; with no route to DuckDB's
    # extension site, install it first from the PyPI wheel's bundled file into this HOME.
    install = (
        "import duckdb, pathlib, duckdb_extension_spatial as m; "
        "p = next(pathlib.Path(m.__file__).parent.glob('extensions/*/spatial.duckdb_extension')); "
        "duckdb.connect().execute(f\"INSTALL '{p}'\")"
    )
    subprocess.run([str(venv / "bin" / "python"), "-c", install], check=True, env=env)
    port = free_port()
    log = home / "bqemulator.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [
                str(venv / "bin" / "bqemulator"),
                "start",
                "--rest-port",
                str(port),
                "--grpc-port",
                "0",
                "--project",
                BQ_PROJECT,
                "--log-level",
                "warning",
            ],
            stdout=out,
            stderr=out,
            env=env,
        )
    endpoint = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        url = f"{endpoint}/bigquery/v2/projects/{BQ_PROJECT}/datasets"
        with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - local http
            return resp.status == 200

    try:
        wait_for(ready, proc, "bqemulator", log)
        yield endpoint
    finally:
        stop(proc)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def bigquery_warehouse(bigquery_server) -> Warehouse:
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    client = bigquery.Client(
        project=BQ_PROJECT,
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=bigquery_server),
    )
    client.create_dataset("ds", exists_ok=True)
    client.query(BQ_SEED).result()
    client.close()
    return Warehouse(
        "bigquery",
        {"project": BQ_PROJECT, "dataset": "ds", "api_endpoint": bigquery_server, "emulator": True},
        None,
        failing_query=(
            "SELECT CAST(IF(id > 50000, 'x', CAST(id AS STRING)) AS INT64) AS x FROM users"
        ),
        fails_after_first_batch=False,
    )


WAREHOUSES = {
    "duckdb": ("duckdb_warehouse", ()),
    "postgresql": ("postgres_warehouse", (pytest.mark.postgres,)),
    "snowflake": ("snowflake_warehouse", ()),
    "bigquery": ("bigquery_warehouse", (pytest.mark.slow,)),
}


@pytest.fixture(params=[pytest.param(name, marks=marks) for name, (_, marks) in WAREHOUSES.items()])
def warehouse(request) -> Warehouse:
    """Each partner's seeded warehouse in turn (the contract tests run against all four)."""
    return request.getfixturevalue(WAREHOUSES[request.param][0])
