"""The platform's own mail when its SMTP server is not there: nothing lost, the caller
unharmed, `clocher check` told. Delivery through the real Postfix: tests/mail/test_outbox.py."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.mail import EmailMessage, send_mail

from clocher.core import health, mailer
from clocher.core import services as core_services
from clocher.core.audit import Actor

ACTOR = Actor(label="tests")


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port bound but not listening: a connection to it is refused, always
    (no other process can take it while we hold it)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    yield sock.getsockname()[1]
    sock.close()


@pytest.fixture
def spool_backend(settings, tmp_path, closed_port) -> Path:
    """Clocher's backend (pytest-django installs locmem), Postfix down."""
    settings.EMAIL_BACKEND = "clocher.core.mailer.SpoolingEmailBackend"
    settings.OUTBOX_DIR = tmp_path / "outbox"
    settings.EMAIL_HOST, settings.MAIL_REINJECT_PORT = "", closed_port
    settings.EMAIL_HOST_USER, settings.EMAIL_USE_TLS = "", False
    settings.DEFAULT_FROM_EMAIL = mailer.PLACEHOLDER_FROM
    return settings.OUTBOX_DIR


def pending(outbox: Path) -> list[Path]:
    return sorted((outbox / "pending").glob("*.eml"))


def test_postfix_down_the_caller_succeeds_and_the_message_waits(spool_backend, operator, caplog):
    caplog.set_level(logging.WARNING, logger="clocher.core.mailer")
    message = EmailMessage("Avis", "Bonjour.\n", None, ["jean@flavigny.test"])
    message.bcc = ["archives@flavigny.test"]
    assert message.send() == 1
    (path,) = pending(spool_backend)
    envelope, data = mailer.read_spool_file(path)
    # Bcc kept in the envelope (the headers do not carry it); From on the shared domain.
    assert envelope.recipients == ["jean@flavigny.test", "archives@flavigny.test"]
    assert envelope.sender == "ne-pas-repondre@communes.cotedor.fr"
    assert b"From: Clocher <ne-pas-repondre@communes.cotedor.fr>" in data
    assert b"Auto-Submitted: auto-generated" in data and b"Bcc" not in data
    assert "mis en attente" in caplog.text and "jean@flavigny.test" in caplog.text
    assert not list(spool_backend.glob("pending/.*"))  # no temp file left behind


def test_add_member_with_postfix_down_adds_and_keeps_the_invitation(
    spool_backend, commune_a, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        added = core_services.add_member(ACTOR, commune_a, "nouvel.agent@flavigny.test", "agent")
    assert added.invitation_token
    (path,) = pending(spool_backend)
    assert added.invitation_token.encode() in path.read_bytes()


def test_flush_while_down_keeps_the_file_and_backs_off(spool_backend, operator):
    send_mail("Un", "1", None, ["a@flavigny.test"])
    send_mail("Deux", "2", None, ["b@flavigny.test"])
    first, second = pending(spool_backend)
    report = mailer.flush(now=1e10)
    assert (report.sent, report.waiting, report.failed) == (0, 2, 0)
    # The first try met no server: it waits a minute; the second was not tried.
    envelope = mailer.read_spool_file(first)[0]
    assert envelope.attempts == 1 and envelope.next_at == 1e10 + 60
    assert "ConnectionRefused" in envelope.last_error
    assert mailer.read_spool_file(second)[0].attempts == 0
    mailer.flush(now=1e10 + 30)  # not due yet: the first is left alone
    assert mailer.read_spool_file(first)[0].attempts == 1
    assert mailer.read_spool_file(second)[0].attempts == 1
    mailer.flush(now=1e10 + 61)
    assert mailer.read_spool_file(first)[0].next_at == 1e10 + 61 + 120  # doubled
    assert pending(spool_backend) == [first, second]


def test_malformed_spool_file_is_set_aside_with_a_clear_log_line(spool_backend, operator, caplog):
    (spool_backend / "pending").mkdir(parents=True)
    bad = spool_backend / "pending" / "20260101T000000-abimé.eml"
    bad.write_bytes(b"Subject: sans enveloppe\r\n\r\nx")
    broken = spool_backend / "pending" / "20260101T000001-json.eml"
    broken.write_bytes(b"X-Clocher-Envelope: {pas du json\r\nSubject: x\r\n\r\nx")
    caplog.set_level(logging.ERROR, logger="clocher.core.mailer")
    report = mailer.flush()
    assert (report.sent, report.waiting, report.failed) == (0, 0, 2)
    failed = sorted(p.name for p in (spool_backend / "failed").iterdir())
    assert failed == sorted([broken.name, bad.name])
    assert f"Fichier d'attente illisible {bad}" in caplog.text
    assert "X-Clocher-Envelope" in caplog.text and "enveloppe illisible" in caplog.text


def test_check_reports_pending_mail_and_warns_past_an_hour(spool_backend, operator):
    assert health.outbox().ok
    send_mail("Avis", "Bonjour.\n", None, ["jean@flavigny.test"])
    result = health.outbox()
    assert result.ok and result.detail.startswith("1 courriel(s) en attente")
    (path,) = pending(spool_backend)
    envelope, data = mailer.read_spool_file(path)
    envelope.queued_at -= 2 * 3600
    head = json.dumps(envelope.__dict__).encode()
    path.write_bytes(mailer.ENVELOPE_HEADER + head + b"\r\n" + data)
    result = health.outbox()
    assert not result.ok and "plus d'une heure" in result.detail


def test_an_explicit_sender_is_kept(spool_backend, operator, settings):
    settings.DEFAULT_FROM_EMAIL = "Mairie <contact@flavigny.test>"
    send_mail("Avis", "Bonjour.\n", None, ["jean@flavigny.test"])
    (path,) = pending(spool_backend)
    assert mailer.read_spool_file(path)[0].sender == "contact@flavigny.test"
