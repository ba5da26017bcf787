from django.contrib import admin

from imports.models import (
    Datasource,
    Import,
    ImportRun,
    Profile,
    RunErrorCount,
)


@admin.register(Datasource)
class DatasourceAdmin(admin.ModelAdmin):
    list_display = ["name", "partner", "created_at", "updated_at"]
    list_filter = ["partner"]
    search_fields = ["name"]
    # The secret is write-only everywhere, the admin included.
    exclude = ["secret_encrypted"]


@admin.register(Import)
class ImportAdmin(admin.ModelAdmin):
    list_display = ["nickname", "datasource", "sync_type", "status", "health_band", "next_run_at"]
    list_filter = ["status", "sync_type", "datasource__partner", "health_band"]
    search_fields = ["nickname"]
    raw_id_fields = ["current_run", "last_run", "health_run"]
    list_select_related = ["datasource"]


@admin.register(ImportRun)
class ImportRunAdmin(admin.ModelAdmin):
    list_display = ["code", "import_obj", "state", "trigger", "created_at", "total", "failed"]
    list_filter = ["state", "trigger"]
    list_select_related = ["import_obj"]
    raw_id_fields = ["import_obj"]


@admin.register(RunErrorCount)
class RunErrorCountAdmin(admin.ModelAdmin):
    list_display = ["run", "field", "code", "count"]
    raw_id_fields = ["run"]


@admin.register(Profile)
class ProfileAdmin(admin.ModelAdmin):
    list_display = ["identity", "identity_kind", "updated_at"]
    search_fields = ["identity"]
    show_full_result_count = False
