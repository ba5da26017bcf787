"""The import detail page (Overview and Stats tabs), the run detail pane, the live row of a
running run, and the CSV exports. Read-only: state changes go through the listing's actions.
"""

from __future__ import annotations

import time
from urllib.parse import urlencode
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.text import slugify
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseStopPolling

from history import marks
from imports import failed_values, retry, services
from imports.access import get_import_for_user, get_run_for_user, require_editor
from imports.models import Import, ImportRun
from stats import exports, queries
from stats.forms import RecordFilterForm
from stats.queries import RecordFilters

# Columns a Stats page never reads; skipping them keeps 100 rows cheap.
_RUN_HEAVY = ("spec_snapshot", "error_detail", "watermark", "since")

# The header of every page shows the import's health; only the Overview shows its datasource
# and users (a five-table join cost the Stats pages ~1 ms of CPU for nothing).
_HEADER_RELATED = ("health_run",)
_OVERVIEW_RELATED = (
    "datasource",
    "health_run",
    "created_by",
    "updated_by",
    "current_run__triggered_by",
)
# The Overview refreshes its status while a run is queued or running, as the Stats rows do.
OVERVIEW_POLL_SECONDS = 2


def _get_run_for_user(request: HttpRequest, code: UUID, run_code: UUID):
    runs = ImportRun.objects.defer(*_RUN_HEAVY).select_related("triggered_by", "retry_of")
    return get_run_for_user(request, code, run_code, _HEADER_RELATED, runs)


def _expired_message() -> str:
    days = queries.retention_days()
    return (
        "Detailed records are available only for runs completed within the last "
        + queries.counted(days, "day")
    )


@login_required
def overview(request: HttpRequest, code: UUID) -> HttpResponse:
    imp = get_import_for_user(request, code, _OVERVIEW_RELATED)
    in_progress = imp.current_run_id is not None or imp.status == Import.Status.RUNNING
    ctx = {
        "imp": imp,
        "tab": "overview",
        "polling": in_progress,
        "poll_seconds": OVERVIEW_POLL_SECONDS,
    }
    if request.htmx and request.htmx.target == "overview-live":
        # The poll: the live region only; once no run is in progress, its final state and
        # HTTP 286, which ends the polling (the region also comes back without its trigger).
        html = render_to_string("stats/overview.html#live", ctx, request)
        return HttpResponse(html) if in_progress else HttpResponseStopPolling(html)
    ctx["mapping_rows"] = imp.mapping_rows()
    return render(request, "stats/overview.html", ctx)


@login_required
def stats(request: HttpRequest, code: UUID) -> HttpResponse:
    imp = get_import_for_user(request, code, _HEADER_RELATED)
    page = queries.runs_page(imp, request.GET.get("page"), marks.with_previous_version)
    marks.annotate_stats_rows(imp, page.object_list)
    ctx = {
        "imp": imp,
        "tab": "stats",
        "page": page,
        "days": queries.retention_days(),
    }
    if request.htmx and request.htmx.target == "stats-table":
        return render(request, "stats/stats.html#table", ctx)
    ctx["trend"] = _trend(imp)
    ctx["errors"] = _errors_across_runs(imp)
    return render(request, "stats/stats.html", ctx)


TREND_CACHE_SECONDS = 300


