"""`/metrics` in Prometheus' text format, behind a bearer token (`METRICS_TOKEN`; without it
the path answers 404).

Every value is read from the database at scrape time, so the figures are the same whichever
web process answers and however many workers on however many machines ran the runs; no
multiprocess directory to share, nothing lost when a process restarts:

- gauges (runs in progress, queued runs, imports by status, rows per second of each import's
  last run) are counted from the runs and imports tables;
- counters (runs by import and final state, records by result, errors by code, reaped runs,
  run duration histogram, webhook deliveries) are stored in `MetricCounter` and grow by one
  upsert when a run ends (`imports.signals.run_ended`). Counting them from runs at scrape
  time would make them go down when the retention purge deletes old runs, which Prometheus
  reads as a counter reset: `rate()` would show a spike after every purge.
"""

from __future__ import annotations

import hmac
from collections import Counter, defaultdict

from django.conf import settings
from django.db import connection
from django.db.models import Count, F, FloatField, Func, Sum
from django.db.models.functions import Coalesce, Now
from django.http import Http404, HttpRequest, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)

from api.models import MetricCounter
from imports.models import Import, ImportRun, RunErrorCount

State = ImportRun.State
# Run durations, in seconds: from a tiny table to a six-hour backfill.
DURATION_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600)
# Reaped runs: failed by the reaper because their worker went silent or never took them.
REAPED_KIND = "worker"


# --- Counting (when a run ends) -------------------------------------------------------------


def label_key(labels: dict[str, str]) -> str:
    return ",".join(f"{k}={labels[k]}" for k in sorted(labels))


def parse_labels(key: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in key.split(",")) if key else {}


