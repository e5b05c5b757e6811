from django.urls import include, path

urlpatterns = [
    path("", include("clocher.core.urls")),
    path("", include("clocher.accounts.urls")),
    path("", include("clocher.onboarding.urls")),
    path("api/v1/", include("clocher.api.urls")),
]

handler403 = "clocher.core.views.forbidden"
handler404 = "clocher.core.views.not_found"
