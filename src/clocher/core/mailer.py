"""The platform's own mail (invitations, notices, alerts): sent over SMTP, through the
platform's Postfix by default, and never lost when it cannot leave at once.

`clocher init --demo` adds members before `clocher serve` has started Postfix, and a
Postfix restart leaves a few seconds without a listener: a message that meets no server
(or a temporary refusal) is written to `OUTBOX_DIR/pending/` and the caller goes on — a
member is added whether or not Postfix is up. `clocher serve` runs `clocher outbox flush
--every 60`, which re-sends each pending file with a growing delay and moves it to
`sent/`; a file the server refuses for good, or that cannot be read, goes to `failed/`
with a log line saying why.

A spool file is one message: its first line is an `X-Clocher-Envelope:` header holding
the envelope (sender, recipients — Bcc included, which the headers do not show — and the
attempts so far) as JSON, the rest is the message as it goes on the wire. A flush claims
a file by renaming it into `sending/`, so two flushes never send the same file.
"""

from __future__ import annotations

import json
import logging
import os
import smtplib
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import formataddr, parseaddr
from pathlib import Path

from django.conf import settings
from django.core.mail import EmailMessage
from django.core.mail.backends.base import BaseEmailBackend

log = logging.getLogger(__name__)

# The default CLOCHER_FROM_EMAIL: replaced, when sending, by the same name on the
# operator's shared mail domain (settings are read before the database is).
PLACEHOLDER_FROM = "Clocher <ne-pas-repondre@localhost>"
NO_REPLY = "ne-pas-repondre"
ENVELOPE_HEADER = b"X-Clocher-Envelope: "
PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"
# Seconds before the next attempt after `n` failed ones: 1 min, 2, 4… capped at 1 h.
BACKOFF_CAP = 3600
# A file left in `sending/` this long belongs to a flush that died: it is retried.
STALE_SENDING = 600
SENT_KEEP_DAYS = 30
# No reply, no out-of-office answer to the platform's mail (RFC 3834).
AUTO_SUBMITTED = "auto-generated"


class SpoolError(ValueError):
    """A spool file that cannot be read as a message."""


def outbox_dir() -> Path:
    return Path(settings.OUTBOX_DIR)


def smtp_address() -> tuple[str, int]:
    """An explicit relay (CLOCHER_SMTP_HOST), else the loopback listener of the
    platform's own Postfix, which delivers to local mailboxes and relays out."""
    if settings.EMAIL_HOST:
        return settings.EMAIL_HOST, int(settings.EMAIL_PORT)
    return "127.0.0.1", int(settings.MAIL_REINJECT_PORT)


def platform_sender() -> str:
    """The From of the platform's mail: CLOCHER_FROM_EMAIL when set, else
    `ne-pas-repondre@<the operator's shared mail domain>` (`localhost` refuses at many
    servers and reads as spam)."""
    if settings.DEFAULT_FROM_EMAIL != PLACEHOLDER_FROM:
        return str(settings.DEFAULT_FROM_EMAIL)
    from clocher.core.models import Operator

    domain = Operator.objects.values_list("mail_domain", flat=True).first()
    if not domain:
        return PLACEHOLDER_FROM
    return formataddr(("Clocher", f"{NO_REPLY}@{domain}"))


def discarded_local_parts(domain: str) -> list[str]:
    """Local parts of `domain` whose incoming mail Postfix discards: the "do not answer"
    sender (and CLOCHER_FROM_EMAIL when it is such a name) only ever receives bounces
    and automatic replies, which nobody reads and which must not bounce back again."""
    from clocher.mail.reserved import SYSTEM

    found = {NO_REPLY}
    local, _, at = parseaddr(str(settings.DEFAULT_FROM_EMAIL))[1].lower().rpartition("@")
    if at == domain and local in SYSTEM - {"root", "mailer-daemon"}:
        found.add(local)
    return sorted(found)


@dataclass
class Envelope:
    sender: str
    recipients: list[str]
    attempts: int = 0
    next_at: float = 0.0
    last_error: str = ""
    queued_at: float = 0.0


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


def _encode(envelope: Envelope, message: bytes) -> bytes:
    head = json.dumps(envelope.__dict__, ensure_ascii=True, separators=(",", ":"))
    return ENVELOPE_HEADER + head.encode() + b"\r\n" + message


