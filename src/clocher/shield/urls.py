from django.urls import include, path

from clocher.shield import api, views

app_name = "shield"
_api_patterns = [
    # The boxes' API (docs/shield.md).
    path("shield/enroll", api.enroll, name="api_enroll"),
    path("shield/heartbeat", api.heartbeat, name="api_heartbeat"),
    path("shield/events", api.events, name="api_events"),
    path("shield/policy", api.policy, name="api_policy"),
]
_operator_bouclier_patterns = [
    # The operator's console.
    path("", views.fleet, name="fleet"),
    path("jetons", views.token_issue, name="token_issue"),
    path("boitiers/<uuid:box_id>/", views.box_detail, name="box"),
    path("boitiers/<uuid:box_id>/revoquer", views.box_revoke, name="box_revoke"),
    path("listes/", views.lists, name="lists"),
    path("listes/importer", views.feed_import, name="feed_import"),
    path("listes/autoriser", views.allow_add, name="allow_add"),
    path(
        "listes/autorisations/<int:allow_id>/retirer",
        views.allow_remove,
        name="allow_remove",
    ),
    path(
        "listes/blocages/<int:block_id>/retirer",
        views.block_remove,
        name="block_remove",
    ),
    path("rapport/", views.department_report, name="report"),
    path("rapport.csv", views.department_report_csv, name="report_csv"),
    path("rapport.pdf", views.department_report_pdf, name="report_pdf"),
]
_commune_bouclier_patterns = [
    # A commune's own boxes and report.
    path("", views.commune_home, name="commune"),
    path("pays", views.commune_countries, name="commune_countries"),
    path("ports/fermer", views.commune_port_block, name="commune_port_block"),
    path(
        "ports/<int:port_rule_id>/rouvrir",
        views.commune_port_unblock,
        name="commune_port_unblock",
    ),
    path("rapport/", views.commune_report, name="commune_report"),
    path("rapport.csv", views.commune_report_csv, name="commune_report_csv"),
    path("rapport.pdf", views.commune_report_pdf, name="commune_report_pdf"),
]
urlpatterns = [
    path("api/", include(_api_patterns)),
    path("operateur/bouclier/", include(_operator_bouclier_patterns)),
    path("c/<str:insee>/bouclier/", include(_commune_bouclier_patterns)),
]
