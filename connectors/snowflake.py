"""Snowflake through ``snowflake-connector-python``.

Settings: ``account``, ``user``, ``warehouse``, ``database``, ``schema``, ``role``; secret:
``password`` or ``private_key`` (PEM text, optionally with ``private_key_passphrase``) for key-pair
authentication.

Advanced/testing options: ``host``, ``port`` and ``protocol`` override where the connector
connects (the test suite points them at a local fakesnow server); ``login_timeout`` and
``network_timeout`` in seconds.

Parameters are bound server-side (qmark style); results stream through the connector's result
chunks with ``fetchmany``, so memory stays flat.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import snowflake.connector
from snowflake.connector import DictCursor
from snowflake.connector import errors as sferrors
from snowflake.connector.constants import FIELD_ID_TO_NAME

from connectors.base import (
    Column,
    Connector,
    ConnectorError,
    Dialect,
    row_builder,
)

# Snowflake error numbers (see the connector's errorcode module and Snowflake's docs).
_AUTH_ERRNOS = {390100, 390101, 390102, 390144, 394304}  # login failures
_NOT_FOUND_ERRNOS = {2003, 2043, 390201, 390189}  # object / database / warehouse missing
_PERMISSION_ERRNOS = {3001, 3041, 390186}
_NETWORK_ERRNOS = {250001, 250003, 251012, 251006, 253002}


class SnowflakeConnector(Connector):
    partner = "snowflake"
    label = "Snowflake"
    required_settings = ("account", "user")
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

    def _cursor(self, sql: str, params: list | None = None, as_dicts: bool = False) -> Any:
        conn = self._connect()
        cur = conn.cursor(DictCursor) if as_dicts else conn.cursor()
        try:
            cur.execute(sql, params or None)
        except sferrors.Error as exc:
            cur.close()
            raise self._map_error(exc) from None
        return cur

    @staticmethod
    def _describe(cur: Any) -> list[Column]:
        cols = []
        for d in cur.description or ():
            name = FIELD_ID_TO_NAME.get(d.type_code, str(d.type_code))
            if name == "FIXED":
                name = f"NUMBER({d.precision},{d.scale})"
            cols.append(Column(d.name, name))
        return cols

    # Interface ------------------------------------------------------------------------------
    def test_connection(self) -> None:
        cur = self._cursor("SELECT 1")
        cur.fetchall()
        cur.close()

    def columns(self, source: str) -> list[Column]:
        cur = self._cursor(self.select_sql(source, limit=0))
        try:
            return self._describe(cur)
        finally:
            cur.close()

    def preview(self, source: str, limit: int = 20) -> tuple[list[Column], list[dict[str, Any]]]:
        cur = self._cursor(self.select_sql(source, limit=max(0, int(limit))))
        try:
            cols = self._describe(cur)
            return cols, row_builder([c.name for c in cols])(cur.fetchall())
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
        # A DictCursor's rows are dicts keyed by column name, made in the connector's C++
        # result iterator as it converts each row: cheaper than building them from tuples.
        # No read-ahead thread (see ReadAhead): the connector already downloads result chunks
        # on its own prefetch threads, and the conversion left here holds the GIL.
        cur = self._cursor(sql, params, as_dicts=True)
        try:
            while rows := cur.fetchmany(batch_size):
                yield rows
        except sferrors.Error as exc:
            raise self._map_error(exc) from None
        finally:
            cur.close()
