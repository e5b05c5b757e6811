"""Mail in the backup, read back by the real Dovecot of tests/mail/conftest.py: a message
expunged after the backup comes back with `clocher restore --commune`, with its flags.

It lives under tests/mail so that it shares the session's mail servers: a second set started
from another folder's conftest would run on the same mail dir."""

from __future__ import annotations

import email
import imaplib
import json
import os
import subprocess
import time
from email import policy

import pytest

from clocher.mail.engines.config import vmail_ids
from clocher.operations import restic
from clocher.operations.services import keys, mail_queue, restore, snapshot
from clocher.operations.services.commune_restore import restore_commune
from tests.mail.conftest import imap_login, message, smtp_in, wait_for_messages
from tests.operations.conftest import ACTOR, data_dir  # noqa: F401 - fixture

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("data_dir")]


def listing(client: imaplib.IMAP4) -> dict[str, list[str]]:
    """Subject → flags of every message of the selected folder."""
    _, data = client.fetch("1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    out = {}
    for part in data:
        if not isinstance(part, tuple):
            continue
        flags = imaplib.ParseFlags(part[0])
        subject = email.message_from_bytes(part[1], policy=policy.default)["Subject"]
        out[str(subject)] = sorted(f.decode() for f in flags if f != b"\\Recent")
    return out


def number_of(client: imaplib.IMAP4, subject: str) -> str:
    """The message's sequence number, by subject: Postfix may deliver two messages of one
    SMTP session in either order."""
    _, data = client.search(None, "SUBJECT", f'"{subject}"')
    (number,) = data[0].split()
    return number.decode()


def test_expunged_message_comes_back_with_its_flags(mail_servers, make_box, settings, tmp_path):
    settings.MAIL_DIR = mail_servers.mail_dir
    box = make_box("registre")
    with smtp_in(mail_servers) as smtp:
        for subject in ("Convocation du conseil", "Devis voirie"):
            smtp.sendmail(
                "prefecture@example.org",
                [box.address],
                message("prefecture@example.org", box.address, subject),
            )
    client = wait_for_messages(mail_servers, box.address, box.password, 2)
    client.store(number_of(client, "Convocation du conseil"), "+FLAGS", "(\\Flagged \\Seen)")
    client.store(number_of(client, "Devis voirie"), "+FLAGS", "(\\Answered)")
    before = listing(client)
    assert before == {
        "Convocation du conseil": ["\\Flagged", "\\Seen"],
        "Devis voirie": ["\\Answered"],
    }
    snapshot.take(ACTOR)
    kit = tmp_path / "kit.txt"
    keys.write_kit(keys.current_kit(), kit)

    client.store(number_of(client, "Convocation du conseil"), "+FLAGS", "(\\Deleted)")
    client.expunge()
    assert list(listing(client)) == ["Devis voirie"]
    client.logout()

    done = restore_commune(ACTOR, box.mailbox.commune.insee, kit, "latest")

    assert done.messages == 1
    again = imap_login(mail_servers, box.address, box.password)
    again.select("INBOX")
    assert listing(again) == before
    again.logout()


def queued(config, address: str) -> dict[str, str]:
    """Queue id → queue name of the messages to `address` in the session's Postfix."""
    proc = subprocess.run(
        ["/usr/sbin/postqueue", "-c", str(config.postfix_dir / "conf"), "-j"],
        capture_output=True,
        text=True,
        check=True,
    )
    found = {}
    for line in proc.stdout.splitlines():
        entry = json.loads(line)
        if any(r["address"] == address for r in entry["recipients"]):
            found[entry["queue_id"]] = entry["queue_name"]
    return found


def wait_queued(config, address: str, queue_name: str, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [i for i, name in queued(config, address).items() if name == queue_name]
        if found:
            return found[0]
        time.sleep(0.5)
    raise TimeoutError(f"no message to {address} in {queue_name} after {timeout}s")


def test_deferred_message_survives_backup_and_restore_then_is_delivered(
    mail_servers, make_box, settings, tmp_path
):
    settings.MAIL_DIR = mail_servers.mail_dir
    box = make_box("file-attente")
    # The mailbox's store refuses the delivery for now (its Maildir's tmp/ is not
    # writable by vmail): Dovecot's LMTP answers « try later », Postfix defers.
    home = mail_servers.vmail_dir / box.mailbox.domain.name / box.mailbox.storage_key
    uid, gid = vmail_ids()
    for sub in ("", "Maildir", "Maildir/cur", "Maildir/new", "Maildir/tmp"):
        (home / sub).mkdir(parents=True, exist_ok=True)
        os.chown(home / sub, uid, gid)
        (home / sub).chmod(0o700)
    os.chown(home / "Maildir" / "tmp", 0, 0)
    (home / "Maildir" / "tmp").chmod(0o500)
    with smtp_in(mail_servers) as smtp:
        smtp.sendmail(
            "prefecture@example.org",
            [box.address],
            message("prefecture@example.org", box.address, "Recepisse en attente"),
        )
    first_id = wait_queued(mail_servers, box.address, "deferred")

    snapshot.take(ACTOR)
    # Held while copied, then released: still deferred in the live queue, not on hold.
    assert queued(mail_servers, box.address) == {first_id: "deferred"}

    # The machine is lost with its queue: the message is gone from Postfix.
    subprocess.run(
        ["/usr/sbin/postsuper", "-c", str(mail_servers.postfix_dir / "conf"), "-d", first_id],
        check=True,
        capture_output=True,
    )
    assert queued(mail_servers, box.address) == {}
    os.chown(home / "Maildir" / "tmp", uid, gid)
    (home / "Maildir" / "tmp").chmod(0o700)

    opened = restore.open_backup(_kit(tmp_path), "latest")
    extracted = tmp_path / "extrait"
    stage = f"{opened.manifest['roots']['data']}/sauvegarde/{mail_queue.STAGE}"
    restic.restore(opened.repo, opened.snapshot.id, extracted, [stage])
    assert opened.manifest["postfix_queue"]["deferred"] == 1
    assert mail_queue.put_back(extracted / stage.lstrip("/")) == 1
    wait_queued(mail_servers, box.address, "deferred")
    subprocess.run(
        ["/usr/sbin/postqueue", "-c", str(mail_servers.postfix_dir / "conf"), "-f"],
        check=True,
        capture_output=True,
    )

    client = wait_for_messages(mail_servers, box.address, box.password, 1, timeout=120)
    assert list(listing(client)) == ["Recepisse en attente"]
    client.logout()


def _kit(tmp_path):
    kit = tmp_path / "kit.txt"
    keys.write_kit(keys.current_kit(), kit)
    return kit
