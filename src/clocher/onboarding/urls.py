from django.urls import path

from clocher.onboarding import views

app_name = "onboarding"
urlpatterns = [
    path("adhesion/", views.apply, name="apply"),
    path("adhesion/merci/", views.thanks, name="thanks"),
    path("adhesion/commune/", views.commune_lookup, name="commune_lookup"),
    path("operateur/adhesions/", views.applications, name="applications"),
    path("operateur/adhesions/<int:application_id>/", views.application_detail, name="application"),
    path("operateur/provisionnements/", views.runs, name="runs"),
    path("operateur/provisionnements/<int:run_id>/", views.run, name="run"),
    path(
        "operateur/provisionnements/<int:run_id>/etapes/", views.run_fragment, name="run_fragment"
    ),
    path("operateur/provisionnements/<int:run_id>/relancer/", views.run_retry, name="run_retry"),
    path(
        "operateur/communes/<str:insee>/cycle-de-vie/",
        views.commune_lifecycle,
        name="commune_lifecycle",
    ),
    path("operateur/communes/<str:insee>/suspendre/", views.suspend, name="suspend"),
    path("operateur/communes/<str:insee>/reactiver/", views.reactivate, name="reactivate"),
    path("operateur/communes/<str:insee>/depart/", views.depart, name="depart"),
    path("operateur/communes/<str:insee>/export/", views.export_download, name="export_download"),
]
