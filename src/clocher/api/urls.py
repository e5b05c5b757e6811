from django.urls import path
from drf_spectacular.views import SpectacularAPIView

from clocher.api import views
from clocher.forecast import api as forecast

app_name = "api"
urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("me/", views.MeView.as_view(), name="me"),
    path("communes/", views.CommuneListView.as_view(), name="communes"),
    path("communes/<str:insee>/", views.CommuneDetailView.as_view(), name="commune"),
    path("communes/<str:insee>/members/", views.MemberListView.as_view(), name="members"),
    path(
        "communes/<str:insee>/members/<int:membership_id>/",
        views.MemberDetailView.as_view(),
        name="member",
    ),
    path(
        "communes/<str:insee>/forecast/series/",
        forecast.SeriesListView.as_view(),
        name="forecast_series_list",
    ),
    path(
        "communes/<str:insee>/forecast/series/<int:series_id>/",
        forecast.SeriesDetailView.as_view(),
        name="forecast_series",
    ),
    path(
        "communes/<str:insee>/forecast/series/<int:series_id>/run/",
        forecast.SeriesRunView.as_view(),
        name="forecast_run",
    ),
    path(
        "communes/<str:insee>/forecast/forecasts/<int:forecast_id>/",
        forecast.ForecastDetailView.as_view(),
        name="forecast",
    ),
]
