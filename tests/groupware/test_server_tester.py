"""`caldav-server-tester`, the caldav library's compatibility checker, run against our
endpoint: every check passes, or is one of the deviations listed (with why) in
docs/groupware.md."""

from __future__ import annotations

import caldav
import pytest
from caldav_server_tester import ServerQuirkChecker

pytestmark = pytest.mark.django_db(transaction=True)

# Feature → support level found, for every feature where we fall short of the standard.
# Each is explained in docs/groupware.md ("Compatibilité CalDAV").
KNOWN_SHORTFALLS = {
    # RFC 6638 (server-side scheduling) is not in Radicale: invitations go by iMIP.
    "scheduling": "unsupported",
    # principal-property-search is refused on purpose: listing or searching the
    # platform's people would cross communes.
    "principal-search": "ungraceful",
    "principal-search.by-name.self": "ungraceful",
    "principal-search.list-all": "ungraceful",
    # Radicale expands recurring events in a query, not recurring tasks.
    "search.recurrences.expanded.todo": "unsupported",
    # DAV:limit is ignored: the whole change list comes in one answer (harmless).
    "sync-token.limit": "unsupported",
    "sync-token.limit.initial-sync": "unsupported",
}


def test_caldav_server_tester_finds_only_the_known_shortfalls(admin):
    client = caldav.DAVClient(
        url=f"{admin.base}/remote.php/dav/",
        username=admin.auth[0],
        password=admin.auth[1],
        timeout=120,
    )
    checker = ServerQuirkChecker(client)
    try:
        checker.check_all()
    finally:
        checker.cleanup(force=True)
    deviations = checker._get_deviating_features()
    shortfalls = {
        feature: info["support"]
        for feature, info in deviations.items()
        if info.get("support") != "full"
    }
    assert shortfalls == KNOWN_SHORTFALLS, checker.report(return_what=str)
