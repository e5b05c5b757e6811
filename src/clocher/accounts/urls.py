from django.urls import path

from clocher.accounts import views

app_name = "accounts"
urlpatterns = [
    path("connexion/", views.login_view, name="login"),
    path("connexion/code/", views.totp_view, name="totp"),
    path("deconnexion/", views.logout_view, name="logout"),
    path("compte/", views.account_view, name="account"),
    path("compte/double-authentification/", views.totp_setup_view, name="totp_setup"),
    path("compte/mots-de-passe-applications/", views.app_passwords_view, name="app_passwords"),
    path(
        "compte/mots-de-passe-applications/<int:app_password_id>/revoquer/",
        views.app_password_revoke_view,
        name="app_password_revoke",
    ),
    path("invitation/<str:token>/", views.invitation_view, name="invitation"),
]
