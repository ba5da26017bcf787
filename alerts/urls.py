"""Alert URLs: the Alerts page, run events and settings, and each import's alerts."""

from django.urls import path

from alerts import views

_IMPORT = "settings/partners/import-center/<uuid:code>/alerts/"

urlpatterns = [
    path("alerts/", views.alerts_list, name="alerts-list"),
    path("alerts/run-events/", views.run_events, name="alerts-run-events"),
    path("alerts/settings/", views.alerts_settings, name="alerts-settings"),
    path("alerts/channels/new/<slug:kind>/", views.channel_create, name="alerts-channel-create"),
    path("alerts/channels/<uuid:code>/edit/", views.channel_edit, name="alerts-channel-edit"),
    path("alerts/channels/<uuid:code>/delete/", views.channel_delete, name="alerts-channel-delete"),
    path("alerts/channels/<uuid:code>/test/", views.channel_test, name="alerts-channel-test"),
    path(_IMPORT, views.import_alerts, name="alerts-import"),
    path(_IMPORT + "mute/", views.import_mute, name="alerts-import-mute"),
    path(_IMPORT + "unmute/", views.import_unmute, name="alerts-import-unmute"),
]
