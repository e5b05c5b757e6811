from django.urls import include, path

from clocher.forecast import views

app_name = "forecast"
_commune_previsions_patterns = [
    path("", views.series_list, name="list"),
    path("series/<int:series_id>/", views.series_detail, name="series"),
    path("series/<int:series_id>/calculer", views.run, name="run"),
    path(
        "calculs/<int:forecast_id>/",
        views.forecast_detail,
        name="forecast",
    ),
    path("calculs/<int:forecast_id>/etat", views.status, name="status"),
]
urlpatterns = [
    path("c/<str:insee>/previsions/", include(_commune_previsions_patterns)),
    path("operateur/previsions/", views.operator, name="operator"),
]
