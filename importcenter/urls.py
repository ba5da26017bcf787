"""Root URLs. The listing lives where the reference puts it: Settings > Partners > Import center."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from importcenter.health import healthz

# Errors raised outside a view (a session saved by its middleware) reach this handler, not the
# middleware: a database outage answers the 503 page there too.
handler500 = "imports.middleware.server_error"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="imports-listing", permanent=False)),
    path("healthz", healthz, name="healthz"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("", include("imports.urls")),
    path("", include("imports.urls_setup")),
    path("", include("stats.urls")),
    path("", include("history.urls")),
    path("", include("api.urls")),
    path("", include("alerts.urls")),
]
