"""Findings the town hall's box can act on: an administration port found open on the
address the commune's box connects from is closed there (« Bloquer ce port »), as a
shield port rule (shield.services.ports) whose origin is the finding.

Only that address qualifies: a port open on a host elsewhere (the website's hosting
provider) is not behind the box, so no button is offered for it."""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError

from clocher.core.audit import Actor
from clocher.core.models import Commune
from clocher.eservices.models import Finding, Kind, Target
from clocher.shield import services as shield
from clocher.shield.models import PortRule

PORT_CODE = re.compile(r"^PORT_OPEN_(\d{1,5})$")
# What the page says of a port finding behind the box, by state.
BLOCKED = "bloque"  # a rule exists and a box says it drops the port
PENDING = "attente"  # a rule exists, no box has applied it yet
POSSIBLE = "possible"  # no rule: the « Bloquer ce port » button


def _behind_box(commune: Commune) -> dict[str, Target]:
    """The commune's confirmed IP targets that one of its boxes connects from."""
    targets = Target.objects.filter(commune=commune, kind=Kind.IP, confirmed_at__isnull=False)
    return {t.value: t for t in targets if shield.box_at(commune, t.value) is not None}


def annotate(commune: Commune, findings: list[dict[str, Any]]) -> None:
    """Adds `blocage` ({finding_id, port, etat}) to each of the report's findings that is
    a port the box can close; the others get None."""
    behind = _behind_box(commune)
    ids: dict[tuple[str, str], int] = {}
    for value, target in behind.items():
        latest = target.scans.first()
        if latest is not None:
            for pk, code in latest.findings.values_list("pk", "code"):
                ids[(value, code)] = pk
    closed = {rule.key for rule in shield.port_rules(commune)}
    applied = shield.applied_ports(commune)
    for finding in findings:
        match = PORT_CODE.match(finding.get("code", ""))
        finding_id = ids.get((finding.get("cible", ""), finding.get("code", "")))
        if match is None or finding_id is None:
            finding["blocage"] = None
            continue
        key = f"{int(match.group(1))}/tcp"
        state = (BLOCKED if key in applied else PENDING) if key in closed else POSSIBLE
        finding["blocage"] = {"finding_id": finding_id, "port": int(match.group(1)), "etat": state}


def block_finding(actor: Actor, finding: Finding) -> PortRule:
    """Closes the port of `finding` on the commune's box (the audit scans with TCP
    connects: the rule is TCP), the finding named as the rule's origin."""
    match = PORT_CODE.match(finding.code)
    target = finding.scan.target
    if match is None or target.value not in _behind_box(finding.commune):
        raise ValidationError(
            "Ce constat n'est pas un port que le boîtier de la commune peut fermer "
            "(seuls les ports ouverts sur l'adresse publique de la mairie le sont)."
        )
    return shield.block_port(
        actor,
        finding.commune,
        int(match.group(1)),
        "tcp",
        reason=finding.title,
        origin=f"e-services : constat {finding.code} de l'audit n°{finding.scan_id}",
    )
