"""The queries of the alert pages: notifications with their deliveries and attempts, run-event
deliveries with their attempts, what is active now, and each channel's latest delivery. Each
page's cost is flat in its rows."""

from __future__ import annotations

from django.db.models import OuterRef, Prefetch, QuerySet, Subquery

from alerts.models import Channel, ConditionState, Delivery, DeliveryAttempt, Notification

PAGE_SIZE = 25

_NOTE_FIELDS = (
    "id",
    "code",
    "import_obj__code",
    "import_obj__nickname",
    "import_nickname",
    "condition",
    "event",
    "summary",
    "run__code",
    "run__created_at",
    "muted",
    "held",
    "created_at",
)


def notifications(attempts: bool = True, **filters) -> QuerySet[Notification]:
    """Notifications newest first, each with its deliveries and (unless `attempts` is False)
    their attempts: three queries in all, whatever the number of rows."""
    deliveries = Delivery.objects.defer("payload")
    if attempts:
        deliveries = deliveries.prefetch_related(
            Prefetch("attempts_made", queryset=DeliveryAttempt.objects.order_by("number"))
        )
    return (
        Notification.objects.filter(**filters)
        .select_related("import_obj", "run")
        .only(*_NOTE_FIELDS)
        .prefetch_related(Prefetch("deliveries", queryset=deliveries))
        .order_by("-created_at", "-id")
    )


def run_event_deliveries(**filters) -> QuerySet[Delivery]:
    """Run-event deliveries (those of no notification) newest first, with their attempts and
    runs: three queries in all, whatever the number of rows."""
    return (
        Delivery.objects.filter(notification__isnull=True, **filters)
        .select_related("run__import_obj")
        .only(
            *(f.name for f in Delivery._meta.concrete_fields),
            "run__code",
            "run__import_obj__code",
            "run__import_obj__nickname",
        )
        .prefetch_related(
            Prefetch("attempts_made", queryset=DeliveryAttempt.objects.order_by("number"))
        )
        .order_by("-created_at", "-id")
    )


def page_of(queryset: QuerySet, page: int, size: int = PAGE_SIZE) -> tuple[list, bool]:
    """One page of rows and whether older ones follow (one row more, no COUNT)."""
    start = (page - 1) * size
    rows = list(queryset[start : start + size + 1])
    return rows[:size], len(rows) > size


def active_conditions(**filters) -> list[ConditionState]:
    return list(
        ConditionState.objects.filter(active=True, **filters)
        .select_related("import_obj")
        .only(
            "condition",
            "since",
            "summary",
            "announced",
            "import_obj__code",
            "import_obj__nickname",
        )
        .order_by("-since")[:200]
    )


def channels_with_last_delivery() -> list[Channel]:
    latest = Delivery.objects.filter(channel=OuterRef("pk")).order_by("-created_at", "-id")
    return list(
        Channel.objects.annotate(
            last_state=Subquery(latest.values("state")[:1]),
            last_at=Subquery(latest.values("created_at")[:1]),
            last_error=Subquery(latest.values("last_error")[:1]),
            last_type=Subquery(latest.values("event_type")[:1]),
        ).order_by("origin", "name")
    )
