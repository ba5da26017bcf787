from django.urls import path

from imports import views

urlpatterns = [
    path("partners/", views.partners, name="imports-partners"),
    path("settings/partners/import-center/", views.listing, name="imports-listing"),
]
