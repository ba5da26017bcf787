"""Warehouse connectors: one module per partner behind one small streaming interface.

    from connectors import get_connector, ConnectorError, Column
    with get_connector("postgresql", settings, secret) as c:
        c.test_connection()
        for batch in c.iter_batches("public.users", batch_size=10_000):
            ...

Partners and their settings are documented in each module (``connectors.snowflake``,
``connectors.bigquery``, ``connectors.postgresql``, ``connectors.duckdb``). Nothing here imports
Django or ``validation``: the Datasource model hands over plain settings and the decrypted secret.
Drivers are imported only when their partner is used.
"""

from __future__ import annotations

import importlib
from typing import Any

from connectors.base import Column, Connector, ConnectorError

__all__ = ["PARTNERS", "Column", "Connector", "ConnectorError", "get_connector"]

# partner key -> (module, class)
PARTNERS: dict[str, tuple[str, str]] = {
    "snowflake": ("connectors.snowflake", "SnowflakeConnector"),
    "bigquery": ("connectors.bigquery", "BigQueryConnector"),
    "postgresql": ("connectors.postgresql", "PostgresConnector"),
    "duckdb": ("connectors.duckdb", "DuckDBConnector"),
}


def get_connector(
    partner: str, settings: dict[str, Any], secret: dict[str, Any] | None = None
) -> Connector:
    """A connector for ``partner``. Raises ConnectorError(kind="config") for an unknown partner
    or settings that cannot work; nothing is sent to the warehouse until a method is called."""
    try:
        module_name, class_name = PARTNERS[partner]
    except (KeyError, TypeError):
        raise ConnectorError(
            "config", f"Unknown partner {partner!r}; expected one of {', '.join(PARTNERS)}."
        ) from None
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(settings or {}, secret)
