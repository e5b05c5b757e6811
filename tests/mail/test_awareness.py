"""End to end through the real servers: the exercise leaves through the platform's Postfix,
lands in the agent's Dovecot mailbox (read over IMAP), its link opened with an HTTP client
on the live server records the click, the message forwarded as received records a report;
an agent of another commune, and one who objected, receive nothing.

Here rather than in tests/awareness: one set of mail servers per test session (they share
the data directory)."""

from __future__ import annotations

import email
import re
import urllib.parse
import urllib.request
from datetime import timedelta
from email import policy

import pytest
from django.utils import timezone

from clocher.awareness import services
from clocher.awareness.models import Event, EventKind
from clocher.core import mailer
from tests.awareness.conftest import ACTOR, enrolled  # noqa: F401 - fixture
from tests.mail.conftest import wait_for_messages

pytestmark = pytest.mark.django_db(transaction=True)


def send_through_postfix(settings, mail_servers, base_url: str, tmp_path) -> None:
    """The platform's mail as in production: Postfix's loopback listener, links to `base_url`."""
    settings.EMAIL_BACKEND = "clocher.core.mailer.SpoolingEmailBackend"
    settings.OUTBOX_DIR = tmp_path / "outbox"
    settings.EMAIL_HOST, settings.EMAIL_HOST_USER, settings.EMAIL_USE_TLS = "", "", False
    settings.DEFAULT_FROM_EMAIL = mailer.PLACEHOLDER_FROM
    settings.MAIL_REINJECT_PORT = mail_servers.reinject_port
    settings.BASE_URL = base_url


def test_campaign_reaches_the_mailbox_click_and_report_are_recorded(
    mail_servers,
    live_server,
    enrolled,  # noqa: F811 - the fixture imported above
    commune_a,
    commune_b,
    settings,
    tmp_path,
):
    send_through_postfix(settings, mail_servers, live_server.url, tmp_path)
    agent, objector = enrolled(2)
    (neighbour,) = enrolled(1, commune=commune_b, prefix="voisin")
    services.choose(ACTOR, commune_a, objector.user, take_part=False)

    campaign = services.create_campaign(ACTOR, commune_a, "Exercice", timezone.localdate(), days=1)
    far = timezone.now() + timedelta(days=30)
    assert services.send_due(far, campaign=campaign).sent == 1
    assert mailer.status().pending == 0  # handed to Postfix, not spooled

    client = wait_for_messages(mail_servers, agent.address, agent.password, 1, timeout=60)
    _, data = client.search(None, "ALL")
    (number,) = data[0].split()
    _, parts = client.fetch(number, "(RFC822)")
    client.logout()
    raw = parts[0][1]
    received = email.message_from_bytes(raw, policy=policy.default)
    recipient = campaign.recipients.get()
    expected = recipient.template.subject.format(
        prenom=agent.address.split(".")[0].capitalize(),
        commune=commune_a.name,
    )
    # A long non-ASCII subject is folded into encoded words: compare it as a reader sees it.
    assert " ".join(str(received["Subject"]).split()) == " ".join(expected.split())
    text = received.get_body(("plain",)).get_content()
    (url,) = re.findall(r"https?://\S+/sensibilisation/l/\S+/", text)

    with urllib.request.urlopen(url, timeout=30) as answer:  # noqa: S310 - the live server
        assert answer.status == 200
        page = answer.read().decode()
    # Fetched as a mail gateway would, running no script: no click yet.
    assert not Event.objects.filter(recipient=recipient, kind=EventKind.CLICKED).exists()
    (beacon,) = re.findall(r'data-clic="([^"]+)"', page)
    told = urllib.request.Request(urllib.parse.urljoin(url, beacon), method="POST")  # noqa: S310
    with urllib.request.urlopen(told, timeout=30) as answer:  # noqa: S310 - the live server
        assert answer.status == 204
    assert Event.objects.filter(recipient=recipient, kind=EventKind.CLICKED).exists()

    assert services.report_message(b"Fwd: a message\r\n\r\n" + raw) == recipient
    assert Event.objects.filter(recipient=recipient, kind=EventKind.REPORTED).exists()

    for other in (objector, neighbour):  # nothing for them
        box = wait_for_messages(mail_servers, other.address, other.password, 1, timeout=0)
        _, data = box.search(None, "ALL")
        box.logout()
        assert data[0].split() == []
