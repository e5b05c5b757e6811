"""Reserved addresses of the shared domain (issue 12, defect 3): the operator's role and
report addresses, and each commune's function mailbox `mairie.<slug>`, onboarded or not,
cannot be taken by another commune from the service, the page or the CLI."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner
from django.core.exceptions import ValidationError
from django.urls import reverse

from clocher.cli import main
from clocher.core.audit import Actor
from clocher.core.models import Commune
from clocher.mail import dns, reserved, services
from clocher.mail.models import Alias, Mailbox

pytestmark = pytest.mark.django_db
DOMAIN = "communes.cotedor.fr"
OPERATOR_ADDRESSES = [
    "postmaster", "abuse", "hostmaster", "webmaster", "noc", "security", "info",
    "admin", "administrator", "dmarc", "tlsrpt", "ne-pas-repondre", "mailer-daemon",
    "postmaster+copie", "mairie", "mairie.inconnue-nulle-part",
]  # fmt: skip


def as_admin(user) -> Actor:
    return Actor(user=user, ip="192.0.2.10")


@pytest.mark.parametrize("local", OPERATOR_ADDRESSES)
def test_a_commune_cannot_take_the_operators_addresses(local, commune_a, admin_a):
    with pytest.raises(ValidationError, match="réservée à l'opérateur"):
        services.create_mailbox(as_admin(admin_a), commune_a, f"{local}@{DOMAIN}")
    with pytest.raises(ValidationError, match="réservée à l'opérateur"):
        services.create_alias(as_admin(admin_a), commune_a, f"{local}@{DOMAIN}", ["a@b.fr"])
    assert not Mailbox.objects.exists() and not Alias.objects.exists()


def test_the_error_names_the_reason(commune_a, admin_a):
    with pytest.raises(ValidationError) as refused:
        services.create_mailbox(as_admin(admin_a), commune_a, f"postmaster@{DOMAIN}")
    assert refused.value.messages == [
        "« postmaster » est une adresse réservée à l'opérateur (RFC 2142)."
    ]


def test_the_operator_may_create_its_addresses(commune_a, operator_admin):
    services.create_mailbox(as_admin(operator_admin), commune_a, f"postmaster@{DOMAIN}")
    services.create_alias(as_admin(operator_admin), commune_a, f"abuse@{DOMAIN}", ["a@b.fr"])
    assert Mailbox.objects.filter(address=f"postmaster@{DOMAIN}").exists()


def test_every_address_the_dns_helper_publishes_is_reserved(commune_a, admin_a):
    shared = services.shared_domain()
    published = {
        address
        for record in dns.expected_records(shared)
        for address in re.findall(r"mailto:([^;,\s]+)", record.value)
    }
    assert published  # DMARC and TLS-RPT reports at least
    for address in published:
        local, domain = address.split("@")
        assert domain == DOMAIN
        assert reserved.reservation(local, shared) is not None, address


def test_the_platforms_own_sender_is_reserved(commune_a, admin_a, settings):
    settings.DEFAULT_FROM_EMAIL = f"Clocher <notifications@{DOMAIN}>"
    with pytest.raises(ValidationError, match="expéditeur de la plateforme"):
        services.create_mailbox(as_admin(admin_a), commune_a, f"notifications@{DOMAIN}")


def test_function_address_of_another_commune_is_refused_even_to_the_operator(
    commune_a, commune_b, admin_a, operator_admin
):
    """Vougeot (21716) is registered, Dijon (21231) is not: both names are held."""
    assert not Commune.objects.filter(insee="21231").exists()
    for actor in (as_admin(admin_a), as_admin(operator_admin), Actor(label="cli:root")):
        for local, name in (
            ("mairie.vougeot", "Vougeot"),
            ("mairie.dijon", "Dijon"),
            ("mairie-dijon", "Dijon"),
            ("mairie_vougeot", "Vougeot"),
        ):
            with pytest.raises(ValidationError) as refused:
                services.create_mailbox(actor, commune_a, f"{local}@{DOMAIN}")
            assert refused.value.messages == [f"« {local} » est réservée à la commune de {name}."]
            with pytest.raises(ValidationError, match=f"commune de {name}"):
                services.create_alias(actor, commune_a, f"{local}@{DOMAIN}", ["a@b.fr"])
    assert not Mailbox.objects.exists() and not Alias.objects.exists()


def test_a_homonyms_suffixed_slug_is_held_too(commune_a, admin_a):
    # Two communes named Saint-Martin: the second to join gets `saint-martin-<insee>`.
    with pytest.raises(ValidationError, match="commune de Saint-Martin"):
        services.create_mailbox(as_admin(admin_a), commune_a, f"mairie.saint-martin-54480@{DOMAIN}")
    assert reserved.commune_of_slug("saint-martin-99999") is None


def test_a_commune_keeps_its_own_function_address_and_onboarding_still_works(
    commune_a, admin_a, make_commune
):
    own = f"mairie.{commune_a.slug}@{DOMAIN}"
    services.create_alias(as_admin(admin_a), commune_a, f"mairie-{commune_a.slug}@{DOMAIN}", [own])
    assert services.ensure_function_mailbox(Actor(label="tests"), commune_a).address == own
    # The refused attempt above left Dijon's address free for Dijon's onboarding.
    dijon = make_commune("21231")
    assert services.ensure_function_mailbox(Actor(label="tests"), dijon).address == (
        f"mairie.dijon@{DOMAIN}"
    )


def test_on_its_own_domain_a_commune_has_its_role_addresses(commune_a, admin_a):
    services.add_commune_domain(Actor(label="tests"), commune_a, "mairie-flavigny.fr")
    for local in ("postmaster", "abuse", "dmarc", "mairie.dijon"):
        services.create_alias(
            as_admin(admin_a), commune_a, f"{local}@mairie-flavigny.fr", ["a@b.fr"]
        )
    assert Alias.objects.filter(domain__name="mairie-flavigny.fr").count() == 4


def test_page_refuses_reserved_addresses_to_a_commune_admin(
    client_admin_a, client_operator, commune_a
):
    url = reverse("mail:commune", kwargs={"insee": commune_a.insee})
    mailbox = {"action": "mailbox", "domain": DOMAIN, "kind": "personal", "member": "",
               "quota_mb": 100}  # fmt: skip
    page = client_admin_a.post(url, {**mailbox, "local_part": "postmaster"}).content.decode()
    assert "« postmaster » est une adresse réservée à l&#x27;opérateur (RFC 2142)." in page
    page = client_admin_a.post(
        url, {"action": "alias", "local_part": "mairie.dijon", "domain": DOMAIN,
              "destinations": "a@b.fr"},
    ).content.decode()  # fmt: skip
    assert "« mairie.dijon » est réservée à la commune de Dijon." in page
    assert not Mailbox.objects.exists() and not Alias.objects.exists()
    # The operator's support, on the same page, may.
    answer = client_operator.post(url, {**mailbox, "local_part": "postmaster"})
    assert answer.status_code == 302
    assert Mailbox.objects.filter(address=f"postmaster@{DOMAIN}", commune=commune_a).exists()


def test_cli_refuses_another_communes_function_address(commune_a, commune_b):
    runner = CliRunner()
    for argv, name in (
        (["mail", "mailbox", "add", f"mairie.dijon@{DOMAIN}", "--commune", "21271"], "Dijon"),
        (["mail", "alias", "add", f"mairie.vougeot@{DOMAIN}", "a@b.fr", "--commune", "21271"],
         "Vougeot"),
    ):  # fmt: skip
        refused = runner.invoke(main, argv)
        assert refused.exit_code == 1, refused.output
        assert f"réservée à la commune de {name}" in refused.output
    assert not Mailbox.objects.exists() and not Alias.objects.exists()
    # The CLI is the operator's: its own addresses it may create.
    added = runner.invoke(main, ["mail", "mailbox", "add", f"abuse@{DOMAIN}", "--commune", "21271"])
    assert added.exit_code == 0, added.output
