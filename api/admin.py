from django.contrib import admin

from api.models import ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Superusers see every token and can revoke one (set Revoked at); the hash is never shown
    and no token can be created here (only the page and `create_api_token` show one)."""

    list_display = ["name", "user", "prefix", "access", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["access"]
    search_fields = ["name", "user__username", "prefix"]
    exclude = ["key_hash"]
    readonly_fields = ["user", "prefix", "access", "created_at", "last_used_at"]

    def has_add_permission(self, request) -> bool:
        return False
