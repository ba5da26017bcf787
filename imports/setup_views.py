"""Setting imports up: datasources (with Test connection) and the create/edit import wizard.

The wizard keeps its state in the Import row itself: step 1 creates a Draft, each later step
saves its part, and the import stays a Draft until Publish. Leaving and coming back resumes
from what was saved. Editing a published import walks the same steps; only configuration
fields are written (never status or run bookkeeping, which the run engine owns), so a run in
progress keeps the spec snapshot it started with.

These views parse the request, call `imports.wizard` and render its answer. A step's form
works on a copy of the import: a refused POST must not show unsaved values (a new nickname,
say) in the page's heading as if they were saved.
"""

from __future__ import annotations

from copy import copy
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import IntegrityError, transaction
from django.db.models import Count, ProtectedError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import reswap

from imports import failed_values, services, wizard
from imports.access import (
    get_rw_datasource_for_user,
    get_rw_import_for_user,
    require_editor,
    require_viewer,
)
from imports.forms import (
    DATA_TYPES,
    DATASOURCE_FORMS,
    ConnectionTestQuery,
    DatasourceForm,
    DryRunForm,
    DuplicateForm,
    MappingForm,
    NamedImportForm,
    PartnerChoiceForm,
    PreviewForm,
    ScheduleForm,
    SourceForm,
    column_mapping_formset,
)
from imports.models import Datasource, Import, Partner
from imports.scheduling import stored_schedule_problem

STEPS = [
    ("source", "Source"),
    ("mapping", "Mapping"),
    ("dry-run", "Dry run"),
    ("schedule", "Schedule"),
]
STEP_KEYS = [key for key, _ in STEPS]
# Every wizard step reads the import's datasource.
_WIZARD_RELATED = ("datasource",)


# --- datasources ------------------------------------------------------------------------------


def _datasource_tabs_context(active: str) -> dict:
    return {"nav": "settings", "setup_tab": active}


