"""End to end through the real servers: an agent saves an event with a colleague as
attendee over CalDAV; the invitation (iMIP REQUEST) leaves through the platform's Postfix
and lands in the colleague's Dovecot mailbox (read over IMAP); the colleague's accept,
saved in their own calendar, updates the organiser's event.

Here rather than in tests/groupware: one set of mail servers per test session."""

from __future__ import annotations

import email
from email import policy

import pytest
import requests
import vobject

from clocher.core import mailer
from clocher.groupware import dav
from tests.mail.conftest import wait_for_messages
from tests.mail.test_awareness import send_through_postfix
from tests.vault.conftest import dav_server  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db(transaction=True)

UID = "conseil-postfix@flavigny.test"


def event(organizer: str, attendee: str, status: str) -> bytes:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//tests//FR\r\nBEGIN:VEVENT\r\n"
        f"UID:{UID}\r\nDTSTAMP:20270101T000000Z\r\nDTSTART:20270315T180000Z\r\n"
        "DTEND:20270315T200000Z\r\nSUMMARY:Commission travaux\r\n"
        f"ORGANIZER:mailto:{organizer}\r\n"
        f"ATTENDEE;PARTSTAT=ACCEPTED:mailto:{organizer}\r\n"
        f"ATTENDEE;PARTSTAT={status};RSVP=TRUE:mailto:{attendee}\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    ).encode()


def test_invitation_reaches_the_colleague_and_the_accept_updates_the_organiser(
    mail_servers,
    make_box,
    dav_server,  # noqa: F811 - the fixture imported above
    settings,
    tmp_path,
):
    send_through_postfix(settings, mail_servers, dav_server, tmp_path)
    settings.GROUPWARE_DIR = tmp_path / "groupware"
    dav.reset()
    organizer, colleague = make_box("organisatrice"), make_box("invite")
    home = f"{dav_server}{dav.CALDAV_PREFIX}"
    url = f"{home}/{organizer.user.email}/personnel/commission.ics"
    headers = {"Content-Type": "text/calendar; charset=utf-8"}
    auth = (organizer.user.email, organizer.password)
    saved = requests.put(
        url,
        data=event(organizer.address, colleague.address, "NEEDS-ACTION"),
        auth=auth,
        headers=headers,
        timeout=60,
    )
    assert saved.status_code == 201, saved.text
    assert mailer.status().pending == 0  # handed to Postfix, not spooled

    client = wait_for_messages(mail_servers, colleague.address, colleague.password, 1, timeout=90)
    _, data = client.search(None, "ALL")
    (number,) = data[0].split()
    _, parts = client.fetch(number, "(RFC822)")
    client.logout()
    received = email.message_from_bytes(parts[0][1], policy=policy.default)
    assert str(received["Subject"]) == "Invitation : Commission travaux"
    invitation = next(p for p in received.walk() if p.get_content_type() == "text/calendar")
    assert invitation.get_param("method") == "REQUEST"
    assert UID in invitation.get_content()

    # The colleague accepts in their own calendar (what their client does with the mail).
    accepted = requests.put(
        f"{home}/{colleague.user.email}/personnel/invitation.ics",
        data=event(organizer.address, colleague.address, "ACCEPTED"),
        auth=(colleague.user.email, colleague.password),
        headers=headers,
        timeout=60,
    )
    assert accepted.status_code == 201, accepted.text
    stored = vobject.readOne(requests.get(url, auth=auth, timeout=60).text).vevent
    statuses = {a.value.lower(): a.params["PARTSTAT"][0] for a in stored.attendee_list}
    assert statuses[f"mailto:{colleague.address}"] == "ACCEPTED"
    dav.reset()
