from django.urls import URLPattern, URLResolver, include, path, re_path
from drf_spectacular.views import SpectacularAPIView

from clocher.api import accounts, archive, mail, shield, vault, views
from clocher.api.common import not_found
from clocher.awareness import api as awareness
from clocher.energy.api import urlpatterns as energy_urlpatterns
from clocher.eservices.api import urlpatterns as eservices_urlpatterns
from clocher.finance import api as finance
from clocher.forecast import api as forecast

app_name = "api"
# The first-wave services, each module's docstring listing its endpoints and payloads.
_mailbox_patterns = [
    path("", mail.MailboxDetailView.as_view(), name="mailbox"),
    path("disable/", mail.MailboxActivationView.as_view(active=False), name="mailbox_disable"),
    path("enable/", mail.MailboxActivationView.as_view(active=True), name="mailbox_enable"),
]
_mail_patterns: list[URLPattern | URLResolver] = [
    path("mailboxes/", mail.MailboxListView.as_view(), name="mailboxes"),
    path("mailboxes/<int:mailbox_id>/", include(_mailbox_patterns)),
    path("aliases/", mail.AliasListView.as_view(), name="aliases"),
    path("aliases/<int:alias_id>/", mail.AliasDetailView.as_view(), name="alias"),
]
_vault_patterns = [
    path("usage/", vault.UsageView.as_view(), name="vault_usage"),
    path("shares/", vault.ShareListView.as_view(), name="vault_shares"),
    path(
        "shares/<int:share_id>/revoke/",
        vault.ShareRevokeView.as_view(),
        name="vault_share_revoke",
    ),
    path(
        "nodes/<int:node_id>/shares/",
        vault.NodeShareListView.as_view(),
        name="vault_node_shares",
    ),
]
_archive_patterns = [
    path("objects/", archive.ObjectListView.as_view(), name="archive_objects"),
    path("objects/<int:object_id>/", archive.ObjectDetailView.as_view(), name="archive_object"),
    path(
        "objects/<int:object_id>/evidence/",
        archive.EvidenceView.as_view(),
        name="archive_evidence",
    ),
]
_shield_patterns = [
    path("boxes/", shield.CommuneBoxListView.as_view(), name="shield_boxes"),
    path("boxes/<uuid:box_id>/", shield.CommuneBoxDetailView.as_view(), name="shield_box"),
    path("report/", shield.CommuneReportView.as_view(), name="shield_report"),
    path("ports/", shield.CommunePortListView.as_view(), name="shield_ports"),
    path(
        "ports/<int:port_rule_id>/",
        shield.CommunePortDetailView.as_view(),
        name="shield_port",
    ),
]
_me_patterns = [
    path("", views.MeView.as_view(), name="me"),
    path("app-passwords/", accounts.AppPasswordListView.as_view(), name="app_passwords"),
    path(
        "app-passwords/<int:app_password_id>/revoke/",
        accounts.AppPasswordRevokeView.as_view(),
        name="app_password_revoke",
    ),
]
_operator_shield_patterns = [
    path("boxes/", shield.FleetView.as_view(), name="shield_fleet"),
    path("report/", shield.DepartmentReportView.as_view(), name="shield_department_report"),
]
_communes_patterns: list[URLPattern | URLResolver] = [
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
    path("<str:insee>/mail/", include(_mail_patterns)),
    path("<str:insee>/vault/", include(_vault_patterns)),
    path("<str:insee>/archive/", include(_archive_patterns)),
    path("<str:insee>/shield/", include(_shield_patterns)),
]
urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("me/", include(_me_patterns)),
    path("communes/", include(_communes_patterns)),
    path("shield/", include(_operator_shield_patterns)),
]

# The energy app's endpoints (documented in clocher.energy.api), in this namespace so that
# they share its authentication and join the isolation matrix's API checks.
urlpatterns += energy_urlpatterns
urlpatterns += eservices_urlpatterns  # documented in clocher.eservices.api

# Last: any other path under /api/v1/ is a JSON 404, as the routes answer (unnamed, so
# the isolation matrix, which walks named routes, does not try it).
urlpatterns.append(re_path(r"^.*$", not_found))
