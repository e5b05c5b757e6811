from django.urls import include, path

from clocher.mail import policy, views

app_name = "mail"
_commune_messagerie_patterns = [
    path("", views.commune_mail, name="commune"),
    path(
        "boites/<int:mailbox_id>/activation/",
        views.mailbox_toggle,
        name="mailbox_toggle",
    ),
    path(
        "boites/<int:mailbox_id>/apple.mobileconfig",
        views.mobileconfig,
        name="mobileconfig",
    ),
    path(
        "alias/<int:alias_id>/supprimer/",
        views.alias_delete,
        name="alias_delete",
    ),
    path(
        "boites/<int:mailbox_id>/absence/",
        views.out_of_office,
        name="out_of_office",
    ),
    path(
        "boites/<int:mailbox_id>/",
        views.mailbox_settings,
        name="mailbox_settings",
    ),
    path(
        "boites/<int:mailbox_id>/reprise/",
        views.mail_import,
        name="mail_import",
    ),
    path(
        "reprises/<int:mail_import_id>/",
        views.mail_import_status,
        name="mail_import_status",
    ),
    path(
        "domaines/<str:domain>/",
        views.commune_dns,
        name="commune_dns",
    ),
    path(
        "domaines/<str:domain>/supprimer/",
        views.domain_delete,
        name="domain_delete",
    ),
]
_operator_messagerie_patterns = [
    path("", views.operator, name="operator"),
    path("dns/<str:domain>/", views.dns_helper, name="dns"),
]
_well_known_patterns = [
    path("mta-sts.txt", views.mta_sts, name="mta_sts"),
    path(
        "autoconfig/mail/config-v1.1.xml",
        views.thunderbird_autoconfig,
        name="autoconfig_wellknown",
    ),
]
urlpatterns = [
    path("c/<str:insee>/messagerie/", include(_commune_messagerie_patterns)),
    path("operateur/messagerie/", include(_operator_messagerie_patterns)),
    path(".well-known/", include(_well_known_patterns)),
    path("interne/dovecot/politique", policy.dovecot_policy, name="dovecot_policy"),
    path("mail/config-v1.1.xml", views.thunderbird_autoconfig, name="autoconfig"),
    path("autodiscover/autodiscover.xml", views.outlook_autodiscover, name="autodiscover"),
    path("Autodiscover/Autodiscover.xml", views.outlook_autodiscover, name="autodiscover_upper"),
]
