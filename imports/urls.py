"""Listing URLs: the Partners tab, Settings > Partners > Import center, and row actions."""

from django.urls import path

from imports import views

# Every row action (and the wizard's edit/ and duplicate/) is a path under the import's own URL
# (stats-overview): the listing's rows build them on it, one reverse() a row
# (templates/imports/listing.html#row-actions; tests/listing/test_row_actions.py holds it).
_BASE = "settings/partners/import-center/<uuid:code>"

urlpatterns = [
    path("partners/", views.partners, name="imports-partners"),
    path("settings/partners/import-center/", views.listing, name="imports-listing"),
    path(f"{_BASE}/pause/", views.pause, name="imports-pause"),
    path(f"{_BASE}/resume/", views.resume, name="imports-resume"),
    path(f"{_BASE}/stop/", views.stop, name="imports-stop"),
    path(f"{_BASE}/cancel-run/", views.cancel_run, name="imports-cancel-run"),
    path(f"{_BASE}/run-now/", views.run_now, name="imports-run-now"),
    path(f"{_BASE}/delete/", views.delete, name="imports-delete"),
]
