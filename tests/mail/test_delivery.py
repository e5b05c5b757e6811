"""Mail through the real servers: SMTP in, submission, IMAP, quotas, refusals."""

from __future__ import annotations

import imaplib
import smtplib
import time

import pytest
from django.test import Client

from clocher.accounts.services import create_app_password, find_invitation, revoke_app_password
from clocher.core import services as core_services
from clocher.core.audit import Actor
from clocher.mail import services
from tests.conftest import invitation_links
from tests.mail.conftest import (
    DOMAIN,
    MAX_MESSAGE_BYTES,
    fetch_by_subject,
    fetch_subjects,
    imap_login,
    message,
    smtp_in,
    submission,
    tls_context,
    wait_for_messages,
)

pytestmark = pytest.mark.django_db(transaction=True)
ACTOR = Actor(label="tests")
GOOD = "un-mot-de-passe-solide-2026"


def test_inbound_smtp_reaches_the_mailbox(mail_servers, make_box):
    claire = make_box("claire.martin")
    with smtp_in(mail_servers) as smtp:
        smtp.sendmail(
            "bob@example.org",
            [claire.address],
            message("bob@example.org", claire.address, "Réunion de conseil"),
        )
    client = wait_for_messages(mail_servers, claire.address, claire.password, 1)
    assert fetch_subjects(client) == ["Réunion de conseil"]
    client.logout()


def test_submission_delivers_to_a_mailbox_and_an_alias(mail_servers, make_box, commune_a):
    claire, jean, paul = make_box("claire"), make_box("jean"), make_box("paul")
    services.create_alias(ACTOR, commune_a, f"conseil@{DOMAIN}", [jean.address, paul.address])
    with submission(mail_servers, claire) as smtp:
        smtp.sendmail(
            claire.address, [jean.address], message(claire.address, jean.address, "Direct")
        )
        smtp.sendmail(
            claire.address,
            [f"conseil@{DOMAIN}"],
            message(claire.address, f"conseil@{DOMAIN}", "Par alias"),
        )
    jean_box = wait_for_messages(mail_servers, jean.address, jean.password, 2)
    assert sorted(fetch_subjects(jean_box)) == ["Direct", "Par alias"]
    paul_box = wait_for_messages(mail_servers, paul.address, paul.password, 1)
    assert fetch_subjects(paul_box) == ["Par alias"]


def test_submission_refuses_sending_as_someone_else(mail_servers, make_box):
    claire, jean = make_box("claire"), make_box("jean")
    with submission(mail_servers, claire) as smtp, pytest.raises(smtplib.SMTPRecipientsRefused):
        smtp.sendmail(jean.address, [jean.address], message(jean.address, jean.address, "Faux"))


def test_submission_needs_tls_and_auth(mail_servers, make_box):
    claire = make_box("claire")
    with smtplib.SMTP("127.0.0.1", mail_servers.submission_port, timeout=20) as smtp:
        smtp.ehlo("x.test")
        assert "auth" not in smtp.esmtp_features  # no AUTH before STARTTLS
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            smtp.sendmail(
                claire.address,
                ["someone@example.org"],
                message(claire.address, "someone@example.org", "Relais"),
            )
        assert refused.value.smtp_code == 530


def test_open_relay_is_refused(mail_servers):
    with smtp_in(mail_servers) as smtp, pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        smtp.sendmail("a@example.org", ["b@example.net"], message("a@example.org", "b", "x"))
    code, _ = refused.value.recipients["b@example.net"]
    assert code == 554


def test_unknown_recipient_is_rejected_at_rcpt(mail_servers, make_box):
    make_box("claire")
    with smtp_in(mail_servers) as smtp, pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        smtp.sendmail("a@example.org", [f"personne@{DOMAIN}"], message("a", "b", "x"))
    code, _ = refused.value.recipients[f"personne@{DOMAIN}"]
    assert code == 550


def test_wrong_password_is_refused(mail_servers, make_box):
    claire = make_box("claire")
    with pytest.raises(imaplib.IMAP4.error):
        imap_login(mail_servers, claire.address, "abcde-wrong-wrong-wrong")
    # Right prefix, wrong rest: the hash check is what decides.
    with pytest.raises(imaplib.IMAP4.error):
        imap_login(mail_servers, claire.address, claire.password[:6] + "xxxxx-xxxxx-xxxxx")
    with smtplib.SMTP("127.0.0.1", mail_servers.submission_port, timeout=20) as smtp:
        smtp.starttls(context=tls_context())
        with pytest.raises(smtplib.SMTPAuthenticationError):
            smtp.login(claire.address, "not-the-password")


def test_revoked_app_password_stops_at_once(mail_servers, make_box):
    claire = make_box("claire")
    second = create_app_password(ACTOR, claire.user, "téléphone")
    imap_login(mail_servers, claire.address, second.clear).logout()
    revoke_app_password(ACTOR, second.record)
    with pytest.raises(imaplib.IMAP4.error):
        imap_login(mail_servers, claire.address, second.clear)
    imap_login(mail_servers, claire.address, claire.password).logout()  # the other still works


