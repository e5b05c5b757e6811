from django.urls import path
from drf_spectacular.views import SpectacularAPIView

from clocher.api import views

app_name = "api"
urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("me/", views.MeView.as_view(), name="me"),
    path("communes/", views.CommuneListView.as_view(), name="communes"),
    path("communes/<str:insee>/", views.CommuneDetailView.as_view(), name="commune"),
    path("communes/<str:insee>/members/", views.MemberListView.as_view(), name="members"),
    path(
        "communes/<str:insee>/members/<int:membership_id>/",
        views.MemberDetailView.as_view(),
        name="member",
    ),
]
