"""Prefixes: parsing, the commune-local ranges, and the allowlists (département and
commune) that no block may cover."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from clocher.core import audit
from clocher.core.audit import Actor
from clocher.core.models import Commune
from clocher.shield.models import (
    AllowEntry,
)
from clocher.shield.services.keys import bump_policy

# Addresses that are each commune's own (private ranges, loopback…) are never pushed to
# other communes: 10.0.0.5 at one town hall is not 10.0.0.5 at the next.
LOCAL_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "224.0.0.0/3",
        "::/127",
        "::ffff:0:0/96",
        "fc00::/7",
        "fe80::/10",
        "ff00::/8",
    )
)


# Prefixes broader than this are refused in any list (a typo must not block a continent).
MIN_PREFIX = {4: 8, 6: 19}


# What a collective block may be: one host or a small network.
MIN_COLLECTIVE_PREFIX = {4: 24, 6: 48}


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_prefix(text: str) -> Network:
    """An address or prefix, normalised (host bits cleared), or ValueError in French."""
    text = text.strip()
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError as exc:
        raise ValueError(f"« {text[:60]} » n'est ni une adresse IP ni un préfixe CIDR") from exc
    if network.prefixlen < MIN_PREFIX[network.version]:
        raise ValueError(f"préfixe {network} trop large (au plus /{MIN_PREFIX[network.version]})")
    return network


def is_local(network: Network) -> bool:
    return any(
        network.version == local.version and network.subnet_of(local)  # type: ignore[arg-type]
        for local in LOCAL_NETWORKS
    )


def overlapping(network: Network, allowed: Iterable[Network]) -> Network | None:
    for prefix in allowed:
        if prefix.version == network.version and network.overlaps(prefix):  # type: ignore[arg-type]
            return prefix
    return None


def department_allowlist() -> list[Network]:
    """Prefixes no box may block anywhere: the settings' and the operator's."""
    texts = list(settings.SHIELD_ALLOWLIST) + list(
        AllowEntry.objects.filter(commune__isnull=True).values_list("prefix", flat=True)
    )
    return [ipaddress.ip_network(t, strict=False) for t in texts]


def commune_allowlist(commune: Commune) -> list[Network]:
    """Département-wide prefixes and the commune's own."""
    own = AllowEntry.objects.filter(commune=commune).values_list("prefix", flat=True)
    return department_allowlist() + [ipaddress.ip_network(t) for t in own]


def allowlisted(network: Network, commune: Commune | None = None) -> Network | None:
    """The allowlisted prefix `network` touches, if any."""
    allowed = commune_allowlist(commune) if commune else department_allowlist()
    return overlapping(network, allowed)


def add_allow(actor: Actor, prefix: str, reason: str, commune: Commune | None = None) -> AllowEntry:
    """Allowlist a prefix; collective entries it covers stop being pushed at once."""
    try:
        network = ipaddress.ip_network(prefix.strip(), strict=False)
    except ValueError as exc:
        raise ValidationError(f"« {prefix} » n'est ni une adresse IP ni un préfixe CIDR.") from exc
    if not reason.strip():
        raise ValidationError("Indiquez pourquoi ce préfixe ne doit jamais être bloqué.")
    with transaction.atomic():
        if AllowEntry.objects.filter(prefix=str(network), commune=commune).exists():
            raise ValidationError(f"{network} est déjà dans la liste d'autorisation.")
        entry = AllowEntry.objects.create(
            prefix=str(network),
            commune=commune,
            reason=reason.strip()[:300],
            created_by=actor.display[:254],
        )
        audit.record(
            actor,
            "shield.allow_added",
            commune=commune,
            target=str(network),
            data={"reason": entry.reason},
        )
        bump_policy()
    return entry


def remove_allow(actor: Actor, entry: AllowEntry) -> None:
    with transaction.atomic():
        audit.record(actor, "shield.allow_removed", commune=entry.commune, target=entry.prefix)
        entry.delete()
        bump_policy()
