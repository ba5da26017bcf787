"""The endpoints of `/api/v1/`: imports, their runs, a run's records and error summary, the
run actions and the CSV exports.

Each endpoint opens as the pages' views do: the caller's role (`require_read`/`require_write`),
then its query string, then the object through `imports.access`. State changes go through
`imports.services` only; lists and figures through `stats.queries` and `stats.exports`.
"""

from __future__ import annotations

from uuid import UUID

from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.utils.text import slugify
from ninja import Query, Router, Schema
from ninja.responses import Status

from api import shapes
from api.auth import require_read, require_write
from api.pagination import Keyset
from api.problems import Problem, bad_parameters
from api.ratelimit import check_trigger_rate
from api.schemas import (
    ErrorCountPage,
    ImportActionOut,
    ImportDetailOut,
    ImportListQuery,
    ImportPage,
    PageQuery,
    ProblemOut,
    RecordPage,
    RecordQuery,
    RunActionOut,
    RunDetailOut,
    RunPage,
    TriggerOut,
)
from imports import access, services
from imports.filters import ImportFilter
from imports.models import Import, ImportRun
from stats import exports, queries
from stats.forms import RecordFilterForm

router = Router()

# What every endpoint may answer besides its success, for the OpenAPI document.
READ_ERRORS = {400: ProblemOut, 401: ProblemOut, 403: ProblemOut, 404: ProblemOut}
WRITE_ERRORS = {**READ_ERRORS, 409: ProblemOut}
STATS_ERRORS = {**READ_ERRORS, 409: ProblemOut, 410: ProblemOut}
CSV = {"responses": {200: {"description": "CSV", "content": {"text/csv": {}}}}}

# Columns no API answer reads (a run's snapshot can be large).
_RUN_HEAVY = ("spec_snapshot", "error_detail", "watermark", "since")
# The runs one import's answer shows, with who triggered each.
_DETAIL_RELATED = tuple(f"{run}__triggered_by" for run in ("health_run", "current_run", "last_run"))


def reject_unknown(request: HttpRequest, schema: type[Schema] | None = None) -> None:
    """400 for a query parameter the endpoint does not take: a misspelt filter must not
    silently return everything."""
    known = set(schema.model_fields) if schema else set()
    unknown = sorted(set(request.GET) - known)
    if unknown:
        raise bad_parameters({name: ["Unknown parameter."] for name in unknown})


def _import(request: HttpRequest, code: UUID, write: bool = False, related=()) -> Import:
    get = access.get_rw_import_for_user if write else access.get_import_for_user
    try:
        return get(request, code, related)
    except Http404:
        raise Problem(404, f"No import has the code {code}.") from None


def _run(request: HttpRequest, code: UUID) -> ImportRun:
    """A run by its own code: the caller's role was checked first, so a code tells an outsider
    nothing (403 whether it exists or not), as `imports.access` orders it."""
    access.require_viewer(request)
    runs = ImportRun.objects.defer(*_RUN_HEAVY).select_related("import_obj", "triggered_by")
    try:
        return get_object_or_404(runs, code=code)
    except Http404:
        raise Problem(404, f"No run has the code {code}.") from None


def _require_stats(run: ImportRun) -> None:
    """Records, error summary and failed-records CSV exist for a run in the retention window
    that was not stopped (the reference: a stopped run has no stats)."""
    if not queries.is_within_window(run):
        days = queries.counted(queries.retention_days(), "day")
        raise Problem(
            410,
            f"Detailed records are available only for runs completed within the last {days}.",
        )
    if run.state == ImportRun.State.STOPPED:
        raise Problem(
            409,
            "This run was stopped: stats are not available for it. "
            + (queries.partial_note(run) or ""),
            slug="run-stopped",
            run_state=run.state,
        )


# --- Imports --------------------------------------------------------------------------------


@router.get(
    "/imports", tags=["Imports"], response={200: ImportPage, **READ_ERRORS}, url_name="imports"
)
def list_imports(request: HttpRequest, query: Query[ImportListQuery]):
    """Imports, with the listing's filters and sort (same parameter names as the page's URL)."""
    require_read(request)
    reject_unknown(request, ImportListQuery)
    names = set(ImportFilter.base_filters)
    filterset = ImportFilter(
        {k: v for k, v in request.GET.items() if k in names}, queryset=Import.objects.all()
    )
    if not filterset.is_valid():
        raise bad_parameters(filterset.form.errors)
    ordered = filterset.qs
    sort = filterset.form.cleaned_data.get("o") or ""
    pks, next_cursor = Keyset(ordered).page(ordered, "imports", sort, query.cursor, query.limit)
    base = shapes.web_url_base()
    items = [shapes.import_out(item, base) for item in shapes.import_items(pks)]
    return {"items": items, "next": next_cursor}


