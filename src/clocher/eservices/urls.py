from django.urls import path

from clocher.eservices import views

app_name = "eservices"
urlpatterns = [
    path("c/<str:insee>/e-services/", views.commune_audit, name="commune"),
]
