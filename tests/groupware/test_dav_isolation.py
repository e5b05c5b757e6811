"""The tenant isolation matrix of the CalDAV/CardDAV paths (tests/test_isolation.py
covers Django's routes; these are served beside Django): every path of commune A and of
its members, every method, as a member of commune B, as a member of A whose membership
was deactivated, and as A's own members once A is suspended. None gets anything but a
refusal, and nothing of A changes."""

from __future__ import annotations

import pytest
import requests

from clocher.core import services as core_services
from clocher.core.models import CommuneStatus, Membership, Role
from clocher.groupware import dav, services
from tests.conftest import SYSTEM
from tests.groupware.conftest import ACTOR, Account, account
from tests.groupware.test_caldav import calendars, ical

pytestmark = pytest.mark.django_db(transaction=True)

BODIES = {
    "PROPFIND": b"",
    "REPORT": b'<?xml version="1.0"?><C:calendar-query xmlns:C="urn:ietf:params:xml:ns:caldav"'
    b' xmlns:D="DAV:"><D:prop><D:getetag/></D:prop><C:filter><C:comp-filter name="VCALENDAR"/>'
    b"</C:filter></C:calendar-query>",
    "GET": b"",
    "PUT": ical("Intrusion", uid="intrusion").encode(),
    "DELETE": b"",
    "MKCALENDAR": b"",
    "PROPPATCH": b'<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop>'
    b"<D:displayname>pris</D:displayname></D:prop></D:set></D:propertyupdate>",
}


def paths_of_a(owner: Account, insee: str) -> list[str]:
    cal, book = owner.calendars, owner.addressbooks
    base = owner.base
    return [
        cal,
        f"{cal}personnel/",
        f"{cal}personnel/reunion.ics",
        f"{cal}commune-{insee}/",
        f"{cal}commune-{insee}/marche.ics",
        f"{cal}ressource-{insee}-salle-des-fetes/",
        f"{cal}nouveau/",
        book,
        f"{book}contacts/",
        f"{book}commune-{insee}/",
        f"{book}annuaire-{insee}/",
        f"{base}{dav.CALDAV_PREFIX}/_communes/{insee}/agenda/",
        f"{base}{dav.CALDAV_PREFIX}/_communes/{insee}/agenda/marche.ics",
        f"{base}{dav.CARDDAV_PREFIX}/_communes/{insee}/annuaire/",
        f"{base}{dav.PRINCIPALS_PREFIX}/{owner.user.email}/",
    ]


def state(owner: Account, insee: str) -> tuple[str, str]:
    """What A holds: its commune calendar and the owner's personal one, as A's admin sees
    them (read on disk through the owner's own access at the end)."""
    found = calendars(owner)
    return (
        repr(sorted(e.data for e in found[f"commune-{insee}"].events())),
        repr(sorted(e.data for e in found["personnel"].events())),
    )


def refused(who: Account, urls: list[str], label: str) -> None:
    for url in urls:
        for method, body in BODIES.items():
            answer = requests.request(
                method, url, auth=who.auth, data=body, headers={"Depth": "1"}, timeout=60
            )
            assert answer.status_code in (401, 403, 404, 405), (
                label,
                method,
                url,
                answer.status_code,
            )
            assert "Marché" not in answer.text and "Réunion" not in answer.text, (
                label,
                method,
                url,
            )


def test_nobody_outside_a_reaches_a_by_any_path_or_method(admin, agent, other, commune_a, server):
    services.add_resource(ACTOR, commune_a, "Salle des fêtes")
    found = calendars(admin)
    found[f"commune-{commune_a.insee}"].save_event(ical("Marché", uid="marche"))
    found["personnel"].save_event(ical("Réunion", uid="reunion"))
    before = state(admin, commune_a.insee)
    urls = paths_of_a(admin, commune_a.insee) + paths_of_a(agent, commune_a.insee)[:2]

    refused(other, urls, "membre de B")

    # A member of A and B whose membership of A is deactivated: B still opens, A does not.
    both = account(
        server,
        core_services.add_member(
            SYSTEM, commune_a, "deux@x.test", Role.AGENT, invite=False
        ).membership.user,
    )
    Membership.objects.create(
        user=both.user, commune=other.user.memberships.first().commune, role=Role.AGENT
    )
    assert f"commune-{commune_a.insee}" in calendars(both)
    Membership.objects.filter(user=both.user, commune=commune_a).update(is_active=False)
    refused(both, urls + paths_of_a(both, commune_a.insee)[3:6], "membre désactivé de A")

    # A suspended: its own members get nothing (their app passwords open nothing).
    core_services.set_commune_status(SYSTEM, commune_a, CommuneStatus.SUSPENDED, "matrice")
    refused(agent, urls, "agent de A suspendue")
    core_services.set_commune_status(SYSTEM, commune_a, CommuneStatus.ACTIVE, "matrice")
    assert state(admin, commune_a.insee) == before
