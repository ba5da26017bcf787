"""Setting imports up: datasources (with Test connection) and the create/edit import wizard.

The wizard keeps its state in the Import row itself: step 1 creates a Draft, each later step
saves its part, and the import stays a Draft until Publish. Leaving and coming back resumes
from what was saved. Editing a published import walks the same steps; only configuration
fields are written (never status or run bookkeeping, which the run engine owns), so a run in
progress keeps the spec snapshot it started with.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import IntegrityError, transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import reswap

from imports import services
from imports.access import (
    get_rw_datasource_for_user,
    get_rw_import_for_user,
    require_editor,
    require_viewer,
)
from imports.connections import connector_for
from imports.fields import SecretUnreadable
from imports.forms import (
    DATA_TYPES,
    DATASOURCE_FORMS,
    DryRunForm,
    DuplicateForm,
    MappingForm,
    PartnerChoiceForm,
    PreviewForm,
    ScheduleForm,
    SourceForm,
    column_mapping_formset,
    next_run_times,
    suggest_target,
)
from imports.models import Datasource, Import, Partner

logger = logging.getLogger(__name__)

STEPS = [
    ("source", "Source"),
    ("mapping", "Mapping"),
    ("dry-run", "Dry run"),
    ("schedule", "Schedule"),
]
STEP_KEYS = [key for key, _ in STEPS]
PREVIEW_ROWS = 20

# Configuration fields a wizard step may write. Never status, next_run_at bookkeeping of runs,
# health or created_*: the run engine and services own those.
SOURCE_FIELDS = ["nickname", "datasource", "source_kind", "source"]
MAPPING_FIELDS = [
    "sync_type",
    "mapping",
    "identity_column",
    "identity_kind",
    "event_name_column",
    "timestamp_column",
    "incremental_column",
]
SCHEDULE_FIELDS = [
    "schedule_kind",
    "interval_every",
    "interval_unit",
    "custom_mode",
    "custom_days",
    "custom_time",
    "schedule_timezone",
    "manual_run_at",
]
COPY_FIELDS = ["datasource", "sync_type", "source_kind", "source", *MAPPING_FIELDS[1:]]
COPY_FIELDS += SCHEDULE_FIELDS
# Every wizard step reads the import's datasource.
_WIZARD_RELATED = ("datasource",)


def _save_config(imp: Import, user, fields: list[str]) -> None:
    imp.updated_by = user
    # update_fields: a concurrent status change by the engine must not be overwritten.
    imp.save(update_fields=[*fields, "updated_by", "updated_at"])


# --- warehouse calls --------------------------------------------------------------------------


@dataclass
class WarehouseAnswer:
    value: Any = None
    error: str = ""
    kind: str = ""
    # The warehouse itself answered with the error (not a refusal by Import Center).
    from_warehouse: bool = False


def _warehouse(ds: Datasource, call) -> WarehouseAnswer:
    """Run `call(connector)` against the datasource; any failure becomes a user-facing error."""
    from connectors import ConnectorError

    try:
        with connector_for(ds) as connector:
            return WarehouseAnswer(value=call(connector))
    except ConnectorError as exc:
        return WarehouseAnswer(error=exc.message, kind=exc.kind, from_warehouse=exc.from_warehouse)
    except SecretUnreadable as exc:
        return WarehouseAnswer(error=str(exc), kind="config")
    except Exception as exc:  # a driver bug must not become a 500 (or leak its text)
        logger.warning("warehouse call failed for datasource %s: %s", ds.code, type(exc).__name__)
        return WarehouseAnswer(error="The warehouse call failed unexpectedly.", kind="unknown")


def _source_columns(imp: Import) -> WarehouseAnswer:
    """The source's columns as (name, warehouse type) pairs."""
    answer = _warehouse(imp.datasource, lambda c: c.columns(imp.source))
    if answer.value is not None:
        answer.value = [(col.name, col.type) for col in answer.value]
    return answer


# --- datasources ------------------------------------------------------------------------------


def _datasource_tabs_context(active: str) -> dict:
    return {"nav": "settings", "setup_tab": active}


