"""The platform's own mail through its real Postfix: kept while Postfix is down, delivered
once by the retry when it is up; bounces to the "do not answer" sender discarded."""

from __future__ import annotations

import smtplib
import socket

import pytest
from django.core.mail import send_mail

from clocher.accounts.services import create_app_password, find_invitation
from clocher.core import mailer
from clocher.core.audit import Actor
from clocher.mail import services
from tests.conftest import invitation_links
from tests.mail.conftest import DOMAIN, fetch_by_subject, message, smtp_in, wait_for_messages

pytestmark = pytest.mark.django_db(transaction=True)
ACTOR = Actor(label="tests")


def test_invitation_spooled_while_postfix_is_down_reaches_the_mailbox_once(
    mail_servers, commune_a, settings, tmp_path
):
    settings.EMAIL_BACKEND = "clocher.core.mailer.SpoolingEmailBackend"
    settings.OUTBOX_DIR = tmp_path / "outbox"
    settings.EMAIL_HOST, settings.EMAIL_HOST_USER, settings.EMAIL_USE_TLS = "", "", False
    settings.DEFAULT_FROM_EMAIL = mailer.PLACEHOLDER_FROM
    with socket.socket() as held:  # bound, not listening: Postfix "down"
        held.bind(("127.0.0.1", 0))
        settings.MAIL_REINJECT_PORT = held.getsockname()[1]
        # The mailbox makes its address an agent of the commune: invited by mail.
        jean = services.open_mailbox(ACTOR, commune_a, f"jean.dupont@{DOMAIN}").user
    assert mailer.status().pending == 1  # the caller went on
    clear = create_app_password(ACTOR, jean, "tests").clear

    settings.MAIL_REINJECT_PORT = mail_servers.reinject_port  # Postfix is up
    assert mailer.flush().sent == 1
    again = mailer.flush()  # the file was moved to sent/: nothing goes twice
    assert (again.sent, again.waiting, again.failed) == (0, 0, 0)
    assert len(list((tmp_path / "outbox" / "sent").glob("*.eml"))) == 1
    # A marker sent after both flushes: once it is in, the invitation is in exactly once.
    send_mail("Repère", "Fin.\n", None, [jean.email])
    client = wait_for_messages(mail_servers, jean.email, clear, 2, timeout=60)
    parsed = fetch_by_subject(client)
    client.logout()
    assert sorted(parsed) == ["Invitation : Flavigny-sur-Ozerain", "Repère"]
    invitation = parsed["Invitation : Flavigny-sur-Ozerain"]
    (link,) = invitation_links(invitation.get_body().get_content())
    assert find_invitation(link.split("/")[2]).user == jean
    assert invitation["From"].addresses[0].addr_spec == f"ne-pas-repondre@{DOMAIN}"
    assert invitation["Auto-Submitted"] == "auto-generated"
    assert mailer.status().pending == 0


def test_bounces_to_the_do_not_answer_sender_are_accepted_and_discarded(mail_servers, operator):
    """Refused at RCPT, a bounce would go back to its own (null) sender's postmaster; it is
    taken and dropped instead (the transport map sends it to `discard`)."""
    services.shared_domain()
    with smtp_in(mail_servers) as smtp:
        refused = smtp.sendmail(
            "",
            [f"ne-pas-repondre@{DOMAIN}"],
            message("MAILER-DAEMON@example.org", f"ne-pas-repondre@{DOMAIN}", "Non remis"),
        )
    assert refused == {}
    # Other unknown addresses of the shared domain are still refused at RCPT.
    with smtp_in(mail_servers) as smtp, pytest.raises(smtplib.SMTPRecipientsRefused):
        smtp.sendmail("", [f"personne@{DOMAIN}"], message("x@example.org", "y", "Non remis"))


def test_a_recipient_refused_for_good_is_set_aside_not_retried(mail_servers, settings, tmp_path):
    settings.EMAIL_BACKEND = "clocher.core.mailer.SpoolingEmailBackend"
    settings.OUTBOX_DIR = tmp_path / "outbox"
    settings.EMAIL_HOST, settings.EMAIL_HOST_USER, settings.EMAIL_USE_TLS = "", "", False
    settings.MAIL_REINJECT_PORT = mail_servers.reinject_port
    # Not a fully qualified domain: Postfix answers 5xx, waiting would not help.
    assert send_mail("Avis", "Bonjour.\n", "Clocher <x@example.org>", ["jean@intranet"]) == 1
    status = mailer.status()
    assert (status.pending, status.failed) == (0, 1)
    (kept,) = (tmp_path / "outbox" / "failed").glob("*.eml")
    assert "jean@intranet" in mailer.read_spool_file(kept)[0].last_error