def add_to_counters(increments: list[tuple[str, dict[str, str], float]], import_code=None):
    """Add each (name, labels, amount) to its stored counter, creating it at 0 first: one
    INSERT … ON CONFLICT DO UPDATE (PostgreSQL and SQLite both have it), atomic per row, so
    workers ending runs at once never lose an increment."""
    if not increments:
        return
    field = MetricCounter._meta.get_field("import_code")
    code = field.get_db_prep_value(import_code, connection)
    table = connection.ops.quote_name(MetricCounter._meta.db_table)
    rows = ", ".join(["(%s, %s, %s, %s)"] * len(increments))
    params: list = []
    for name, labels, amount in increments:
        params += [name, label_key(labels), code, float(amount)]
    # Only the table name is put into the text, from the model's own meta; values are params.
    sql = (
        f"INSERT INTO {table} (name, labels, import_code, value) VALUES {rows} "  # noqa: S608
        f"ON CONFLICT (name, labels) DO UPDATE SET value = {table}.value + excluded.value"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def run_increments(run: ImportRun, import_code) -> list[tuple[str, dict[str, str], float]]:
    """What one ended run adds to the counters."""
    increments = [("runs", {"import_code": str(import_code), "state": run.state}, 1)]
    if run.successful:
        increments.append(("records", {"result": "success"}, run.successful))
    if run.failed:
        increments.append(("records", {"result": "failed"}, run.failed))
        errors = RunErrorCount.objects.filter(run_id=run.pk).values_list("code")
        for error_code, count in errors.annotate(n=Sum("count")).order_by():
            increments.append(("record_errors", {"code": error_code}, count))
    if run.state == State.FAILED and run.error_kind == REAPED_KIND:
        increments.append(("runs_reaped", {}, 1))
    if run.started_at and run.finished_at:
        seconds = max(0.0, (run.finished_at - run.started_at).total_seconds())
        for bound in DURATION_BUCKETS:
            if seconds <= bound:
                increments.append(("run_duration_bucket", {"le": str(float(bound))}, 1))
        increments.append(("run_duration_bucket", {"le": "+Inf"}, 1))
        increments.append(("run_duration_sum", {}, seconds))
        increments.append(("run_duration_count", {}, 1))
    return increments


def count_ended_run(sender, run: ImportRun, **kwargs) -> None:
    """`run_ended` receiver (sent once per run, after commit)."""
    code = Import.objects.filter(pk=run.import_obj_id).values_list("code", flat=True).first()
    if code is None:
        return  # the import was deleted meanwhile: its series are gone with it
    add_to_counters(run_increments(run, code), import_code=code)


def count_webhook_delivery(sender, delivery, outcome: str, **kwargs) -> None:
    """Receiver of `alerts.delivery.delivery_attempted`: one attempt to deliver to a webhook
    (a signed webhook or Slack's incoming webhook; email is not one) ended with `outcome`
    (delivered, retrying, failed)."""
    if delivery.channel_kind in ("webhook", "slack"):
        add_to_counters([("webhook_deliveries", {"outcome": outcome}, 1)])


def forget_import(sender, instance: Import, **kwargs) -> None:
    """A deleted import's series end with it."""
    MetricCounter.objects.filter(import_code=instance.code).delete()


# --- Scraping -------------------------------------------------------------------------------


class SecondsBetween(Func):
    """`end - start` in seconds, computed by the database: fetching two timestamps per import
    and subtracting in Python cost 110 ms of CPU per scrape at 10,000 imports, all of it in
    building timezone-aware datetimes."""

    arity = 2
    output_field = FloatField()

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(
            compiler,
            connection,
            template="EXTRACT(EPOCH FROM (%(expressions)s))",
            arg_joiner=" - ",
            **extra,
        )

    def as_sqlite(self, compiler, connection, **extra):
        return self.as_sql(
            compiler,
            connection,
            template="((julianday(%(expressions)s)) * 86400.0)",
            arg_joiner=") - julianday(",
            **extra,
        )


class DatabaseCollector:
    """Builds every family from the database on each scrape (four queries)."""

    def collect(self):
        stored = defaultdict(list)
        for name, labels, value in MetricCounter.objects.values_list("name", "labels", "value"):
            stored[name].append((parse_labels(labels), value))
        yield from self._counters(stored)
        yield self._duration(stored)
        yield from self._gauges()

    def _counters(self, stored):
        specs = [
            ("runs", "Runs that ended, by import and final state.", ["import_code", "state"]),
            ("records", "Records processed by ended runs, by result.", ["result"]),
            ("record_errors", "Validation errors of failed records, by code.", ["code"]),
            ("runs_reaped", "Runs the reaper failed (worker lost or never started).", []),
            ("webhook_deliveries", "Webhook deliveries, by outcome.", ["outcome"]),
        ]
        for name, help_text, label_names in specs:
            family = CounterMetricFamily(f"importcenter_{name}", help_text, labels=label_names)
            for labels, value in stored.get(name, []):
                family.add_metric([labels.get(n, "") for n in label_names], value)
            if name == "runs_reaped" and not stored.get(name):
                family.add_metric([], 0)
            yield family

    def _duration(self, stored) -> HistogramMetricFamily:
        buckets = {labels["le"]: value for labels, value in stored.get("run_duration_bucket", [])}
        ordered = [(str(float(b)), buckets.get(str(float(b)), 0)) for b in DURATION_BUCKETS]
        ordered.append(("+Inf", buckets.get("+Inf", 0)))
        total = sum(value for _, value in stored.get("run_duration_sum", []))
        return HistogramMetricFamily(
            "importcenter_run_duration_seconds",
            "Duration of ended runs, from start to end.",
            buckets=ordered,
            sum_value=total,
        )

    def _gauges(self):
        states = Counter(
            dict(
                ImportRun.objects.filter(state__in=[State.QUEUED, State.RUNNING])
                .values_list("state")
                .annotate(n=Count("pk"))
                .order_by()
            )
        )
        yield GaugeMetricFamily(
            "importcenter_runs_in_progress",
            "Runs a worker is running.",
            value=states[State.RUNNING],
        )
        yield GaugeMetricFamily(
            "importcenter_queue_depth",
            "Runs queued, waiting for a worker.",
            value=states[State.QUEUED],
        )
        statuses = GaugeMetricFamily(
            "importcenter_imports", "Imports by status.", labels=["status"]
        )
        counts = Counter(
            dict(Import.objects.values_list("status").annotate(n=Count("pk")).order_by())
        )
        for status in Import.Status.values:
            statuses.add_metric([status], counts[status])
        yield statuses
        yield from self._per_import()

    def _per_import(self):
        info = GaugeMetricFamily(
            "importcenter_import_info",
            "One per import: its nickname, partner and sync type, to join on import_code.",
            labels=["import_code", "nickname", "partner", "sync_type"],
        )
        speed = GaugeMetricFamily(
            "importcenter_last_run_rows_per_second",
            "Records per second of each import's last run (so far, while it runs).",
            labels=["import_code"],
        )
        rows = (
            Import.objects.order_by()
            .annotate(
                seconds=SecondsBetween(
                    Coalesce(F("last_run__finished_at"), Now()), F("last_run__started_at")
                )
            )
            .values_list(
                "code",
                "nickname",
                "datasource__partner",
                "sync_type",
                "seconds",
                "last_run__successful",
                "last_run__failed",
            )
        )
        for code, nickname, partner, sync_type, seconds, ok, bad in rows:
            info.add_metric([str(code), nickname, partner, sync_type], 1)
            if seconds:  # None: no run started yet
                speed.add_metric([str(code)], ((ok or 0) + (bad or 0)) / seconds)
        yield info
        yield speed


def _authorized(request: HttpRequest, expected: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), expected.encode()
    )


def metrics_view(request: HttpRequest) -> HttpResponse:
    expected = settings.METRICS_TOKEN
    if not expected:
        raise Http404("Metrics are off: set METRICS_TOKEN to serve them.")
    if not _authorized(request, expected):
        response = HttpResponse(
            "Send the METRICS_TOKEN as a bearer token.\n", status=401, content_type="text/plain"
        )
        response["WWW-Authenticate"] = 'Bearer realm="Import Center metrics"'
        return response
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector())
    response = HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
    response["Cache-Control"] = "no-store"
    return response
