from django.urls import path

from clocher.awareness import views

app_name = "awareness"
urlpatterns = [
    path("c/<str:insee>/sensibilisation/", views.programme, name="programme"),
    # Public by design: the secret token of one message is the only key (tests/test_isolation).
    path("sensibilisation/l/<str:lure>/", views.landing, name="landing"),
    path("sensibilisation/o/<str:lure>/image.gif", views.opened, name="open"),
    # The mail servers' relay (awareness.relay), with their shared secret.
    path("interne/sensibilisation/signalement", views.report_in, name="report_in"),
    path("operateur/sensibilisation/", views.operator_queue, name="queue"),
]
