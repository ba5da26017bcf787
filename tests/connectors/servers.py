"""Local Snowflake and BigQuery servers for the connector tests and ``bench/connectors.py``.

Owns starting and stopping the two server subprocesses and seeding their ``users`` table, as plain
functions and context managers (no pytest), so the fixtures in conftest.py and the benchmark share
one way of doing it.

* Snowflake: fakesnow's server plus a password check (fakesnow_auth_server.py), run with this
  interpreter and driven by the real snowflake connector over HTTP.
* BigQuery: the bqemulator server from its own venv (`make install` creates it with
  scripts/bqemulator/setup.sh), driven by the real google-cloud-bigquery client with anonymous
  credentials.

``users`` has ``rows`` rows: id 1..rows, name ``user_<id>``, d (date: 2024-01-01 + id % 365 days),
ts (timestamp: 2024-01-01 00:00:00 + id seconds), amt (decimal: id / 100), f (float: id * 1.5),
b (boolean: id is even).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROWS = 100_000
REPO = Path(__file__).resolve().parents[2]
SF_PASSWORD = "s3cret-pw"
BQ_PROJECT = "test-proj"
BQ_DATASET = "ds"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check: Callable[[], bool], proc: subprocess.Popen, what: str, log: Path) -> None:
    """Poll ``check`` until it is true; fail with the server's log if it dies or takes > 60 s."""
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


# --- Snowflake (fakesnow) --------------------------------------------------------------------


def sf_seed_sql(rows: int = ROWS) -> str:
    return f"""
CREATE OR REPLACE TABLE users AS SELECT
    seq4() + 1 AS id,
    'user_' || (seq4() + 1) AS name,
    DATEADD(day, (seq4() + 1) % 365, '2024-01-01'::date) AS d,
    DATEADD(second, seq4() + 1, '2024-01-01 00:00:00'::timestamp_ntz) AS ts,
    ((seq4() + 1) / 100)::number(12, 2) AS amt,
    ((seq4() + 1) * 1.5)::float AS f,
    (seq4() + 1) % 2 = 0 AS b
FROM TABLE(GENERATOR(ROWCOUNT => {int(rows)}))
"""


@contextmanager
def snowflake_server(workdir: Path | None = None) -> Iterator[dict[str, Any]]:
    """A running fakesnow server; yields the connector's host/port/protocol settings.

    Its log goes to ``workdir`` (a fresh temporary folder, removed afterwards, when not given).
    """
    own = workdir is None
    folder = Path(tempfile.mkdtemp(prefix="fakesnow-")) if own else workdir
    port = free_port()
    log = folder / "server.log"
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
        if own:
            shutil.rmtree(folder, ignore_errors=True)


def seed_snowflake(server: dict[str, Any], rows: int = ROWS) -> dict[str, Any]:
    """Create ANALYTICS.PUBLIC.users with ``rows`` rows; return the connector's settings.

    The secret to go with them is ``{"password": SF_PASSWORD}``.
    """
    import snowflake.connector

    with snowflake.connector.connect(
        user="loader", password=SF_PASSWORD, account="fakesnow", **server
    ) as conn:
        cur = conn.cursor()
        cur.execute("CREATE DATABASE IF NOT EXISTS ANALYTICS")
        cur.execute("CREATE SCHEMA IF NOT EXISTS ANALYTICS.PUBLIC")
        cur.execute("USE SCHEMA ANALYTICS.PUBLIC")
        cur.execute(sf_seed_sql(rows))
    return {
        "account": "fakesnow",
        "user": "loader",
        "warehouse": "COMPUTE_WH",
        "database": "ANALYTICS",
        "schema": "PUBLIC",
        "role": "LOADER",
        **server,
    }


# --- BigQuery (bqemulator) -------------------------------------------------------------------


def bq_seed_sql(rows: int = ROWS) -> str:
    return f"""
CREATE OR REPLACE TABLE {BQ_DATASET}.users AS SELECT
    x AS id,
    CONCAT('user_', CAST(x AS STRING)) AS name,
    DATE_ADD(DATE '2024-01-01', INTERVAL MOD(x, 365) DAY) AS d,
    DATETIME_ADD(DATETIME '2024-01-01 00:00:00', INTERVAL x SECOND) AS ts,
    CAST(CAST(x AS NUMERIC) / 100 AS NUMERIC) AS amt,
    x * 1.5 AS f,
    MOD(x, 2) = 0 AS b
FROM UNNEST(GENERATE_ARRAY(1, {int(rows)})) AS x
"""


def bqemulator_venv() -> Path:
    """The emulator's venv, which `make install` builds (scripts/bqemulator/setup.sh); never
    built here, during a test run."""
    venv = Path(os.environ.get("BQEMU_VENV", REPO / "var" / "bqemu-venv"))
    if not (venv / ".ic-setup-ok").is_file() or not (venv / "bin" / "bqemulator").exists():
        raise RuntimeError(
            f"The BigQuery emulator's venv is missing ({venv}): run `make install` "
            "(or scripts/bqemulator/setup.sh) first."
        )
    return venv


@contextmanager
def bigquery_server(home: Path | None = None) -> Iterator[str]:
    """A running bqemulator; yields its REST endpoint (``http://127.0.0.1:<port>``).

    ``home`` (a fresh temporary folder when not given) is the server's HOME, holding its DuckDB
    extension and log; it is removed when the server stops.
    """
    venv = bqemulator_venv()
    home = Path(tempfile.mkdtemp(prefix="bqemu-home-")) if home is None else home
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


def bigquery_client(endpoint: str) -> Any:
    """A google-cloud-bigquery client for the emulator at ``endpoint`` (close it when done)."""
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import bigquery

    return bigquery.Client(
        project=BQ_PROJECT,
        credentials=AnonymousCredentials(),
        client_options=ClientOptions(api_endpoint=endpoint),
    )


def seed_bigquery(endpoint: str, rows: int = ROWS) -> dict[str, Any]:
    """Create ``ds.users`` with ``rows`` rows; return the connector's settings (no secret)."""
    client = bigquery_client(endpoint)
    try:
        client.create_dataset(BQ_DATASET, exists_ok=True)
        client.query(bq_seed_sql(rows)).result()
    finally:
        client.close()
    return {
        "project": BQ_PROJECT,
        "dataset": BQ_DATASET,
        "api_endpoint": endpoint,
        "emulator": True,
    }
