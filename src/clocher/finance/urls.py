from django.urls import include, path

from clocher.finance import views

app_name = "finance"
_commune_finances_patterns = [
    # A commune's debt.
    path("", views.commune_book, name="commune"),
    path("emprunts/<int:loan_id>/", views.commune_loan, name="loan"),
    path("importer", views.commune_import, name="import"),
    path("epargne", views.commune_savings, name="savings"),
    path("projection", views.commune_projection, name="projection"),
    path("rapport.pdf", views.commune_report_pdf, name="report_pdf"),
    path("rapport.csv", views.commune_report_csv, name="report_csv"),
]
_operator_finances_patterns = [
    # The operator: every commune, its own debt, market data.
    path("", views.operator_view, name="operator"),
    path("marches", views.market, name="market"),
    path("marches/recalcul", views.recompute_status, name="recompute"),
    path("dette/", views.own_book, name="own"),
    path("dette/emprunts/<int:loan_id>/", views.own_loan, name="own_loan"),
    path("dette/importer", views.own_import, name="own_import"),
    path("dette/epargne", views.own_savings, name="own_savings"),
    path("dette/rapport.pdf", views.own_report_pdf, name="own_report_pdf"),
    path("dette/rapport.csv", views.own_report_csv, name="own_report_csv"),
]
urlpatterns = [
    path("c/<str:insee>/finances/", include(_commune_finances_patterns)),
    path("operateur/finances/", include(_operator_finances_patterns)),
]
