"""Access checks: every view opens with one of these (healthchecks' `_get_check_for_user`).

One order everywhere, so a code tells an outsider nothing:
1. A signed-in user with no role gets 403 for every object, known or not.
2. A Viewer or Editor asking for an unknown code gets 404.
3. A Viewer asking to change a known object gets 403.

Anonymous users never get here: `@login_required` sends them to sign in first.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest
from django.shortcuts import get_object_or_404

from imports.models import Datasource, Import, ImportRun
from imports.roles import can_edit, can_view


def require_viewer(request: HttpRequest) -> None:
    """403 unless the user may see imports (Viewer, Editor or superuser)."""
    if not can_view(request.user):
        raise PermissionDenied


def require_editor(request: HttpRequest) -> None:
    """403 unless the user may change imports (Editor or superuser)."""
    if not can_edit(request.user):
        raise PermissionDenied


def get_import_for_user(request: HttpRequest, code, related: tuple[str, ...] = ()) -> Import:
    require_viewer(request)
    imports = Import.objects.select_related(*related) if related else Import.objects.all()
    return get_object_or_404(imports, code=code)


def get_rw_import_for_user(request: HttpRequest, code, related: tuple[str, ...] = ()) -> Import:
    imp = get_import_for_user(request, code, related)
    require_editor(request)
    return imp


def get_rw_datasource_for_user(request: HttpRequest, code) -> Datasource:
    require_viewer(request)
    ds = get_object_or_404(Datasource, code=code)
    require_editor(request)
    return ds


def get_run_for_user(
    request: HttpRequest,
    code,
    run_code,
    related: tuple[str, ...] = (),
    runs: QuerySet[ImportRun] | None = None,
) -> tuple[Import, ImportRun]:
    """The import and one of its runs; a run of another import is 404, as an unknown one is."""
    imp = get_import_for_user(request, code, related)
    run = get_object_or_404(
        ImportRun.objects.all() if runs is None else runs, import_obj=imp, code=run_code
    )
    run.import_obj = imp  # already loaded; saves a query per use
    return imp, run
