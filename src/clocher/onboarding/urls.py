from django.urls import path

app_name = "onboarding"
urlpatterns: list = []
