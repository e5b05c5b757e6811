from django.urls import include, path

from clocher.eservices import views

app_name = "eservices"
_commune_patterns = [
    path("", views.commune_audit, name="commune"),
    path("rapport.pdf", views.commune_report_pdf, name="commune_pdf"),
    path(
        "constats/<int:finding_id>/bloquer",
        views.commune_block_port,
        name="commune_block_port",
    ),
]
_operator_patterns = [
    path("", views.operator_overview, name="operator"),
    path("cibles/<int:target_id>/confirmer/", views.operator_confirm, name="confirm"),
]
urlpatterns = [
    path("c/<str:insee>/e-services/", include(_commune_patterns)),
    path("operateur/e-services/", include(_operator_patterns)),
]
