"""The drill reads a restored message over IMAP from the copy's own Dovecot (started on
free ports, logged in with a drill-only app password made in the copy) and compares it
with the source; a copy that serves other bytes fails the drill.

Under tests/mail: the message is delivered by the session's real Postfix and Dovecot."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from clocher.accounts.models import AppPassword
from clocher.operations.services import drill, drill_probe, snapshot
from tests.mail.conftest import message, smtp_in, wait_for_messages
from tests.operations.conftest import ACTOR, data_dir  # noqa: F401 - fixture

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("data_dir")]


@pytest.fixture
def traversable_data_dir(settings):
    """The copy's Dovecot drops to the vmail user, who must traverse every directory above
    the scratch copy (pytest's tmp dirs are private), and its sockets need a short path."""
    data = Path(tempfile.mkdtemp(prefix="exo-", dir="/tmp"))
    data.chmod(0o711)
    settings.DATA_DIR = data
    yield data
    shutil.rmtree(data, ignore_errors=True)


def checks_by_name(result: drill.DrillResult) -> dict[str, dict]:
    return {c["name"]: c for c in result.checks}


def test_drill_reads_a_restored_message_over_imap(
    mail_servers, make_box, settings, traversable_data_dir, monkeypatch
):
    settings.MAIL_DIR = mail_servers.mail_dir
    box = make_box("exercice")
    with smtp_in(mail_servers) as smtp:
        smtp.sendmail(
            "prefecture@example.org",
            [box.address],
            message("prefecture@example.org", box.address, "Arrete de voirie 12"),
        )
    # Read and flagged by its owner: the copy must show the same flags over IMAP.
    client = wait_for_messages(mail_servers, box.address, box.password, 1)
    client.select("INBOX")
    client.store("1", "+FLAGS", "(\\Seen \\Flagged)")
    client.logout()
    snapshot.take(ACTOR)
    passwords = AppPassword.objects.count()

    result = drill.run_drill(ACTOR)

    check = checks_by_name(result)["courriel lu en IMAP"]
    assert check == {
        "name": "courriel lu en IMAP",
        "ok": True,
        "detail": f"{box.address} : message lu en IMAP, identique à la source "
        "(drapeaux : \\Flagged \\Seen)",
    }
    assert result.ok, result.checks
    assert result.rto_seconds is not None
    # The drill's password was made in the copy and went with it.
    assert AppPassword.objects.count() == passwords
    assert not any((traversable_data_dir / "drill").iterdir())

    # A copy that serves other bytes than the source fails the drill.
    chosen = drill_probe.choose

    def other_source(cutoff):
        choice = chosen(cutoff)
        choice.message_sha256 = "0" * 64
        return choice

    monkeypatch.setattr(drill_probe, "choose", other_source)
    failed = drill.run_drill(ACTOR)

    check = checks_by_name(failed)["courriel lu en IMAP"]
    assert not check["ok"] and "différent de la source" in check["detail"]
    assert not failed.ok

    # A copy that lost a flag fails it too.
    def flag_lost(cutoff):
        choice = chosen(cutoff)
        choice.message_flags += " \\Answered"
        return choice

    monkeypatch.setattr(drill_probe, "choose", flag_lost)
    check = checks_by_name(drill.run_drill(ACTOR))["courriel lu en IMAP"]
    assert not check["ok"] and "lu avec les drapeaux « \\Flagged \\Seen »" in check["detail"]


def test_maildir_names_say_imap_flags():
    assert drill_probe.maildir_flags("1733390000.M1P1.mail:2,FS") == "\\Flagged \\Seen"
    assert drill_probe.maildir_flags("1733390000.M1P1.mail:2,RT") == "\\Answered \\Deleted"
    assert drill_probe.maildir_flags("1733390000.M1P1.mail") == ""  # new/: no info yet
