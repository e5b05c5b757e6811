"""CalDAV REPORT (calendar-query over one month) on a calendar of 10,000 events: Clocher's
endpoint (Radicale mounted in Clocher, under gunicorn as `clocher serve` runs it, with
the app-password login and the rights read from the database) vs Radicale run standalone
(its own server, any password accepted) on a copy of the same collection, in one run.

Both answer the same query (getetag and calendar-data of the month's events); each is
asked once to warm its cache (Radicale indexes the items on first read), then BENCH_RUNS
times (7), median. Ratio > 1: Clocher faster.

Size: BENCH_EVENTS (default 10000, spread over two years).
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _groupware import clocher_and_radicale  # noqa: E402
from _setup import django_with_fresh_db  # noqa: E402

EVENTS = int(os.environ.get("BENCH_EVENTS", "10000"))
RUNS = int(os.environ.get("BENCH_RUNS", "7"))
QUERY = b"""<?xml version="1.0" encoding="utf-8"?>
<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:prop><D:getetag/><C:calendar-data/></D:prop>
  <C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">
    <C:time-range start="20270301T000000Z" end="20270401T000000Z"/>
  </C:comp-filter></C:comp-filter></C:filter>
</C:calendar-query>"""


def event(i: int) -> str:
    start = datetime(2026, 1, 1, 8) + timedelta(hours=(i * 7) % (24 * 730))
    end = start + timedelta(hours=1)
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//FR\r\nBEGIN:VEVENT\r\n"
        f"UID:bench-{i}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:{start:%Y%m%dT%H%M%S}Z\r\n"
        f"DTEND:{end:%Y%m%dT%H%M%S}Z\r\nSUMMARY:Rendez-vous {i}\r\n"
        "LOCATION:Mairie\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )


def fill(data_dir: str) -> tuple[str, str, Path]:
    """A member, their app password and their personal calendar holding EVENTS events."""
    import vobject
    from radicale import item as radicale_item

    from clocher.accounts.services import create_app_password
    from clocher.core import services as core
    from clocher.core.audit import Actor
    from clocher.core.models import Role
    from clocher.groupware import dav, layout, services

    actor = Actor(label="bench")
    core.ensure_operator(actor, "Département bench", "bench.test", "bench@bench.test", "21")
    commune = core.create_commune(actor, "21271", status="active")
    user = core.add_member(actor, commune, "bench@flavigny.test", Role.AGENT, invite=False)
    member = user.membership.user
    password = create_app_password(actor, member, "bench").clear
    app = dav.application().apps[dav.CALDAV_PREFIX]
    services.prepare_home(app, dav.CALDAV_PREFIX, member, [commune])
    href = f"/{member.email}/{layout.PERSONAL_CALENDAR}/"
    items = [
        radicale_item.Item(collection_path=href.strip("/"), vobject_item=vobject.readOne(event(i)))
        for i in range(EVENTS)
    ]
    with app._storage.acquire_lock("w"):
        app._storage.create_collection(
            href, items=items, props=layout.calendar_props("Agenda personnel")
        )
    folder = Path(data_dir) / "groupware" / "calendars" / "collection-root" / member.email
    return member.email, password, folder / layout.PERSONAL_CALENDAR


def report_ms(url: str, auth: tuple[str, str] | None) -> tuple[float, int]:
    times, size = [], 0
    for run in range(RUNS + 1):
        start = time.perf_counter()
        answer = requests.request(
            "REPORT", url, auth=auth, data=QUERY, timeout=600,
            headers={"Depth": "1", "Content-Type": "application/xml"},
        )  # fmt: skip
        assert answer.status_code == 207, (answer.status_code, answer.text[:300])
        if run:  # the first one warms the cache
            times.append((time.perf_counter() - start) * 1000)
        size = answer.text.count("BEGIN:VEVENT")
    return statistics.median(times), size


def main() -> None:
    data_dir = django_with_fresh_db()
    login, password, calendar = fill(data_dir)
    peer_root = Path(data_dir) / "pair"
    shutil.copytree(calendar, peer_root / "collection-root" / "bench" / "agenda", symlinks=True)
    try:
        with clocher_and_radicale(data_dir, peer_root) as (port, peer_port, _):
            ours, found = report_ms(
                f"http://127.0.0.1:{port}/remote.php/dav/calendars/{login}/personnel/",
                (login, password),
            )
            theirs, peer_found = report_ms(
                f"http://127.0.0.1:{peer_port}/bench/agenda/", ("bench", "x")
            )
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    assert found == peer_found > 0, (found, peer_found)
    print(f"REPORT calendar-query (un mois, {found} événements) sur {EVENTS}, médiane de {RUNS}")
    print(
        f"Clocher {ours:7.1f} ms   Radicale seul {theirs:7.1f} ms   "
        f"ratio (Radicale / Clocher) {theirs / ours:.2f}"
    )


if __name__ == "__main__":
    main()