def _runs_version(imp: Import) -> str:
    """What the window's finished runs look like, for a cache key: a new one when a run is
    triggered or gives the import its health, and every TREND_CACHE_SECONDS (runs leave the
    window; a failed run that kept records moves neither)."""
    bucket = int(time.time() // TREND_CACHE_SECONDS)
    days = queries.retention_days()
    return f"{imp.code}:{imp.health_run_id}:{imp.last_run_id}:{days}:{bucket}"


def _trend(imp: Import) -> dict:
    """The health trend's summary and SVG, cached per import until a run finishes with health
    (the import's `health_run` moves) or five minutes pass (old runs leave the window): a
    2,880-run trend is the costliest part of the page, and it only changes at those moments.

    Only the two rendered strings are cached, not the Trend: unpickling its 2,880 points took
    ~25 ms per hit and left thousands of objects for the garbage collector, whose full passes
    (~100 ms) then landed on every tenth request: the page's p95 was three times its median.
    """
    zone = timezone.get_current_timezone_name()  # the summary speaks the viewer's local time
    key = f"stats-trend:v2:{_runs_version(imp)}:{zone}"
    cached = cache.get(key)
    if cached is None:
        trend = marks.trend_with_changes(imp, queries.retention_days())
        kinds = sorted({kind for change in trend.changes for kind in change.kinds})
        cached = (trend.summary, trend.svg[:], kinds)  # a slice is a plain str: pickles as one
        cache.set(key, cached, TREND_CACHE_SECONDS)
    summary, svg, kinds = cached
    # The SVG was escaped when built; the legend names the kinds of markers it has.
    return {"summary": summary, "svg": mark_safe(svg), "marker_kinds": kinds}


def _errors_across_runs(imp: Import) -> queries.ErrorsAcrossRuns:
    """The table, each pair linked to the failed records of the latest run that has it,
    filtered by the detail pane's own `field` and `code` parameters. Cached as the trend is
    (it reads the same runs, and changes at the same moments); the times are rendered per
    viewer, so one entry serves every time zone."""
    key = f"stats-errors:v1:{_runs_version(imp)}"
    errors = cache.get(key)
    if errors is None:
        errors = queries.errors_across_runs(imp)
        for pair in errors.pairs:
            # The pane refuses a field holding "|" (the separator of `error_keys`): such a
            # pair opens filtered by its error only.
            field = "" if "|" in pair.field else pair.field
            pair.url = _records_url(imp, pair.last, result="failed", field=field, code=pair.code)
        cache.set(key, errors, TREND_CACHE_SECONDS)
    return errors


def _records_url(imp: Import, run: ImportRun | queries.RunRef, **params) -> str:
    query = urlencode({k: v for k, v in params.items() if v not in ("", None, 0)})
    url = reverse("stats-run-detail", args=[imp.code, run.code])
    return f"{url}?{query}" if query else url


@login_required
def run_detail(request: HttpRequest, code: UUID, run_code: UUID) -> HttpResponse:
    imp, run = _get_run_for_user(request, code, run_code)
    ctx = {"imp": imp, "run": run, "tab": "stats"}
    pane = "stats/run_detail.html#pane" if request.htmx else "stats/run_detail.html"
    if not queries.is_within_window(run):
        ctx["expired_message"] = _expired_message()
        return render(request, pane, ctx)
    if run.state == ImportRun.State.STOPPED:
        # The reference: a run stopped while running has no stats, even if some records were
        # ingested. The pane shows only that note and the partial count, never the records.
        return render(request, pane, ctx)
    form = RecordFilterForm(request.GET)
    default_result = "failed" if run.failed else "all"
    status = 200
    if form.is_valid():
        filters = form.filters(default_result)
        records, next_after = queries.records_page(run, filters)
    else:
        # Still 400, but a styled answer where the user looks: in the records region of the
        # pane (htmx) or the whole page (opened directly), never bare text.
        status = 400
        filters, records, next_after = RecordFilters(result=default_result), [], None
        ctx["filter_errors"] = [message for errors in form.errors.values() for message in errors]
    keep = {"result": filters.result, "code": filters.code, "field": filters.field, "q": filters.q}
    ctx.update(
        filters=filters,
        form=form,
        records=records,
        next_url=_records_url(imp, run, **keep, after=next_after) if next_after else None,
        first_url=_records_url(imp, run, **keep) if filters.after else None,
        show_event=imp.sync_type == Import.SyncType.EVENT,
        identity_label=imp.get_identity_kind_display(),
        values_note=failed_values.mode_note(),
    )
    if request.htmx and request.htmx.target == "records":
        return render(request, "stats/run_detail.html#records", ctx, status=status)
    ctx["retry_note"] = _retry_note(run) if run.state == ImportRun.State.COMPLETED else ""
    ctx["not_retried"] = retry.not_retried_notes(run.not_retried)
    summary = queries.error_summary(run)
    for row in summary:
        row.url = _records_url(imp, run, result="failed", field=row.field, code=row.code)
    ctx["error_summary"] = summary
    return render(request, pane, ctx, status=status)


def _retry_note(run: ImportRun) -> str:
    """What "Retry failed records" would do with this run's failures, or "" when it has none."""
    if not run.failed:
        return ""
    counts = _retriable(run)
    kept = queries.counted(counts.kept, "failed record")
    note = f"{kept} kept {'its' if counts.kept == 1 else 'their'} source row"
    left = counts.too_large + counts.not_kept
    if left:
        note += f"; {left:,} did not and cannot be retried"
    return note + ". A retry validates the kept rows again with the current mapping."


def _retriable(run: ImportRun) -> retry.Retriable:
    """The run's retriable counts, cached once the run is finished (its failed records no
    longer change): counting 333,333 failed records took ~165 ms of SQL at every pane open."""
    if run.state not in ImportRun.FINISHED_STATES:
        return retry.retriable(run.pk)
    key = f"stats-retriable:v1:{run.pk}:{run.finished_at and run.finished_at.timestamp()}"
    counts = cache.get(key)
    if counts is None:
        counts = retry.retriable(run.pk)
        cache.set(key, counts, 24 * 3600)
    return counts


@login_required
@require_POST
def run_retry(request: HttpRequest, code: UUID, run_code: UUID) -> HttpResponse:
    """Retry failed records: a run of its own over the run's kept failed rows (Editors)."""
    imp, run = _get_run_for_user(request, code, run_code)
    require_editor(request)
    try:
        new = services.retry_failed(imp, run, request.user)
    except services.ActionRefused as refused:
        messages.error(request, str(refused))
    else:
        kept = queries.counted(_retriable(run).kept, "failed record")
        when = timezone.localtime(run.created_at).strftime("%d %b %Y %H:%M")
        messages.success(request, f"Retrying {kept} of the run of {when} (run {new.code}).")
    return redirect("stats-stats", imp.code)


@login_required
def run_row(request: HttpRequest, code: UUID, run_code: UUID) -> HttpResponse:
    """The Stats row of one run; polled while the run is in progress, and stops the poll
    (HTTP 286) with the final row once the run has ended."""
    imp, run = _get_run_for_user(request, code, run_code)
    html = render_to_string("stats/stats.html#row", {"imp": imp, "run": run}, request)
    if run.is_finished:
        return HttpResponseStopPolling(html)
    return HttpResponse(html)


def _csv_response(chunks, filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(chunks, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


@login_required
def stats_export(request: HttpRequest, code: UUID) -> StreamingHttpResponse:
    imp = get_import_for_user(request, code, _HEADER_RELATED)
    name = slugify(imp.nickname) or "import"
    return _csv_response(exports.stats_csv(imp), f"{name}-stats.csv")


@login_required
def run_failed_export(request: HttpRequest, code: UUID, run_code: UUID) -> HttpResponse:
    imp, run = _get_run_for_user(request, code, run_code)
    if not queries.is_within_window(run):
        return HttpResponse(_expired_message(), status=410, content_type="text/plain")
    name = slugify(imp.nickname) or "import"
    stamp = run.created_at.strftime("%Y%m%d-%H%M")
    return _csv_response(exports.failed_records_csv(run), f"{name}-{stamp}-failed-records.csv")
