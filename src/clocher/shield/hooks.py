"""How the shield plugs into the platform: the onboarding step, the operator tile, the
central brute-force detector under `clocher serve`."""

from __future__ import annotations

import csv
import io
import json
import sys
import zipfile

from django.urls import reverse
from django.utils import timezone

from clocher.accounts.models import User
from clocher.core import health, supervisor, tiles
from clocher.core.audit import Actor
from clocher.core.cli import INIT_STEPS, WEB_START_CHECKS
from clocher.core.demo import DEMO_HOOKS
from clocher.core.models import Commune
from clocher.onboarding.models import ProvisioningRun
from clocher.onboarding.services import register_exporter, register_purger
from clocher.onboarding.steps import register_step
from clocher.shield import services
from clocher.shield.models import (
    AllowEntry,
    Box,
    CountryPolicy,
    EnrolmentToken,
    PortRule,
    ShieldEvent,
)


@register_step("shield", "Jeton d'enrôlement du boîtier de sécurité", position=50, service="shield")
def issue_enrolment_token(run: ProvisioningRun, actor: Actor) -> str:
    """Idempotent: a retry keeps the token already issued while it is usable.

    Only the token's hash is kept, so the step cannot show it later: the operator
    re-issues it from the fleet page (the earlier one is then cancelled).
    """
    token = services.pending_token(run.commune)
    if token is None:
        token = services.issue_token(actor, run.commune).record
    until = timezone.localtime(token.expires_at).strftime("%d/%m/%Y")
    return (
        f"Jeton d'enrôlement émis, valable jusqu'au {until}. Pour le remettre à la commune, "
        "émettez-le depuis Bouclier → Enrôler un boîtier : il s'affiche une seule fois."
    )


def init_signing_key() -> str:
    """`clocher init`: the central's Ed25519 key, made once (0600 in the data dir)."""
    existed = services.signing_key_path().exists()
    public = services.central_public_key()
    try:
        services.check_central_key()  # records its fingerprint at first use
    except services.CentralKeyMismatch as exc:
        return f"[bold red]Attention :[/] {exc}"
    if existed:
        return ""
    return (
        f"Clé de signature du bouclier créée : {services.signing_key_path()} (publique : {public})"
    )


INIT_STEPS.append(init_signing_key)


def same_central_key() -> None:
    """`clocher serve` with the web role: refuse a node whose key is not the platform's."""
    from clocher.core.supervisor import CannotStart

    try:
        services.check_central_key()
    except services.CentralKeyMismatch as exc:
        raise CannotStart(str(exc)) from exc


WEB_START_CHECKS.append(same_central_key)


@health.register
def shield_signing_key() -> health.Health:
    """The key that signs every policy: present, private (0600), usable."""
    path = services.signing_key_path()
    try:
        mode = path.stat().st_mode & 0o777
        services.central_public_key()
        ok = mode == 0o600
        detail = "clé présente (0600)" if ok else f"droits {mode:o} : attendu 600"
    except OSError as exc:
        ok, detail = False, f"absente ou illisible ({exc.__class__.__name__}) : clocher init"
    except ValueError as exc:
        ok, detail = False, f"clé invalide : {exc}"
    return health.Health("bouclier (clé de signature)", str(path), ok, detail)


@tiles.register("shield")
def shield_tile() -> tiles.Tile:
    boxes = Box.objects.filter(revoked_at__isnull=True)
    rows, alerts = services.fleet(boxes)
    return tiles.Tile(
        "shield",
        "Boîtiers de sécurité",
        [
            tiles.Figure("Boîtiers enrôlés", str(len(rows))),
            tiles.Figure("En ligne", str(sum(1 for r in rows if r.online))),
            tiles.Figure("Alertes", str(len(alerts))),
            tiles.Figure("Flux bloqués aujourd'hui", str(sum(r.flows_today for r in rows))),
        ],
        url=reverse("shield:fleet"),
    )


@supervisor.register
def shield_detector() -> list[supervisor.Child]:
    """Failed logins to the département's services every minute (expired entries go);
    feeds taken from a URL re-imported every 6 hours."""
    shield = [sys.executable, "-m", "clocher.cli", "shield"]
    return [
        supervisor.Child(
            "bouclier : détection de force brute", [*shield, "detect", "--every", "60"]
        ),
        supervisor.Child(
            "bouclier : listes en ligne", [*shield, "feed", "refresh", "--every", "21600"]
        ),
    ]


EVENT_COLUMNS = [
    "box",
    "seq",
    "kind",
    "at",
    "source",
    "country",
    "scenario",
    "duration",
    "flows",
    "count",
    "last_at",
]


@register_exporter("bouclier")
def export_shield(commune: Commune, archive: zipfile.ZipFile) -> None:
    """The commune's boxes, allowlist, country policy, closed ports, and every event of
    its boxes."""
    boxes = [
        {
            "id": str(box.pk),
            "hostname": box.hostname,
            "version": box.version,
            "enrolled_at": box.enrolled_at.isoformat(),
            "revoked_at": box.revoked_at.isoformat() if box.revoked_at else None,
        }
        for box in Box.objects.filter(commune=commune)
    ]
    settings = {
        "boitiers": boxes,
        "liste_autorisation": list(
            AllowEntry.objects.filter(commune=commune).values_list("prefix", flat=True)
        ),
        "pays_bloques": services.blocked_countries(commune),
        "ports_fermes": services.policy_ports(commune),
    }
    archive.writestr("bouclier/bouclier.json", json.dumps(settings, ensure_ascii=False, indent=1))
    with archive.open("bouclier/evenements.csv", "w", force_zip64=True) as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
        writer = csv.writer(text)
        writer.writerow(EVENT_COLUMNS)
        rows = ShieldEvent.objects.filter(commune=commune).order_by("box_id", "seq")
        for row in rows.values_list(*[c if c != "box" else "box_id" for c in EVENT_COLUMNS]):
            writer.writerow(
                [value.isoformat() if hasattr(value, "isoformat") else value for value in row]
            )
        text.flush()
        text.detach()


@register_purger("bouclier")
def purge_shield(commune: Commune) -> None:
    """Boxes go (their keys open nothing any more), with their events and settings."""
    ShieldEvent.objects.filter(commune=commune).delete()
    EnrolmentToken.objects.filter(commune=commune).delete()
    Box.objects.filter(commune=commune).delete()
    AllowEntry.objects.filter(commune=commune).delete()
    CountryPolicy.objects.filter(commune=commune).delete()
    PortRule.objects.filter(commune=commune).delete()


def demo_box(actor: Actor, commune: Commune, admin: User) -> None:
    """Demo: a box that has guarded the town hall for a month (see shield/demo.py)."""
    from clocher.shield.demo import seed_demo_box

    seed_demo_box(actor, commune)


DEMO_HOOKS.append(demo_box)
