from django.urls import path

from clocher.awareness import views

app_name = "awareness"
urlpatterns = [
    path("c/<str:insee>/sensibilisation/", views.programme, name="programme"),
    # Public by design: the secret token of one message is the only key (tests/test_isolation).
    path("sensibilisation/l/<str:lure>/", views.landing, name="landing"),
    path("sensibilisation/l/<str:lure>/clic", views.clicked, name="click"),
    path("sensibilisation/o/<str:lure>/image.gif", views.opened, name="open"),
    # The mail servers' relay (awareness.relay), with their shared secret.
    path("interne/sensibilisation/signalement", views.report_in, name="report_in"),
    path("operateur/sensibilisation/", views.operator_queue, name="queue"),
    path("operateur/sensibilisation/modeles/", views.operator_templates, name="templates"),
    path(
        "c/<str:insee>/sensibilisation/modeles/",
        views.commune_templates,
        name="commune_templates",
    ),
    path(
        "c/<str:insee>/sensibilisation/resultats.csv",
        views.results_export,
        {"fmt": "csv"},
        name="results_csv",
    ),
    path(
        "c/<str:insee>/sensibilisation/resultats.pdf",
        views.results_export,
        {"fmt": "pdf"},
        name="results_pdf",
    ),
    path(
        "operateur/sensibilisation/resultats.csv",
        views.operator_results,
        {"fmt": "csv"},
        name="operator_results_csv",
    ),
    path(
        "operateur/sensibilisation/resultats.pdf",
        views.operator_results,
        {"fmt": "pdf"},
        name="operator_results_pdf",
    ),
]
