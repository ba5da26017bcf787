from django.urls import path

from history import views

urlpatterns = [
    path(
        "settings/partners/import-center/<uuid:code>/history/",
        views.import_history,
        name="history-import",
    ),
    path(
        "settings/partners/datasources/<uuid:code>/history/",
        views.datasource_history,
        name="history-datasource",
    ),
]
