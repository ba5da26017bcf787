"""Forms of the alert pages: the rules (defaults, or an import's own), channels, mute, and the
Alerts page's filters. Channel URLs and signing secrets are write-only (`SecretInput`)."""

from __future__ import annotations

import base64
import binascii
from urllib.parse import urlencode

from django import forms
from django.core.validators import validate_email

from alerts.channels import SECRET_PREFIX, new_signing_secret, url_hint
from alerts.models import AlertDefaults, Channel, Delivery, ImportAlerts, Notification, Rules
from imports.forms import SecretInput

MAX_RECIPIENTS = 20


class RulesForm(forms.ModelForm):
    class Meta:
        model = AlertDefaults
        fields = Rules.RULE_FIELDS
        widgets = {
            "health_threshold": forms.RadioSelect,
            "freshness": forms.RadioSelect,
        }
        labels = {
            "alert_on_failure": "Run failed",
            "health_threshold": "Health below a threshold",
            "health_below_percent": "Percentage",
            "alert_on_blank": "No records processed (Blank)",
            "alert_on_count_mismatch": "Record count differs from the source's COUNT",
            "count_drop_percent": "Record count drops by more than (%)",
            "skipped_in_a_row": "Runs skipped in a row",
            "freshness": "No completed run for longer than",
            "freshness_value": "Intervals or hours",
        }

    def clean(self):
        data = super().clean()
        threshold = data.get("health_threshold")
        percent = data.get("health_below_percent")
        if threshold == Rules.HealthThreshold.PERCENT and (
            percent is None or not 0 < percent <= 100
        ):
            self.add_error("health_below_percent", "Give a percentage above 0 and up to 100.")
        drop = data.get("count_drop_percent")
        if drop is not None and not 1 <= drop <= 100:
            self.add_error("count_drop_percent", "Give a percentage from 1 to 100, or leave empty.")
        if data.get("skipped_in_a_row") == 0:
            self.add_error("skipped_in_a_row", "Give at least 1, or leave empty to switch it off.")
        value = data.get("freshness_value")
        if data.get("freshness") != Rules.Freshness.OFF and (
            value is None or not 1 <= value <= 10_000
        ):
            self.add_error("freshness_value", "Give a number from 1 to 10,000.")
        return data


class ImportRulesForm(RulesForm):
    follows_defaults = forms.TypedChoiceField(
        label="This import's alerts",
        choices=[(True, "Follow the defaults"), (False, "Use its own rules and channels")],
        coerce=lambda value: value in (True, "True"),
        widget=forms.RadioSelect,
    )

    class Meta(RulesForm.Meta):
        model = ImportAlerts
        fields = ("follows_defaults", *Rules.RULE_FIELDS, "channels")
        widgets = {**RulesForm.Meta.widgets, "channels": forms.CheckboxSelectMultiple}
        labels = RulesForm.Meta.labels

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["channels"].queryset = Channel.objects.filter(enabled=True)
        self.fields["channels"].help_text = "Notified when this import uses its own rules."