def test_disabled_mailbox_refuses_login_at_once(mail_servers, make_box):
    claire = make_box("claire")
    imap_login(mail_servers, claire.address, claire.password).logout()
    services.set_mailbox_active(ACTOR, claire.mailbox, False)
    with pytest.raises(imaplib.IMAP4.error):
        imap_login(mail_servers, claire.address, claire.password)
    services.set_mailbox_active(ACTOR, claire.mailbox, True)
    imap_login(mail_servers, claire.address, claire.password).logout()


def test_agent_cannot_open_another_mailbox(mail_servers, make_box, commune_b):
    claire = make_box("claire")
    voisin = make_box("voisin", commune=commune_b)
    with pytest.raises(imaplib.IMAP4.error):
        imap_login(mail_servers, voisin.address, claire.password)
    with pytest.raises(imaplib.IMAP4.error):
        imap_login(mail_servers, claire.address, voisin.password)


def test_oversized_message_is_refused_at_smtp_time(mail_servers, make_box):
    claire = make_box("claire")
    big = message("a@example.org", claire.address, "Gros", "x" * (MAX_MESSAGE_BYTES + 1000))
    with smtp_in(mail_servers) as smtp, pytest.raises(smtplib.SMTPException) as refused:
        smtp.sendmail("a@example.org", [claire.address], big)
    assert "552" in str(refused.value) or getattr(refused.value, "smtp_code", 0) == 552


def test_over_quota_is_refused_and_nothing_lost(mail_servers, make_box):
    claire = make_box("claire", quota=20 * 1024)
    with smtp_in(mail_servers) as smtp:
        smtp.sendmail(
            "a@example.org",
            [claire.address],
            message("a@example.org", claire.address, "Premier", "y" * 15_000),
        )
    wait_for_messages(mail_servers, claire.address, claire.password, 1).logout()
    with smtp_in(mail_servers) as smtp, pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        smtp.sendmail(
            "a@example.org",
            [claire.address],
            message("a@example.org", claire.address, "Second", "z" * 15_000),
        )
    code, text = refused.value.recipients[claire.address]
    assert code == 552 and b"5.2.2" in text
    client = imap_login(mail_servers, claire.address, claire.password)
    client.select("INBOX")
    assert fetch_subjects(client) == ["Premier"]


def test_malformed_mime_is_stored_as_received(mail_servers, make_box):
    claire = make_box("claire")
    raw = (
        b"From: =?broken?Q?\r\nTo: " + claire.address.encode() + b"\r\n"
        b"Subject: Cass\xe9\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="never-closed"\r\n\r\n'
        b"--never-closed\r\nContent-Type: text/plain\r\n\r\nsans fin\r\n"
    )
    with smtp_in(mail_servers) as smtp:
        smtp.sendmail("a@example.org", [claire.address], raw)
    client = wait_for_messages(mail_servers, claire.address, claire.password, 1)
    _, parts = client.fetch(b"1", "(BODY.PEEK[])")
    stored = parts[0][1]
    raw_headers, raw_body = raw.split(b"\r\n\r\n", 1)
    stored_headers, stored_body = stored.split(b"\r\n\r\n", 1)
    assert stored_body == raw_body
    # Trace and spam-scoring headers are added; every original header line is kept as is.
    for line in raw_headers.split(b"\r\n"):
        assert line in stored_headers.split(b"\r\n")


def test_out_of_office_answers_once_per_sender(mail_servers, make_box):
    claire, jean = make_box("claire"), make_box("jean")
    services.set_out_of_office(
        ACTOR,
        claire.mailbox,
        True,
        "Absente",
        "Je suis absente jusqu'au 2 janvier.",
        vmail_dir=mail_servers.vmail_dir,
    )
    with smtp_in(mail_servers) as smtp:
        for subject in ("Premier", "Second"):
            smtp.sendmail(
                jean.address, [claire.address], message(jean.address, claire.address, subject)
            )
    wait_for_messages(mail_servers, claire.address, claire.password, 2).logout()
    jean_box = wait_for_messages(mail_servers, jean.address, jean.password, 1)
    time.sleep(2)  # a second answer, if any, would have arrived by now
    jean_box.select("INBOX")
    assert fetch_subjects(jean_box) == ["Absente"]
    _, parts = jean_box.fetch(b"1", "(BODY.PEEK[TEXT])")
    assert "absente jusqu" in parts[0][1].decode("utf-8", errors="replace")
    services.set_out_of_office(ACTOR, claire.mailbox, False, vmail_dir=mail_servers.vmail_dir)
    assert not (
        services.mailbox_home(claire.mailbox, mail_servers.vmail_dir) / ".dovecot.sieve"
    ).exists()


