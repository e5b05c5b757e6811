from django.urls import path

from clocher.groupware import views

app_name = "groupware"
urlpatterns = [
    path(".well-known/caldav", views.well_known, name="well_known_caldav"),
    path(".well-known/carddav", views.well_known, name="well_known_carddav"),
]
