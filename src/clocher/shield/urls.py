from django.urls import path

from clocher.shield import api, views

app_name = "shield"
urlpatterns = [
    # The boxes' API (docs/shield.md).
    path("api/shield/enroll", api.enroll, name="api_enroll"),
    path("api/shield/heartbeat", api.heartbeat, name="api_heartbeat"),
    path("api/shield/events", api.events, name="api_events"),
    path("api/shield/policy", api.policy, name="api_policy"),
    # The operator's console.
    path("operateur/bouclier/", views.fleet, name="fleet"),
    path("operateur/bouclier/jetons", views.token_issue, name="token_issue"),
    path("operateur/bouclier/boitiers/<uuid:box_id>/", views.box_detail, name="box"),
    path("operateur/bouclier/boitiers/<uuid:box_id>/revoquer", views.box_revoke, name="box_revoke"),
    path("operateur/bouclier/listes/", views.lists, name="lists"),
    path("operateur/bouclier/listes/importer", views.feed_import, name="feed_import"),
    path("operateur/bouclier/listes/autoriser", views.allow_add, name="allow_add"),
    path(
        "operateur/bouclier/listes/autorisations/<int:allow_id>/retirer",
        views.allow_remove,
        name="allow_remove",
    ),
    path(
        "operateur/bouclier/listes/blocages/<int:block_id>/retirer",
        views.block_remove,
        name="block_remove",
    ),
    path("operateur/bouclier/rapport/", views.department_report, name="report"),
    path("operateur/bouclier/rapport.csv", views.department_report_csv, name="report_csv"),
    path("operateur/bouclier/rapport.pdf", views.department_report_pdf, name="report_pdf"),
    # A commune's own boxes and report.
    path("c/<str:insee>/bouclier/", views.commune_home, name="commune"),
    path("c/<str:insee>/bouclier/pays", views.commune_countries, name="commune_countries"),
    path("c/<str:insee>/bouclier/rapport/", views.commune_report, name="commune_report"),
    path("c/<str:insee>/bouclier/rapport.csv", views.commune_report_csv, name="commune_report_csv"),
    path("c/<str:insee>/bouclier/rapport.pdf", views.commune_report_pdf, name="commune_report_pdf"),
]
