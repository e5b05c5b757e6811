"""The ways the console ends someone's access to a commune, each with the way back.

Shared by the protocol tests (IMAP/submission in tests/mail, WebDAV, Nextcloud and the
API in tests/core): every protocol must refuse after the cut and open again, with the
same app password or token, after the way back.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from clocher.accounts.models import User
from clocher.core import services
from clocher.core.audit import Actor
from clocher.core.models import Commune, CommuneStatus, Membership

ACTOR = Actor(label="tests")
Step = Callable[[User, Commune], None]


def _membership(user: User, commune: Commune) -> Membership:
    return Membership.objects.select_related("user", "commune").get(user=user, commune=commune)


def _status(status: str) -> Step:
    def step(user: User, commune: Commune) -> None:
        services.set_commune_status(ACTOR, Commune.objects.get(pk=commune.pk), status)

    return step


def _deactivate(user: User, commune: Commune) -> None:
    services.deactivate_member(ACTOR, _membership(user, commune))


def _reactivate(user: User, commune: Commune) -> None:
    services.reactivate_member(ACTOR, _membership(user, commune))


def _remove(user: User, commune: Commune) -> None:
    services.remove_member(ACTOR, _membership(user, commune))


def _add_again(user: User, commune: Commune) -> None:
    services.add_member(ACTOR, commune, user.email, "agent", invite=False)


CUTS: dict[str, tuple[Step, Step | None]] = {
    "deactivated": (_deactivate, _reactivate),
    "removed": (_remove, _add_again),
    "suspended": (_status(CommuneStatus.SUSPENDED), _status(CommuneStatus.ACTIVE)),
    "left": (_status(CommuneStatus.LEFT), None),  # no way back from leaving
}

cuts = pytest.mark.parametrize("cut, restore", list(CUTS.values()), ids=list(CUTS))


def cut_in(user: User, commune: Commune) -> None:
    """Deactivate one membership (the person keeps their others)."""
    _deactivate(user, commune)


def restore_in(user: User, commune: Commune) -> None:
    _reactivate(user, commune)
