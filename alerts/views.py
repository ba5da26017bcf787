"""The Alerts page (every notification with its deliveries), the Run events page (every
run-lifecycle webhook delivery), the alert settings (default rules and channels), and an
import's alerts (its rules, mute, notifications).

Viewers see everything here; every change needs an Editor (or superuser) and a CSRF token.
"""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from alerts import queries
from alerts.channels import channels_for, sync_environment_channels
from alerts.evaluate import import_alerts as get_import_alerts
from alerts.evaluate import send_test
from alerts.forms import (
    ChannelForm,
    ImportRulesForm,
    MuteForm,
    NotificationFilterForm,
    RulesForm,
    RunEventFilterForm,
)
from alerts.models import AlertDefaults, Channel, ImportAlerts
from imports.access import (
    get_import_for_user,
    get_rw_import_for_user,
    require_editor,
    require_viewer,
)
from imports.roles import can_edit

# "New email channel", "New Slack channel": Slack keeps its capital.
KIND_NOUNS = {
    Channel.Kind.EMAIL: "email",
    Channel.Kind.WEBHOOK: "webhook",
    Channel.Kind.SLACK: "Slack",
}


def _read_only(form, request: HttpRequest):
    """Viewers see the rules as a form they cannot change."""
    if not can_edit(request.user):
        for field in form.fields.values():
            field.disabled = True
    return form


def _notifications_context(request: HttpRequest, **filters) -> dict | None:
    form = NotificationFilterForm(request.GET)
    if not form.is_valid():
        return None
    if form.cleaned_data["event"]:
        filters["event"] = form.cleaned_data["event"]
    page = form.page_number()
    rows, has_older = queries.page_of(queries.notifications(**filters), page)
    return {"notifications": rows, "page": page, "has_older": has_older, "filter_form": form}


@login_required
def alerts_list(request: HttpRequest) -> HttpResponse:
    require_viewer(request)
    ctx = _notifications_context(request)
    if ctx is None:
        return HttpResponseBadRequest("Invalid filter.")
    ctx.update(nav="alerts", alerts_tab="list", active=queries.active_conditions())
    if request.htmx and request.htmx.target == "notifications":
        return render(request, "alerts/list.html#notifications", ctx)
    return render(request, "alerts/list.html", ctx)


@login_required
def run_events(request: HttpRequest) -> HttpResponse:
    """Every run-lifecycle webhook delivery, newest first, with its attempts."""
    require_viewer(request)
    form = RunEventFilterForm(request.GET)
    if not form.is_valid():
        return HttpResponseBadRequest("Invalid filter.")
    page = form.page_number()
    rows, has_older = queries.page_of(queries.run_event_deliveries(**form.filters()), page)
    ctx = {
        "nav": "alerts",
        "alerts_tab": "run_events",
        "deliveries": rows,
        "page": page,
        "has_older": has_older,
        "filter_form": form,
        "newer_query": form.query(page - 1),
        "older_query": form.query(page + 1),
        "subscribed": Channel.objects.filter(enabled=True, kind=Channel.Kind.WEBHOOK)
        .exclude(run_events=Channel.RunEvents.NONE)
        .exists(),
    }
    if request.htmx and request.htmx.target == "run-events":
        return render(request, "alerts/run_events.html#run-events", ctx)
    return render(request, "alerts/run_events.html", ctx)


@login_required
@require_http_methods(["GET", "POST"])
def alerts_settings(request: HttpRequest) -> HttpResponse:
    require_viewer(request)
    defaults = AlertDefaults.load()
    if request.method == "POST":
        require_editor(request)
        form = RulesForm(request.POST, instance=defaults)
        if form.is_valid():
            form.instance.updated_by = request.user
            form.save()
            messages.success(request, "Saved the default alert rules.")
            return redirect("alerts-settings")
    else:
        form = RulesForm(instance=defaults)
    sync_environment_channels()
    ctx = {
        "nav": "alerts",
        "alerts_tab": "settings",
        "form": _read_only(form, request),
        "defaults": defaults,
        "channels": queries.channels_with_last_delivery(),
        "kinds": KIND_NOUNS.items(),
    }
    return render(request, "alerts/settings.html", ctx)


def _settings_channel(request: HttpRequest, code: UUID) -> Channel:
    """A channel made on the settings page (environment channels are changed in the
    environment), for an Editor."""
    require_viewer(request)
    channel = get_object_or_404(Channel, code=code, origin=Channel.Origin.SETTINGS)
    require_editor(request)
    return channel


def _channel_saved(request: HttpRequest, channel: Channel, form: ChannelForm) -> HttpResponse:
    messages.success(request, f"Saved the channel “{channel.name}”.")
    if form.generated_secret:
        messages.info(
            request,
            f"Its signing secret is {form.generated_secret} — copy it into the receiving end "
            "now: it is not shown again.",
        )
    return redirect("alerts-settings")