def _decoded_secret(value: str) -> bytes:
    try:
        return base64.b64decode(value.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        return b""


class ChannelForm(forms.Form):
    """One form for the three kinds; it keeps only the fields of its kind."""

    name = forms.CharField(max_length=100)
    email_to = forms.CharField(
        label="Recipients",
        max_length=2000,
        required=False,
        help_text="Email addresses, separated by commas.",
    )
    url = forms.URLField(
        label="URL",
        max_length=2000,
        required=False,
        assume_scheme="https",
        widget=SecretInput,
    )
    signing_secret = forms.CharField(
        label="Signing secret",
        max_length=200,
        required=False,
        widget=SecretInput,
        help_text="whsec_ and base64 (Standard Webhooks). Leave empty to have one made for "
        "you: it is shown once, after saving.",
    )
    enabled = forms.BooleanField(required=False, initial=True)
    use_by_default = forms.BooleanField(
        label="Notify for every import that follows the defaults", required=False, initial=True
    )
    run_events = forms.ChoiceField(
        label="Run events",
        choices=Channel.RunEvents.choices,
        initial=Channel.RunEvents.NONE,
        required=False,
        widget=forms.RadioSelect,
        help_text="Besides alerts, a signed POST when runs start and end (run.started, "
        "run.completed, run.failed, run.stopped, run.skipped), with the run's figures.",
    )
    run_event_imports = forms.ChoiceField(
        label="Run events of",
        choices=Channel.RunEventImports.choices,
        initial=Channel.RunEventImports.ALERTING,
        required=False,
        widget=forms.RadioSelect,
        help_text="The imports this channel alerts for: those following the defaults when it "
        "notifies for them, and those that chose it for their own rules.",
    )

    KIND_FIELDS = {
        Channel.Kind.EMAIL: ("email_to",),
        Channel.Kind.WEBHOOK: ("url", "signing_secret", "run_events", "run_event_imports"),
        Channel.Kind.SLACK: ("url",),
    }
    KIND_ONLY = ("email_to", "url", "signing_secret", "run_events", "run_event_imports")

    def __init__(self, *args, kind: str, channel: Channel | None = None, **kwargs):
        # Unbound (the edit page's GET passes `request.POST or None`): show what is stored.
        if channel is not None and (not args or args[0] is None) and "initial" not in kwargs:
            kwargs["initial"] = {
                "name": channel.name,
                "email_to": channel.email_to,
                "enabled": channel.enabled,
                "use_by_default": channel.use_by_default,
                "run_events": channel.run_events,
                "run_event_imports": channel.run_event_imports,
            }
        super().__init__(*args, **kwargs)
        self.kind, self.channel = kind, channel
        for name in set(self.KIND_ONLY) - set(self.KIND_FIELDS[kind]):
            del self.fields[name]
        if "url" in self.fields:
            self.fields["url"].label = (
                "Slack incoming-webhook URL" if kind == Channel.Kind.SLACK else "Endpoint URL"
            )
            self.fields["url"].required = channel is None
            if channel is not None:
                self.fields[
                    "url"
                ].help_text = (
                    f"Stored ({channel.target_hint}), never shown. Leave empty to keep it."
                )
        if "signing_secret" in self.fields and channel is not None:
            self.fields["signing_secret"].help_text = "Stored, never shown. Leave empty to keep it."
        self.generated_secret = ""

    def clean_email_to(self) -> str:
        addresses = [a.strip() for a in self.cleaned_data["email_to"].split(",") if a.strip()]
        if not addresses:
            raise forms.ValidationError("Give at least one email address.")
        if len(addresses) > MAX_RECIPIENTS:
            raise forms.ValidationError(f"Give at most {MAX_RECIPIENTS} addresses.")
        for address in addresses:
            try:
                validate_email(address)
            except forms.ValidationError:
                raise forms.ValidationError(f"“{address}” is not an email address.") from None
        return ", ".join(addresses)

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        if url and not url.lower().startswith(("https://", "http://")):
            raise forms.ValidationError("Give an http:// or https:// URL.")
        return url

    def clean_signing_secret(self) -> str:
        secret = self.cleaned_data["signing_secret"].strip()
        if secret and len(_decoded_secret(secret)) < 16:
            raise forms.ValidationError(
                "Give whsec_ followed by base64 of at least 16 bytes, or leave it empty."
            )
        return secret

    def save(self, user) -> Channel:
        channel = self.channel or Channel(kind=self.kind, created_by=user)
        data = self.cleaned_data
        channel.name = data["name"]
        channel.enabled = data["enabled"]
        channel.use_by_default = data["use_by_default"]
        channel.updated_by = user
        if self.kind == Channel.Kind.EMAIL:
            channel.email_to = data["email_to"]
        else:
            secret = channel.get_secret() if channel.pk else {}
            if data.get("url"):
                secret["url"] = data["url"]
                channel.target_hint = url_hint(data["url"])
            if self.kind == Channel.Kind.WEBHOOK:
                # Left out (a form from before run events): what the channel had.
                channel.run_events = data.get("run_events") or channel.run_events
                channel.run_event_imports = (
                    data.get("run_event_imports") or channel.run_event_imports
                )
                if data.get("signing_secret"):
                    secret["signing_secret"] = data["signing_secret"]
                elif not secret.get("signing_secret"):
                    self.generated_secret = secret["signing_secret"] = new_signing_secret()
            channel.set_secret(secret)
        channel.save()
        return channel


class MuteForm(forms.Form):
    hours = forms.TypedChoiceField(
        label="Mute for",
        coerce=int,
        choices=[(1, "1 hour"), (4, "4 hours"), (24, "1 day"), (168, "7 days")],
    )


class NotificationFilterForm(forms.Form):
    """The Alerts page's query string; anything invalid answers 400."""

    event = forms.ChoiceField(choices=[("", "All"), *Notification.Event.choices], required=False)
    page = forms.IntegerField(min_value=1, max_value=100_000, required=False)

    def page_number(self) -> int:
        return self.cleaned_data.get("page") or 1


RUN_EVENT_TYPES = [("", "All events")] + [
    (f"run.{event}", f"run.{event}")
    for event in ("started", "completed", "failed", "stopped", "skipped")
]


class RunEventFilterForm(forms.Form):
    """The Run events page's query string; anything invalid answers 400."""

    type = forms.ChoiceField(label="Event", choices=RUN_EVENT_TYPES, required=False)
    state = forms.ChoiceField(
        label="Outcome", choices=[("", "Any outcome"), *Delivery.State.choices], required=False
    )
    page = forms.IntegerField(min_value=1, max_value=100_000, required=False)

    def filters(self) -> dict:
        data = self.cleaned_data
        found = {"event_type": data["type"], "state": data["state"]}
        return {name: value for name, value in found.items() if value}

    def page_number(self) -> int:
        return self.cleaned_data.get("page") or 1

    def query(self, page: int) -> str:
        """The query string of another page with the same filters."""
        return urlencode({**self.filters_query(), "page": page})

    def filters_query(self) -> dict:
        data = self.cleaned_data
        return {name: data[name] for name in ("type", "state") if data.get(name)}
