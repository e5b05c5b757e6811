from django.urls import path

from clocher.supervision import views

app_name = "supervision"
urlpatterns = [path("metrics", views.metrics, name="metrics")]
