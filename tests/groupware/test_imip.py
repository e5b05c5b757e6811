"""Invitations by mail (iMIP): the organiser's save sends a REQUEST to every attendee, in
Clocher or outside; a Clocher attendee's accept is written into the organiser's event;
a deletion sends a CANCEL."""

from __future__ import annotations

import pytest
import requests
import vobject
from django.core import mail

from tests.groupware.conftest import Account

pytestmark = pytest.mark.django_db(transaction=True)

UID = "conseil-2027-03@flavigny.test"


def event(organizer: str, attendees: dict[str, str], summary: str = "Conseil municipal") -> str:
    lines = "".join(
        f"ATTENDEE;CN={a};PARTSTAT={status};RSVP=TRUE:mailto:{a}\r\n"
        for a, status in attendees.items()
    )
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//tests//FR\r\nBEGIN:VEVENT\r\n"
        f"UID:{UID}\r\nDTSTAMP:20270101T000000Z\r\nDTSTART:20270315T180000Z\r\n"
        f"DTEND:20270315T200000Z\r\nSUMMARY:{summary}\r\nSEQUENCE:0\r\n"
        f"ORGANIZER;CN=Secrétaire:mailto:{organizer}\r\n{lines}"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    )


def put(who: Account, url: str, body: str) -> int:
    answer = requests.put(
        url,
        data=body.encode(),
        auth=who.auth,
        headers={"Content-Type": "text/calendar; charset=utf-8"},
        timeout=30,
    )
    return answer.status_code


def partstat(text: str, address: str) -> str:
    found = vobject.readOne(text).vevent
    for attendee in found.attendee_list:
        if attendee.value.lower() == f"mailto:{address}":
            return attendee.params["PARTSTAT"][0]
    raise AssertionError(f"{address} n'est pas invité")


def calendar_part(message) -> tuple[str, str]:
    for content, kind in message.alternatives:
        if kind.startswith("text/calendar"):
            return str(content), kind
    raise AssertionError("pas de partie text/calendar")


@pytest.fixture
def outbox(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    mail.outbox = []
    return mail.outbox


def test_invitation_reply_and_cancel(admin, agent, outbox):
    organizer, colleague, outside = admin.user.email, agent.user.email, "maire@autre-commune.test"
    url = f"{admin.calendars}personnel/conseil.ics"
    attendees = {organizer: "ACCEPTED", colleague: "NEEDS-ACTION", outside: "NEEDS-ACTION"}
    assert put(admin, url, event(organizer, attendees)) == 201
    assert len(outbox) == 1
    request = outbox[0]
    assert sorted(request.to) == sorted([colleague, outside])
    assert request.from_email == organizer
    ics, kind = calendar_part(request)
    assert "method=REQUEST" in kind and "METHOD:REQUEST" in ics and UID in ics
    # Saving again without a material change (an alarm, a colour) sends nothing more.
    assert put(admin, url, event(organizer, attendees)) in (201, 204)
    assert len(outbox) == 1

    # The colleague accepts in their own calendar: the organiser's copy says so at once,
    # and no mail is needed for that.
    accepted = {**attendees, colleague: "ACCEPTED"}
    assert (
        put(agent, f"{agent.calendars}personnel/invitation.ics", event(organizer, accepted)) == 201
    )
    assert len(outbox) == 1
    stored = requests.get(url, auth=admin.auth, timeout=30).text
    assert partstat(stored, colleague) == "ACCEPTED", stored
    assert partstat(stored, outside) == "NEEDS-ACTION"

    # The organiser deletes it: everyone invited gets a CANCEL.
    assert requests.delete(url, auth=admin.auth, timeout=30).status_code in (200, 204)
    assert len(outbox) == 2
    cancel = outbox[1]
    assert sorted(cancel.to) == sorted([colleague, outside])
    ics, kind = calendar_part(cancel)
    assert "METHOD:CANCEL" in ics and "STATUS:CANCELLED" in ics


def test_outside_organiser_gets_a_reply_by_mail(agent, outbox):
    organizer = "president@syndicat.test"
    attendees = {agent.user.email: "DECLINED"}
    assert (
        put(agent, f"{agent.calendars}personnel/syndicat.ics", event(organizer, attendees)) == 201
    )
    assert len(outbox) == 1
    reply = outbox[0]
    assert reply.to == [organizer]
    ics, kind = calendar_part(reply)
    assert "METHOD:REPLY" in ics and "PARTSTAT=DECLINED" in ics
    assert reply.subject.startswith("Refusé")
