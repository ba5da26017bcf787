"""URLs for setting imports up: datasources and the create/edit wizard (placeholders for now)."""

from django.urls import path

from imports import setup_views as views

urlpatterns = [
    path("settings/partners/datasources/", views.placeholder, name="datasources-list"),
    path("settings/partners/import-center/new/", views.placeholder, name="imports-create"),
    path(
        "settings/partners/import-center/<uuid:code>/edit/", views.placeholder, name="imports-edit"
    ),
    path(
        "settings/partners/import-center/<uuid:code>/duplicate/",
        views.placeholder,
        name="imports-duplicate",
    ),
]