@login_required
def datasources_list(request: HttpRequest) -> HttpResponse:
    require_viewer(request)
    datasources = Datasource.objects.order_by("name")
    from django.db.models import Count

    datasources = datasources.annotate(import_count=Count("imports"))
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
    form_class = DATASOURCE_FORMS[partner]
    form = form_class(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():
                ds = form.save(request.user)
        except IntegrityError:
            form.add_error("name", "A datasource with this name already exists.")
        else:
            messages.success(request, f"Datasource “{ds.name}” created.")
            return redirect("datasources-list")
    return _render_datasource_form(request, form, None)


@login_required
@require_http_methods(["GET", "POST"])
def datasource_edit(request: HttpRequest, code) -> HttpResponse:
    ds = get_rw_datasource_for_user(request, code)
    form = DATASOURCE_FORMS[ds.partner](request.POST or None, request.FILES or None, instance=ds)
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():
                form.save(request.user)
        except IntegrityError:
            form.add_error("name", "A datasource with this name already exists.")
        else:
            messages.success(request, f"Datasource “{ds.name}” saved.")
            return redirect("datasources-list")
    return _render_datasource_form(request, form, ds)


def _render_datasource_form(request, form, ds: Datasource | None) -> HttpResponse:
    partner = form.partner
    test_url = reverse("datasources-test-form") + f"?partner={partner}"
    if ds is not None:
        test_url += f"&datasource={ds.code}"
    return render(
        request,
        "imports/setup/datasource_form.html",
        {
            "form": form,
            "datasource": ds,
            "partner_label": Partner(partner).label,
            "test_url": test_url,
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
    from django.db.models import ProtectedError

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
    answer = _warehouse(ds, _test_connection)
    return _render_test_result(request, answer, ds)


@login_required
@require_POST
def datasource_test_form(request: HttpRequest) -> HttpResponse:
    """Test connection with the values in the form, before saving (blank secrets = stored)."""
    require_editor(request)
    choice = PartnerChoiceForm(request.GET)
    if not choice.is_valid() or not choice.cleaned_data["partner"]:
        return HttpResponseBadRequest("Unknown partner.")
    instance = None
    if request.GET.get("datasource"):
        try:
            instance = Datasource.objects.get(code=request.GET["datasource"])
        except (Datasource.DoesNotExist, ValueError, Exception):
            raise Http404 from None
    form_class = DATASOURCE_FORMS[choice.cleaned_data["partner"]]
    if instance is not None and instance.partner != form_class.partner:
        return HttpResponseBadRequest("Partner does not match the datasource.")
    form = form_class(request.POST, request.FILES or None, instance=instance)
    # A name clash (or no name yet) does not stop a connection test; anything else does.
    if not form.is_valid() and not set(form.errors) <= {"name"}:
        if not request.htmx:
            # Without JavaScript: the form again, every wrong field marked and explained.
            return _render_datasource_form(request, form, instance)
        answer = WarehouseAnswer(error="Fix these fields first.", kind="form")
        return _render_test_result(request, answer, None, form)
    answer = _warehouse(form.unsaved(), _test_connection)
    return _render_test_result(request, answer, instance, form)


def _test_connection(connector) -> list[str]:
    """Connect, then say whether the user may do more than read (its warnings, if any)."""
    connector.test_connection()
    return connector.privilege_warnings()


def _render_test_result(request, answer: WarehouseAnswer, ds, form=None) -> HttpResponse:
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
    from imports.scheduling import stored_schedule_problem

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


@login_required
@require_http_methods(["GET", "POST"])
def import_create(request: HttpRequest) -> HttpResponse:
    require_editor(request)
    form = SourceForm(request.POST or None)
    if request.method == "POST" and form.is_valid() and _source_readable(request, form):
        c = form.cleaned_data
        try:
            with transaction.atomic():
                imp = Import.objects.create(
                    nickname=c["nickname"],
                    datasource=c["datasource"],
                    source_kind=c["source_kind"],
                    source=c["source"],
                    sync_type=Import.SyncType.PROFILE,
                    status=Import.Status.DRAFT,
                    created_by=request.user,
                    updated_by=request.user,
                )
        except IntegrityError:
            form.add_error("nickname", "An import with this nickname already exists.")
        else:
            messages.success(request, f"Draft “{imp.nickname}” saved.")
            return redirect(_next_url(imp, request, "source"))
    return render(
        request, "imports/setup/step_source.html", _wizard_context(None, "source", form=form)
    )


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
    form = SourceForm(request.POST or None, instance=imp)
    if request.method == "POST" and form.is_valid() and _source_readable(request, form):
        c = form.cleaned_data
        imp.nickname = c["nickname"]
        imp.datasource = c["datasource"]
        imp.source_kind = c["source_kind"]
        imp.source = c["source"]
        try:
            with transaction.atomic():
                _save_config(imp, request.user, SOURCE_FIELDS)
        except IntegrityError:
            form.add_error("nickname", "An import with this nickname already exists.")
        else:
            messages.success(request, f"“{imp.nickname}” saved.")
            return redirect(_next_url(imp, request, "source"))
    return render(
        request, "imports/setup/step_source.html", _wizard_context(imp, "source", form=form)
    )


def _source_readable(request: HttpRequest, form: SourceForm) -> bool:
    """ "Save and continue" reads the source's columns, as Mapping will, and puts the warehouse's
    error on the source field instead of advancing to a Mapping step that cannot load.

    "Save as draft" skips the check: a user may park a source the warehouse cannot read yet.
    """
    if "draft" in request.POST:
        return True
    c = form.cleaned_data
    answer = _warehouse(c["datasource"], lambda conn: conn.columns(c["source"]))
    if answer.error:
        form.add_error("source", f"The warehouse could not read this source: {answer.error}")
        return False
    if not answer.value:
        form.add_error("source", "The source has no columns to map.")
        return False
    if len(answer.value) > settings.IMPORT_MAX_MAPPING_COLUMNS:
        form.add_error("source", _too_many_columns(len(answer.value)))
        return False
    duplicate = _duplicate_column([col.name for col in answer.value])
    if duplicate:
        form.add_error("source", duplicate)
        return False
    return True


def _duplicate_column(names: list[str]) -> str | None:
    """The refusal of a source with two columns of one name (``SELECT a.id, b.id``): each row
    arrives as a dict, where the later column would silently replace the earlier."""
    seen: set[str] = set()
    for name in names:
        if name in seen:
            return (
                f"The source has more than one column named “{name}”. Give each column its own "
                "name (for example with AS in a query)."
            )
        seen.add(name)
    return None


def _too_many_columns(count: int) -> str:
    return (
        f"The source has {count:,} columns; Import Center maps at most "
        f"{settings.IMPORT_MAX_MAPPING_COLUMNS:,}. Read from a query that lists only the "
        "columns to import."
    )


@login_required
@require_POST
def import_preview(request: HttpRequest) -> HttpResponse:
    """ "Preview results": the first 20 rows and the column types, or the warehouse's error."""
    require_editor(request)
    form = PreviewForm(request.POST)
    context: dict[str, Any] = {"form_errors": None}
    if not form.is_valid():
        context["form_errors"] = form.errors
    else:
        c = form.cleaned_data
        answer = _warehouse(c["datasource"], lambda conn: conn.preview(c["source"], PREVIEW_ROWS))
        context["answer"] = answer
        if answer.value is not None:
            columns, rows = answer.value
            context["columns"] = columns
            context["rows"] = [[row.get(col.name) for col in columns] for row in rows]
    return render(request, "imports/setup/_preview.html", context)


# --- wizard: step 2, mapping ------------------------------------------------------------------

_IDENTITY_GUESSES = ("identity", "user_id", "customer_id", "clevertap_id", "email", "id")
_EVENT_NAME_GUESSES = ("event_name", "event", "name")
_TIMESTAMP_GUESSES = ("created_on", "timestamp", "event_time", "occurred_at", "ts", "created_at")


def _guess(columns: list[str], candidates: tuple[str, ...]) -> str:
    lowered = {c.lower(): c for c in columns}
    return next((lowered[c] for c in candidates if c in lowered), "")


def mapping_rows(imp: Import) -> list[dict]:
    """The saved mapping rows with the form's `data_type` choice (a lower-case type name)."""
    return [
        {**row, "data_type": str(row["type"] or "String").lower()} for row in imp.mapping_rows()
    ]


def build_mapping(imp: Import, rows: list[dict]) -> dict:
    """The mapping as stored on the import: `validation.MappingSpec.to_dict()`.

    Raises `validation.MappingError` when the validation engine refuses it.
    """
    from validation import FieldMapping, MappingSpec

    spec = MappingSpec(
        sync_type=imp.sync_type,
        identity_column=imp.identity_column,
        identity_kind=imp.identity_kind,
        event_name_column=imp.event_name_column or None,
        timestamp_column=imp.timestamp_column or None,
        fields=[
            FieldMapping(
                column=row["column"],
                target=row["target"],
                type=row["data_type"],
                date_format=row["date_format"] or None,
            )
            for row in rows
        ],
    )
    return spec.to_dict()


def spec_for(imp: Import):
    from validation import MappingSpec

    return MappingSpec.from_dict(imp.mapping)


def _initial_rows(imp: Import, columns: list[tuple[str, str]], specials: set[str]) -> list[dict]:
    saved = {row["column"]: row for row in mapping_rows(imp)}
    rows = []
    for name, wtype in columns:
        if name in saved:
            rows.append({**saved[name], "include": True, "wtype": wtype})
            continue
        target, data_type = suggest_target(name, wtype)
        rows.append(
            {
                "column": name,
                "include": not saved and name not in specials,
                "target": target,
                "data_type": data_type,
                "date_format": "",
                "wtype": wtype,
            }
        )
    return rows


def _step_mapping(request: HttpRequest, imp: Import) -> HttpResponse:
    answer = _source_columns(imp)
    columns: list[tuple[str, str]] = answer.value or []
    if len(columns) > settings.IMPORT_MAX_MAPPING_COLUMNS:
        # Said before the user fills anything: the POST of a wider form would be refused.
        return render(
            request,
            "imports/setup/step_mapping.html",
            _wizard_context(imp, "mapping", too_many_columns=_too_many_columns(len(columns))),
        )
    duplicate = _duplicate_column([name for name, _ in columns])
    if duplicate:
        return render(
            request,
            "imports/setup/step_mapping.html",
            _wizard_context(imp, "mapping", duplicate_column=duplicate),
        )
    if not columns:
        # Warehouse unreachable: the saved mapping can still be reviewed and edited.
        columns = [(row["column"], "") for row in mapping_rows(imp)]
    names = [name for name, _ in columns]
    types = dict(columns)

    if request.method == "POST":
        posted_sync = request.POST.get("sync_type")
        if (
            posted_sync in Import.SyncType.values
            and posted_sync != imp.sync_type
            and (imp.mapping or imp.identity_column)
        ):
            _clear_mapping(imp, posted_sync)
            _save_config(imp, request.user, MAPPING_FIELDS)
            messages.warning(
                request,
                f"Sync type changed to {imp.get_sync_type_display()}: the mapping was cleared. "
                "Map the columns again.",
            )
            return redirect("imports-wizard", imp.code, "mapping")
        form = MappingForm(request.POST, columns=names)
        formset = column_mapping_formset(len(names))(request.POST, prefix="col")
        if form.is_valid() and formset.is_valid():
            saved = _save_mapping(request, imp, form, formset, set(names))
            if saved:
                messages.success(request, f"Mapping of “{imp.nickname}” saved.")
                return redirect(_next_url(imp, request, "mapping"))
    else:
        specials_initial = {
            "sync_type": imp.sync_type,
            "identity_column": imp.identity_column or _guess(names, _IDENTITY_GUESSES),
            "identity_kind": imp.identity_kind,
            "event_name_column": imp.event_name_column
            or (_guess(names, _EVENT_NAME_GUESSES) if imp.sync_type == "event" else ""),
            "timestamp_column": imp.timestamp_column
            or (_guess(names, _TIMESTAMP_GUESSES) if imp.sync_type == "event" else ""),
            "incremental_column": imp.incremental_column,
        }
        form = MappingForm(initial=specials_initial, columns=names)
        specials = {v for k, v in specials_initial.items() if k.endswith("_column") and v}
        formset = column_mapping_formset(len(names))(
            initial=_initial_rows(imp, columns, specials), prefix="col"
        )

    rows = [(f, types.get(f["column"].value() or "", "")) for f in formset.forms]
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


def _clear_mapping(imp: Import, sync_type: str) -> None:
    imp.sync_type = sync_type
    imp.mapping = {}
    imp.identity_column = ""
    imp.event_name_column = ""
    imp.timestamp_column = ""
    imp.incremental_column = ""


def _save_mapping(request, imp: Import, form, formset, known: set[str]) -> bool:
    c = form.cleaned_data
    rows = []
    for sub in formset.forms:
        data = sub.cleaned_data
        if not data:
            continue
        if data["column"] not in known:
            sub.add_error(None, f"Unknown column “{data['column']}”.")
            return False
        if data.get("include"):
            rows.append(
                {
                    "column": data["column"],
                    "target": data["target"].strip(),
                    "data_type": data["data_type"],
                    "date_format": data.get("date_format", "").strip(),
                }
            )
    duplicates = [t for t, n in Counter(r["target"].lower() for r in rows).items() if n > 1]
    if duplicates:
        for sub in formset.forms:
            if (
                sub.cleaned_data.get("include")
                and sub.cleaned_data["target"].strip().lower() in duplicates
            ):
                sub.add_error("target", "Two columns map to this property.")
        return False
    is_event = c["sync_type"] == Import.SyncType.EVENT
    imp.sync_type = c["sync_type"]
    imp.identity_column = c["identity_column"]
    imp.identity_kind = c["identity_kind"]
    imp.event_name_column = c["event_name_column"] if is_event else ""
    imp.timestamp_column = c["timestamp_column"] if is_event else ""
    imp.incremental_column = c["incremental_column"]
    try:
        imp.mapping = build_mapping(imp, rows)
    except Exception as exc:
        if not _is_mapping_error(exc):
            raise
        _attach_mapping_error(exc, form, formset)
        return False
    _save_config(imp, request.user, MAPPING_FIELDS)
    return True


def _is_mapping_error(exc: Exception) -> bool:
    from validation import MappingError

    return isinstance(exc, MappingError)


def _attach_mapping_error(exc: Exception, form, formset) -> None:
    """Put a `MappingError` on the field it names: a special column or a mapping row."""
    message = str(exc)
    where = getattr(exc, "field", None) or getattr(exc, "column", None)
    if where in form.fields:
        form.add_error(where, message)
        return
    for sub in formset.forms:
        if where and sub.cleaned_data.get("column") == where:
            sub.add_error("target", message)
            return
    form.add_error(None, message)


# --- wizard: step 3, dry run ------------------------------------------------------------------


@dataclass
class DryRunResult:
    total: int = 0
    successful: int = 0
    health: Any = None
    error_groups: list = field(default_factory=list)
    failed_rows: list = field(default_factory=list)
    error: str = ""

    @property
    def failed_count(self) -> int:
        return self.total - self.successful


def _example(value: Any) -> str:
    """An example value as the user should read it: blanks and nulls made visible."""
    if value is None:
        return "null"
    text = str(value)
    return text if text.strip() else "(blank)"


def _dry_run(imp: Import, sample_size: int) -> DryRunResult:
    """Validate up to `sample_size` source rows through the real validation engine.

    Nothing is written: no run, no records, no profiles or events.
    """
    from validation import validate_batch
    from validation.errors import error_summary_key
    from validation.health import compute_health

    try:
        spec = spec_for(imp)
    except Exception as exc:
        if _is_mapping_error(exc) or isinstance(exc, (KeyError, TypeError, ValueError)):
            return DryRunResult(error="The mapping is incomplete: save the Mapping step first.")
        raise

    def read(connector):
        rows: list[dict] = []
        batches = connector.iter_batches(imp.source, batch_size=min(sample_size, 10_000))
        for batch in batches:
            rows.extend(batch[: sample_size - len(rows)])
            if len(rows) >= sample_size:
                break
        return rows

    answer = _warehouse(imp.datasource, read)
    if answer.error:
        return DryRunResult(error=answer.error)
    rows = answer.value
    outcomes = validate_batch(rows, spec)
    result = DryRunResult(total=len(rows))
    groups: dict[tuple[str, str], dict] = {}
    examples: dict[tuple[str, str], list] = defaultdict(list)
    for number, (row, outcome) in enumerate(zip(rows, outcomes, strict=False), start=1):
        if outcome.ok:
            result.successful += 1
            continue
        for err in outcome.errors:
            key = (err.field, err.code)
            group = groups.setdefault(
                key, {"field": err.field, "code": err.code, "message": err.message, "count": 0}
            )
            group["count"] += 1
            value = _example(row.get(err.field))
            if len(examples[key]) < 3 and value not in examples[key]:
                examples[key].append(value)
        if len(result.failed_rows) < 20:
            result.failed_rows.append(
                {
                    "row_number": number,
                    "identity": outcome.identity,
                    "event_name": outcome.event_name,
                    "errors": outcome.errors,
                }
            )
    for key, group in groups.items():
        group["examples"] = examples[key]
    result.error_groups = sorted(
        groups.values(), key=lambda g: error_summary_key(g["code"], g["count"], g["field"])
    )[:10]
    result.health = compute_health(result.total, result.successful)
    return result


def _step_dry_run(request: HttpRequest, imp: Import) -> HttpResponse:
    result = None
    if request.method == "POST" and ("draft" in request.POST or "next" in request.POST):
        return redirect(_next_url(imp, request, "dry-run"))
    form = DryRunForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        result = _dry_run(imp, form.cleaned_data["sample_size"])
    context = _wizard_context(imp, "dry-run", form=form, result=result)
    if request.htmx and request.method == "POST":
        # The sample-size field comes back out of band, with its error or without one.
        response = render(request, "imports/setup/_dry_run_htmx.html", context)
        if form.errors:
            # A refused size leaves the previous result on screen instead of an empty area.
            reswap(response, "none")
        return response
    return render(request, "imports/setup/step_dry_run.html", context)


# --- wizard: step 4, schedule and publish -----------------------------------------------------


def _missing_for_publish(imp: Import) -> list[str]:
    missing = []
    if not imp.source:
        missing.append("a source (step 1)")
    if not imp.identity_column or not imp.mapping:
        missing.append("a mapping with an identity column (step 2)")
    if imp.sync_type == Import.SyncType.EVENT and not imp.event_name_column:
        missing.append("an event name column (step 2)")
    return missing


def _step_schedule(request: HttpRequest, imp: Import) -> HttpResponse:
    form = ScheduleForm(request.POST or None, instance=imp)
    if request.method == "POST" and form.is_valid():
        form.apply(imp)
        publish = "publish" in request.POST and imp.status == Import.Status.DRAFT
        missing = _missing_for_publish(imp) if publish else []
        if missing:
            form.add_error(None, "Before publishing, complete " + ", ".join(missing) + ".")
        else:
            fields = list(SCHEDULE_FIELDS)
            if imp.status == Import.Status.SCHEDULED:
                # The new schedule applies from now; runs in progress are unaffected.
                from imports.scheduling import next_run_after

                imp.next_run_at = next_run_after(imp, timezone.now())
                fields.append("next_run_at")
            _save_config(imp, request.user, fields)
            if publish:
                services.publish_import(imp, request.user)
                messages.success(request, f"“{imp.nickname}” published.")
                return redirect("imports-listing")
            messages.success(request, f"Schedule of “{imp.nickname}” saved.")
            return redirect("imports-listing")
    times = _preview_times(imp, form)
    return render(
        request,
        "imports/setup/step_schedule.html",
        _wizard_context(
            imp, "schedule", form=form, next_times=times, schedule_tz=_schedule_tz(imp, form)
        ),
    )


def _schedule_tz(imp: Import, form: ScheduleForm) -> str:
    """The zone the next run times are shown in: the one chosen in the form, else the saved."""
    if form.is_bound and form.is_valid():
        return form.cleaned_data["schedule_timezone"]
    return imp.schedule_timezone or "UTC"


def _preview_times(imp: Import, form: ScheduleForm):
    if form.is_bound:
        if not form.is_valid():
            return None
        probe = Import(**{f: getattr(imp, f) for f in ("pk", "code", "status")})
        form.apply(probe)
    else:
        probe = imp
    try:
        return next_run_times(probe, timezone.now())
    except Exception:
        logger.warning("next run preview failed for %s", imp.code, exc_info=True)
        return None


@login_required
@require_POST
def schedule_preview(request: HttpRequest, code) -> HttpResponse:
    """The next five run times for the schedule being edited (htmx, live)."""
    imp = get_rw_import_for_user(request, code, _WIZARD_RELATED)
    form = ScheduleForm(request.POST, instance=imp)
    times = _preview_times(imp, form)
    return render(
        request,
        "imports/setup/step_schedule.html#next-runs",
        {"form": form, "next_times": times, "imp": imp, "schedule_tz": _schedule_tz(imp, form)},
    )


# --- duplicate --------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def import_duplicate(request: HttpRequest, code) -> HttpResponse:
    original = get_rw_import_for_user(request, code, _WIZARD_RELATED)
    form = DuplicateForm(request.POST or None, initial={"nickname": f"{original.nickname} (copy)"})
    if request.method == "POST" and form.is_valid():
        copy = Import(
            nickname=form.cleaned_data["nickname"],
            status=Import.Status.DRAFT,
            created_by=request.user,
            updated_by=request.user,
            **{f: getattr(original, f) for f in COPY_FIELDS},
        )
        try:
            with transaction.atomic():
                copy.save()
        except IntegrityError:
            form.add_error("nickname", "An import with this nickname already exists.")
        else:
            messages.success(request, f"“{copy.nickname}” created as a draft copy.")
            return redirect("imports-wizard", copy.code, "source")
    return render(
        request,
        "imports/setup/duplicate.html",
        {"form": form, "original": original, "nav": "settings", "setup_tab": "imports"},
    )
