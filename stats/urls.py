from django.urls import path

from stats import views

_BASE = "settings/partners/import-center/<uuid:code>/"
_RUN = _BASE + "stats/runs/<uuid:run_code>/"

urlpatterns = [
    path(_BASE, views.overview, name="stats-overview"),
    path(_BASE + "stats/", views.stats, name="stats-stats"),
    path(_BASE + "stats/export.csv", views.stats_export, name="stats-export"),
    path(_RUN, views.run_detail, name="stats-run-detail"),
    path(_RUN + "row/", views.run_row, name="stats-run-row"),
    path(_RUN + "failed.csv", views.run_failed_export, name="stats-run-failed-export"),
    path(_RUN + "retry/", views.run_retry, name="stats-run-retry"),
]
