from django.urls import include, path

from clocher.onboarding import views

app_name = "onboarding"
_adhesion_patterns = [
    path("", views.apply, name="apply"),
    path("merci/", views.thanks, name="thanks"),
    path("commune/", views.commune_lookup, name="commune_lookup"),
]
_operator_adhesions_patterns = [
    path("", views.applications, name="applications"),
    path("<int:application_id>/", views.application_detail, name="application"),
]
_operator_provisionnements_patterns = [
    path("", views.runs, name="runs"),
    path("<int:run_id>/", views.run, name="run"),
    path("<int:run_id>/etapes/", views.run_fragment, name="run_fragment"),
    path("<int:run_id>/relancer/", views.run_retry, name="run_retry"),
]
_operator_communes_patterns = [
    path(
        "<str:insee>/cycle-de-vie/",
        views.commune_lifecycle,
        name="commune_lifecycle",
    ),
    path("<str:insee>/suspendre/", views.suspend, name="suspend"),
    path("<str:insee>/reactiver/", views.reactivate, name="reactivate"),
    path("<str:insee>/depart/", views.depart, name="depart"),
    path("<str:insee>/export/", views.export_download, name="export_download"),
]
urlpatterns = [
    path("adhesion/", include(_adhesion_patterns)),
    path("operateur/adhesions/", include(_operator_adhesions_patterns)),
    path("operateur/provisionnements/", include(_operator_provisionnements_patterns)),
    path("operateur/communes/", include(_operator_communes_patterns)),
]