@router.get(
    "/imports/{uuid:code}",
    tags=["Imports"],
    response={200: ImportDetailOut, **READ_ERRORS},
    url_name="import",
)
def get_import(request: HttpRequest, code: UUID):
    """One import with its schedule, mapping, health and current/last runs."""
    require_read(request)
    reject_unknown(request)
    return shapes.import_detail_out(_import(request, code, related=_DETAIL_RELATED))


@router.post(
    "/imports/{uuid:code}/runs",
    tags=["Imports"],
    response={202: TriggerOut, **WRITE_ERRORS, 429: ProblemOut},
    url_name="import-trigger",
)
def trigger_run(request: HttpRequest, code: UUID, response: HttpResponse):
    """Start a run now. 202 with the run's URL to poll; 409 while a run is in progress or the
    import is a draft or stopped; 429 past the per-token rate limit."""
    require_write(request)
    reject_unknown(request)
    check_trigger_rate(request)
    imp = _import(request, code, write=True)
    try:
        run = services.run_now(imp, request.user, trigger=ImportRun.Trigger.API)
    except services.ActionRefused as refused:
        imp.refresh_from_db()
        extra = {"import_status": imp.status}
        if imp.current_run_id:
            extra["current_run"] = shapes.run_url(imp.current_run.code)
        raise Problem(409, str(refused), slug="run-refused", **extra) from None
    run = ImportRun.objects.select_related("triggered_by").get(pk=run.pk)
    url = shapes.run_url(run.code)
    response["Location"] = url
    return Status(202, {"run": shapes.run_out(run, imp), "url": url})


@router.get(
    "/imports/{uuid:code}/runs",
    tags=["Imports"],
    response={200: RunPage, **READ_ERRORS},
    url_name="runs",
)
def list_runs(request: HttpRequest, code: UUID, query: Query[PageQuery]):
    """The import's runs in the retention window, newest first: the Stats table's columns plus
    state, duration, trigger and error."""
    require_read(request)
    reject_unknown(request, PageQuery)
    imp = _import(request, code)
    runs = ImportRun.objects.filter(
        import_obj=imp, created_at__gte=queries.window_start()
    ).order_by("-created_at", "-id")
    pks, next_cursor = Keyset(runs).page(runs, "runs", str(imp.code), query.cursor, query.limit)
    rows = ImportRun.objects.defer(*_RUN_HEAVY).select_related("triggered_by").in_bulk(pks)
    return {
        "items": [shapes.run_out(rows[pk], imp) for pk in pks if pk in rows],
        "next": next_cursor,
    }


def _import_action(request: HttpRequest, code: UUID, change, done: str, already) -> dict:
    """Pause, resume or stop: 200 with `changed` (false when the import already was so), 409
    when the change does not apply to the import's status (a draft cannot be paused)."""
    require_write(request)
    reject_unknown(request)
    imp = _import(request, code, write=True)
    changed = change(imp, request.user)
    if not changed and imp.status not in already:
        raise Problem(
            409,
            f"“{imp.nickname}” is {imp.get_status_display().lower()}: {done} does not apply.",
            slug="action-refused",
            import_status=imp.status,
        )
    detail = (
        f"“{imp.nickname}” is now {imp.get_status_display().lower()}."
        if changed
        else f"“{imp.nickname}” already is {imp.get_status_display().lower()}."
    )
    item = shapes.import_out(shapes.import_items([imp.pk])[0])
    return {"changed": changed, "detail": detail, "import": item}


ImportStatus = Import.Status
ACTION = {"response": {200: ImportActionOut, **WRITE_ERRORS}, "by_alias": True}


@router.post("/imports/{uuid:code}/pause", tags=["Imports"], url_name="import-pause", **ACTION)
def pause_import(request: HttpRequest, code: UUID):
    """Pause the schedule; a run in progress finishes."""
    return _import_action(request, code, services.pause_import, "pause", {ImportStatus.PAUSED})


@router.post("/imports/{uuid:code}/resume", tags=["Imports"], url_name="import-resume", **ACTION)
def resume_import(request: HttpRequest, code: UUID):
    """Resume a paused or stopped import: scheduled again."""
    already = {ImportStatus.SCHEDULED, ImportStatus.RUNNING}
    return _import_action(request, code, services.resume_import, "resume", already)


@router.post("/imports/{uuid:code}/stop", tags=["Imports"], url_name="import-stop", **ACTION)
def stop_import(request: HttpRequest, code: UUID):
    """Stop the import: its run in progress ends stopped, no further runs until resumed."""
    return _import_action(request, code, services.stop_import, "stop", {ImportStatus.STOPPED})