@login_required
def datasources_list(request: HttpRequest) -> HttpResponse:
    require_viewer(request)
    datasources = Datasource.objects.annotate(import_count=Count("imports")).order_by("name")
    return render(
        request,
        "imports/setup/datasources.html",
        {
            "datasources": datasources,
            "partners": Partner.choices,
            **_datasource_tabs_context("datasources"),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def datasource_create(request: HttpRequest) -> HttpResponse:
    require_editor(request)
    choice = PartnerChoiceForm(request.GET)
    if not choice.is_valid():
        return HttpResponseBadRequest("Unknown partner.")
    partner = choice.cleaned_data["partner"]
    if not partner:
        return render(
            request,
            "imports/setup/datasource_pick.html",
            {"partners": Partner.choices, **_datasource_tabs_context("datasources")},
        )
    form = DATASOURCE_FORMS[partner](request.POST or None, request.FILES or None)
    return _datasource_form_page(request, form, None)


@login_required
@require_http_methods(["GET", "POST"])
def datasource_edit(request: HttpRequest, code) -> HttpResponse:
    ds = get_rw_datasource_for_user(request, code)
    form_class = DATASOURCE_FORMS[ds.partner]
    form = form_class(request.POST or None, request.FILES or None, instance=copy(ds))
    return _datasource_form_page(request, form, ds)


def _datasource_form_page(request, form: DatasourceForm, ds: Datasource | None) -> HttpResponse:
    """The form of a new (`ds` None) or saved datasource; a valid POST saves it."""
    if request.method == "POST" and form.is_valid():
        if ds is None:
            form.instance.created_by = request.user
        form.instance.updated_by = request.user
        try:
            with transaction.atomic():
                saved = form.save()
        except IntegrityError:  # the name was taken between the check and the save
            form.add_error("name", "A datasource with this name already exists.")
        else:
            done = "created" if ds is None else "saved"
            messages.success(request, f"Datasource “{saved.name}” {done}.")
            return redirect("datasources-list")
    return _render_datasource_form(request, form, ds)


def _render_datasource_form(request, form: DatasourceForm, ds: Datasource | None) -> HttpResponse:
    query = {"partner": form.partner}
    if ds is not None:
        query["datasource"] = ds.code
    return render(
        request,
        "imports/setup/datasource_form.html",
        {
            "form": form,
            "datasource": ds,
            "partner_label": Partner(form.partner).label,
            "test_url": reverse("datasources-test-form") + "?" + urlencode(query),
            **_datasource_tabs_context("datasources"),
        },
    )


@login_required
@require_POST
def datasource_delete(request: HttpRequest, code) -> HttpResponse:
    ds = get_rw_datasource_for_user(request, code)
    users = list(ds.imports.order_by("nickname").values_list("nickname", flat=True))
    if users:
        return render(
            request,
            "imports/setup/datasource_in_use.html",
            {"datasource": ds, "imports": users, **_datasource_tabs_context("datasources")},
            status=409,
        )
    name = ds.name
    try:
        ds.delete()
    except ProtectedError:  # an import was created between the check and the delete
        messages.error(request, f"“{name}” is now used by an import and was not deleted.")
    else:
        messages.success(request, f"Datasource “{name}” deleted.")
    return redirect("datasources-list")


@login_required
@require_POST
def datasource_test(request: HttpRequest, code) -> HttpResponse:
    """Test connection of a saved datasource (the button in the list)."""
    ds = get_rw_datasource_for_user(request, code)
    answer = wizard.ask_warehouse(ds, wizard.connection_warnings)
    return _render_test_result(request, answer, ds)


@login_required
@require_POST
def datasource_test_form(request: HttpRequest) -> HttpResponse:
    """Test connection with the values in the form, before saving (blank secrets = stored)."""
    require_editor(request)
    query = ConnectionTestQuery(request.GET)
    if not query.is_valid():
        if "partner" in query.errors:
            return HttpResponseBadRequest("Unknown partner.")
        raise Http404  # a datasource code that names none, as in a URL
    instance = query.cleaned_data["datasource"]
    form_class = DATASOURCE_FORMS[query.cleaned_data["partner"]]
    if instance is not None and instance.partner != form_class.partner:
        return HttpResponseBadRequest("Partner does not match the datasource.")
    form = form_class(request.POST, request.FILES or None, instance=instance)
    # A name clash (or no name yet) does not stop a connection test; anything else does.
    if not form.is_valid() and not set(form.errors) <= {"name"}:
        if not request.htmx:
            # Without JavaScript: the form again, every wrong field marked and explained.
            return _render_datasource_form(request, form, instance)
        answer = wizard.WarehouseAnswer(error="Fix these fields first.", kind="form")
        return _render_test_result(request, answer, None, form)
    answer = wizard.ask_warehouse(form.unsaved(), wizard.connection_warnings)
    return _render_test_result(request, answer, instance, form)


def _render_test_result(request, answer: wizard.WarehouseAnswer, ds, form=None) -> HttpResponse:
    # With `form`, the field errors also go out of band under each field (cleared when none).
    context = {"answer": answer, "datasource": ds, "form": form}
    if request.htmx:
        return render(request, "imports/setup/_test_result.html", context)
    if answer.error:
        messages.error(request, f"Connection failed: {answer.error}")
    else:
        messages.success(request, "Connection succeeded.")
        for warning in answer.value or ():
            messages.warning(request, warning)
    return redirect("datasources-list")


# --- wizard: step 1, source -------------------------------------------------------------------


def _wizard_context(imp: Import | None, step: str, **extra) -> dict:
    return {
        "schedule_problem": stored_schedule_problem(imp) if imp is not None else "",
        "imp": imp,
        "step": step,
        "steps": STEPS,
        "is_draft": imp is None or imp.status == Import.Status.DRAFT,
        "nav": "settings",
        "setup_tab": "imports",
        **extra,
    }


def _next_url(imp: Import, request: HttpRequest, step: str) -> str:
    if "draft" in request.POST:
        return reverse("imports-listing")
    index = STEP_KEYS.index(step)
    following = STEP_KEYS[min(index + 1, len(STEP_KEYS) - 1)]
    return reverse("imports-wizard", args=[imp.code, following])


def _save_named(form: NamedImportForm, user) -> Import | None:
    """Save a form that names the import; None, with the error on the nickname, when another
    import took the nickname between the form's check and the save."""
    form.instance.updated_by = user
    try:
        with transaction.atomic():
            return form.save()
    except IntegrityError:
        form.add_error("nickname", "An import with this nickname already exists.")
        return None


@login_required
@require_http_methods(["GET", "POST"])
def import_create(request: HttpRequest) -> HttpResponse:
    require_editor(request)
    draft = Import(
        sync_type=Import.SyncType.PROFILE, status=Import.Status.DRAFT, created_by=request.user
    )
    return _source_page(request, SourceForm(request.POST or None, instance=draft), None)


@login_required
def import_edit(request: HttpRequest, code) -> HttpResponse:
    imp = get_rw_import_for_user(request, code, _WIZARD_RELATED)
    return redirect("imports-wizard", imp.code, "source")


@login_required
@require_http_methods(["GET", "POST"])
def import_wizard(request: HttpRequest, code, step: str) -> HttpResponse:
    imp = get_rw_import_for_user(request, code, _WIZARD_RELATED)
    handler = {
        "source": _step_source,
        "mapping": _step_mapping,
        "dry-run": _step_dry_run,
        "schedule": _step_schedule,
    }.get(step)
    if handler is None:
        raise Http404
    return handler(request, imp)


def _step_source(request: HttpRequest, imp: Import) -> HttpResponse:
    return _source_page(request, SourceForm(request.POST or None, instance=copy(imp)), imp)


def _source_page(request: HttpRequest, form: SourceForm, imp: Import | None) -> HttpResponse:
    """Step 1 of a new import (`imp` None) or a saved one; a valid POST saves the source."""
    if request.method == "POST" and form.is_valid() and _source_readable(request, form):
        saved = _save_named(form, request.user)
        if saved is not None:
            what = "Draft " if imp is None else ""
            messages.success(request, f"{what}“{saved.nickname}” saved.")
            return redirect(_next_url(saved, request, "source"))
    return render(
        request, "imports/setup/step_source.html", _wizard_context(imp, "source", form=form)
    )


def _source_readable(request: HttpRequest, form: SourceForm) -> bool:
    """ "Save and continue" reads the source's columns, as Mapping will, and puts the reason it
    cannot be mapped on the source field instead of advancing to a Mapping step that cannot load.

    "Save as draft" skips the check: a user may park a source the warehouse cannot read yet.
    """
    if "draft" in request.POST:
        return True
    c = form.cleaned_data
    problem = wizard.unmappable(wizard.source_columns(c["datasource"], c["source"]))
    if problem:
        form.add_error("source", problem)
    return not problem


@login_required
@require_POST
def import_preview(request: HttpRequest) -> HttpResponse:
    """ "Preview results": the first 20 rows and the column types, or why there are none."""
    require_editor(request)
    form = PreviewForm(request.POST)
    answer = None
    if form.is_valid():
        answer = wizard.preview(form.cleaned_data["datasource"], form.cleaned_data["source"])
    return render(request, "imports/setup/_preview.html", {"form": form, "answer": answer})


# --- wizard: step 2, mapping ------------------------------------------------------------------


def _step_mapping(request: HttpRequest, imp: Import) -> HttpResponse:
    answer = wizard.source_columns(imp.datasource, imp.source)
    columns = answer.value or []
    too_many = wizard.too_many_columns(len(columns))
    if too_many:
        # Said before the user fills anything: the POST of a wider form would be refused.
        context = _wizard_context(imp, "mapping", too_many_columns=too_many)
        return render(request, "imports/setup/step_mapping.html", context)
    duplicate = wizard.duplicate_column([col.name for col in columns])
    if duplicate:
        context = _wizard_context(imp, "mapping", duplicate_column=duplicate)
        return render(request, "imports/setup/step_mapping.html", context)
    if not columns:
        # Warehouse unreachable: the saved mapping can still be reviewed and edited.
        columns = wizard.saved_columns(imp)
    names = [col.name for col in columns]
    new_sync_type = _new_sync_type(request, imp) if request.method == "POST" else ""
    if new_sync_type:
        wizard.clear_mapping(imp, new_sync_type, request.user)
        messages.warning(
            request,
            f"Sync type changed to {imp.get_sync_type_display()}: the mapping was cleared. "
            "Map the columns again.",
        )
        return redirect("imports-wizard", imp.code, "mapping")

    formset_class = column_mapping_formset(len(names))
    row_kwargs = {"columns": frozenset(names)}
    if request.method == "POST":
        form = MappingForm(request.POST, columns=names, instance=copy(imp))
        formset = formset_class(request.POST, prefix="col", form_kwargs=row_kwargs)
        if form.is_valid() and formset.is_valid() and form.set_mapping(formset):
            form.instance.updated_by = request.user
            form.save()
            messages.success(request, f"Mapping of “{imp.nickname}” saved.")
            return redirect(_next_url(imp, request, "mapping"))
    else:
        specials = wizard.special_columns(imp, names)
        form = MappingForm(initial=specials, columns=names, instance=imp)
        taken = {*specials.values(), imp.incremental_column} - {""}
        initial = wizard.initial_rows(imp, columns, taken)
        formset = formset_class(initial=initial, prefix="col", form_kwargs=row_kwargs)

    types = {col.name: col.type for col in columns}
    rows = [(row, types.get(row["column"].value() or "", "")) for row in formset.forms]
    return render(
        request,
        "imports/setup/step_mapping.html",
        _wizard_context(
            imp,
            "mapping",
            form=form,
            formset=formset,
            rows=rows,
            data_types=DATA_TYPES,
            max_columns=f"{settings.IMPORT_MAX_MAPPING_COLUMNS:,}",
            columns_error=answer.error,
        ),
    )


def _new_sync_type(request: HttpRequest, imp: Import) -> str:
    """The sync type posted, when it changes one the saved mapping was made for; else ""."""
    posted = request.POST.get("sync_type", "")
    if posted not in Import.SyncType.values or posted == imp.sync_type:
        return ""
    return posted if imp.mapping or imp.identity_column else ""


# --- wizard: step 3, dry run ------------------------------------------------------------------


def _step_dry_run(request: HttpRequest, imp: Import) -> HttpResponse:
    if request.method == "POST" and ("draft" in request.POST or "next" in request.POST):
        return redirect(_next_url(imp, request, "dry-run"))
    form = DryRunForm(request.POST or None)
    result = None
    if request.method == "POST" and form.is_valid():
        result = wizard.dry_run(imp, form.cleaned_data["sample_size"])
    context = _wizard_context(
        imp, "dry-run", form=form, result=result, values_note=failed_values.mode_note()
    )
    if request.htmx and request.method == "POST":
        # The sample-size field comes back out of band, with its error or without one.
        response = render(request, "imports/setup/_dry_run_htmx.html", context)
        if form.errors:
            # A refused size leaves the previous result on screen instead of an empty area.
            reswap(response, "none")
        return response
    return render(request, "imports/setup/step_dry_run.html", context)


# --- wizard: step 4, schedule and publish -----------------------------------------------------


def _step_schedule(request: HttpRequest, imp: Import) -> HttpResponse:
    form = ScheduleForm(request.POST or None, instance=copy(imp))
    if request.method == "POST" and form.is_valid():
        publish = "publish" in request.POST and imp.status == Import.Status.DRAFT
        missing = wizard.missing_for_publish(form.instance) if publish else []
        if missing:
            form.add_error(None, "Before publishing, complete " + ", ".join(missing) + ".")
        else:
            form.instance.updated_by = request.user
            saved = form.save()
            if publish:
                services.publish_import(saved, request.user)
                messages.success(request, f"“{saved.nickname}” published.")
            else:
                messages.success(request, f"Schedule of “{saved.nickname}” saved.")
            return redirect("imports-listing")
    context = _wizard_context(imp, "schedule", **_next_runs_context(form))
    return render(request, "imports/setup/step_schedule.html", context)


def _next_runs_context(form: ScheduleForm) -> dict:
    """The next five run times of the schedule in the form: as posted, else as saved."""
    if form.is_bound and not form.is_valid():
        return {"form": form, "next_times": None, "schedule_tz": form.initial["schedule_timezone"]}
    imp = form.save(commit=False) if form.is_bound else form.instance
    context = {"form": form, "next_times": None, "schedule_tz": imp.schedule_timezone or "UTC"}
    try:
        context["next_times"] = wizard.next_run_times(imp, timezone.now())
    except OverflowError:
        context["times_problem"] = (
            "The saved interval is too long to schedule: choose one of a year or less."
        )
    return context


@login_required
@require_POST
def schedule_preview(request: HttpRequest, code) -> HttpResponse:
    """The next five run times for the schedule being edited (htmx, live)."""
    imp = get_rw_import_for_user(request, code, _WIZARD_RELATED)
    form = ScheduleForm(request.POST, instance=copy(imp))
    return render(
        request,
        "imports/setup/step_schedule.html#next-runs",
        {"imp": imp, **_next_runs_context(form)},
    )


# --- duplicate --------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def import_duplicate(request: HttpRequest, code) -> HttpResponse:
    original = get_rw_import_for_user(request, code, _WIZARD_RELATED)
    form = DuplicateForm(
        request.POST or None,
        instance=wizard.draft_copy(original, request.user),
        initial={"nickname": wizard.copy_nickname(original.nickname)},
    )
    if request.method == "POST" and form.is_valid():
        duplicate = _save_named(form, request.user)
        if duplicate is not None:
            messages.success(request, f"“{duplicate.nickname}” created as a draft copy.")
            return redirect("imports-wizard", duplicate.code, "source")
    return render(
        request,
        "imports/setup/duplicate.html",
        {"form": form, "original": original, "nav": "settings", "setup_tab": "imports"},
    )
