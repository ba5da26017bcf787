"""The API under /api/v1/, /metrics, and the API tokens page."""

from django.urls import path, re_path

from api import metrics, v1, views

urlpatterns = [
    path("api/v1/", v1.api.urls),
    re_path(r"^api/(?P<rest>.*)$", v1.not_found),
    path("metrics", metrics.metrics_view, name="api-metrics"),
    path("settings/api-tokens/", views.tokens_page, name="api-tokens"),
    path("settings/api-tokens/<uuid:code>/revoke/", views.revoke, name="api-token-revoke"),
]