def read_spool_file(path: Path) -> tuple[Envelope, bytes]:
    data = path.read_bytes()
    first, sep, message = data.partition(b"\n")
    if not sep or not first.startswith(ENVELOPE_HEADER) or not message.strip():
        raise SpoolError("pas d'en-tête X-Clocher-Envelope suivi d'un message")
    try:
        fields = json.loads(first[len(ENVELOPE_HEADER) :].rstrip(b"\r"))
        envelope = Envelope(**fields)
    except (ValueError, TypeError) as exc:
        raise SpoolError(f"enveloppe illisible ({exc})") from exc
    if not envelope.recipients or not all(isinstance(r, str) for r in envelope.recipients):
        raise SpoolError("enveloppe sans destinataire")
    return envelope, message


def spool(envelope: Envelope, message: bytes, error: str) -> Path:
    """Keep a message that could not leave, for `flush` to send later."""
    envelope.next_at = time.time()  # the next flush tries it
    return _keep(PENDING, envelope, message, error, "Courriel pour %s mis en attente dans %s : %s")


def _set_aside(envelope: Envelope, message: bytes, error: str) -> Path:
    """Keep a message the server refused for good, for a person to look at."""
    text = "Courriel pour %s refusé définitivement, mis de côté dans %s : %s"
    return _keep(FAILED, envelope, message, error, text)


def _keep(sub: str, envelope: Envelope, message: bytes, error: str, text: str) -> Path:
    folder = outbox_dir() / sub
    folder.mkdir(parents=True, exist_ok=True)
    envelope.queued_at = envelope.queued_at or time.time()
    envelope.last_error = error
    path = folder / f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex}.eml"
    _write_atomic(path, _encode(envelope, message))
    (log.warning if sub == PENDING else log.error)(
        text, ", ".join(envelope.recipients), path, error
    )
    return path


