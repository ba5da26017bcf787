"""When an import runs next. (Minimal version; the run-engine issue completes it.)"""

from __future__ import annotations

from datetime import datetime, timedelta

from imports.models import Import

_UNIT_SECONDS = {"minutes": 60, "hours": 3600, "days": 86400, "weeks": 604800}


def next_run_after(imp: Import, now: datetime) -> datetime | None:
    if imp.schedule_kind == Import.ScheduleKind.INTERVAL and imp.interval_every:
        return now + timedelta(seconds=imp.interval_every * _UNIT_SECONDS[imp.interval_unit])
    if imp.schedule_kind == Import.ScheduleKind.MANUAL:
        return imp.manual_run_at if imp.manual_run_at and imp.manual_run_at > now else None
    return None
