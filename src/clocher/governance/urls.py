from django.urls import include, path

from clocher.governance import views

app_name = "governance"
_commune_patterns = [
    path("", views.commune_page, name="commune"),
    path("registre.pdf", views.commune_register_pdf, name="commune_pdf"),
    path("registre.ods", views.commune_register_ods, name="commune_ods"),
    path("effacement/", views.commune_erasure_list, name="commune_erasure_list"),
    path("effacement/<int:membership_id>/", views.commune_erasure, name="commune_erasure"),
]
_operator_patterns = [
    path("", views.operator_page, name="operator"),
    path("registre.pdf", views.operator_register_pdf, name="operator_pdf"),
    path("registre.ods", views.operator_register_ods, name="operator_ods"),
    path("effacement/", views.operator_erasure, name="operator_erasure"),
]
urlpatterns = [
    path("c/<str:insee>/gouvernance/", include(_commune_patterns)),
    path("operateur/gouvernance/", include(_operator_patterns)),
    path("compte/mes-donnees/", views.my_data, name="my_data"),
]
