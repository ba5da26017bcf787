"""Channels: where a channel sends (its decrypted target), which channels and rules an import
uses, and the channels configured as code (ALERT_* environment variables).

Environment channels are rows too, so their deliveries are listed like any other, but they hold
no secret: their URL and signing secret are read from the settings when a delivery is sent.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.conf import settings
from django.db import IntegrityError, transaction

from alerts.models import AlertDefaults, Channel, ImportAlerts, Rules

Kind = Channel.Kind
SECRET_PREFIX = "whsec_"


@dataclass(frozen=True)
class Target:
    url: str = ""
    signing_secret: str = ""
    recipients: list[str] = field(default_factory=list)


def target_of(channel: Channel) -> Target:
    """The decrypted destination of `channel`; never rendered, never logged."""
    if channel.from_environment:
        if channel.kind == Kind.EMAIL:
            return Target(recipients=list(settings.ALERT_EMAIL_TO))
        if channel.kind == Kind.WEBHOOK:
            return Target(
                url=settings.ALERT_WEBHOOK_URL or "",
                signing_secret=settings.ALERT_WEBHOOK_SECRET or "",
            )
        return Target(url=settings.ALERT_SLACK_WEBHOOK_URL or "")
    secret = channel.get_secret()
    return Target(
        url=secret.get("url", ""),
        signing_secret=secret.get("signing_secret", ""),
        recipients=channel.recipients,
    )


def url_hint(url: str) -> str:
    """What a page may show of a secret URL: its scheme and host (a Slack URL's path is its
    token; a webhook's may hold one too)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}/…" if parts.netloc else ""


def new_signing_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and 24 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


# --- Which rules and channels an import uses -------------------------------------------------


def rules_for(alerts: ImportAlerts | None) -> Rules:
    if alerts is not None and not alerts.follows_defaults:
        return alerts
    return AlertDefaults.load()


def channels_for(alerts: ImportAlerts | None) -> list[Channel]:
    """The enabled channels an import notifies: its own choice, else the default channels
    (environment channels are always among those)."""
    if alerts is not None and not alerts.follows_defaults:
        return list(alerts.channels.filter(enabled=True).order_by("pk"))
    return list(Channel.objects.filter(enabled=True, use_by_default=True).order_by("pk"))


# --- Channels configured as code -------------------------------------------------------------

_ENV_NAMES = {
    Kind.EMAIL: "Email (ALERT_EMAIL_TO)",
    Kind.WEBHOOK: "Webhook (ALERT_WEBHOOK_URL)",
    Kind.SLACK: "Slack (ALERT_SLACK_WEBHOOK_URL)",
}


def _env_shape(kind: str) -> dict:
    """What the environment says of one kind of channel, as the row's fields."""
    if kind == Kind.EMAIL:
        to = ", ".join(settings.ALERT_EMAIL_TO)
        return {"enabled": bool(to), "email_to": to, "target_hint": ""}
    if kind == Kind.SLACK:
        url = settings.ALERT_SLACK_WEBHOOK_URL
        return {"enabled": bool(url), "email_to": "", "target_hint": url_hint(url or "")}
    url = settings.ALERT_WEBHOOK_URL
    return {
        "enabled": bool(url),
        "email_to": "",
        "target_hint": url_hint(url or ""),
        # The deployment's own webhook hears every import's runs when it asks for run events.
        "run_events": settings.RUN_WEBHOOK_EVENTS,
        "run_event_imports": Channel.RunEventImports.ALL,
    }


def sync_environment_channels() -> None:
    """Make the environment channels' rows match the settings: one per configured variable,
    disabled (kept for its deliveries) once the variable is gone. Cheap when nothing changed:
    one query."""
    rows = {c.kind: c for c in Channel.objects.filter(origin=Channel.Origin.ENVIRONMENT)}
    for kind in Kind.values:
        shape = _env_shape(kind)
        row = rows.get(kind)
        if row is None:
            if shape["enabled"]:
                try:
                    with transaction.atomic():
                        Channel.objects.create(
                            name=_ENV_NAMES[kind],
                            kind=kind,
                            origin=Channel.Origin.ENVIRONMENT,
                            use_by_default=True,
                            **shape,
                        )
                except IntegrityError:
                    pass  # another process made it first
        elif any(getattr(row, name) != value for name, value in shape.items()):
            Channel.objects.filter(pk=row.pk).update(**shape)