@login_required
@require_http_methods(["GET", "POST"])
def channel_create(request: HttpRequest, kind: str) -> HttpResponse:
    require_viewer(request)
    require_editor(request)
    if kind not in Channel.Kind.values:
        raise Http404
    form = ChannelForm(request.POST or None, kind=kind)
    if request.method == "POST" and form.is_valid():
        return _channel_saved(request, form.save(request.user), form)
    ctx = {"nav": "alerts", "form": form, "kind_noun": KIND_NOUNS[kind]}
    return render(request, "alerts/channel_form.html", ctx)


@login_required
@require_http_methods(["GET", "POST"])
def channel_edit(request: HttpRequest, code: UUID) -> HttpResponse:
    channel = _settings_channel(request, code)
    form = ChannelForm(request.POST or None, kind=channel.kind, channel=channel)
    if request.method == "POST" and form.is_valid():
        return _channel_saved(request, form.save(request.user), form)
    ctx = {
        "nav": "alerts",
        "form": form,
        "channel": channel,
        "kind_label": channel.get_kind_display(),
    }
    return render(request, "alerts/channel_form.html", ctx)


@login_required
@require_POST
def channel_delete(request: HttpRequest, code: UUID) -> HttpResponse:
    channel = _settings_channel(request, code)
    name = channel.name
    channel.delete()
    messages.success(request, f"Deleted the channel “{name}”. Its past deliveries stay listed.")
    return redirect("alerts-settings")


@login_required
@require_POST
def channel_test(request: HttpRequest, code: UUID) -> HttpResponse:
    require_viewer(request)
    channel = get_object_or_404(Channel, code=code)
    require_editor(request)
    if not channel.enabled:
        messages.error(request, f"“{channel.name}” is disabled: enable it to test it.")
    else:
        send_test(channel, request.user)
        messages.success(
            request,
            f"Sent a test notification to “{channel.name}”. Its delivery shows below and on "
            "the Alerts page.",
        )
    return redirect("alerts-settings")


# --- One import ------------------------------------------------------------------------------


def _alerts_to_show(imp) -> ImportAlerts:
    """The import's alert settings, or (never saved yet) what they would be: a page view writes
    nothing."""
    alerts = ImportAlerts.objects.filter(import_obj=imp).first()
    if alerts is None:
        alerts = ImportAlerts(import_obj=imp)
        alerts.copy_rules_from(AlertDefaults.load())
    return alerts


@login_required
@require_http_methods(["GET", "POST"])
def import_alerts(request: HttpRequest, code: UUID) -> HttpResponse:
    imp = get_import_for_user(request, code, ("health_run",))
    if request.method == "POST":
        require_editor(request)
        alerts = get_import_alerts(imp)
        form = ImportRulesForm(request.POST, instance=alerts)
        if form.is_valid():
            form.instance.updated_by = request.user
            form.save()
            messages.success(request, f"Saved the alert rules of “{imp.nickname}”.")
            return redirect("alerts-import", code=imp.code)
    else:
        alerts = _alerts_to_show(imp)
        form = ImportRulesForm(instance=alerts)
    ctx = _notifications_context(request, import_obj=imp)
    if ctx is None:
        return HttpResponseBadRequest("Invalid filter.")
    if request.htmx and request.htmx.target == "notifications":
        return render(request, "alerts/import_alerts.html#notifications", {"imp": imp, **ctx})
    ctx.update(
        imp=imp,
        tab="alerts",
        alerts=alerts,
        form=_read_only(form, request),
        mute_form=MuteForm(),
        muted=alerts.is_muted(),
        active=queries.active_conditions(import_obj=imp),
        channels_now=channels_for(alerts),
    )
    return render(request, "alerts/import_alerts.html", ctx)


@login_required
@require_POST
def import_mute(request: HttpRequest, code: UUID) -> HttpResponse:
    imp = get_rw_import_for_user(request, code)
    form = MuteForm(request.POST)
    if not form.is_valid():
        return HttpResponseBadRequest("Choose how long to mute.")
    alerts = get_import_alerts(imp)
    alerts.muted_until = timezone.now() + timedelta(hours=form.cleaned_data["hours"])
    alerts.muted_by = request.user
    alerts.save(update_fields=["muted_until", "muted_by", "updated_at"])
    messages.success(
        request,
        f"Muted “{imp.nickname}” for {dict(form.fields['hours'].choices)[form.cleaned_data['hours']]}: "
        "its notifications are listed but not sent.",
    )
    return redirect("alerts-import", code=imp.code)


@login_required
@require_POST
def import_unmute(request: HttpRequest, code: UUID) -> HttpResponse:
    imp = get_rw_import_for_user(request, code)
    alerts = get_import_alerts(imp)
    alerts.muted_until = None
    alerts.muted_by = request.user
    alerts.save(update_fields=["muted_until", "muted_by", "updated_at"])
    messages.success(request, f"Unmuted “{imp.nickname}”.")
    return redirect("alerts-import", code=imp.code)
