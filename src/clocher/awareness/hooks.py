"""How the awareness app plugs into the platform: the operator tile (figures summed over
all communes, never a person's) and the send job as a periodic child of `clocher serve`."""

from __future__ import annotations

import sys

from django.db import connection

from clocher.awareness.models import EventKind
from clocher.awareness.services import demo_programme
from clocher.core import supervisor, tiles
from clocher.core.demo import DEMO_HOOKS


@tiles.register("awareness")
def awareness_tile() -> tiles.Tile:
    engaged, campaigns, reports = platform_counts()
    return tiles.Tile(
        "awareness",
        "Sensibilisation",
        [
            tiles.Figure("Communes engagées", str(engaged)),
            tiles.Figure("Campagnes", str(campaigns)),
            tiles.Figure("Signalements", str(reports)),
        ],
    )


def platform_counts() -> tuple[int, int, int]:
    """Programmes on, campaigns, reports: one query (the operator's dashboard is held
    to a fixed number of queries, whatever the number of services)."""
    sql = (
        "SELECT (SELECT COUNT(*) FROM awareness_programme WHERE enabled = %s), "
        "(SELECT COUNT(*) FROM awareness_campaign), "
        "(SELECT COUNT(*) FROM awareness_event WHERE kind = %s)"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [True, EventKind.REPORTED.value])
        engaged, campaigns, reports = cursor.fetchone()
    return int(engaged), int(campaigns), int(reports)


@supervisor.register
def send_job() -> list[supervisor.Child]:
    """Every minute: the exercise messages whose time has come."""
    argv = [sys.executable, "-m", "clocher.cli", "awareness", "campaign", "send", "--every", "60"]
    return [supervisor.Child("sensibilisation : envois", argv)]


DEMO_HOOKS.append(demo_programme)
