from django.urls import path

from clocher.core import commune_views, operator_views, views

app_name = "core"
urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("operateur/", operator_views.dashboard, name="operator_dashboard"),
    path("operateur/communes/", operator_views.communes, name="operator_communes"),
    path("operateur/communes/<str:insee>/", operator_views.commune_detail, name="operator_commune"),
    path("operateur/prospects/", operator_views.prospects, name="operator_prospects"),
    path("operateur/journal/", operator_views.journal, name="operator_audit"),
    path(
        "operateur/journal/verifier/", operator_views.journal_verify, name="operator_audit_verify"
    ),
    path("c/<str:insee>/", commune_views.console, name="commune_console"),
    path("c/<str:insee>/membres/", commune_views.members, name="commune_members"),
    path(
        "c/<str:insee>/membres/import/", commune_views.members_import, name="commune_members_import"
    ),
    path(
        "c/<str:insee>/membres/<int:membership_id>/role/",
        commune_views.member_role,
        name="commune_member_role",
    ),
    path(
        "c/<str:insee>/membres/<int:membership_id>/activation/",
        commune_views.member_toggle,
        name="commune_member_toggle",
    ),
    path(
        "c/<str:insee>/membres/<int:membership_id>/supprimer/",
        commune_views.member_remove,
        name="commune_member_remove",
    ),
    path(
        "c/<str:insee>/membres/<int:membership_id>/invitation/",
        commune_views.member_invite,
        name="commune_member_invite",
    ),
]
