"""Snowflake through ``snowflake-connector-python``.

Settings: ``account``, ``user``, ``warehouse``, ``database``, ``schema``, ``role``; secret:
``password`` or ``private_key`` (PEM text, optionally with ``private_key_passphrase``) for key-pair
authentication.

Advanced/testing options: ``host``, ``port`` and ``protocol`` override where the connector
connects (the test suite points them at a local fakesnow server); ``login_timeout`` and
``network_timeout`` in seconds.

Parameters are bound server-side (qmark style); results stream through the connector's result
chunks with ``fetchmany``, so memory stays flat. Dates and timestamps are read as ISO text and
parsed here (see ``_AS_TEXT``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, datetime
from typing import Any

import snowflake.connector
from snowflake.connector import errors as sferrors
from snowflake.connector.constants import FIELD_ID_TO_NAME

from connectors.base import (
    Column,
    Connector,
    ConnectorError,
    Dialect,
    parsing_row_builder,
)

# Snowflake error numbers (see the connector's errorcode module and Snowflake's docs).
_AUTH_ERRNOS = {390100, 390101, 390102, 390144, 394304}  # login failures
_NOT_FOUND_ERRNOS = {2003, 2043, 390201, 390189}  # object / database / warehouse missing
_PERMISSION_ERRNOS = {3001, 3041, 390186}
_NETWORK_ERRNOS = {250001, 250003, 251012, 251006, 253002}

# Snowflake holds dates Python cannot (year 0, years BC, past 9999), and the connector fails the
# whole read on one ("252005: Failed to convert current row"). So these types are read as ISO
# text, in a format written out so that no session setting changes it, and parsed by the C
# fromisoformat in ``parsing_row_builder``: what does not parse stays text and fails its record.
_TIMESTAMP = "TO_VARCHAR({}, 'YYYY-MM-DD HH24:MI:SS.FF9')"
_TIMESTAMP_OFFSET = "TO_VARCHAR({}, 'YYYY-MM-DD HH24:MI:SS.FF9TZH:TZM')"
_AS_TEXT: dict[str, tuple[str, Callable[[str], Any]]] = {
    "DATE": ("TO_VARCHAR({}, 'YYYY-MM-DD')", date.fromisoformat),
    "TIMESTAMP": (_TIMESTAMP, datetime.fromisoformat),
    "TIMESTAMP_NTZ": (_TIMESTAMP, datetime.fromisoformat),
    "TIMESTAMP_LTZ": (_TIMESTAMP_OFFSET, datetime.fromisoformat),
    "TIMESTAMP_TZ": (_TIMESTAMP_OFFSET, datetime.fromisoformat),
}


def _dates_as_text(
    cols: list[Column],
) -> tuple[dict[int, str], Callable[[list[tuple]], list[dict[str, Any]]]]:
    """The casts (by column position) that read ``cols``' dates and timestamps as text, and the
    function turning the rows into dicts with that text parsed; other values pass as they are."""
    texts = {i: _AS_TEXT[c.type] for i, c in enumerate(cols) if c.type in _AS_TEXT}
    return {i: cast for i, (cast, _) in texts.items()}, parsing_row_builder(
        [c.name for c in cols], {i: parse for i, (_, parse) in texts.items()}
    )


class SnowflakeConnector(Connector):
    partner = "snowflake"
    label = "Snowflake"
    required_settings = ("account", "user")
    driver_error = sferrors.Error
    dialect = Dialect("snowflake", backslash_escapes=True, dollar_quotes=True, fold="upper")
    param = "?"

    def __init__(self, settings: dict[str, Any], secret: dict[str, Any] | None = None):
        super().__init__(settings, secret)
        if not (self.secret.get("password") or self.secret.get("private_key")):
            raise ConnectorError("config", "Give the Snowflake user's password or private key.")
        self._conn: snowflake.connector.SnowflakeConnection | None = None

    def _key_bytes(self) -> bytes:
        """The private key as DER, which is what the connector takes."""
        from cryptography.hazmat.primitives import serialization

        pem = str(self.secret["private_key"]).strip().encode()
        passphrase = self.secret.get("private_key_passphrase")
        try:
            key = serialization.load_pem_private_key(
                pem, password=passphrase.encode() if passphrase else None
            )
        except (ValueError, TypeError) as exc:
            # The library's message never contains the key itself.
            raise ConnectorError(
                "config",
                "The private key could not be read. Paste the whole PEM key (-----BEGIN PRIVATE "
                "KEY-----) and its passphrase if it has one.",
                detail=f"{type(exc).__name__}: {exc}",
            ) from None
        return key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def _connect(self) -> snowflake.connector.SnowflakeConnection:
        if self._conn is not None and not self._conn.is_closed():
            return self._conn
        s = self.settings
        kwargs: dict[str, Any] = {
            "account": s["account"],
            "user": s["user"],
            "paramstyle": "qmark",
            "application": "ImportCenter",
            "login_timeout": int(s.get("login_timeout") or 30),
            "network_timeout": int(s.get("network_timeout") or 300),
            "client_session_keep_alive": False,
            "ocsp_fail_open": True,
        }
        for key in ("warehouse", "database", "schema", "role", "host", "protocol"):
            if s.get(key):
                kwargs[key] = s[key]
        if s.get("port"):
            kwargs["port"] = int(s["port"])
        if self.secret.get("private_key"):
            kwargs["private_key"] = self._key_bytes()
        else:
            kwargs["password"] = self.secret["password"]
        try:
            self._conn = snowflake.connector.connect(**kwargs)
        except sferrors.Error as exc:
            raise self._map_error(exc, connecting=True) from None
        return self._conn

    def _release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except sferrors.Error:
                pass
            finally:
                self._conn = None

    def _map_error(self, exc: BaseException, connecting: bool = False) -> ConnectorError:
        if isinstance(exc, ConnectorError):
            return exc
        errno = getattr(exc, "errno", None)
        text = str(exc).lower()
        if (
            errno in _AUTH_ERRNOS
            or "incorrect username or password" in text
            or ("jwt" in text and "invalid" in text)
        ):
            return self.error("auth", exc=exc)
        if errno in _NETWORK_ERRNOS or isinstance(exc, sferrors.OperationalError) and connecting:
            return self.error("network", exc=exc)
        if errno in _PERMISSION_ERRNOS or "insufficient privileges" in text:
            return self.error("permission", exc=exc)
        if errno in _NOT_FOUND_ERRNOS or "does not exist" in text:
            return self.error("not_found", exc=exc)
        if connecting:
            return self.error("network", exc=exc)
        return self.error("query", exc=exc)

    def _cursor(self, sql: str, params: list | None = None, *, describe: bool = False) -> Any:
        """A cursor that has run ``sql``, or with ``describe`` only described it (the
        warehouse compiles it and answers its columns without running it)."""
        cur = self._connect().cursor()
        try:
            (cur.describe if describe else cur.execute)(sql, params or None)
        except sferrors.Error as exc:
            cur.close()
            raise self._map_error(exc) from None
        return cur

    def _describe(self, sql: str, params: list | None = None) -> list[Column]:
        cur = self._cursor(sql, params, describe=True)
        try:
            description = cur.description or ()
        finally:
            cur.close()
        cols = []
        for d in description:
            name = FIELD_ID_TO_NAME.get(d.type_code, str(d.type_code))
            if name == "FIXED":
                name = f"NUMBER({d.precision},{d.scale})"
            cols.append(Column(d.name, name))
        return cols

    def _read(
        self, sql: str, params: list | None = None
    ) -> tuple[list[Column], Any, Callable[[list[tuple]], list[dict[str, Any]]]]:
        """``sql``'s columns, a cursor running it with dates and timestamps as text, and the
        function turning its row tuples into dicts with those parsed."""
        cols = self._describe(sql, params)
        casts, build = _dates_as_text(cols)
        return cols, self._cursor(self.cast_columns(sql, cols, casts), params), build

    # Interface ------------------------------------------------------------------------------
    def test_connection(self) -> None:
        cur = self._cursor("SELECT 1")
        cur.fetchall()
        cur.close()

    def columns(self, source: str) -> list[Column]:
        return self._describe(self.select_sql(source))

    def preview(self, source: str, limit: int = 20) -> tuple[list[Column], list[dict[str, Any]]]:
        cols, cur, build = self._read(self.select_sql(source, limit=max(0, int(limit))))
        try:
            return cols, build(cur.fetchall())
        except sferrors.Error as exc:
            raise self._map_error(exc) from None
        finally:
            cur.close()

    def _count(self, sql: str, params: list) -> int:
        cur = self._cursor(sql, params)
        try:
            return int(cur.fetchone()[0])
        finally:
            cur.close()

    def _stream(self, sql: str, params: list, batch_size: int) -> Iterator[list[dict[str, Any]]]:
        # Tuples made dicts here, dates parsed from text: per CPU second 1.3x the raw
        # fetchmany on bench/connectors.py, where a DictCursor with the connector's own date
        # conversion (a Python call per timestamp) made 0.7-0.9x. No read-ahead thread (see
        # ReadAhead): the connector downloads result chunks on its own prefetch threads.
        _, cur, build = self._read(sql, params)
        yield from self.fetch_batches(cur, build, batch_size)
