from django.urls import include, path

from clocher.core import commune_views, operator_views, views

app_name = "core"
_operator_communes_patterns = [
    path("", operator_views.communes, name="operator_communes"),
    path("<str:insee>/", operator_views.commune_detail, name="operator_commune"),
]
_operator_journal_patterns = [
    path("", operator_views.journal, name="operator_audit"),
    path("verifier/", operator_views.journal_verify, name="operator_audit_verify"),
]
_commune_membres_patterns = [
    path("", commune_views.members, name="commune_members"),
    path("import/", commune_views.members_import, name="commune_members_import"),
    path(
        "<int:membership_id>/role/",
        commune_views.member_role,
        name="commune_member_role",
    ),
    path(
        "<int:membership_id>/activation/",
        commune_views.member_toggle,
        name="commune_member_toggle",
    ),
    path(
        "<int:membership_id>/supprimer/",
        commune_views.member_remove,
        name="commune_member_remove",
    ),
    path(
        "<int:membership_id>/invitation/",
        commune_views.member_invite,
        name="commune_member_invite",
    ),
]
urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("operateur/", operator_views.dashboard, name="operator_dashboard"),
    path("operateur/communes/", include(_operator_communes_patterns)),
    path("operateur/prospects/", operator_views.prospects, name="operator_prospects"),
    path("operateur/journal/", include(_operator_journal_patterns)),
    path("c/<str:insee>/", commune_views.console, name="commune_console"),
    path("c/<str:insee>/membres/", include(_commune_membres_patterns)),
]
