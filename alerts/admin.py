from django.contrib import admin

from alerts.models import Channel, Delivery, Notification


@admin.register(Channel)
class ChannelAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "kind",
        "origin",
        "enabled",
        "use_by_default",
        "run_events",
        "target_hint",
    ]
    list_filter = ["kind", "origin", "enabled"]
    # The URL and signing secret are write-only everywhere, the admin included.
    exclude = ["secret_encrypted"]
    readonly_fields = ["origin", "target_hint"]


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["created_at", "event", "condition", "import_nickname", "muted", "summary"]
    list_filter = ["event", "condition", "muted"]
    raw_id_fields = ["import_obj", "run"]


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ["created_at", "event_type", "channel_name", "state", "attempts", "last_error"]
    list_filter = ["state", "channel_kind"]
    raw_id_fields = ["notification", "run", "channel"]
