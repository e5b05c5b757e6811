from django.urls import path

from clocher.incidents import views

app_name = "incidents"
urlpatterns = [
    path("operateur/incidents/", views.register, name="register"),
    path("operateur/incidents/<int:incident_id>/", views.detail, name="detail"),
    path("operateur/incidents/<int:incident_id>/action", views.add_action, name="action"),
    path("operateur/incidents/<int:incident_id>/avis", views.set_notice, name="notice"),
    path("operateur/incidents/<int:incident_id>/violation", views.update_breach, name="breach"),
    path("operateur/incidents/<int:incident_id>/cloture", views.close, name="close"),
    path("operateur/incidents/<int:incident_id>/cnil.txt", views.cnil_text, name="cnil_txt"),
    path("operateur/incidents/<int:incident_id>/cnil.pdf", views.cnil_pdf, name="cnil_pdf"),
]
