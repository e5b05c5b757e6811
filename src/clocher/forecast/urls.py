from django.urls import path

from clocher.forecast import views

app_name = "forecast"
urlpatterns = [
    path("c/<str:insee>/previsions/", views.series_list, name="list"),
    path("c/<str:insee>/previsions/series/<int:series_id>/", views.series_detail, name="series"),
    path("c/<str:insee>/previsions/series/<int:series_id>/calculer", views.run, name="run"),
    path(
        "c/<str:insee>/previsions/calculs/<int:forecast_id>/",
        views.forecast_detail,
        name="forecast",
    ),
    path("c/<str:insee>/previsions/calculs/<int:forecast_id>/etat", views.status, name="status"),
    path("operateur/previsions/", views.operator, name="operator"),
]
