"""A person's export and erasure on a mailbox fed by the real servers: a message delivered
by Postfix and Dovecot's LMTP is in the export, Dovecot's quota accounting gives the
sobriety figure, and after erasure the message is gone from disk and the person's app
password no longer opens IMAP (docs/governance.md)."""

from __future__ import annotations

import imaplib
import zipfile

import pytest
from click.testing import CliRunner

from clocher.cli import main
from clocher.governance import sobriety
from clocher.mail import services
from tests.mail.conftest import imap_login, message, smtp_in, wait_for_messages

pytestmark = pytest.mark.django_db(transaction=True)


def test_export_then_erasure_of_a_delivered_mailbox(mail_servers, make_box, commune_a, tmp_path):
    claire = make_box("claire.depart")
    with smtp_in(mail_servers) as smtp:
        smtp.sendmail(
            "bob@example.org",
            [claire.address],
            message("bob@example.org", claire.address, "Budget primitif 2027"),
        )
    client = wait_for_messages(mail_servers, claire.address, claire.password, 1, timeout=120)
    client.logout()

    target = tmp_path / "claire.zip"
    result = CliRunner().invoke(main, ["user", "export", claire.user.email, "-o", str(target)])
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(target) as archive:
        mails = [n for n in archive.namelist() if n.startswith(f"messagerie/{claire.address}/")]
        bodies = [archive.read(n) for n in mails if "/cur/" in n or "/new/" in n]
    assert any(b"Subject: Budget primitif 2027" in body for body in bodies), mails
    assert not any("dovecot" in n.rsplit("/", 1)[-1] for n in mails)

    figures = sobriety.figures(commune_a).communes[0]
    assert figures.mailboxes == 1 and figures.mail_bytes > 0  # Dovecot's maildirsize

    home = services.mailbox_home(claire.mailbox, services.default_vmail_dir())
    assert home.is_dir()
    result = CliRunner().invoke(main, ["user", "erase", claire.user.email, "--yes"])
    assert result.exit_code == 0, result.output
    assert not home.exists()
    with pytest.raises(imaplib.IMAP4.error):
        imap_login(mail_servers, claire.address, claire.password)
