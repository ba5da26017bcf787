"""The Import Center listing (Partners tab and Settings > Partners > Import center) and the
row actions: pause, resume, stop, cancel the run, run now and delete.

State changes go through `imports.services` only; these views decide who may ask and where
the user lands afterwards.
"""

from __future__ import annotations

from functools import cache

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import EmptyPage, Paginator
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
from imports.models import Import, ImportRun, Partner

# 25 rows: a screenful of the 12-column table, and half the rendering of 50 (most of the
# page's server time is template work per row, not SQL).
PAGE_SIZE = 25
POLL_SECONDS = 3


class PageForm(forms.Form):
    page = forms.IntegerField(min_value=1, required=False)


# The columns a listing row shows (listing_tags.import_row), as `values_list()` lookups and
# the row attribute each lands in.
_ROW_COLUMNS = {
    "id": "id",
    "code": "code",
    "nickname": "nickname",
    "sync_type": "sync_type",
    "status": "status",
    "schedule_kind": "schedule_kind",
    "interval_every": "interval_every",
    "interval_unit": "interval_unit",
    "custom_mode": "custom_mode",
    "custom_days": "custom_days",
    "custom_time": "custom_time",
    "schedule_timezone": "schedule_timezone",
    "current_run_id": "current_run_id",
    "last_run_id": "last_run_id",
    "last_run_at": "last_run_at",
    "health_band": "health_band",
    "health_hundredths": "health_hundredths",
    "health_run_id": "health_run_id",
    "created_at": "created_at",
    "updated_at": "updated_at",
    "datasource__name": "datasource_name",
    "datasource__partner": "datasource_partner",
    "created_by__username": "created_by_name",
    "updated_by__username": "updated_by_name",
}
_RUN_ID_POSITIONS = [
    list(_ROW_COLUMNS).index(name) for name in ("current_run_id", "last_run_id", "health_run_id")
]
_RUN_COLUMNS = ("id", "state", "expected_total", "total", "successful", "failed", "error")


class ListingRun:
    """What a row reads of a run: progress (current run), the failure note (last run) and
    health. `health` and `processed` are ImportRun's own properties, over the same fields."""

    __slots__ = _RUN_COLUMNS
    HEALTH_STATES = ImportRun.HEALTH_STATES
    health = ImportRun.health
    processed = ImportRun.processed

    def __init__(self, *values) -> None:
        for name, value in zip(_RUN_COLUMNS, values, strict=True):
            setattr(self, name, value)


class ListingRow:
    """One import as its listing row shows it: the columns above, its datasource's and users'
    names, and its three runs. `health` is Import's own property (denormalised band, else the
    health run's figure), and describe_schedule() reads the same schedule fields.

    Plain values rather than model instances: Model.from_db() for an import, its datasource
    and two users (each with deferred fields) was most of the rows query's CPU time.
    """

    __slots__ = (*_ROW_COLUMNS.values(), "current_run", "last_run", "health_run")
    HealthBand = Import.HealthBand
    health = Import.health

    def __init__(self, values: tuple, runs: dict[int, ListingRun]) -> None:
        for name, value in zip(_ROW_COLUMNS.values(), values, strict=True):
            setattr(self, name, value)
        self.current_run = runs.get(self.current_run_id)
        self.last_run = runs.get(self.last_run_id)
        self.health_run = runs.get(self.health_run_id)


@cache  # one per sort key: the form admits 25
def _rows_query(sort: str) -> QuerySet:
    """The rows query of a sort, built once; each page filters a clone of it to its ids.

    Building it (24 columns, three joins, the sort's expressions) cost as much CPU as
    compiling it. It is never evaluated itself, so no result cache is ever shared.
    """
    return apply_sort(Import.objects.all(), sort or None).values_list(*_ROW_COLUMNS)


_RUNS_QUERY = ImportRun.objects.order_by().values_list(*_RUN_COLUMNS)


