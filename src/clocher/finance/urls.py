from django.urls import path

from clocher.finance import views

app_name = "finance"
urlpatterns = [
    # A commune's debt.
    path("c/<str:insee>/finances/", views.commune_book, name="commune"),
    path("c/<str:insee>/finances/emprunts/<int:loan_id>/", views.commune_loan, name="loan"),
    path("c/<str:insee>/finances/importer", views.commune_import, name="import"),
    path("c/<str:insee>/finances/epargne", views.commune_savings, name="savings"),
    path("c/<str:insee>/finances/projection", views.commune_projection, name="projection"),
    path("c/<str:insee>/finances/rapport.pdf", views.commune_report_pdf, name="report_pdf"),
    path("c/<str:insee>/finances/rapport.csv", views.commune_report_csv, name="report_csv"),
    # The operator: every commune, its own debt, market data.
    path("operateur/finances/", views.operator_view, name="operator"),
    path("operateur/finances/marches", views.market, name="market"),
    path("operateur/finances/marches/recalcul", views.recompute_status, name="recompute"),
    path("operateur/finances/dette/", views.own_book, name="own"),
    path("operateur/finances/dette/emprunts/<int:loan_id>/", views.own_loan, name="own_loan"),
    path("operateur/finances/dette/importer", views.own_import, name="own_import"),
    path("operateur/finances/dette/epargne", views.own_savings, name="own_savings"),
    path("operateur/finances/dette/rapport.pdf", views.own_report_pdf, name="own_report_pdf"),
    path("operateur/finances/dette/rapport.csv", views.own_report_csv, name="own_report_csv"),
]