@router.get(
    "/imports/{uuid:code}/stats.csv",
    tags=["Imports"],
    response={200: None, **READ_ERRORS},
    openapi_extra=CSV,
    url_name="import-stats-csv",
)
def stats_csv(request: HttpRequest, code: UUID):
    """The Stats table of the retention window as CSV, newest first."""
    require_read(request)
    reject_unknown(request)
    imp = _import(request, code)
    name = slugify(imp.nickname) or "import"
    return _csv_response(exports.stats_csv(imp), f"{name}-stats.csv")


# --- Runs -----------------------------------------------------------------------------------


@router.get(
    "/runs/{uuid:code}", tags=["Runs"], response={200: RunDetailOut, **READ_ERRORS}, url_name="run"
)
def get_run(request: HttpRequest, code: UUID):
    """One run with its error summary (identity errors first)."""
    require_read(request)
    reject_unknown(request)
    run = _run(request, code)
    stats = queries.is_within_window(run) and run.state != ImportRun.State.STOPPED
    url = shapes.run_url(run.code)
    return {
        **shapes.run_out(run, run.import_obj),
        "error_summary": shapes.error_counts_out(run) if stats else [],
        # warehouse_reason() reads error_detail, deferred above: one query, failed runs only.
        "warehouse_reason": queries.warehouse_reason(run),
        "advice": queries.failure_advice(run) if run.state == ImportRun.State.FAILED else "",
        "stats_available": stats,
        "records_url": f"{url}/records",
        "failed_records_csv_url": f"{url}/failed-records.csv",
    }


@router.post(
    "/runs/{uuid:code}/cancel",
    tags=["Runs"],
    response={200: RunActionOut, **WRITE_ERRORS},
    url_name="run-cancel",
)
def cancel_run(request: HttpRequest, code: UUID):
    """Cancel this run while it is queued or running; the import keeps its schedule."""
    require_write(request)
    reject_unknown(request)
    run = _run(request, code)
    imp = _import(request, run.import_obj.code, write=True)
    changed = False
    if not run.is_finished:
        changed = services.cancel_run(imp, request.user)
    run = _run(request, code)
    if not changed and run.state != ImportRun.State.STOPPED:
        raise Problem(
            409,
            f"This run already ended ({run.get_state_display().lower()}): nothing to cancel.",
            slug="run-ended",
            run_state=run.state,
        )
    detail = "Cancelled the run." if changed else "The run was already stopped."
    return {"changed": changed, "detail": detail, "run": shapes.run_out(run, imp)}


@router.get(
    "/runs/{uuid:code}/records",
    tags=["Runs"],
    response={200: RecordPage, **STATS_ERRORS},
    url_name="records",
)
def list_records(request: HttpRequest, code: UUID, query: Query[RecordQuery]):
    """The run's records in row order, with the detail pane's filters: result, field, error
    code, and one exact identity."""
    require_read(request)
    reject_unknown(request, RecordQuery)
    run = _run(request, code)
    _require_stats(run)
    # The pane's own form, so the API filters exactly as the pane does; its names mapped.
    names = {"q": "identity", "after": "cursor"}
    form = RecordFilterForm(
        {
            "result": query.result,
            "code": query.code or "",
            "field": query.field or "",
            "q": query.identity or "",
            "after": query.cursor or "",
        }
    )
    if not form.is_valid():
        raise bad_parameters({names.get(k, k): v for k, v in form.errors.items()})
    records, next_after = queries.records_page(run, form.filters("all"), size=query.limit)
    with_event = run.import_obj.sync_type == Import.SyncType.EVENT
    return {
        "items": [shapes.record_out(record, with_event) for record in records],
        "next": str(next_after) if next_after is not None else None,
    }


@router.get(
    "/runs/{uuid:code}/errors",
    tags=["Runs"],
    response={200: ErrorCountPage, **STATS_ERRORS},
    url_name="run-errors",
)
def list_errors(request: HttpRequest, code: UUID):
    """The run's error summary: failed records per (field, error code), identity errors first,
    then the most frequent, with the Error Reference's message and resolution."""
    require_read(request)
    reject_unknown(request)
    run = _run(request, code)
    _require_stats(run)
    return {"items": shapes.error_counts_out(run), "next": None}


@router.get(
    "/runs/{uuid:code}/failed-records.csv",
    tags=["Runs"],
    response={200: None, **STATS_ERRORS},
    openapi_extra=CSV,
    url_name="run-failed-csv",
)
def failed_records_csv(request: HttpRequest, code: UUID):
    """Every error of every failed record of the run as CSV, with the Error Reference's
    resolution."""
    require_read(request)
    reject_unknown(request)
    run = _run(request, code)
    _require_stats(run)
    name = slugify(run.import_obj.nickname) or "import"
    stamp = run.created_at.strftime("%Y%m%d-%H%M")
    return _csv_response(exports.failed_records_csv(run), f"{name}-{stamp}-failed-records.csv")


def _csv_response(chunks, filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(chunks, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response
