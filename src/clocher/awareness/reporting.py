"""The "report" gesture through the mail servers, and the operator's queue.

An agent reports a message by forwarding it to `signalement@<shared domain>` (Postfix
hands it to the `signalement` pipe transport) or by moving it into the "Signaler" folder
every mailbox has (Dovecot's imapsieve runs a rule on COPY/APPEND into it). Both run
`clocher.awareness.relay` as the mail user, which posts the message to the web; `receive`
then records the exercise it quotes as reported, or queues a message that is not one of
ours — perhaps a real phishing — for the operator's team.

`install` lays out, in the mail dir, what the servers' configs (mail/engines/templates)
point at: the relay script, the secret it sends, the Sieve rule, compiled.
"""

from __future__ import annotations

import email
import logging
import os
import subprocess
import sys
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from clocher.awareness.models import Channel, SuspectReport
from clocher.awareness.services import report_message
from clocher.core import audit
from clocher.core.audit import Actor
from clocher.mail.reserved import REPORT_ADDRESS

if TYPE_CHECKING:
    from clocher.mail.engines.config import MailConfig

log = logging.getLogger("clocher.awareness")

REPORT_LOCAL_PART = REPORT_ADDRESS  # the address (mail/engines/templates/main.cf)
REPORT_FOLDER = "Signaler"  # the folder (mail/engines/templates/dovecot.conf)
PATH = "/interne/sensibilisation/signalement"
# Enough to read a real phishing's headers, body and links; attachments beyond are cut.
KEPT_BYTES = 1024 * 1024
SIEVEC = "/usr/bin/sievec"

SIEVE_RULE = """\
# Clocher: a message moved into the "Signaler" folder is a report (awareness.reporting).
# The relay reads who reported from USER, which Dovecot sets for the program.
require ["vnd.dovecot.pipe", "copy"];
pipe :copy "signaler" ["folder"];
"""


def _reported_message(raw: bytes) -> EmailMessage:
    """The message the agent meant: the attached one when forwarded as an attachment,
    else the message itself (moved into the folder, or forwarded inline)."""
    outer = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(outer, EmailMessage)
    for part in outer.walk():
        if part.get_content_type() == "message/rfc822":
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], EmailMessage):
                return inner[0]
    return outer


def receive(raw: bytes, reporter: str, channel: str) -> str:
    """What became of a reported message: "exercice" (recorded as reported), "file"
    (queued for the operator), "ignoré" (a reporter who has no Clocher mailbox: anyone
    on the internet may write to the address, only agents fill the queue)."""
    from clocher.mail.models import Mailbox

    if channel not in Channel.values:
        raise ValueError(f"canal de signalement inconnu : {channel!r}")
    if report_message(raw) is not None:
        return "exercice"
    reporter = reporter.strip().lower()[:254]
    mailbox = Mailbox.objects.filter(address=reporter, is_active=True).first()
    if mailbox is None:
        log.info("report from %r ignored: no Clocher mailbox", reporter)
        return "ignoré"
    reported = _reported_message(raw)
    with transaction.atomic():
        queued = SuspectReport.objects.create(
            commune_id=mailbox.commune_id,
            reporter=reporter,
            channel=channel,
            sender=str(reported.get("From", ""))[:254],
            subject=str(reported.get("Subject", ""))[:300],
            message=raw[:KEPT_BYTES],
        )
        audit.record(
            Actor(label=reporter),
            "awareness.suspect_reported",
            commune=mailbox.commune,
            target=f"suspect:{queued.pk}",
            data={"channel": channel},
        )
    return "file"


def queue(pending_only: bool = True) -> QuerySet[SuspectReport]:
    """The operator's queue (every commune's: the operator's team handles real threats)."""
    found = SuspectReport.objects.select_related("commune").defer("message")
    return found.filter(handled_at=None) if pending_only else found


def handle(actor: Actor, suspect: SuspectReport) -> None:
    """The team looked at it (warned the commune, blocked the sender…): out of the queue."""
    with transaction.atomic():
        SuspectReport.objects.filter(pk=suspect.pk).update(
            handled_at=timezone.now(), handled_by_label=actor.display
        )
        audit.record(
            actor,
            "awareness.suspect_handled",
            commune=suspect.commune,
            target=f"suspect:{suspect.pk}",
        )


def report_url(config: MailConfig) -> str:
    """The web's address as the mail servers know it (beside Dovecot's policy URL)."""
    return config.policy_url.split("/interne/", 1)[0] + PATH


def _write(path: Path, text: str, mode: int, gid: int) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chown(tmp, -1, gid)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def install(config: MailConfig) -> None:
    """`<mail dir>/awareness/`: the relay script (run by Postfix's pipe and by the Sieve
    rule, both as vmail), the shared secret (group vmail, 0640) and the compiled rule."""
    from clocher.mail.engines.config import vmail_ids
    from clocher.mail.policy import policy_secret

    _, gid = vmail_ids()
    root = config.mail_dir / "awareness"
    (root / "bin").mkdir(parents=True, exist_ok=True)
    for directory in (root, root / "bin"):
        os.chown(directory, -1, gid)
        directory.chmod(0o750)
    _write(root / "secret", policy_secret() + "\n", 0o640, gid)
    script = (
        "#!/bin/sh\n# Generated by Clocher (awareness.reporting); edits are overwritten.\n"
        f"exec {sys.executable} -I -m clocher.awareness.relay '{report_url(config)}' "
        f'\'{root / "secret"}\' "$1" "${{2:-$USER}}"\n'
    )
    _write(root / "bin" / "signaler", script, 0o750, gid)
    rule = root / "signaler.sieve"
    _write(rule, SIEVE_RULE, 0o640, gid)
    # Compiled here: Dovecot, as vmail, could not write the binary beside the rule.
    subprocess.run(  # noqa: S603
        [SIEVEC, "-c", str(config.dovecot_dir / "dovecot.conf"), str(rule)],
        check=True,
        capture_output=True,
    )
    compiled = rule.with_suffix(".svbin")
    os.chown(compiled, -1, gid)
    compiled.chmod(0o640)
