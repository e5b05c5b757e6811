from django.urls import include, path

from clocher.incidents import views

app_name = "incidents"
_operator_incidents_patterns = [
    path("", views.register, name="register"),
    path("<int:incident_id>/", views.detail, name="detail"),
    path("<int:incident_id>/action", views.add_action, name="action"),
    path("<int:incident_id>/avis", views.set_notice, name="notice"),
    path("<int:incident_id>/violation", views.update_breach, name="breach"),
    path("<int:incident_id>/cloture", views.close, name="close"),
    path("<int:incident_id>/cnil.txt", views.cnil_text, name="cnil_txt"),
    path("<int:incident_id>/cnil.pdf", views.cnil_pdf, name="cnil_pdf"),
]
urlpatterns = [
    path("operateur/incidents/", include(_operator_incidents_patterns)),
]
