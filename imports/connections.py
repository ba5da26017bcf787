"""Opening a datasource's connector, with the limits the application sets on local files.

The one home of the rule for which files a DuckDB datasource may open: the datasource form
(on save and on Test connection), the setup pages' warehouse calls and the run engine all go
through here, so a path saved before ``DUCKDB_ALLOWED_ROOTS`` changed is refused when it is
next opened. The rule itself is ``connectors.duckdb.check_path``, which stays Django-free.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from django.conf import settings

if TYPE_CHECKING:
    from connectors import Connector
    from imports.models import Datasource


def forbidden_roots() -> list[str]:
    """Where the application keeps its own secrets, queue and store: never readable by a
    datasource, even when an allowed root contains it (the default root, ``var/``, does)."""
    places = [str(settings.VAR_DIR / "secrets"), str(settings.VAR_DIR / "broker")]
    # The embedded SQLite store (and its journal files) holds every import's records.
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        places += [f"{db['NAME']}{suffix}" for suffix in ("", "-wal", "-shm", "-journal")]
    # importcenter.env reads any setting from the file named by ``<NAME>_FILE``.
    places += [value for name, value in os.environ.items() if name.endswith("_FILE") and value]
    return places


def file_limits() -> dict[str, Any]:
    """The connector settings bounding a DuckDB datasource's files."""
    return {
        "allowed_roots": list(settings.DUCKDB_ALLOWED_ROOTS),
        "forbidden_roots": forbidden_roots(),
    }


def check_duckdb_path(path: str) -> None:
    """Raise ConnectorError when a DuckDB datasource may not use ``path``."""
    from connectors.duckdb import check_path

    check_path(path, **file_limits())


def connector_for(ds: Datasource, partner: str | None = None) -> Connector:
    """The connector of ``ds`` (as ``partner``, when a run's snapshot names one)."""
    from connectors import get_connector

    partner = partner or ds.partner
    conn_settings = dict(ds.settings or {})
    if partner == "duckdb":
        # Always ours, whatever the stored settings hold.
        conn_settings.update(file_limits())
    return get_connector(partner, conn_settings, ds.get_secret())
