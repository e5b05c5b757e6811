"""IMAP import against real servers: a second Dovecot as the old provider, the project's
own Dovecot as the target. Everything comes over; a rerun copies nothing; a run killed
with SIGKILL resumes without duplicates."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from django.db import connection

from clocher.core.audit import Actor
from clocher.core.models import AuditEntry, ImportStatus
from clocher.mail.migrate import services
from clocher.mail.models import MailImport, MailImportedMessage
from tests.mail_migrate.conftest import snapshot

ACTOR = Actor(label="tests")
pytestmark = [pytest.mark.django_db(transaction=True)]
# Source folder → where it must land in Clocher (special folders by flag or by name).
EXPECTED_NAMES = {
    "Éléments envoyés": "Sent",
    "Éléments envoyés/2018": "Sent/2018",
    "Brouillons": "Drafts",
    "Corbeille": "Trash",
    "Courrier indésirable": "Junk",
}
# Dovecot's own folders of a new mailbox (empty on the source side), with "Signaler",
# where an agent moves a suspicious message to report it (docs/awareness.md).
TARGET_ONLY = {"Sent", "Drafts", "Trash", "Junk", "Signaler"}


@pytest.fixture(scope="module")
def source_listing(source_server):
    """What the source holds, read once for the module (it never changes)."""
    return snapshot(
        source_server.imaps_port, source_server.user, source_server.password, EXPECTED_NAMES
    )


def target_snapshot(config, box):
    return snapshot(config.imaps_port, box.address, box.password)


def assert_same(source, target):
    for name, messages in source.items():
        assert target.get(name) == messages, f"dossier {name} différent"
    assert set(target) - set(source) <= TARGET_ONLY
    for name in TARGET_ONLY - set(source):
        assert not target[name]


def test_imap_import_copies_everything_and_a_rerun_copies_nothing(
    target_settings, source_server, source_listing, make_box
):
    box = make_box("reprise", quota=400 * 1024 * 1024)
    source = services.imap_source(
        source_server.url(tls=True), source_server.password, str(source_server.ca_file)
    )
    job = services.job_for(ACTOR, box.mailbox, source)
    job = services.run(ACTOR, job, source)
    assert job.status == ImportStatus.DONE, job.error
    assert job.total == 2000 and job.copied == 2000 and job.failed == 0
    assert_same(source_listing, target_snapshot(target_settings, box))
    # The temporary login is gone; the run is in the audit journal.
    assert not box.user.app_passwords.filter(name__startswith="Reprise", revoked_at=None).exists()
    assert AuditEntry.objects.filter(action="mail.import_finished", target=box.address).exists()

    again = services.run(
        ACTOR,
        job,
        services.imap_source(
            source_server.url(tls=True), source_server.password, str(source_server.ca_file)
        ),
    )
    assert (again.copied, again.skipped, again.failed) == (0, 2000, 0)
    assert MailImportedMessage.objects.filter(folder__job=job).count() == 2000


def _database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    return (
        f"postgres://{db['USER']}:{db.get('PASSWORD') or ''}@{db.get('HOST') or 'localhost'}:"
        f"{db.get('PORT') or 5432}/{db['NAME']}"
    )


def test_import_killed_in_the_middle_resumes_without_duplicates(
    target_settings, source_server, source_listing, make_box, tmp_path, settings
):
    box = make_box("interrompue", quota=400 * 1024 * 1024)
    password_file = tmp_path / "mdp"
    password_file.write_text(source_server.password + "\n")
    env = {
        **os.environ,
        "CLOCHER_DATA_DIR": str(settings.DATA_DIR),
        "CLOCHER_DATABASE_URL": _database_url(),
        "CLOCHER_MAIL_IMAPS_PORT": str(target_settings.imaps_port),
        "CLOCHER_MAIL_TLS_CERT": str(target_settings.tls_cert),
        "CLOCHER_MAIL_BIND": "127.0.0.1",
        "CLOCHER_MAIL_IMPORT_ALLOW_PRIVATE": "1",
    }
    argv = [
        sys.executable, "-m", "clocher.cli", "mail", "import", box.address,
        "--imap", source_server.url(tls=False),  # STARTTLS this time
        "--password-file", str(password_file),
        "--ca-file", str(source_server.ca_file),
        "--connections", "2",
    ]  # fmt: skip
    process = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # noqa: S603
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = MailImport.objects.filter(mailbox=box.mailbox).first()
        if job is not None and job.copied >= 400:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    output = process.communicate()[0].decode()
    job = MailImport.objects.get(mailbox=box.mailbox)
    assert job.status == ImportStatus.RUNNING, output
    assert 400 <= job.copied < 2000

    rerun = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "Copiés" in rerun.stdout and "déjà présents" in rerun.stdout
    job.refresh_from_db()
    assert job.status == ImportStatus.DONE
    assert job.copied + job.skipped == 2000 and job.failed == 0
    # Folder by folder, the same messages exactly once.
    assert_same(source_listing, target_snapshot(target_settings, box))


def test_wrong_password_is_a_clear_error(target_settings, source_server, make_box, tmp_path):
    from click.testing import CliRunner

    from clocher.cli import main

    box = make_box("mauvaismdp")
    wrong = tmp_path / "mdp"
    wrong.write_text("pas-le-bon")
    result = CliRunner().invoke(
        main,
        ["mail", "import", box.address, "--imap", source_server.url(), "--password-file",
         str(wrong), "--ca-file", str(source_server.ca_file)],
    )  # fmt: skip
    assert result.exit_code == 1
    assert "identifiant ou mot de passe incorrect" in result.output
    assert "pas-le-bon" not in result.output
