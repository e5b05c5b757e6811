"""How the shield plugs into the platform: the onboarding step, the operator tile, the
central brute-force detector under `clocher serve`."""

from __future__ import annotations

import sys

from django.urls import reverse
from django.utils import timezone

from clocher.core import supervisor, tiles
from clocher.core.audit import Actor
from clocher.core.cli import INIT_STEPS
from clocher.onboarding.models import ProvisioningRun
from clocher.onboarding.steps import register_step
from clocher.shield import services
from clocher.shield.models import Box


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
    if existed:
        return ""
    return (
        f"Clé de signature du bouclier créée : {services.signing_key_path()} (publique : {public})"
    )


INIT_STEPS.append(init_signing_key)


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
