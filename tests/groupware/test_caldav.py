"""CalDAV with the `caldav` client against the real server: discovery, personal and
commune calendars, sharing by role, tenancy, revocation, resources and free/busy."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import caldav
import pytest
import requests
from caldav.lib.error import AuthorizationError, DAVError

from clocher.accounts.models import AppPassword
from clocher.core.models import Membership
from clocher.groupware import services
from tests.groupware.conftest import ACTOR, Account, report

pytestmark = pytest.mark.django_db(transaction=True)

START = datetime(2027, 3, 15, 10, 0)


def client(who: Account) -> caldav.DAVClient:
    return caldav.DAVClient(
        url=f"{who.base}/remote.php/dav/", username=who.auth[0], password=who.auth[1], timeout=60
    )


def calendars(who: Account) -> dict[str, caldav.Calendar]:
    """Calendars of the home, by their last path segment."""
    found = client(who).principal().calendars()
    return {str(c.url).rstrip("/").rsplit("/", 1)[-1]: c for c in found}


def ical(summary: str, start: datetime = START, uid: str = "", extra: str = "") -> str:
    end = start + timedelta(hours=1)
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//tests//FR\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid or uuid.uuid4()}\r\nDTSTAMP:20270101T000000Z\r\n"
        f"DTSTART:{start:%Y%m%dT%H%M%S}Z\r\nDTEND:{end:%Y%m%dT%H%M%S}Z\r\n"
        f"SUMMARY:{summary}\r\n{extra}END:VEVENT\r\nEND:VCALENDAR\r\n"
    )


def summaries(calendar: caldav.Calendar) -> set[str]:
    return {str(e.icalendar_component["SUMMARY"]) for e in calendar.events()}


def test_well_known_redirects_to_the_dav_root(server):
    for service in ("caldav", "carddav"):
        answer = requests.get(f"{server}/.well-known/{service}", allow_redirects=False, timeout=30)
        assert answer.status_code == 301
        assert answer.headers["Location"] == "/remote.php/dav/"


def test_discovery_names_principal_and_both_homes(admin):
    answer = requests.request(
        "PROPFIND",
        f"{admin.base}/.well-known/caldav",
        auth=admin.auth,
        headers={"Depth": "0"},
        timeout=30,
    )
    assert answer.status_code == 207, answer.text
    assert "/remote.php/dav/" in answer.url
    assert f"/remote.php/dav/calendars/{admin.user.email}/" in answer.text
    assert f"/remote.php/dav/addressbooks/users/{admin.user.email}/" in answer.text
    # The principal of each store names the home of the other, and the mail address.
    principal = requests.request(
        "PROPFIND", admin.calendars, auth=admin.auth, headers={"Depth": "0"}, timeout=30
    )
    assert principal.status_code == 207
    email = admin.user.email.replace("@", "%40")
    assert f"/remote.php/dav/addressbooks/users/{email}/</" in principal.text
    assert f"mailto:{admin.user.email}<" in principal.text


def test_unauthenticated_and_wrong_password_are_refused(admin):
    assert requests.request("PROPFIND", admin.calendars, timeout=30).status_code == 401
    wrong = requests.request("PROPFIND", admin.calendars, auth=(admin.user.email, "x"), timeout=30)
    assert wrong.status_code == 401


def test_first_use_makes_personal_and_commune_calendars(admin, commune_a):
    found = calendars(admin)
    assert set(found) == {"personnel", f"commune-{commune_a.insee}"}
    assert found["personnel"].get_display_name() == "Agenda personnel"


def test_events_are_created_listed_updated_moved_and_deleted(admin):
    personal = calendars(admin)["personnel"]
    event = personal.add_event(ical("Conseil municipal"))
    assert summaries(personal) == {"Conseil municipal"}
    event.icalendar_component["SUMMARY"] = "Conseil municipal (reporté)"
    event.save()
    assert summaries(personal) == {"Conseil municipal (reporté)"}
    # In a month's range, found by a calendar-query REPORT; outside it, not.
    in_march = personal.search(start=datetime(2027, 3, 1), end=datetime(2027, 4, 1), event=True)
    assert len(in_march) == 1
    assert not personal.search(start=datetime(2027, 5, 1), end=datetime(2027, 6, 1), event=True)
    # Moved: saved to another time.
    event.icalendar_component["DTSTART"].dt = START + timedelta(days=7)
    event.icalendar_component["DTEND"].dt = START + timedelta(days=7, hours=1)
    event.save()
    assert (
        len(personal.search(start=datetime(2027, 3, 20), end=datetime(2027, 3, 31), event=True))
        == 1
    )
    event.delete()
    assert summaries(personal) == set()


def test_commune_calendar_is_shared_with_colleagues_only(admin, agent, other, commune_a):
    name = f"commune-{commune_a.insee}"
    calendars(admin)[name].add_event(ical("Marché de Noël"))
    assert summaries(calendars(agent)[name]) == {"Marché de Noël"}
    calendars(agent)[name].add_event(ical("Permanence"))
    assert summaries(calendars(admin)[name]) == {"Marché de Noël", "Permanence"}
    # Another commune's member sees nothing of it, by any path.
    assert name not in calendars(other)
    for url in (
        f"{admin.calendars}{name}/",
        admin.calendars,
        f"{other.base}/remote.php/dav/calendars/_communes/{commune_a.insee}/agenda/",
        f"{other.calendars}{name}/",
    ):
        answer = requests.request(
            "PROPFIND", url, auth=other.auth, headers={"Depth": "1"}, timeout=30
        )
        assert answer.status_code in (403, 404), (url, answer.status_code)
        assert "Marché" not in answer.text
    principals = requests.request(
        "PROPFIND",
        f"{other.base}/remote.php/dav/calendars/",
        auth=other.auth,
        headers={"Depth": "1"},
        timeout=30,
    )
    assert admin.user.email not in principals.text.replace("%40", "@")


def test_elected_officials_read_the_commune_calendar_but_do_not_write(admin, elected, commune_a):
    name = f"commune-{commune_a.insee}"
    calendars(admin)[name].add_event(ical("Vœux du maire"))
    shared = calendars(elected)[name]
    assert summaries(shared) == {"Vœux du maire"}
    with pytest.raises((AuthorizationError, DAVError)):
        shared.add_event(ical("Pas permis"))
    assert summaries(calendars(admin)[name]) == {"Vœux du maire"}
    # Nobody deletes the shared collection itself.
    gone = requests.delete(f"{admin.calendars}{name}/", auth=admin.auth, timeout=30)
    assert gone.status_code == 403
    assert summaries(calendars(admin)[name]) == {"Vœux du maire"}


def test_revocation_and_deactivation_refuse_at_once(admin, agent, commune_a):
    assert calendars(agent)  # verified once, so remembered by the DAV login
    membership = Membership.objects.get(user=agent.user, commune=commune_a)
    membership.is_active = False
    membership.save()
    answer = requests.request("PROPFIND", agent.calendars, auth=agent.auth, timeout=30)
    assert answer.status_code == 401
    membership.is_active = True
    membership.save()
    assert calendars(agent)
    AppPassword.objects.filter(user=admin.user).update(revoked_at="2027-01-01T00:00:00Z")
    answer = requests.request("PROPFIND", admin.calendars, auth=admin.auth, timeout=30)
    assert answer.status_code == 401


def test_member_of_two_communes_loses_the_one_they_leave(agent, commune_a, commune_b):
    Membership.objects.create(user=agent.user, commune=commune_b, role="agent")
    assert f"commune-{commune_b.insee}" in calendars(agent)
    Membership.objects.filter(user=agent.user, commune=commune_b).update(is_active=False)
    found = calendars(agent)
    assert f"commune-{commune_b.insee}" not in found
    assert f"commune-{commune_a.insee}" in found
    answer = requests.request(
        "PROPFIND", f"{agent.calendars}commune-{commune_b.insee}/", auth=agent.auth, timeout=30
    )
    assert answer.status_code in (403, 404)


FREEBUSY = """<?xml version="1.0" encoding="utf-8"?>
<C:free-busy-query xmlns:C="urn:ietf:params:xml:ns:caldav">
  <C:time-range start="20270315T000000Z" end="20270316T000000Z"/>
