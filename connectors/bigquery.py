"""Google BigQuery through ``google-cloud-bigquery``.

Settings: ``project``, ``dataset``; secret: ``service_account_json`` (the key file's JSON text or
the parsed object; checked to be a service-account key with the expected fields).

Advanced/testing options: ``api_endpoint`` (a different REST endpoint, e.g. a local emulator),
``emulator: true`` (anonymous credentials, no key needed; only together with ``api_endpoint``),
``location`` and ``retry_timeout`` seconds (default 60) for retried API calls.

A table source is ``table``, ``dataset.table`` or ``project.dataset.table``; unqualified names in
a SELECT resolve against the configured dataset. Results are read page by page
(``result(page_size=batch_size)``), so memory stays flat, one page ahead on a read-ahead thread
(``connectors.base.ReadAhead``; the client is safe to share across threads).
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
from collections.abc import Callable, Generator, Iterator
from typing import Any

from dateutil.relativedelta import relativedelta
from google.api_core import exceptions as gexc
from google.api_core.client_options import ClientOptions
from google.auth import exceptions as authexc
from google.cloud import bigquery
from google.cloud.bigquery.retry import DEFAULT_RETRY
from requests import RequestException

from connectors.base import (
    Column,
    Connector,
    ConnectorError,
    Dialect,
    TableRef,
    row_builder,
)

SCOPES = ["https://www.googleapis.com/auth/bigquery"]
_KEY_FIELDS = ("type", "project_id", "private_key", "client_email", "token_uri")
# Query parameter type for the incremental column, by the column's BigQuery type.
_PARAM_TYPES = {
    "INTEGER": "INT64",
    "INT64": "INT64",
    "FLOAT": "FLOAT64",
    "FLOAT64": "FLOAT64",
    "NUMERIC": "NUMERIC",
    "BIGNUMERIC": "BIGNUMERIC",
    "BOOLEAN": "BOOL",
    "BOOL": "BOOL",
    "STRING": "STRING",
    "DATE": "DATE",
    "DATETIME": "DATETIME",
    "TIMESTAMP": "TIMESTAMP",
}
_EXOTIC = {"RECORD", "STRUCT", "TIME", "BYTES", "JSON", "GEOGRAPHY", "INTERVAL", "RANGE"}


def _interval_text(value: relativedelta) -> str:
    """BigQuery's canonical interval text, ``[-]Y-M D [-]H:M:S[.F]``, from the relativedelta
    the client parses it into (which carries 24 hours into a day: the same length of time)."""
    months = value.years * 12 + value.months
    micros = ((value.hours * 60 + value.minutes) * 60 + value.seconds) * 10**6
    micros += value.microseconds
    years, months_left = divmod(abs(months), 12)
    seconds, fraction = divmod(abs(micros), 10**6)
    minutes, second = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    text = (
        f"{'-' if months < 0 else ''}{years}-{months_left} {value.days} "
        f"{'-' if micros < 0 else ''}{hour}:{minute}:{second}"
    )
    return f"{text}.{fraction:06d}".rstrip("0") if fraction else text


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, relativedelta):
        return _interval_text(value)
    return str(value)


def _to_plain(value: Any) -> Any:
    """Exotic BigQuery values in a form the run engine takes: times, intervals and containers
    (arrays, structs, JSON, ranges) as readable text. Bytes stay bytes: validation gives them
    as hexadecimal text, as for every partner, and fails them as numbers."""
    if value is None or isinstance(value, str | int | float | bool | decimal.Decimal | bytes):
        return value
    if isinstance(value, dt.time):
        return value.isoformat()
    if isinstance(value, relativedelta):
        return _interval_text(value)
    if isinstance(value, dict | list):
        return json.dumps(value, default=_json_default)
    return value if isinstance(value, dt.date) else str(value)


class BigQueryConnector(Connector):
    partner = "bigquery"
    label = "BigQuery"
    required_settings = ("project", "dataset")
    error_kinds = (
        (
            (authexc.RefreshError, gexc.Unauthorized),
            "auth",
            "Google rejected the service account key. Check that the key has not been "
            "deleted or rotated and that the service account is enabled.",
        ),
        (authexc.GoogleAuthError, "auth", None),
        (gexc.NotFound, "not_found", None),
        (
            gexc.Forbidden,
            "permission",
            "The service account lacks permission. Grant it BigQuery Job User on the project "
            "and Data Viewer on the dataset.",
        ),
        (
            (gexc.ServerError, gexc.RetryError, ConnectionError, OSError, RequestException),
            "network",
            None,
        ),
    )
    dialect = Dialect(
        "bigquery",
        ident_quote="`",
        backslash_escapes=True,
        hash_comments=True,
        double_quoted_strings=True,
        bare_part=r"[A-Za-z0-9_][A-Za-z0-9_\-]*",
    )
    # The client sends the query text as written and BigQuery binds @ic_since server-side. The
    # name is one no user's SQL would hold: the emulator the tests use even replaces a bound
    # name inside string literals ('@since').
    param = "@ic_since"

    def __init__(self, settings: dict[str, Any], secret: dict[str, Any] | None = None):
        super().__init__(settings, secret)
        self.project: str = self.settings["project"]
        self.dataset: str = self.settings["dataset"]
        self._emulator = bool(self.settings.get("emulator"))
        if self._emulator and not self.settings.get("api_endpoint"):
            raise ConnectorError("config", "The emulator option needs an api_endpoint.")
        self._key = None if self._emulator else self._parse_key()
        # The raw key text must never reach a message; scrub its parts too.
        if self._key:
            self._secret_values += [str(self._key.get("private_key", ""))]
        self._client: bigquery.Client | None = None
        self._retry = DEFAULT_RETRY.with_timeout(float(self.settings.get("retry_timeout") or 60))

    def _parse_key(self) -> dict[str, Any]:
        raw = self.secret.get("service_account_json")
        if not raw:
            raise ConnectorError("config", "Paste the service account's JSON key.")
        try:
            info = json.loads(raw) if isinstance(raw, str) else dict(raw)
        except (ValueError, TypeError):
            raise ConnectorError(
                "config", "The service account key is not valid JSON. Paste the whole key file."
            ) from None
        if not isinstance(info, dict):
            raise ConnectorError("config", "The service account key must be a JSON object.")
        missing = [k for k in _KEY_FIELDS if not info.get(k)]
        if missing:
            raise ConnectorError(
                "config",
                f"The service account key lacks {', '.join(missing)}. Download a new JSON key "
                "for the service account and paste it whole.",
            )
        if info["type"] != "service_account":
            raise ConnectorError(
                "config", 'The key must be a service account key ("type": "service_account").'
            )
        return info

    def _connect(self) -> bigquery.Client:
        if self._client is not None:
            return self._client
        options = None
        if self.settings.get("api_endpoint"):
            options = ClientOptions(api_endpoint=self.settings["api_endpoint"])
        if self._emulator:
            from google.auth.credentials import AnonymousCredentials

            credentials: Any = AnonymousCredentials()
        else:
            from google.oauth2 import service_account

            try:
                credentials = service_account.Credentials.from_service_account_info(
                    self._key, scopes=SCOPES
                )
            except (ValueError, TypeError, authexc.GoogleAuthError) as exc:
                raise ConnectorError(
                    "config",
                    "The service account's private key could not be read. Download a new JSON "
                    "key and paste it whole.",
                    detail=type(exc).__name__,  # the library's text may quote the key
                ) from None
        self._client = bigquery.Client(
            project=self.project,
            credentials=credentials,
            client_options=options,
            location=self.settings.get("location") or None,
        )
        return self._client

    def _release(self) -> None:
        if self._client is not None:
            try:
                self._client.close()
            finally:
                self._client = None

    # SQL ------------------------------------------------------------------------------------
    def table_sql(self, ref: TableRef) -> str:
        parts = [name for name, _ in ref.parts]
        if len(parts) == 1:
            parts = [self.project, self.dataset, *parts]
        elif len(parts) == 2:
            parts = [self.project, *parts]
        return "`" + ".".join(parts) + "`"

    def _job_config(self, params: list | None = None) -> bigquery.QueryJobConfig:
        return bigquery.QueryJobConfig(
            default_dataset=f"{self.project}.{self.dataset}",
            query_parameters=params or [],
            use_legacy_sql=False,
        )

    def _query(self, sql: str, params: list | None = None, page_size: int | None = None) -> Any:
        """Run ``sql`` and return its RowIterator (rows are fetched page by page)."""
        client = self._connect()
        try:
            job = client.query(sql, job_config=self._job_config(params), retry=self._retry)
            return job.result(page_size=page_size, retry=self._retry)
        except Exception as exc:  # noqa: BLE001 - every client failure becomes a ConnectorError
            raise self._map_error(exc) from None

    @staticmethod
    def _describe(rows: Any) -> list[Column]:
        return [
            Column(f.name, f"ARRAY<{f.field_type}>" if f.mode == "REPEATED" else f.field_type)
            for f in rows.schema
        ]

    def since_params(self, column: Column, since: Any) -> list:
        kind = _PARAM_TYPES.get(column.type.upper(), "STRING")
        return [bigquery.ScalarQueryParameter("ic_since", kind, since)]

    def _shaper(self, cols: list[Column]):
        build = row_builder([c.name for c in cols])
        odd = [i for i, c in enumerate(cols) if c.type.upper() in _EXOTIC or "ARRAY" in c.type]
        if not odd:
            return build

        def shape(tuples: list[tuple]) -> list[dict[str, Any]]:
            fixed = []
            for t in tuples:
                t = list(t)
                for i in odd:
                    t[i] = _to_plain(t[i])
                fixed.append(t)
            return build(fixed)

        return shape

    @staticmethod
    def _values(rows: list) -> list[tuple]:
        # Row.values() deep-copies every row; the tuple it copies is the same data.
        if rows and hasattr(rows[0], "_xxx_values"):
            return [r._xxx_values for r in rows]
        return [tuple(r.values()) for r in rows]

    # Interface ------------------------------------------------------------------------------
    def test_connection(self) -> None:
        client = self._connect()
        try:
            client.get_dataset(f"{self.project}.{self.dataset}", retry=self._retry)
        except gexc.NotFound as exc:
            raise self.error(
                "not_found",
                f'The dataset "{self.project}.{self.dataset}" was not found. Check the project '
                "and dataset names.",
                exc,
            ) from None
        except Exception as exc:  # noqa: BLE001
            raise self._map_error(exc) from None
        list(self._query("SELECT 1"))

    def columns(self, source: str) -> list[Column]:
        return self._describe(self._query(self.select_sql(source, limit=0)))

    def preview(self, source: str, limit: int = 20) -> tuple[list[Column], list[dict[str, Any]]]:
        rows = self._query(self.select_sql(source, limit=max(0, int(limit))))
        cols = self._describe(rows)
        try:
            return cols, self._shaper(cols)(self._values(list(rows)))
        except Exception as exc:  # noqa: BLE001
            raise self._map_error(exc) from None

    def _count(self, sql: str, params: list) -> int:
        try:
            return int(next(iter(self._query(sql, params)))[0])
        except ConnectorError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise self._map_error(exc) from None

    def _stream(self, sql: str, params: list, batch_size: int) -> Iterator[list[dict[str, Any]]]:
        # Pages are fetched one ahead on their own thread: the next page's HTTP round trip
        # overlaps the shaping of this one here and whatever the caller does with it.
        with self.read_ahead(self._fetch(sql, params, batch_size)) as pages:
            for shape, page in pages:
                try:
                    batch = shape(self._values(page))
                except Exception as exc:  # noqa: BLE001
                    raise self._map_error(exc) from None
                if batch:
                    yield batch

    def _fetch(
        self, sql: str, params: list | None, batch_size: int
    ) -> Generator[tuple[Callable[[list[tuple]], list[dict[str, Any]]], list], None, None]:
        """The stream's client half, run on the read-ahead thread: the query job, then each
        page's Row objects with the function that shapes their values into dicts."""
        rows = self._query(sql, params, page_size=batch_size)
        shape = self._shaper(self._describe(rows))
        try:
            for page in rows.pages:
                yield shape, list(page)
        except Exception as exc:  # noqa: BLE001 - every client failure becomes a ConnectorError
            raise self._map_error(exc) from None