def _temporary(exc: Exception) -> bool:
    """True for what waiting can cure: no server, a dropped connection, a 4xx answer, a
    relay that refuses our login or TLS (its configuration is fixed, not the message)."""
    if isinstance(exc, (smtplib.SMTPAuthenticationError, smtplib.SMTPNotSupportedError)):
        return True
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(400 <= code < 500 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    return isinstance(exc, (OSError, smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError))


def _connect() -> smtplib.SMTP:
    host, port = smtp_address()
    client = smtplib.SMTP(host, port, timeout=settings.EMAIL_TIMEOUT or 30)
    client.ehlo_or_helo_if_needed()
    if settings.EMAIL_USE_TLS:
        client.starttls()
        client.ehlo()
    if settings.EMAIL_HOST_USER:
        client.login(settings.EMAIL_HOST_USER, settings.EMAIL_HOST_PASSWORD)
    return client


def _refused_text(exc: Exception) -> str:
    return f"{exc.__class__.__name__}: {exc}"[:300]


class SpoolingEmailBackend(BaseEmailBackend):
    """Django's email backend for the platform: SMTP, and the spool when SMTP fails.

    Sending never raises for a transport failure: the message is spooled (temporary) or
    set aside in `failed/` (refused for good), with a log line either way."""

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        sender = platform_sender() if email_messages else ""
        client: smtplib.SMTP | None = None
        down = ""  # set once the server is unreachable: the rest goes to the spool
        count = 0
        try:
            for email in email_messages:
                if not email.recipients():
                    continue
                if email.from_email in (settings.DEFAULT_FROM_EMAIL, PLACEHOLDER_FROM):
                    email.from_email = sender
                email.extra_headers.setdefault("Auto-Submitted", AUTO_SUBMITTED)
                envelope = Envelope(parseaddr(email.from_email)[1], list(email.recipients()))
                data = email.message().as_bytes(linesep="\r\n")
                count += 1
                if down:
                    spool(envelope, data, down)
                    continue
                try:
                    client = client or _connect()
                    client.sendmail(envelope.sender, envelope.recipients, data)
                except (OSError, smtplib.SMTPException) as exc:
                    error = _refused_text(exc)
                    if _temporary(exc):
                        spool(envelope, data, error)
                    else:
                        _set_aside(envelope, data, error)
                    if not isinstance(exc, smtplib.SMTPResponseException):
                        _close(client)
                        client, down = None, error
        finally:
            _close(client)
        return count


def _close(client: smtplib.SMTP | None) -> None:
    if client is None:
        return
    try:
        client.quit()
    except (OSError, smtplib.SMTPException):
        client.close()


@dataclass
class FlushReport:
    sent: int = 0
    waiting: int = 0
    failed: int = 0


def _backoff(attempts: int) -> float:
    return float(min(BACKOFF_CAP, 60 * 2 ** max(0, attempts - 1)))


def _recover_stale(base: Path, now: float) -> None:
    """A flush that died mid-send left its claimed file in `sending/`: give it back."""
    for path in sorted((base / SENDING).glob("*.eml")):
        try:
            if now - path.stat().st_mtime > STALE_SENDING:
                os.replace(path, base / PENDING / path.name)
        except FileNotFoundError:
            continue


def _prune_sent(base: Path, now: float) -> None:
    for path in (base / SENT).glob("*.eml"):
        try:
            if now - path.stat().st_mtime > SENT_KEEP_DAYS * 86400:
                path.unlink()
        except FileNotFoundError:
            continue


def flush(now: float | None = None) -> FlushReport:
    """Send the pending files that are due, one SMTP connection for the batch; stop at
    the first sign that the server is down (the rest waits for the next flush)."""
    now = time.time() if now is None else now
    base = outbox_dir()
    for sub in (PENDING, SENDING, SENT, FAILED):
        (base / sub).mkdir(parents=True, exist_ok=True)
    _recover_stale(base, now)
    _prune_sent(base, now)
    report = FlushReport()
    client: smtplib.SMTP | None = None
    try:
        for path in sorted((base / PENDING).glob("*.eml")):
            claimed = base / SENDING / path.name
            try:
                os.replace(path, claimed)  # ours alone from here on
            except FileNotFoundError:
                continue  # another flush took it
            outcome, client = _send_claimed(claimed, path, client, now)
            if outcome == "down":
                break  # the server is down: the others wait too
            report.sent += outcome == SENT
            report.failed += outcome == FAILED
    finally:
        _close(client)
    report.waiting = sum(1 for _ in (base / PENDING).glob("*.eml"))
    return report


def _send_claimed(
    claimed: Path, pending: Path, client: smtplib.SMTP | None, now: float
) -> tuple[str, smtplib.SMTP | None]:
    """Send one claimed file: what became of it (`sent`, `failed`, `waiting`, or `down`
    when the server is gone) and the connection to go on with."""
    base = claimed.parent.parent
    try:
        envelope, message = read_spool_file(claimed)
    except (SpoolError, OSError) as exc:
        os.replace(claimed, base / FAILED / claimed.name)
        log.error(
            "Fichier d'attente illisible %s mis de côté dans %s : %s",
            pending,
            base / FAILED,
            exc,
        )
        return FAILED, client
    if envelope.next_at > now:
        os.replace(claimed, pending)
        return "waiting", client
    try:
        client = client or _connect()
        refused = client.sendmail(envelope.sender, envelope.recipients, message)
    except (OSError, smtplib.SMTPException) as exc:
        envelope.last_error = _refused_text(exc)
        if not _temporary(exc):
            _write_atomic(claimed, _encode(envelope, message))
            os.replace(claimed, base / FAILED / claimed.name)
            log.error(
                "Courriel %s refusé définitivement, mis de côté dans %s : %s",
                claimed.name,
                base / FAILED,
                envelope.last_error,
            )
            return FAILED, client
        envelope.attempts += 1
        envelope.next_at = now + _backoff(envelope.attempts)
        _write_atomic(claimed, _encode(envelope, message))
        os.replace(claimed, pending)
        log.warning(
            "Courriel %s toujours en attente (essai %d) : %s",
            claimed.name,
            envelope.attempts,
            envelope.last_error,
        )
        if isinstance(exc, smtplib.SMTPResponseException):
            return "waiting", client
        _close(client)
        return "down", None
    os.replace(claimed, base / SENT / claimed.name)
    log.info("Courriel %s envoyé à %s", claimed.name, ", ".join(envelope.recipients))
    if refused:
        log.error("Courriel %s refusé pour %s", claimed.name, refused)
    return SENT, client


@dataclass
class SpoolStatus:
    pending: int
    failed: int
    oldest_age: float | None


def status(now: float | None = None) -> SpoolStatus:
    """What `clocher check` tells: messages waiting, set aside, and the oldest's age."""
    now = time.time() if now is None else now
    base = outbox_dir()
    waiting = [*(base / PENDING).glob("*.eml"), *(base / SENDING).glob("*.eml")]
    oldest: float | None = None
    for path in waiting:
        try:
            queued = read_spool_file(path)[0].queued_at or path.stat().st_mtime
        except (SpoolError, OSError):
            continue
        oldest = queued if oldest is None else min(oldest, queued)
    failed = sum(1 for _ in (base / FAILED).glob("*.eml"))
    return SpoolStatus(len(waiting), failed, None if oldest is None else now - oldest)
