"""Calendars and address books are in the backup set, wherever CLOCHER_GROUPWARE_DIR puts
them: a restore onto a fresh platform brings back the events, and the shared collections
still reached through each member's home (relative links)."""

from __future__ import annotations

import os

import pytest
import vobject
from radicale import item as radicale_item

from clocher.groupware import dav, services
from clocher.operations.services import snapshot
from tests.operations.conftest import ACTOR
from tests.operations.test_backup_restore import kit_file

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("data_dir")]

EVENT = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//tests//FR\r\nBEGIN:VEVENT\r\nUID:fete\r\n"
    "DTSTAMP:20270101T000000Z\r\nDTSTART:20270714T100000Z\r\nDTEND:20270714T120000Z\r\n"
    "SUMMARY:Fête nationale\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)


def test_backup_then_restore_brings_calendars_back(commune_a, agent_a, tmp_path, fresh, settings):
    settings.GROUPWARE_DIR = tmp_path / "agendas"  # outside the data dir
    fresh.env["CLOCHER_GROUPWARE_DIR"] = str(fresh.root.parent / "agendas-neufs")
    dav.reset()
    app = dav.application().apps[dav.CALDAV_PREFIX]
    services.prepare_home(app, dav.CALDAV_PREFIX, agent_a, [commune_a])
    href = f"/{agent_a.email}/commune-{commune_a.insee}/"
    with app._storage.acquire_lock("w"):
        collection = next(iter(app._storage.discover(href)))
        collection.upload(
            "fete.ics",
            radicale_item.Item(
                collection_path=href.strip("/"), vobject_item=vobject.readOne(EVENT)
            ),
        )
    dav.reset()
    assert snapshot.take(ACTOR).backup.ok
    proc = fresh.clocher("restore", "latest", "--kit", str(kit_file(tmp_path)))
    assert proc.returncode == 0, proc.stdout + proc.stderr

    link = fresh.root.parent / "agendas-neufs" / "calendars" / "collection-root" / agent_a.email
    link = link / f"commune-{commune_a.insee}"
    assert link.is_symlink() and not os.path.isabs(os.readlink(link))
    assert "SUMMARY:Fête nationale" in (link / "fete.ics").read_text()
