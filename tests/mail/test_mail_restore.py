"""Mail in the backup, read back by the real Dovecot of tests/mail/conftest.py: a message
expunged after the backup comes back with `clocher restore --commune`, with its flags.

It lives under tests/mail so that it shares the session's mail servers: a second set started
from another folder's conftest would run on the same mail dir."""

from __future__ import annotations

import email
import imaplib
from email import policy

import pytest

from clocher.operations.services import keys, snapshot
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
    client.store("1", "+FLAGS", "(\\Flagged \\Seen)")
    client.store("2", "+FLAGS", "(\\Answered)")
    before = listing(client)
    assert before == {
        "Convocation du conseil": ["\\Flagged", "\\Seen"],
        "Devis voirie": ["\\Answered"],
    }
    snapshot.take(ACTOR)
    kit = tmp_path / "kit.txt"
    keys.write_kit(keys.current_kit(), kit)

    client.store("1", "+FLAGS", "(\\Deleted)")
    client.expunge()
    assert list(listing(client)) == ["Devis voirie"]
    client.logout()

    done = restore_commune(ACTOR, box.mailbox.commune.insee, kit, "latest")

    assert done.messages == 1
    again = imap_login(mail_servers, box.address, box.password)
    again.select("INBOX")
    assert listing(again) == before
    again.logout()