def _page_rows(ordered: QuerySet, sort: str, page) -> list[ListingRow]:
    """The page's imports with everything their row shows, in two queries.

    The filters and sort pick the page's ids on the imports table alone (an index or a top-N
    sort over 10k narrow rows); only those ids are then joined to their datasource and users.
    Joining first makes PostgreSQL hash-join every run before sorting (seconds at 10k imports
    with a month of runs), whenever the sort cannot walk an index. The three runs each row
    shows come in a second query by id rather than three more joins: PostgreSQL spent ~5 ms
    just planning the seven-table join, more than running both.
    """
    page_ids = ordered.values("pk")[page.start_index() - 1 : page.end_index()]
    values = list(_rows_query(sort).filter(pk__in=page_ids))
    run_ids = {row[i] for row in values for i in _RUN_ID_POSITIONS} - {None}
    runs = {}
    if run_ids:
        runs = {row[0]: ListingRun(*row) for row in _RUNS_QUERY.filter(pk__in=run_ids)}
    return [ListingRow(row, runs) for row in values]


# --- listing --------------------------------------------------------------------------------


def _listed_choices(field: forms.Field) -> list[tuple]:
    """A select's choices, listed once.

    A ModelChoiceField's own iterator walks `queryset.iterator()`, which on PostgreSQL is a
    server-side cursor (DECLARE, FETCH, CLOSE: three round trips per select), and len() of its
    choices (asked by list() and the template {% for %}) costs a COUNT. One plain SELECT here.
    """
    if not isinstance(field, forms.ModelChoiceField):
        return list(field.choices)
    iterator = field.iterator(field)
    listed = [("", field.empty_label)] if field.empty_label is not None else []
    return listed + [iterator.choice(obj) for obj in field.queryset.all()]


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
            aria, next_sort = "", key
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
    context = {"filter": filterset, "partners": Partner.choices}
    context.update(extra)

    def full_page(context: dict) -> dict:
        # The filter selects' options: two queries that only the full page needs, not the
        # table partial that htmx swaps in (and polls while an import runs).
        context["choices"] = {
            name: _listed_choices(field)
            for name, field in filterset.form.fields.items()
            if hasattr(field, "choices")
        }
        return context

    if not filterset.is_valid() or not page_form.is_valid():
        context["errors"] = _labelled_errors(filterset.form) + _labelled_errors(page_form)
        return render(request, template, full_page(context), status=400)

    paginator = Paginator(filterset.qs, PAGE_SIZE)
    try:
        page = paginator.page(page_form.cleaned_data["page"] or 1)
    except EmptyPage:
        context["errors"] = [("Page", ["That page does not exist."])]
        return render(request, template, full_page(context), status=400)

    sort = filterset.form.cleaned_data.get("o") or ""
    rows = _page_rows(filterset.qs, sort, page) if paginator.count else []
    context.update(
        page=page,
        rows=rows,
        # Poll only while something on screen runs; the refreshed partial drops the trigger
        # once nothing does, which ends the polling.
        polling=any(imp.status == Import.Status.RUNNING for imp in rows),
        poll_seconds=POLL_SECONDS,
        current_sort=sort,
        filters_active=filterset.active,
        columns=_sort_columns(sort),
    )
    # htmx asks for the whole page when it restores history it has no snapshot of.
    if request.htmx and not request.htmx.boosted and not request.htmx.history_restore_request:
        return render(request, f"{template}#table", context)
    return render(request, template, full_page(context))


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
    """Stop asks first. The row's button confirms in the browser and posts `confirmed=1`;
    without JavaScript (or on GET) this page asks the same question."""
    imp = get_rw_import_for_user(request, code)
    if request.method == "GET" or request.POST.get("confirmed") != "1":
        context = {"imp": imp, "next": _back(request).url}
        return render(request, "imports/_listing_stop_confirm.html", context)
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
    """Cancel only the run in progress; the schedule goes on. Asks first, as Stop does."""
    imp = get_rw_import_for_user(request, code)
    if request.method == "GET" or request.POST.get("confirmed") != "1":
        context = {"imp": imp, "next": _back(request).url}
        return render(request, "imports/_listing_cancel_confirm.html", context)
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
    asks first on a page naming what goes and what stays; the POST carries `confirmed=1`."""
    imp = get_rw_import_for_user(request, code)
    if request.method == "POST" and imp.status == Import.Status.DRAFT:
        if services.delete_draft(imp, request.user):
            messages.success(request, f"Deleted the draft “{imp.nickname}”.")
            return _back(request)
        imp.refresh_from_db()  # published meanwhile: ask as for any published import
    if request.method == "GET" or request.POST.get("confirmed") != "1":
        context = {"imp": imp, "scope": services.deletion_scope(imp), "next": _back(request).url}
        return render(request, "imports/_listing_delete_confirm.html", context)
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
