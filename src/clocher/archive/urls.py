from django.urls import path

from clocher.archive import views

app_name = "archive"
urlpatterns = [
    path("c/<str:insee>/archives/", views.archive_list, name="list"),
    path("c/<str:insee>/archives/versement-seda", views.transfer, name="transfer"),
    path("c/<str:insee>/archives/<int:object_id>/", views.detail, name="detail"),
    path("c/<str:insee>/archives/<int:object_id>/document", views.download, name="download"),
    path("c/<str:insee>/archives/<int:object_id>/preuve.zip", views.evidence, name="evidence"),
    path("c/<str:insee>/archives/<int:object_id>/eliminer", views.propose, name="propose"),
    path("operateur/archives/", views.operator, name="operator"),
    path("operateur/archives/visa/<int:proposal_id>", views.visa, name="visa"),
    path("operateur/archives/regles/<int:rule_id>", views.rule_edit, name="rule_edit"),
    path(
        "operateur/archives/objets/<int:object_id>/conservation",
        views.retention_change,
        name="retention_change",
    ),
    path("horodatage/", views.tsa_endpoint, name="tsa"),
    path("horodatage/certificat.pem", views.tsa_certificate, name="tsa_certificate"),
]
