"""The Import Center listing (Partners tab and Settings > Partners > Import center) and the
row actions: pause, resume, stop, cancel the run, run now and delete.

State changes go through `imports.services` only; these views decide who may ask and where
the user lands afterwards.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import EmptyPage, Page, Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from imports import services
from imports.access import get_rw_import_for_user, require_viewer
from imports.filters import SORT_LABELS, ImportFilter, apply_sort
from imports.models import Import, ImportRun
from imports.scheduling import SCHEDULE_FIELDS

# 25 rows: a screenful of the 12-column table.
PAGE_SIZE = 25
POLL_SECONDS = 3

# What a listing row shows (templates/imports/listing.html#import-row): a new column adds its
# fields here and its cell there.
ROW_FIELDS = (
    "code",
    "nickname",
    "sync_type",
    "status",
    *SCHEDULE_FIELDS,  # Frequency (describe_schedule)
    # Health (Import.health), Last Run and the progress of a run in progress: see RUN_FIELDS
    "health_band",
    "health_hundredths",
    "health_run",
    "last_run",
    "last_run_at",
    "current_run",
    "datasource__name",
    "datasource__partner",
    "created_at",
    "created_by__username",
    "updated_at",
    "updated_by__username",
)
ROW_RELATED = ("datasource", "created_by", "updated_by")
# The three runs a row reads: its health run, its last run (a failure's reason) and its run in
# progress (progress bar, Cancel run).
ROW_RUNS = ("health_run", "last_run", "current_run")
RUN_FIELDS = (
    "state",
    "expected_total",
    "total",
    "successful",
    "failed",
    "already_imported",
    "error",
)


class PageForm(forms.Form):
    page = forms.IntegerField(min_value=1, required=False)


def _page_imports(ordered: QuerySet[Import], sort: str, page: Page) -> list[Import]:
    """The page's imports with everything their rows show, in two queries.

    The filters and sort pick the page's ids on the imports table alone (an index or a top-N
    sort over 10k narrow rows); only those ids are then joined to their datasource and users.
    Joining first makes PostgreSQL hash-join every run before sorting (seconds at 10k imports
    with a month of runs) whenever the sort cannot walk an index.
    """
    page_ids = ordered.values("pk")[page.start_index() - 1 : page.end_index()]
    rows = Import.objects.filter(pk__in=page_ids).select_related(*ROW_RELATED).only(*ROW_FIELDS)
    imports = list(apply_sort(rows, sort or None))
    _attach_runs_in_one_query(imports)
    return imports


def _attach_runs_in_one_query(imports: list[Import]) -> None:
    """Each row's three runs by id, in one query, set on the imports' foreign keys.

    Three more joins (select_related) made PostgreSQL plan a seven-table query: 9-15 ms of
    planning at bench data against ~1 ms for the four-table one plus 0.2 ms for this query.
    """
    ids = {getattr(imp, f"{name}_id") for imp in imports for name in ROW_RUNS} - {None}
    runs = ImportRun.objects.only(*RUN_FIELDS).in_bulk(ids) if ids else {}
    for imp in imports:
        for name in ROW_RUNS:
            setattr(imp, name, runs.get(getattr(imp, f"{name}_id")))


# --- listing --------------------------------------------------------------------------------


def _labelled_errors(form: forms.Form) -> list[tuple[str, list[str]]]:
    return [
        (str(form.fields[name].label or name.capitalize()) if name in form.fields else name, msgs)
        for name, msgs in form.errors.items()
    ]


def _sort_columns(current: str) -> list[dict]:
    """Header links: a click sorts by the column, a second click reverses it."""
    columns = []
    for key, label in SORT_LABELS.items():
        if current == key:
            aria, next_sort = "ascending", f"-{key}"
        elif current == f"-{key}":
            aria, next_sort = "descending", key
        else:
            aria, next_sort = "none", key
        columns.append({"key": key, "label": label, "aria_sort": aria, "next": next_sort})
    return columns


def _render_listing(request: HttpRequest, template: str, extra: dict) -> HttpResponse:
    response = _listing_response(request, template, extra)
    # The page and its table partial share one URL: a browser must not answer Back with the
    # partial it cached from a poll or a filter change.
    patch_vary_headers(response, ("HX-Request", "HX-History-Restore-Request"))
    return response


def _listing_response(request: HttpRequest, template: str, extra: dict) -> HttpResponse:
    require_viewer(request)
    filterset = ImportFilter(request.GET, queryset=Import.objects.all())
    page_form = PageForm(request.GET)
    context = {"filter": filterset, **extra}

    if not filterset.is_valid() or not page_form.is_valid():
        context["errors"] = _labelled_errors(filterset.form) + _labelled_errors(page_form)
        return render(request, template, context, status=400)

    paginator = Paginator(filterset.qs, PAGE_SIZE)
    try:
        page = paginator.page(page_form.cleaned_data["page"] or 1)
    except EmptyPage:
        context["errors"] = [("Page", ["That page does not exist."])]
        return render(request, template, context, status=400)

    sort = filterset.form.cleaned_data.get("o") or ""
    imports = _page_imports(filterset.qs, sort, page) if paginator.count else []
    context.update(
        page=page,
        imports=imports,
        # Poll only while something on screen runs; the refreshed partial drops the trigger
        # once nothing does, which ends the polling.
        polling=any(imp.status == Import.Status.RUNNING for imp in imports),
        poll_seconds=POLL_SECONDS,
        current_sort=sort,
        filters_active=filterset.active,
        columns=_sort_columns(sort),
    )
    # htmx asks for the whole page when it restores history it has no snapshot of. The table
    # partial renders no filter form, so its selects' two choice queries never run.
    if request.htmx and not request.htmx.boosted and not request.htmx.history_restore_request:
        return render(request, f"{template}#table", context)
    return render(request, template, context)


@login_required
def listing(request: HttpRequest) -> HttpResponse:
    """Settings > Partners > Import center: the listing, with the partner filter up front."""
    return _render_listing(
        request, "imports/listing.html", {"nav": "settings", "page_kind": "settings"}
    )


@login_required
def partners(request: HttpRequest) -> HttpResponse:
    """The Partners page with its Import center tab active: the same listing."""
    return _render_listing(
        request, "imports/listing.html", {"nav": "partners", "page_kind": "partners"}
    )


# --- row actions ----------------------------------------------------------------------------


def _back(request: HttpRequest, deleted: Import | None = None) -> HttpResponseRedirect:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = reverse("imports-listing")
    if deleted is not None and str(deleted.code) in target:
        target = reverse("imports-listing")  # the page came from the deleted import's own
    return HttpResponseRedirect(target)


def _report(request: HttpRequest, changed: bool, done: str, unchanged: str) -> None:
    if changed:
        messages.success(request, done)
    else:
        messages.info(request, unchanged)


def _confirmed(request: HttpRequest) -> bool:
    """Stop, Cancel run and Delete act only on a POST with `confirmed=1`: the row's button
    asks in the browser first and sends it. Anything else (a GET, a browser without
    JavaScript) gets a page that asks the same question."""
    return request.method == "POST" and request.POST.get("confirmed") == "1"


def _ask_first(request: HttpRequest, imp: Import, template: str, **extra) -> HttpResponse:
    """A page asking the action's question (templates/imports/_listing_confirm.html and its
    children); its form posts back with `confirmed=1` and where to go next."""
    return render(request, template, {"imp": imp, "next": _back(request).url, **extra})


@login_required
@require_POST
def pause(request: HttpRequest, code) -> HttpResponse:
    imp = get_rw_import_for_user(request, code)
    changed = services.pause_import(imp, request.user)
    _report(
        request,
        changed,
        f"Paused “{imp.nickname}”. A run in progress finishes; no new runs start.",
        f"“{imp.nickname}” is {imp.get_status_display().lower()}: nothing to pause.",
    )
    return _back(request)


@login_required
@require_POST
def resume(request: HttpRequest, code) -> HttpResponse:
    imp = get_rw_import_for_user(request, code)
    changed = services.resume_import(imp, request.user)
    _report(
        request,
        changed,
        f"Resumed “{imp.nickname}”: it is scheduled again.",
        f"“{imp.nickname}” is {imp.get_status_display().lower()}: nothing to resume.",
    )
    return _back(request)


@login_required
@require_http_methods(["GET", "POST"])
def stop(request: HttpRequest, code) -> HttpResponse:
    """Stop the import and its run in progress; asks first."""
    imp = get_rw_import_for_user(request, code)
    if not _confirmed(request):
        return _ask_first(request, imp, "imports/_listing_stop_confirm.html")
    changed = services.stop_import(imp, request.user)
    _report(
        request,
        changed,
        f"Stopped “{imp.nickname}”. No further runs start until it is resumed.",
        f"“{imp.nickname}” is {imp.get_status_display().lower()}: nothing to stop.",
    )
    return _back(request)


@login_required
@require_POST
def run_now(request: HttpRequest, code) -> HttpResponse:
    imp = get_rw_import_for_user(request, code)
    try:
        run = services.run_now(imp, request.user)
    except services.ActionRefused as refused:
        messages.error(request, str(refused))
        return _back(request)
    _report(
        request,
        bool(run),
        f"Started a run of “{imp.nickname}”.",
        f"“{imp.nickname}” did not start a new run.",
    )
    return _back(request)


@login_required
@require_http_methods(["GET", "POST"])
def cancel_run(request: HttpRequest, code) -> HttpResponse:
    """Cancel only the run in progress; the schedule goes on. Asks first."""
    imp = get_rw_import_for_user(request, code)
    if not _confirmed(request):
        return _ask_first(request, imp, "imports/_listing_cancel_confirm.html")
    changed = services.cancel_run(imp, request.user)
    _report(
        request,
        changed,
        f"Cancelled the run of “{imp.nickname}”. The schedule goes on: it is "
        f"{imp.get_status_display().lower()}.",
        f"“{imp.nickname}” has no run in progress: nothing to cancel.",
    )
    return _back(request)


@login_required
@require_http_methods(["GET", "POST"])
def delete(request: HttpRequest, code) -> HttpResponse:
    """A draft is deleted at once (its button confirms in the browser). A published import
    asks first, on a page naming what goes and what stays."""
    imp = get_rw_import_for_user(request, code)
    if request.method == "POST" and imp.status == Import.Status.DRAFT:
        if services.delete_draft(imp, request.user):
            messages.success(request, f"Deleted the draft “{imp.nickname}”.")
            return _back(request)
        imp.refresh_from_db()  # published meanwhile: ask as for any published import
    if not _confirmed(request):
        scope = services.deletion_scope(imp)
        return _ask_first(request, imp, "imports/_listing_delete_confirm.html", scope=scope)
    try:
        scope = services.delete_import(imp, request.user)
    except services.ActionRefused as refused:
        messages.error(request, str(refused))
        return _back(request)
    messages.success(
        request,
        f"Deleted “{imp.nickname}” with its {scope.runs} run{'s' if scope.runs != 1 else ''} "
        "and their record details. Events and profiles it imported stay.",
    )
    return _back(request, deleted=imp)
