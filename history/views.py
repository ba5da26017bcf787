"""The History tabs: an import's changes (with its datasource's) and a datasource's, newest
first, one page of entries at a time (keyset by entry id)."""

from __future__ import annotations

from uuid import UUID

from django.contrib.auth.decorators import login_required
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, render

from history import changes
from history.forms import HistoryPageForm
from imports.access import get_import_for_user, require_viewer
from imports.models import Datasource

PAGE_SIZE = 50


def _page(request: HttpRequest, entries: QuerySet) -> dict | None:
    """The page of entries the query string asks for, described; None for a bad query."""
    form = HistoryPageForm(request.GET)
    if not form.is_valid():
        return None
    upto = form.cleaned_data.get("upto")
    if upto:
        entries = entries.filter(pk__lte=upto)
    rows = list(entries[: PAGE_SIZE + 1])
    described = [changes.describe(entry) for entry in rows[:PAGE_SIZE]]
    return {
        "changes": described,
        "older": rows[PAGE_SIZE].pk if len(rows) > PAGE_SIZE else None,
        "upto": upto,
    }


@login_required
def import_history(request: HttpRequest, code: UUID) -> HttpResponse:
    imp = get_import_for_user(request, code, ("health_run", "datasource"))
    page = _page(request, changes.import_entries(imp))
    if page is None:
        return HttpResponseBadRequest("Invalid page.")
    return render(request, "history/import_history.html", {"imp": imp, "tab": "history", **page})


@login_required
def datasource_history(request: HttpRequest, code: UUID) -> HttpResponse:
    require_viewer(request)
    ds = get_object_or_404(Datasource, code=code)
    page = _page(request, changes.datasource_entries(ds))
    if page is None:
        return HttpResponseBadRequest("Invalid page.")
    return render(
        request,
        "history/datasource_history.html",
        {"datasource": ds, "nav": "settings", "setup_tab": "datasources", **page},
    )
