"""Imports and runs as the API shows them: plain dicts in the shapes of `api.schemas`, built
from the same model properties and Stats helpers the pages use (health, trigger label,
duration, schedule wording), so a figure reads the same in the browser and in the API."""

from __future__ import annotations

from django.urls import reverse

from imports.models import Import, ImportRun
from imports.templatetags.imports_tags import describe_schedule
from stats import queries
from validation.errors import ERROR_REFERENCE
from validation.health import Health

API_ROOT = "/api/v1/"


def health_out(health: Health) -> dict:
    return {"band": health.band, "label": health.label, "percent": health.percent}


def import_url(code) -> str:
    return f"{API_ROOT}imports/{code}"


def run_url(code) -> str:
    return f"{API_ROOT}runs/{code}"


def _username(user) -> str | None:
    return user.get_username() if user is not None else None


# What a list item reads of an import, as `values_list()` lookups and the attribute each
# lands in on an ImportItem.
ITEM_COLUMNS = {
    **{name: name for name in ("id", "code", "nickname", "status", "sync_type")},
    **{name: name for name in ("next_run_at", "last_run_at", "created_at", "updated_at")},
    **{name: name for name in ("schedule_kind", "interval_every", "interval_unit")},
    **{name: name for name in ("custom_mode", "custom_days", "custom_time")},
    **{name: name for name in ("schedule_timezone", "manual_run_at")},
    **{name: name for name in ("health_band", "health_hundredths")},
    "current_run__code": "current_run_code",
    "datasource__code": "datasource_code",
    "datasource__name": "datasource_name",
    "datasource__partner": "partner",
    "created_by__username": "created_by_name",
    "updated_by__username": "updated_by_name",
}


class ImportItem:
    """An import as a list item reads it: plain values in one query, no model instances (an
    import, its datasource, two users and two runs per row were most of a page's CPU time).

    `health` is Import's own property: with `health_run` None it reads the denormalised band
    and figure, which the engine writes from the health run in the same statement."""

    __slots__ = tuple(ITEM_COLUMNS.values())
    HealthBand = Import.HealthBand
    health_run = None
    health = Import.health

    def __init__(self, values: tuple) -> None:
        for name, value in zip(self.__slots__, values, strict=True):
            setattr(self, name, value)


ITEMS = Import.objects.order_by().values_list(*ITEM_COLUMNS)


def import_items(pks: list) -> list[ImportItem]:
    """The imports of `pks` as list items, in that order (one query)."""
    rows = {values[0]: ImportItem(values) for values in ITEMS.filter(pk__in=pks)}
    return [rows[pk] for pk in pks if pk in rows]


def import_out(imp: ImportItem, web_base: str | None = None) -> dict:
    """An import as a list item. `web_base` is the import pages' URL up to the code (one
    reverse() per page, not per item)."""
    if web_base is None:
        web_base = web_url_base()
    return {
        "code": imp.code,
        "nickname": imp.nickname,
        "status": imp.status,
        "partner": imp.partner,
        "sync_type": imp.sync_type,
        "health": health_out(imp.health),
        "frequency": describe_schedule(imp),
        "datasource": {"code": imp.datasource_code, "name": imp.datasource_name},
        "last_run_at": imp.last_run_at,
        "next_run_at": imp.next_run_at,
        "current_run": imp.current_run_code,
        "created_at": imp.created_at,
        "created_by": imp.created_by_name,
        "updated_at": imp.updated_at,
        "updated_by": imp.updated_by_name,
        "url": import_url(imp.code),
        "web_url": f"{web_base}{imp.code}/",
    }


_PLACEHOLDER = "00000000-0000-0000-0000-000000000000"


def web_url_base() -> str:
    return reverse("stats-overview", args=[_PLACEHOLDER]).rsplit(_PLACEHOLDER, 1)[0]


def import_detail_out(imp: Import) -> dict:
    current = imp.current_run if imp.current_run_id else None
    return {
        **import_out(import_items([imp.pk])[0]),
        "source_kind": imp.source_kind,
        "source": imp.source,
        "schedule": {
            "kind": imp.schedule_kind,
            "description": describe_schedule(imp),
            "interval_every": imp.interval_every,
            "interval_unit": imp.interval_unit,
            "custom_mode": imp.custom_mode,
            "custom_days": [int(day) for day in imp.custom_days or []],
            "custom_time": imp.custom_time.isoformat() if imp.custom_time else None,
            "timezone": imp.schedule_timezone,
            "manual_run_at": imp.manual_run_at,
            "next_run_at": imp.next_run_at,
        },
        "mapping": {
            "identity_column": imp.identity_column,
            "identity_kind": imp.identity_kind,
            "event_name_column": imp.event_name_column,
            "timestamp_column": imp.timestamp_column,
            "incremental_column": imp.incremental_column,
            "fields": imp.mapping_rows(),
        },
        "health_run": run_out(imp.health_run, imp) if imp.health_run_id else None,
        "current_run_detail": run_out(current, imp) if current else None,
        "last_run": run_out(imp.last_run, imp) if imp.last_run_id else None,
        "runs_url": f"{import_url(imp.code)}/runs",
        "stats_csv_url": f"{import_url(imp.code)}/stats.csv",
    }


def run_out(run: ImportRun, imp: Import) -> dict:
    """A run as a Stats row: reads `triggered_by` (select it with the run)."""
    span = queries.duration(run)
    return {
        "code": run.code,
        "import_code": imp.code,
        "state": run.state,
        "trigger": run.trigger,
        "triggered_by": _username(run.triggered_by) if run.triggered_by_id else None,
        "trigger_label": queries.trigger_label(run),
        "created_at": run.created_at,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "duration_seconds": span.total_seconds() if span is not None else None,
        "health": health_out(run.health),
        "total": run.total,
        "successful": run.successful,
        "failed": run.failed,
        "already_imported": run.already_imported,
        "expected_total": run.expected_total,
        "partial": run.partial,
        "error": run.error,
        "error_kind": run.error_kind,
        "url": run_url(run.code),
        "web_url": reverse("stats-run-detail", args=[imp.code, run.code]),
    }


def error_counts_out(run: ImportRun) -> list[dict]:
    """The run's error summary, in the pane's order (identity errors first)."""
    rows = []
    for row in queries.error_summary(run):
        info = ERROR_REFERENCE.get(row.code)
        rows.append(
            {
                "field": row.field,
                "code": row.code,
                "message": info.message if info else row.code,
                "resolution": info.resolution if info else "",
                "count": row.count,
            }
        )
    return rows


def _result(record) -> str:
    if not record.success:
        return "failed"
    return "already_imported" if record.already_imported else "success"


def record_out(record, with_event: bool) -> dict:
    return {
        "row_number": record.row_number,
        "result": _result(record),
        "identity": record.identity,
        "event_name": record.event_name if with_event else None,
        "errors": [
            {
                "field": err.get("field", ""),
                "code": err.get("code", ""),
                "message": err.get("message", ""),
                "value": err.get("value"),
                "value_cut": bool(err.get("cut")),
                "value_kept": "value" in err,
            }
            for err in record.errors or []
        ],
    }
