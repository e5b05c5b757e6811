from django.urls import include, path

from clocher.energy import views

app_name = "energy"
B = "c/<str:insee>/energie/batiments/<int:building_id>/"
_commune_energie_patterns = [
    path("", views.buildings, name="buildings"),
    path("derives/<int:drift_id>/vue", views.acknowledge, name="acknowledge"),
    path("operat.csv", views.operat, name="operat"),
    path("import/", views.import_page, name="import"),
    path(
        "import/<int:energy_import_id>",
        views.import_status,
        name="import_status",
    ),
]
urlpatterns = [
    path("c/<str:insee>/energie/", include(_commune_energie_patterns)),
    path(B, views.building, name="building"),
    path(B + "compteurs", views.add_meter, name="add_meter"),
    path(B + "modele", views.fit, name="fit"),
    path(B + "simulation", views.simulate, name="simulate"),
    path(B + "prevision", views.forecast, name="forecast"),
    path(B + "prevision/<int:forecast_id>", views.forecast_status, name="forecast_status"),
    path(B + "reference", views.reference_year, name="reference_year"),
    path("operateur/energie/", views.operator, name="operator"),
]
