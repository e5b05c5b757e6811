from django.conf import settings
from django.urls import include, path

urlpatterns = [
    path("", include("clocher.core.urls")),
    path("", include("clocher.accounts.urls")),
    path("", include("clocher.onboarding.urls")),
    path("api/v1/", include("clocher.api.urls")),
    path("", include("clocher.mail.urls")),
    path("", include("clocher.vault.urls")),
    path("", include("clocher.shield.urls")),
    path("", include("clocher.archive.urls")),
    path("", include("clocher.energy.urls")),
    path("", include("clocher.forecast.urls")),
    path("", include("clocher.finance.urls")),
    path("", include("clocher.supervision.urls")),
    path("", include("clocher.incidents.urls")),
    path("", include("clocher.awareness.urls")),
    path("", include("clocher.groupware.urls")),
    path("", include("clocher.eservices.urls")),
    path("", include("clocher.governance.urls")),
]

if settings.OIDC_ENABLED:
    # mozilla-django-oidc reverses its URL names without a namespace: keep them at the root.
    urlpatterns.append(path("oidc/", include("mozilla_django_oidc.urls")))

handler403 = "clocher.core.views.forbidden"
handler404 = "clocher.core.views.not_found"
