from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from clocher.api import views
from clocher.awareness import api as awareness
from clocher.energy.api import urlpatterns as energy_urlpatterns
from clocher.eservices.api import urlpatterns as eservices_urlpatterns
from clocher.finance import api as finance
from clocher.forecast import api as forecast

app_name = "api"
_communes_patterns = [
    path("", views.CommuneListView.as_view(), name="communes"),
    path("<str:insee>/", views.CommuneDetailView.as_view(), name="commune"),
    path("<str:insee>/members/", views.MemberListView.as_view(), name="members"),
    path(
        "<str:insee>/members/<int:membership_id>/",
        views.MemberDetailView.as_view(),
        name="member",
    ),
    path(
        "<str:insee>/forecast/series/",
        forecast.SeriesListView.as_view(),
        name="forecast_series_list",
    ),
    path(
        "<str:insee>/forecast/series/<int:series_id>/",
        forecast.SeriesDetailView.as_view(),
        name="forecast_series",
    ),
    path(
        "<str:insee>/forecast/series/<int:series_id>/run/",
        forecast.SeriesRunView.as_view(),
        name="forecast_run",
    ),
    path(
        "<str:insee>/forecast/forecasts/<int:forecast_id>/",
        forecast.ForecastDetailView.as_view(),
        name="forecast",
    ),
    path("<str:insee>/finance/loans/", finance.LoanListView.as_view(), name="finance_loans"),
    path(
        "<str:insee>/finance/loans/<int:loan_id>/",
        finance.LoanDetailView.as_view(),
        name="finance_loan",
    ),
    path(
        "<str:insee>/finance/loans/<int:loan_id>/schedule/",
        finance.LoanScheduleView.as_view(),
        name="finance_schedule",
    ),
    path(
        "<str:insee>/finance/indicators/",
        finance.IndicatorsView.as_view(),
        name="finance_indicators",
    ),
    path(
        "<str:insee>/awareness/campaigns/",
        awareness.CampaignListView.as_view(),
        name="awareness_campaigns",
    ),
    path(
        "<str:insee>/awareness/results/",
        awareness.ResultsView.as_view(),
        name="awareness_results",
    ),
    path("<str:insee>/awareness/me/", awareness.MeView.as_view(), name="awareness_me"),
]
urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("me/", views.MeView.as_view(), name="me"),
    path("communes/", include(_communes_patterns)),
]

# The energy app's endpoints (documented in clocher.energy.api), in this namespace so that
# they share its authentication and join the isolation matrix's API checks.
urlpatterns += energy_urlpatterns
urlpatterns += eservices_urlpatterns  # documented in clocher.eservices.api
