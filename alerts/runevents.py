"""Run-lifecycle webhooks: `run.started`, `run.completed`, `run.failed`, `run.stopped` and
`run.skipped`, with the run's figures, to the webhook channels that subscribe to them
(`Channel.run_events`, `Channel.run_event_imports`).

They travel exactly as alerts do: `alerts.delivery.queue` records one delivery per channel and
sends it, signed (Standard Webhooks) and retried with backoff, on the `alerts` queue. Nothing
here runs inside a run's transaction: the receivers of `imports.signals` are called after it
committed, only record the deliveries, and swallow their own errors, so a run is never slowed
down or failed by a webhook (a broker that is down only delays the delivery until the sweep).
Each event of a run reaches a channel once (a unique constraint on the delivery), however often
the engine's signal is sent.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from django.db import IntegrityError, transaction
from django.urls import reverse

from alerts import conditions, delivery
from alerts.channels import channels_for, sync_environment_channels
from alerts.evaluate import site_url
from alerts.models import Channel, Delivery, ImportAlerts
from imports.models import Import, ImportRun
from stats.queries import duration, duration_label

log = logging.getLogger(__name__)

EVENTS = ("started", "completed", "failed", "stopped", "skipped")
TITLES = {
    "started": "Run started",
    "completed": "Run completed",
    "failed": "Run failed",
    "stopped": "Run stopped",
    "skipped": "Run skipped",
}


# --- Who receives an event -------------------------------------------------------------------


def subscribers(run: ImportRun, event: str) -> list[Channel]:
    """The enabled webhook channels that want `event` of `run`'s import, in a stable order.
    One query when no channel subscribes (the common case), two or three otherwise."""
    sync_environment_channels()
    levels = [level for level, events in Channel.RUN_EVENT_STATES.items() if event in events]
    candidates = list(
        Channel.objects.filter(
            enabled=True, kind=Channel.Kind.WEBHOOK, run_events__in=levels
        ).order_by("pk")
    )
    scoped = [c for c in candidates if c.run_event_imports == Channel.RunEventImports.ALERTING]
    if scoped:
        # The import's alert channels: its own choice, or the default channels.
        alerts = ImportAlerts.objects.filter(import_obj_id=run.import_obj_id).first()
        alerting = {c.pk for c in channels_for(alerts)}
        candidates = [c for c in candidates if c not in scoped or c.pk in alerting]
    return candidates


# --- The payload -----------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


def _figures(run: ImportRun) -> str:
    parts = [
        f"{run.total:,} record{'' if run.total == 1 else 's'}",
        f"{run.successful:,} successful",
        f"{run.failed:,} failed",
    ]
    if run.already_imported:
        parts.append(f"{run.already_imported:,} already imported")
    return ", ".join(parts)


def summary(run: ImportRun, event: str) -> str:
    """One line in figures, as the alert summaries read: "run 10 Nov 15:00 completed in
    4 min 05 s: 10,000 records, 9,990 successful, 10 failed; health 99.90% (Yellow)"."""
    when = f"run {conditions.run_time(run.created_at)}"
    if event == "started":
        return f"{when} started ({run.get_trigger_display().lower()} trigger)"
    if event == "failed":
        return f"{when} failed: {run.error or 'no reason recorded'}"
    if event == "skipped":
        return f"{when} skipped: {run.error or 'a run was in progress'}"
    took = duration_label(duration(run))
    if event == "stopped":
        return f"{when} was stopped after {took}, partial figures: {_figures(run)}"
    health = run.health
    return f"{when} completed in {took}: {_figures(run)}; health {health.label}" + (
        f" ({health.band.capitalize()})" if health.hundredths is not None else ""
    )


def run_event_data(run: ImportRun, imp: Import, event: str) -> dict:
    """The `data` of a run event's payload (README "Run-lifecycle webhooks" documents it)."""
    health = run.health
    span = duration(run)
    web_url = site_url(reverse("stats-run-detail", args=[imp.code, run.code]))
    return {
        "event": event,
        "title": f"{TITLES[event]} — {imp.nickname}",
        "summary": summary(run, event),
        "url": web_url,
        "import": {
            "code": str(imp.code),
            "nickname": imp.nickname,
            "url": site_url(reverse("stats-overview", args=[imp.code])),
            "api_url": site_url(reverse("api-v1:import", kwargs={"code": imp.code})),
        },
        "run": {
            "code": str(run.code),
            "state": run.state,
            "trigger": run.trigger,
            "created_at": _iso(run.created_at),
            "started_at": _iso(run.started_at),
            "finished_at": _iso(run.finished_at),
            "duration_seconds": span.total_seconds() if span is not None else None,
            "total": run.total,
            "successful": run.successful,
            "failed": run.failed,
            "already_imported": run.already_imported,
            "expected_total": run.expected_total,
            "partial": run.partial,
            "health": health.label if health.band != "none" else None,
            "health_band": health.band if health.band != "none" else None,
            "health_percent": health.percent,
            "error": run.error or None,
            "error_kind": run.error_kind or None,
            "url": web_url,
            "api_url": site_url(reverse("api-v1:run", kwargs={"code": run.code})),
        },
    }


# --- Sending ---------------------------------------------------------------------------------


def emit(run: ImportRun, event: str) -> list[Delivery]:
    """Queue `run.<event>` to every subscribed channel that did not get it yet; returns the
    deliveries made."""
    channels = subscribers(run, event)
    if not channels:
        return []
    imp = Import.objects.only("code", "nickname").get(pk=run.import_obj_id)
    payload = delivery.envelope(f"run.{event}", run_event_data(run, imp, event))
    made = []
    with transaction.atomic():
        for channel in channels:
            try:
                with transaction.atomic():
                    made.append(delivery.queue(channel, payload, run=run))
            except IntegrityError:
                log.info("run %s: run.%s already queued to %s", run.pk, event, channel.name)
    return made


def _emit_quietly(run: ImportRun, event: str) -> None:
    try:
        emit(run, event)
    except Exception:  # the store, a bug: the run has committed and must not notice
        log.exception("could not queue the run.%s webhooks of run %s", event, run.pk)


def on_run_started(sender, run: ImportRun, **kwargs) -> None:
    """`imports.signals.run_started` receiver (after commit)."""
    _emit_quietly(run, "started")


def on_run_ended(sender, run: ImportRun, **kwargs) -> None:
    """`imports.signals.run_ended` receiver (after commit): completed, failed, stopped or
    skipped."""
    if run.state in EVENTS:
        _emit_quietly(run, run.state)
