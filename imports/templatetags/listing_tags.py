"""Nothing of the listing is left here: its rows are templates/imports/listing.html#import-row
with imports_tags.health_badge and imports_tags.local_time.

The two functions below are only what stats/templatetags/stats_tags.py still imports.
"""

from __future__ import annotations

from html import escape

from django.utils.safestring import SafeString

from validation.health import DESCRIPTIONS, Health


# kept until stats_tags stops importing it
def fast_health_badge(health: Health, show_blank_text: bool = True) -> SafeString:
    """`{% health_badge %}` (imports_tags) without the inclusion template: same markup."""
    band, description = health.band, escape(DESCRIPTIONS[health.band])
    if band == "none":
        return SafeString(
            f'<span class="badge health-none" title="{description}">No indicator</span>'
        )
    if band == "blank":
        note = " · no data processed" if show_blank_text else ""
        return SafeString(
            f'<span class="badge health-blank" title="{description}">Blank{note}</span>'
        )
    return SafeString(
        f'<span class="badge health-{escape(band)}" title="{description}">{escape(health.label)}'
        f' <span class="visually-hidden">({escape(band)})</span></span>'
    )


# kept until stats_tags stops importing it
def local_time_markup(value, zone, fmt: str = "%d %b %Y %H:%M") -> str:
    """imports_tags.local_time's markup for a date in `zone`. Nothing to escape: ISO digits,
    and strftime's fields (digits, month and zone abbreviations)."""
    if value is None:
        return "—"
    local = value.astimezone(zone)
    return (
        f'<time datetime="{value.isoformat()}" title="{local.strftime("%Y-%m-%d %H:%M:%S %Z")}">'
        f"{local.strftime(fmt)}</time>"
    )
