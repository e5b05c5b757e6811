"""Addresses of the shared domain that no commune may take for itself.

The shared domain (`communes.cotedor.fr`) is the operator's: the role addresses the
rest of the internet writes to (RFC 2142, the certificate authorities' domain-control
checks), the report addresses the DNS helper publishes and the platform's own senders
reach the operator, and the function mailbox `mairie.<slug>` of each commune is that
commune's, onboarded or not. A commune that took one of them would catch another's mail,
could obtain a TLS certificate for the shared domain, or would break the onboarding of
the commune whose function address it holds.

A commune's own domain is its own: there RFC 2142 addresses reach the commune (the owner
of the domain, as the RFC intends), so nothing is reserved.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import parseaddr
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.text import slugify

from clocher.core import reference, scoping
from clocher.core.audit import Actor
from clocher.core.models import Commune
from clocher.mail.dns import REPORT_LOCAL_PARTS
from clocher.mail.models import MailDomain

# RFC 2142 §3-5: business, network operations and support mailboxes of a domain.
RFC2142 = frozenset(
    {
        "info", "marketing", "sales", "support",
        "abuse", "noc", "security",
        "postmaster", "hostmaster", "usenet", "news", "webmaster", "www", "uucp", "ftp",
    }
)  # fmt: skip
# CA/Browser Forum Baseline Requirements §3.2.2.4.4: a certificate authority proves
# control of a domain by mailing one of these (the other three are RFC 2142's).
CERTIFICATE_CHECKS = frozenset({"admin", "administrator"})
# Mail systems' own: the sender of bounces, the superuser's mail, the "do not answer"
# senders a platform uses (whatever CLOCHER_FROM_EMAIL says, these names read as ours).
SYSTEM = frozenset({"mailer-daemon", "root", "ne-pas-repondre", "noreply", "no-reply"})
# Where agents forward suspicious messages (clocher.awareness.reporting, main.cf).
REPORT_ADDRESS = "signalement"
FUNCTION_PREFIX = "mairie"
FUNCTION_SEPARATORS = ".-_"


@dataclass(frozen=True)
class Reservation:
    """Why a local part is not free: for the operator (`insee` empty) or a commune."""

    reason: str
    insee: str = ""


def _platform_senders(domain: str) -> set[str]:
    """Local parts of the addresses the platform sends from or is reached at, when they
    are on the shared domain."""
    addresses = [settings.DEFAULT_FROM_EMAIL, getattr(settings, "SERVER_EMAIL", "")]
    operator = scoping.get_operator()
    if operator is not None:
        addresses.append(operator.contact_email)
    found = set()
    for value in addresses:
        local, _, at = parseaddr(value or "")[1].lower().rpartition("@")
        if local and at == domain:
            found.add(local)
    return found


@lru_cache(maxsize=1)
def _official_slugs() -> dict[str, tuple[str, str]]:
    """slug → (INSEE code, name) of every commune of the official list, as
    `core.services._unique_slug` would make it (first of homonyms kept): built once,
    about 35,000 names."""
    slugs: dict[str, tuple[str, str]] = {}
    for insee, name in sorted(reference.names().items()):
        slugs.setdefault(slugify(name)[:60] or insee.lower(), (insee, name))
    return slugs


def commune_of_slug(slug: str) -> tuple[str, str] | None:
    """(INSEE, name) of the commune whose function address is `mairie.<slug>`: a
    registered commune with that slug, else a commune of the official list that would
    get it when it joins (`<name>` or, for a homonym, `<name>-<insee>`)."""
    registered = Commune.objects.filter(slug=slug).values_list("insee", "name").first()
    if registered is not None:
        return registered
    official = _official_slugs().get(slug)
    if official is not None:
        return official
    base, _, insee = slug.rpartition("-")
    ref = reference.lookup(insee.upper()) if base else None
    if ref is not None and (slugify(ref.name)[:60] or insee) == base:
        return ref.insee, ref.name
    return None


def reservation(local: str, domain: MailDomain) -> Reservation | None:
    """What holds `local`@`domain`, or None when any commune using the domain may take it.
    `local+tag` is judged as `local` (sub-addressing reads as the same mailbox)."""
    if domain.commune_id is not None:
        return None
    base = local.split("+", 1)[0]
    if base in RFC2142:
        return Reservation(f"« {base} » est une adresse réservée à l'opérateur (RFC 2142).")
    if base in CERTIFICATE_CHECKS:
        return Reservation(
            f"« {base} » est une adresse réservée à l'opérateur (les autorités de "
            "certification l'utilisent pour vérifier le domaine)."
        )
    if base in REPORT_LOCAL_PARTS:
        return Reservation(
            f"« {base} » est une adresse réservée à l'opérateur (rapports publiés dans le DNS "
            "du domaine partagé)."
        )
    if base == REPORT_ADDRESS:
        return Reservation(
            f"« {base} » est une adresse réservée à l'opérateur (signalement des messages "
            "suspects, programme de sensibilisation)."
        )
    if base in SYSTEM or base in _platform_senders(domain.name):
        return Reservation(
            f"« {base} » est une adresse réservée à l'opérateur (expéditeur de la plateforme)."
        )
    if base == FUNCTION_PREFIX or (
        base.startswith(FUNCTION_PREFIX) and base[len(FUNCTION_PREFIX)] in FUNCTION_SEPARATORS
    ):
        owner = commune_of_slug(base[len(FUNCTION_PREFIX) + 1 :])
        if owner is not None:
            return Reservation(f"« {base} » est réservée à la commune de {owner[1]}.", owner[0])
        return Reservation(
            f"« {base} » est réservée à l'opérateur : les adresses « mairie… » du domaine "
            "partagé sont les boîtes de fonction des communes (mairie.<commune>)."
        )
    return None


def operator_acting(actor: Actor) -> bool:
    """The operator's team, or the operator's own tools (CLI, onboarding: no user)."""
    return actor.user is None or scoping.is_operator(actor.user)


def check(actor: Actor, commune: Commune, local: str, domain: MailDomain) -> None:
    """Refuse `local`@`domain` for `commune` when it is reserved to someone else. A
    commune's function address is its own whoever acts; the operator's addresses only the
    operator may create (for the commune it chooses), never another commune's."""
    held = reservation(local, domain)
    if held is None:
        return
    if held.insee:
        if held.insee != commune.insee:
            raise ValidationError(held.reason, code="reserved")
        return
    if not operator_acting(actor):
        raise ValidationError(held.reason, code="reserved")
