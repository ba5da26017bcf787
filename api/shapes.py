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


def import_out(imp: Import) -> dict:
    """An import as a list item. Reads `datasource`, `created_by`, `updated_by` and
    `health_run` (select them with the import) and the code of its current run."""
    return {
        "code": imp.code,
        "nickname": imp.nickname,
        "status": imp.status,
        "partner": imp.datasource.partner,
        "sync_type": imp.sync_type,
        "health": health_out(imp.health),
        "frequency": describe_schedule(imp),
        "datasource": {"code": imp.datasource.code, "name": imp.datasource.name},
        "last_run_at": imp.last_run_at,
        "next_run_at": imp.next_run_at,
        "current_run": imp.current_run.code if imp.current_run_id else None,
        "created_at": imp.created_at,
        "created_by": _username(imp.created_by),
        "updated_at": imp.updated_at,
        "updated_by": _username(imp.updated_by),
        "url": import_url(imp.code),
        "web_url": reverse("stats-overview", args=[imp.code]),
    }


def import_detail_out(imp: Import) -> dict:
    current = imp.current_run if imp.current_run_id else None
    return {
        **import_out(imp),
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


def record_out(record, with_event: bool) -> dict:
    return {
        "row_number": record.row_number,
        "result": "success" if record.success else "failed",
        "identity": record.identity,
        "event_name": record.event_name if with_event else None,
        "errors": [
            {
                "field": err.get("field", ""),
                "code": err.get("code", ""),
                "message": err.get("message", ""),
                "value": err.get("value"),
            }
            for err in record.errors or []
        ],
    }
