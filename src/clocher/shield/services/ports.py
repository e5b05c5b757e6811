"""Inbound ports a commune's boxes close: what the e-services audit found exposed (RDP,
SMB…) closed at the town hall's edge, from the audit's page, the CLI or the API.

A rule is the commune's (its admin and the operator manage it), goes to its boxes in the
signed policy (`ports_blocked`, a field an older box ignores), and each packet dropped
comes back as a `port-block` event that the monthly report counts per port."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet

from clocher.core import audit
from clocher.core.audit import Actor
from clocher.core.models import Commune
from clocher.core.scoping import is_commune_admin
from clocher.shield.models import Box, PortProto, PortRule
from clocher.shield.services.allowlist import parse_prefix
from clocher.shield.services.keys import bump_policy


def _may_manage(actor: Actor, commune: Commune) -> None:
    """The commune's admin or the operator's staff; the CLI (no user) is the operator."""
    if actor.user is not None and not is_commune_admin(actor.user, commune):
        raise PermissionDenied(
            "Seuls l'administrateur de la commune et l'opérateur ferment ou rouvrent un port."
        )


def parse_port(value: object) -> int:
    text = str(value).strip()
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise ValidationError(f"« {text[:20]} » n'est pas un numéro de port (1 à 65535).")
    return int(text)


def parse_proto(value: object) -> str:
    proto = str(value or "tcp").strip().lower()
    if proto not in PortProto.values:
        raise ValidationError(f"Protocole « {proto[:10]} » inconnu : tcp ou udp.")
    return proto


def parse_allow(texts: Iterable[str]) -> str:
    """Sources still let through, normalised and space-separated (ValidationError
    naming the first that is not a prefix)."""
    networks = []
    for text in texts:
        for part in str(text).replace(",", " ").split():
            try:
                networks.append(str(parse_prefix(part)))
            except ValueError as exc:
                raise ValidationError(f"Source autorisée invalide : {exc}.") from exc
    joined = " ".join(dict.fromkeys(networks))
    if len(joined) > 500:
        raise ValidationError("Trop de sources autorisées (500 caractères au plus).")
    return joined


def block_port(
    actor: Actor,
    commune: Commune,
    port: object,
    proto: object = "tcp",
    allow: Iterable[str] = (),
    reason: str = "",
    origin: str = "",
) -> PortRule:
    """Closes `port` on the commune's boxes at their next policy fetch."""
    _may_manage(actor, commune)
    number, protocol = parse_port(port), parse_proto(proto)
    allowed = parse_allow(allow)
    why = reason.strip()[:300] or f"port {number}/{protocol} exposé sur Internet"
    already = ValidationError(
        f"Le port {number}/{protocol} est déjà fermé sur les boîtiers de {commune.name}."
    )
    with transaction.atomic():
        if PortRule.objects.filter(commune=commune, proto=protocol, port=number).exists():
            raise already
        try:
            with transaction.atomic():  # two clicks at once: the constraint decides
                rule = PortRule.objects.create(
                    commune=commune, proto=protocol, port=number, allow=allowed, reason=why,
                    origin=origin.strip()[:300], created_by=actor.display[:254],
                )  # fmt: skip
        except IntegrityError as exc:
            raise already from exc
        audit.record(
            actor, "shield.port_blocked", commune=commune, target=str(rule),
            data={"motif": why, "origine": rule.origin, "autorises": rule.allowed},
        )  # fmt: skip
        bump_policy()
    return rule


def unblock_port(actor: Actor, rule: PortRule) -> None:
    """Reopens the port: the boxes drop the rule at their next policy fetch."""
    _may_manage(actor, rule.commune)
    with transaction.atomic():
        audit.record(actor, "shield.port_unblocked", commune=rule.commune, target=str(rule))
        rule.delete()
        bump_policy()


def find_rule(commune: Commune, port: object, proto: object = "tcp") -> PortRule:
    number, protocol = parse_port(port), parse_proto(proto)
    rule = PortRule.objects.filter(commune=commune, proto=protocol, port=number).first()
    if rule is None:
        raise ValidationError(f"Le port {number}/{protocol} n'est pas fermé pour {commune.name}.")
    return rule


def port_rules(commune: Commune) -> QuerySet[PortRule]:
    return PortRule.objects.filter(commune=commune).order_by("port", "proto")


def policy_ports(commune: Commune) -> list[dict[str, Any]]:
    """The `ports_blocked` of the commune's policy."""
    return [
        {"proto": r.proto, "port": r.port, "allow": r.allowed, "reason": r.reason}
        for r in port_rules(commune)
    ]


def applied_ports(commune: Commune) -> set[str]:
    """The ports (`3389/tcp`) that at least one of the commune's boxes says it closes
    (its heartbeat's health): an older box ignores the rule and never says so."""
    found: set[str] = set()
    for health in Box.objects.filter(commune=commune, revoked_at=None).values_list(
        "health", flat=True
    ):
        listed = health.get("ports_blocked") if isinstance(health, dict) else None
        if isinstance(listed, list):
            found.update(str(item) for item in listed)
    return found


def box_at(commune: Commune, address: str) -> Box | None:
    """The commune's box seen connecting from `address` (the town hall's public
    address): ports exposed there are ports that box can close."""
    return Box.objects.filter(commune=commune, revoked_at=None, last_address=address).first()
