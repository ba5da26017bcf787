from django.urls import path

from stats import views

urlpatterns = [
    path("settings/partners/import-center/<uuid:code>/", views.placeholder, name="stats-overview"),
    path(
        "settings/partners/import-center/<uuid:code>/stats/", views.placeholder, name="stats-stats"
    ),
]
