"""The report gesture through the real servers: an exercise forwarded (as an attachment)
to signalement@ through the agent's submission, or moved into their "Signaler" folder over
IMAP, is recorded as reported — by Postfix's pipe transport and by Dovecot's imapsieve
rule, both running the relay to the live server; a message that is not an exercise lands
in the operator's queue, with the commune of the agent who reported it."""

from __future__ import annotations

import email
import time
from collections.abc import Callable
from datetime import timedelta
from email import policy
from email.message import EmailMessage

import pytest
from django.utils import timezone

from clocher.awareness import reporting, services
from clocher.awareness.models import Channel, Event, EventKind, SuspectReport
from tests.awareness.conftest import ACTOR, enrolled  # noqa: F401 - fixture
from tests.mail.conftest import DOMAIN, message, smtp_in, submission, wait_for_messages
from tests.mail.test_awareness import send_through_postfix

pytestmark = pytest.mark.django_db(transaction=True)


def eventually(condition: Callable[[], bool], timeout: float = 90) -> bool:
    """Delivery and the relay are asynchronous: poll (a loaded machine may be slow)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def log_tails(config, lines: int = 30) -> str:
    """The servers' last words, for a failure's message (the data dir goes with the run)."""
    tails = []
    for name in ("postfix.log", "dovecot.log"):
        path = config.log_dir / name
        text = path.read_text(errors="replace") if path.exists() else ""
        tails.append(f"--- {name}\n" + "\n".join(text.splitlines()[-lines:]))
    return "\n".join(tails)


def forward_as_attachment(config, box, raw: bytes, subject: str) -> None:
    forward = EmailMessage()
    forward["From"], forward["To"] = box.address, f"{reporting.REPORT_LOCAL_PART}@{DOMAIN}"
    forward["Subject"] = f"TR: {subject}"
    forward.set_content("Ce message me semble suspect.")
    forward.add_attachment(email.message_from_bytes(raw, policy=policy.default))
    with submission(config, box) as client:
        client.send_message(forward)


def move_to_report_folder(config, box, count: int = 1) -> None:
    """What a mail client does when the agent drags the newest message into the folder."""
    client = wait_for_messages(config, box.address, box.password, count, timeout=90)
    _, answer = client.uid("SEARCH", None, "ALL")
    status, answer = client.uid("MOVE", answer[0].split()[-1], reporting.REPORT_FOLDER)
    assert status == "OK", answer
    client.logout()


def inbox_raw(config, box, count: int = 1) -> bytes:
    client = wait_for_messages(config, box.address, box.password, count, timeout=90)
    _, data = client.search(None, "ALL")
    _, parts = client.fetch(data[0].split()[-1], "(BODY.PEEK[])")
    client.logout()
    return parts[0][1]


def test_forwarding_or_moving_records_a_report_and_real_phishing_is_queued(
    mail_servers,
    live_server,
    enrolled,  # noqa: F811 - the fixture imported above
    commune_a,
    settings,
    tmp_path,
):
    send_through_postfix(settings, mail_servers, live_server.url, tmp_path)
    forwarder, mover = enrolled(2, prefix="vigie")
    campaign = services.create_campaign(ACTOR, commune_a, "Signaler", timezone.localdate())
    assert services.send_due(timezone.now() + timedelta(days=30), campaign=campaign).sent == 2

    # The forwarder sends the exercise as an attachment to signalement@ (Postfix's pipe).
    exercise = campaign.recipients.get(participant__user=forwarder.user)
    forward_as_attachment(mail_servers, forwarder, inbox_raw(mail_servers, forwarder), "Colis")
    # The other one moves it into "Signaler" (Dovecot's imapsieve on COPY/MOVE).
    moved = campaign.recipients.get(participant__user=mover.user)
    move_to_report_folder(mail_servers, mover)
    for recipient in (exercise, moved):
        assert eventually(
            lambda r=recipient: Event.objects.filter(recipient=r, kind=EventKind.REPORTED).exists()
        ), f"report of {recipient.address} not recorded:\n{log_tails(mail_servers)}"
    assert SuspectReport.objects.count() == 0  # exercises never reach the operator

    # A real phishing from outside: one moves it, the other forwards it.
    with smtp_in(mail_servers) as client:
        for box, subject in ((mover, "Votre compte expire"), (forwarder, "Facture impayée")):
            client.sendmail(
                "escroc@example.org",
                [box.address],
                message("Support <escroc@example.org>", box.address, subject),
            )
    move_to_report_folder(mail_servers, mover, count=1)
    forward_as_attachment(
        mail_servers, forwarder, inbox_raw(mail_servers, forwarder, count=2), "Facture"
    )
    assert eventually(lambda: SuspectReport.objects.count() == 2)
    queued = {s.channel: s for s in reporting.queue()}
    assert set(queued) == {Channel.FOLDER, Channel.ADDRESS}
    assert queued[Channel.FOLDER].reporter == mover.address
    assert queued[Channel.FOLDER].subject == "Votre compte expire"
    assert queued[Channel.ADDRESS].reporter == forwarder.address
    assert queued[Channel.ADDRESS].subject == "Facture impayée"  # the attached message's
    assert all(s.commune_id == commune_a.pk for s in queued.values())
    assert b"escroc@example.org" in bytes(queued[Channel.FOLDER].message)
