"""The Alerts card of an import's Overview (templates/alerts/_import_card.html): the page's
view belongs to stats/, so the card fetches what it shows itself. It stays brief (the latest
three, deliveries without their attempts, which the import's Alerts page lists): the full list
made the Overview ~1.6x slower (bench/alerts.py)."""

from __future__ import annotations

from django import template

from alerts import queries
from alerts.models import ImportAlerts
from imports.models import Import

register = template.Library()

RECENT = 3


@register.simple_tag
def import_alert_summary(imp: Import) -> dict:
    alerts = ImportAlerts.objects.filter(import_obj=imp).only("muted_until").first()
    return {
        "alerts": alerts,
        "muted": alerts is not None and alerts.is_muted(),
        "active": queries.active_conditions(import_obj=imp),
        "recent": list(queries.notifications(attempts=False, import_obj=imp)[:RECENT]),
    }
