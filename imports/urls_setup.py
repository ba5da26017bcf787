"""URLs for setting imports up: datasources and the create/edit/duplicate import wizard."""

from django.urls import path

from imports import setup_views as views

DS = "settings/partners/datasources/"
IC = "settings/partners/import-center/"

urlpatterns = [
    path(DS, views.datasources_list, name="datasources-list"),
    path(f"{DS}new/", views.datasource_create, name="datasources-create"),
    path(f"{DS}test/", views.datasource_test_form, name="datasources-test-form"),
    path(f"{DS}<uuid:code>/edit/", views.datasource_edit, name="datasources-edit"),
    path(f"{DS}<uuid:code>/delete/", views.datasource_delete, name="datasources-delete"),
    path(f"{DS}<uuid:code>/test/", views.datasource_test, name="datasources-test"),
    path(f"{IC}new/", views.import_create, name="imports-create"),
    path(f"{IC}preview/", views.import_preview, name="imports-preview"),
    path(f"{IC}<uuid:code>/edit/", views.import_edit, name="imports-edit"),
    path(f"{IC}<uuid:code>/setup/<slug:step>/", views.import_wizard, name="imports-wizard"),
    path(
        f"{IC}<uuid:code>/setup/schedule/next-runs/",
        views.schedule_preview,
        name="imports-schedule-preview",
    ),
    path(f"{IC}<uuid:code>/duplicate/", views.import_duplicate, name="imports-duplicate"),
]
