from django.urls import include, path

from clocher.accounts import views

app_name = "accounts"
_connexion_patterns = [
    path("", views.login_view, name="login"),
    path("code/", views.totp_view, name="totp"),
]
_compte_patterns = [
    path("", views.account_view, name="account"),
    path("double-authentification/", views.totp_setup_view, name="totp_setup"),
    path("mots-de-passe-applications/", views.app_passwords_view, name="app_passwords"),
    path(
        "mots-de-passe-applications/<int:app_password_id>/revoquer/",
        views.app_password_revoke_view,
        name="app_password_revoke",
    ),
]
urlpatterns = [
    path("connexion/", include(_connexion_patterns)),
    path("deconnexion/", views.logout_view, name="logout"),
    path("compte/", include(_compte_patterns)),
    path("invitation/<str:token>/", views.invitation_view, name="invitation"),
]
