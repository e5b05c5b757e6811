from django.urls import path

from clocher.energy import views

app_name = "energy"
B = "c/<str:insee>/energie/batiments/<int:building_id>/"
urlpatterns = [
    path("c/<str:insee>/energie/", views.buildings, name="buildings"),
    path(B, views.building, name="building"),
    path(B + "compteurs", views.add_meter, name="add_meter"),
    path(B + "modele", views.fit, name="fit"),
    path(B + "simulation", views.simulate, name="simulate"),
    path(B + "prevision", views.forecast, name="forecast"),
    path(B + "prevision/<int:forecast_id>", views.forecast_status, name="forecast_status"),
    path(B + "reference", views.reference_year, name="reference_year"),
    path("c/<str:insee>/energie/derives/<int:drift_id>/vue", views.acknowledge, name="acknowledge"),
    path("c/<str:insee>/energie/operat.csv", views.operat, name="operat"),
    path("c/<str:insee>/energie/import/", views.import_page, name="import"),
    path(
        "c/<str:insee>/energie/import/<int:energy_import_id>",
        views.import_status,
        name="import_status",
    ),
    path("operateur/energie/", views.operator, name="operator"),
]
