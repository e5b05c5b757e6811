from django.urls import path

from clocher.groupware import views
from clocher.groupware.webmail import views as webmail

app_name = "groupware"
urlpatterns = [
    path(".well-known/caldav", views.well_known, name="well_known_caldav"),
    path(".well-known/carddav", views.well_known, name="well_known_carddav"),
    # The webmail's single sign-on (Clocher as OIDC provider of Roundcube).
    path("oauth/autoriser", webmail.authorize, name="webmail_authorize"),
    path("oauth/jeton", webmail.token, name="webmail_token"),
    path("oauth/identite", webmail.userinfo, name="webmail_userinfo"),
    path("oauth/carnet", webmail.address_books, name="webmail_contacts"),
    path("interne/webmail/introspection", webmail.introspection, name="webmail_introspection"),
    path("c/<str:insee>/webmail/<int:mailbox_id>/", webmail.open_webmail, name="webmail_open"),
]
