"""How the awareness app plugs into the platform: the operator tile (figures summed over
all communes, never a person's) and the send job as a periodic child of `clocher serve`."""

from __future__ import annotations

import sys

from clocher.awareness.models import Campaign, Event, EventKind, Programme
from clocher.awareness.services import demo_programme
from clocher.core import supervisor, tiles
from clocher.core.demo import DEMO_HOOKS


@tiles.register("awareness")
def awareness_tile() -> tiles.Tile:
    return tiles.Tile(
        "awareness",
        "Sensibilisation",
        [
            tiles.Figure("Communes engagées", str(Programme.objects.filter(enabled=True).count())),
            tiles.Figure("Campagnes", str(Campaign.objects.count())),
            tiles.Figure(
                "Signalements", str(Event.objects.filter(kind=EventKind.REPORTED).count())
            ),
        ],
    )


@supervisor.register
def send_job() -> list[supervisor.Child]:
    """Every minute: the exercise messages whose time has come."""
    argv = [sys.executable, "-m", "clocher.cli", "awareness", "campaign", "send", "--every", "60"]
    return [supervisor.Child("sensibilisation : envois", argv)]


DEMO_HOOKS.append(demo_programme)
