from django.urls import include, path

from clocher.archive import views

app_name = "archive"
_commune_archives_patterns = [
    path("", views.archive_list, name="list"),
    path("versement-seda", views.transfer, name="transfer"),
    path("<int:object_id>/", views.detail, name="detail"),
    path("<int:object_id>/document", views.download, name="download"),
    path("<int:object_id>/preuve.zip", views.evidence, name="evidence"),
    path("<int:object_id>/eliminer", views.propose, name="propose"),
]
_operator_archives_patterns = [
    path("", views.operator, name="operator"),
    path("visa/<int:proposal_id>", views.visa, name="visa"),
    path("regles/<int:rule_id>", views.rule_edit, name="rule_edit"),
    path(
        "objets/<int:object_id>/conservation",
        views.retention_change,
        name="retention_change",
    ),
]
_horodatage_patterns = [
    path("", views.tsa_endpoint, name="tsa"),
    path("certificat.pem", views.tsa_certificate, name="tsa_certificate"),
]
urlpatterns = [
    path("c/<str:insee>/archives/", include(_commune_archives_patterns)),
    path("operateur/archives/", include(_operator_archives_patterns)),
    path("horodatage/", include(_horodatage_patterns)),
]