</C:free-busy-query>"""


def test_resource_calendar_is_booked_and_shows_free_busy(admin, agent, other, commune_a):
    services.add_resource(ACTOR, commune_a, "Salle des fêtes")
    name = f"ressource-{commune_a.insee}-salle-des-fetes"
    hall = calendars(admin)[name]
    assert hall.get_display_name().startswith("Salle des fêtes")
    hall.add_event(ical("Mariage"))
    answer = report(agent, f"{agent.calendars}{name}/", FREEBUSY)
    assert answer.status_code == 200, answer.text
    assert "BEGIN:VFREEBUSY" in answer.text
    assert "FREEBUSY" in answer.text and "20270315T100000Z" in answer.text
    refused = report(other, f"{admin.calendars}{name}/", FREEBUSY)
    assert refused.status_code in (403, 404)
    assert name not in calendars(other)


def test_resource_names_are_checked(commune_a):
    services.add_resource(ACTOR, commune_a, "Véhicule")
    with pytest.raises(services.GroupwareError, match="déjà"):
        services.add_resource(ACTOR, commune_a, "véhicule")
    with pytest.raises(services.GroupwareError, match="vide"):
        services.add_resource(ACTOR, commune_a, "  ")


TIMEZONE = (
    "BEGIN:VTIMEZONE\r\nTZID:Europe/Paris\r\nBEGIN:DAYLIGHT\r\nTZOFFSETFROM:+0100\r\n"
    "TZOFFSETTO:+0200\r\nDTSTART:19810329T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\n"
    "END:DAYLIGHT\r\nEND:VTIMEZONE\r\n"
)


def test_recurrences_that_would_hold_a_worker_for_minutes_are_refused(admin):
    """A rule by the minute that never falls (30 February) held Radicale's worker over a
    minute at its PUT; expanding one by the second over ten years, minutes more. Those
    are refused with the reason; the rules town halls use are kept, and expanded."""
    personal = calendars(admin)["personnel"]
    url = str(personal.url)
    refused = {
        "chaque-minute": "RRULE:FREQ=MINUTELY;BYMONTH=2;BYMONTHDAY=30\r\n",
        "chaque-seconde": "RRULE:FREQ=SECONDLY\r\n",
        # A folded line: the rule is read once unfolded.
        "plie": "RRULE:FREQ=SECON\r\n DLY;INTERVAL=5\r\n",
        "horaire-sans-fin": "RRULE:FREQ=HOURLY;INTERVAL=2\r\n",
        "exclusion": "RRULE:FREQ=DAILY\r\nEXRULE:FREQ=DAILY\r\n",
    }
    for name, rule in refused.items():
        put = requests.put(
            f"{url}{name}.ics", data=ical(name, uid=name, extra=rule).encode(), auth=admin.auth,
            headers={"Content-Type": "text/calendar"}, timeout=30,
        )  # fmt: skip
        assert put.status_code == 403, (name, put.status_code, put.text)
        assert (
            "valid-calendar-object-resource" in put.text
            and "Récurrence" in put.text
            or ("EXRULE" in put.text)
        ), put.text
    assert summaries(personal) == set()
    kept = {
        "permanence": "RRULE:FREQ=WEEKLY;BYDAY=TU\r\n",
        "releve": "RRULE:FREQ=DAILY\r\n",
        "garde": "RRULE:FREQ=HOURLY;COUNT=24\r\n",
    }
    for name, rule in kept.items():
        body = ical(name, uid=name, extra=rule).replace("BEGIN:VEVENT", TIMEZONE + "BEGIN:VEVENT")
        put = requests.put(
            f"{url}{name}.ics", data=body.encode(), auth=admin.auth,
            headers={"Content-Type": "text/calendar"}, timeout=30,
        )  # fmt: skip
        assert put.status_code == 201, (name, put.status_code, put.text)
    assert summaries(personal) == set(kept)
    # Expanded over a week by the server: the first Monday (DTSTART is always an instance,
    # RFC 5545) and Tuesday, 7 days, the 24 hours of the guard.
    week = personal.search(
        start=datetime(2027, 3, 15), end=datetime(2027, 3, 22), event=True, expand=True
    )
    counts: dict[str, int] = {}
    for event in week:
        for component in event.icalendar_instance.walk("VEVENT"):
            counts[str(component["SUMMARY"])] = counts.get(str(component["SUMMARY"]), 0) + 1
    assert counts == {"permanence": 2, "releve": 7, "garde": 24}