def test_brute_force_on_imap_and_smtp_is_throttled_and_logged(mail_servers, make_box, settings):
    from clocher.accounts.models import LoginAttempt
    from clocher.core.models import AuditEntry

    claire = make_box("claire")
    for _ in range(settings.LOGIN_MAX_FAILURES):
        with pytest.raises(imaplib.IMAP4.error):
            imap_login(mail_servers, claire.address, "abcde-bad-bad-bad")
    # Locked now, even with the right password, on IMAP and on SMTP AUTH alike.
    with pytest.raises(imaplib.IMAP4.error):
        imap_login(mail_servers, claire.address, claire.password)
    with smtplib.SMTP("127.0.0.1", mail_servers.submission_port, timeout=20) as smtp:
        smtp.starttls(context=tls_context())
        with pytest.raises(smtplib.SMTPAuthenticationError):
            smtp.login(claire.address, claire.password)
    failures = LoginAttempt.objects.filter(email=claire.address, succeeded=False)
    assert failures.filter(service="imap").count() == settings.LOGIN_MAX_FAILURES
    assert AuditEntry.objects.filter(action="mail.auth_locked", target=claire.address).exists()
    # Another mailbox from the same place is not affected.
    jean = make_box("jean")
    imap_login(mail_servers, jean.address, jean.password).logout()


def test_submitted_mail_is_dkim_signed(mail_servers, make_box):
    import dkim

    from clocher.mail import dns
    from clocher.mail.engines import rspamd as rspamd_engine

    claire, jean = make_box("claire"), make_box("jean")
    key = dns.ensure_dkim_key(ACTOR, claire.mailbox.domain)
    rspamd_engine.write_dkim_keys(mail_servers)  # what the on-commit hook does in production
    time.sleep(12)  # rspamd re-reads changed maps by itself (map_watch_interval)
    record = next(
        r for r in dns.expected_records(claire.mailbox.domain) if r.name.startswith(key.selector)
    )
    with submission(mail_servers, claire) as smtp:
        smtp.sendmail(
            claire.address, [jean.address], message(claire.address, jean.address, "Signé")
        )
    client = wait_for_messages(mail_servers, jean.address, jean.password, 1)
    _, parts = client.fetch(b"1", "(BODY.PEEK[])")
    raw = parts[0][1]
    assert b"DKIM-Signature:" in raw

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes:
        assert name.decode().rstrip(".") == record.name
        return record.value.encode()

    assert dkim.verify(raw, dnsfunc=dnsfunc)


def test_imap_idle_is_told_of_a_new_message(mail_servers, make_box):
    """A phone in IDLE hears of new mail at once (Dovecot pushes `EXISTS`)."""
    claire = make_box("claire")
    client = imap_login(mail_servers, claire.address, claire.password)
    client.select("INBOX")
    tag = client._new_tag()
    client.send(tag + b" IDLE\r\n")
    assert client.readline().startswith(b"+")
    with smtp_in(mail_servers) as smtp:
        smtp.sendmail(
            "a@example.org", [claire.address], message("a@example.org", claire.address, "Vite")
        )
    client.sock.settimeout(15)
    pushed = client.readline()
    while b"EXISTS" not in pushed and pushed:
        pushed = client.readline()
    assert pushed.strip() == b"* 1 EXISTS"
    client.send(b"DONE\r\n")
    line = client.readline()
    while line and not line.startswith(tag):  # untagged updates (RECENT…) come first
        line = client.readline()
    assert line.startswith(tag + b" OK")
    client.logout()


def test_invitation_and_notice_reach_the_invited_mailbox_through_postfix(
    mail_servers, commune_a, commune_b, settings
):
    """The platform's own mail leaves through its Postfix (the loopback listener) and
    lands in the invited person's Clocher mailbox: the link reaches them, nobody else."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", mail_servers.reinject_port
    settings.EMAIL_USE_TLS, settings.EMAIL_HOST_USER, settings.EMAIL_HOST_PASSWORD = False, "", ""
    # The mailbox makes its address an agent of commune_a, invited by mail (his own
    # commune's account, no password yet).
    jean = services.open_mailbox(ACTOR, commune_a, f"jean.dupont@{DOMAIN}").user
    clear = create_app_password(ACTOR, jean, "tests").clear  # `clocher mail app-password`
    assert core_services.add_member(ACTOR, commune_b, jean.email, "agent").invitation_token is None
    client = wait_for_messages(mail_servers, jean.email, clear, 2, timeout=60)
    bodies = {s: m.get_body().get_content() for s, m in fetch_by_subject(client).items()}
    client.logout()
    assert set(bodies) == {"Invitation : Flavigny-sur-Ozerain", "Vous avez été ajouté(e) à Vougeot"}
    assert not invitation_links(bodies["Vous avez été ajouté(e) à Vougeot"])
    (link,) = invitation_links(bodies["Invitation : Flavigny-sur-Ozerain"])
    assert find_invitation(link.split("/")[2]).commune == commune_a
    response = Client().post(
        link, {"full_name": "Jean Dupont", "password": GOOD, "password_again": GOOD}
    )
    assert response.status_code == 302
    jean.refresh_from_db()
    assert jean.check_password(GOOD)
