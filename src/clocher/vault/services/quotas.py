"""Quotas: each space's and the commune's counters, charged in the writer's transaction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import F, Q, Subquery, Sum

from clocher.core.models import Commune
from clocher.core.prepared import Prepared
from clocher.vault.models import CommuneUsage, Node, Space, Version
from clocher.vault.services.names import QuotaExceeded


def available_bytes(space: Space) -> int:
    """What can still be stored in `space` (its own quota, then the commune's)."""
    space.refresh_from_db(fields=["used_bytes", "quota_bytes"])
    commune_used = (
        CommuneUsage.objects.filter(commune_id=space.commune_id)
        .values_list("used_bytes", flat=True)
        .first()
    ) or 0
    limit = Commune.objects.values_list("quota_storage_bytes", flat=True).get(pk=space.commune_id)
    room = limit - commune_used
    if space.quota_bytes is not None:
        room = min(room, space.quota_bytes - space.used_bytes)
    return max(0, room)


def _charge(space: Space, delta: int) -> None:
    """Count `delta` bytes on the space and the commune, or refuse: one conditional
    UPDATE each, in the caller's transaction, so concurrent uploads cannot together
    pass a quota."""
    if delta == 0:
        return
    if delta < 0:
        Space.objects.filter(pk=space.pk).update(used_bytes=F("used_bytes") + delta)
        CommuneUsage.objects.filter(commune_id=space.commune_id).update(
            used_bytes=F("used_bytes") + delta
        )
        return
    if not _CHARGE_SPACE.update(space.pk, delta):
        raise QuotaExceeded(f"Quota de l'espace « {space.name} » atteint.")
    if not _charge_commune(space.commune_id, delta):
        # A commune whose counter row is missing (made before the vault) gets it now.
        _, created = CommuneUsage.objects.get_or_create(commune_id=space.commune_id)
        if not created or not _charge_commune(space.commune_id, delta):
            raise QuotaExceeded("Quota de stockage de la commune atteint.")


def hold(space: Space, delta: int) -> None:
    """Count (or, negative, release) bytes that are stored but not yet a file: the parts
    of a chunked upload, under the same quotas and the same atomic check as files."""
    _charge(space, delta)


def _charge_commune(commune_id: int, delta: int) -> bool:
    """The commune's counter grows by `delta` if its quota allows it, in one statement
    on that row alone (the limit is a scalar subquery, not a join: PostgreSQL re-checks
    a concurrently updated row's own columns only, so a join would let two uploads
    pass the quota together)."""
    return bool(_CHARGE_COMMUNE.update(commune_id, delta))


def _charge_space_query(space_id: int, delta: int) -> tuple[Any, dict[str, Any]]:
    within = Q(quota_bytes__isnull=True) | Q(used_bytes__lte=F("quota_bytes") - delta)
    return Space.objects.filter(within, pk=space_id), {"used_bytes": F("used_bytes") + delta}


def _charge_commune_query(commune_id: int, delta: int) -> tuple[Any, dict[str, Any]]:
    limit = Commune.objects.filter(pk=commune_id).values("quota_storage_bytes")
    counter = CommuneUsage.objects.filter(
        commune_id=commune_id, used_bytes__lte=Subquery(limit) - delta
    )
    return counter, {"used_bytes": F("used_bytes") + delta}


# Compiled once per process (`core.prepared`): every upload runs both.
_CHARGE_SPACE = Prepared(_charge_space_query)
_CHARGE_COMMUNE = Prepared(_charge_commune_query)


def _stored_size(nodes: list[Node]) -> int:
    return Version.objects.filter(node__in=nodes).aggregate(total=Sum("size"))["total"] or 0


@dataclass
class Usage:
    commune: Commune
    used_bytes: int
    quota_bytes: int
    files: int


def usage(commune: Commune) -> Usage:
    row = CommuneUsage.objects.filter(commune=commune).first()
    return Usage(
        commune,
        row.used_bytes if row else 0,
        commune.quota_storage_bytes,
        Node.objects.filter(
            space__commune=commune, is_folder=False, deleted_at__isnull=True
        ).count(),
    )
