from django.urls import path

from clocher.mail import policy, views

app_name = "mail"
urlpatterns = [
    path("c/<str:insee>/messagerie/", views.commune_mail, name="commune"),
    path(
        "c/<str:insee>/messagerie/boites/<int:mailbox_id>/activation/",
        views.mailbox_toggle,
        name="mailbox_toggle",
    ),
    path(
        "c/<str:insee>/messagerie/boites/<int:mailbox_id>/apple.mobileconfig",
        views.mobileconfig,
        name="mobileconfig",
    ),
    path(
        "c/<str:insee>/messagerie/alias/<int:alias_id>/supprimer/",
        views.alias_delete,
        name="alias_delete",
    ),
    path(
        "c/<str:insee>/messagerie/boites/<int:mailbox_id>/absence/",
        views.out_of_office,
        name="out_of_office",
    ),
    path(
        "c/<str:insee>/messagerie/boites/<int:mailbox_id>/",
        views.mailbox_settings,
        name="mailbox_settings",
    ),
    path(
        "c/<str:insee>/messagerie/boites/<int:mailbox_id>/reprise/",
        views.mail_import,
        name="mail_import",
    ),
    path(
        "c/<str:insee>/messagerie/reprises/<int:mail_import_id>/",
        views.mail_import_status,
        name="mail_import_status",
    ),
    path(
        "c/<str:insee>/messagerie/domaines/<str:domain>/",
        views.commune_dns,
        name="commune_dns",
    ),
    path(
        "c/<str:insee>/messagerie/domaines/<str:domain>/supprimer/",
        views.domain_delete,
        name="domain_delete",
    ),
    path("operateur/messagerie/", views.operator, name="operator"),
    path("operateur/messagerie/dns/<str:domain>/", views.dns_helper, name="dns"),
    path(".well-known/mta-sts.txt", views.mta_sts, name="mta_sts"),
    path("interne/dovecot/politique", policy.dovecot_policy, name="dovecot_policy"),
    path(
        ".well-known/autoconfig/mail/config-v1.1.xml",
        views.thunderbird_autoconfig,
        name="autoconfig_wellknown",
    ),
    path("mail/config-v1.1.xml", views.thunderbird_autoconfig, name="autoconfig"),
    path("autodiscover/autodiscover.xml", views.outlook_autodiscover, name="autodiscover"),
    path("Autodiscover/Autodiscover.xml", views.outlook_autodiscover, name="autodiscover_upper"),
]
