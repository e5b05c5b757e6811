"""Subject rights: a person's export holds all Clocher keeps about them; erasure removes
it except what the law keeps (archives, the audit journal), and both are journalled."""

from __future__ import annotations

import hashlib
import json
import zipfile

import pytest
from click.testing import CliRunner
from django.core.exceptions import ValidationError

from clocher.accounts.models import LoginAttempt, User
from clocher.cli import main
from clocher.core import audit
from clocher.core.audit import Actor
from clocher.core.models import AuditEntry, Membership
from clocher.governance import subject
from clocher.groupware import layout
from clocher.mail import services as mail
from clocher.mail.models import Mailbox
from clocher.vault import services as vault
from clocher.vault.models import Node, Space

pytestmark = pytest.mark.django_db
ACTOR = Actor(label="tests")
MESSAGE = b"Subject: convocation\r\n\r\nConseil lundi.\r\n"


@pytest.fixture
def agent_data(commune_a, agent_a, admin_a, settings, tmp_path):
    """A's agent with a mailbox holding one message, a personal file, a file in the
    commune's space and a failed login."""
    box = mail.create_mailbox(ACTOR, commune_a, "agent.a@communes.cotedor.fr", user=agent_a)
    cur = mail.mailbox_home(box, mail.default_vmail_dir()) / "Maildir" / "cur"
    cur.mkdir(parents=True, exist_ok=True)
    (cur / "1.mail:2,S").write_bytes(MESSAGE)
    (cur.parent / "dovecot.index").write_bytes(b"index")
    own = vault.root_of(vault.ensure_personal_space(commune_a, agent_a))
    vault.write_bytes(Actor(user=agent_a), own, "notes-perso.txt", b"mes notes")
    shared = vault.root_of(vault.ensure_commune_space(ACTOR, commune_a))
    vault.write_bytes(Actor(user=agent_a), shared, "compte-rendu.txt", b"compte rendu")
    LoginAttempt.objects.create(email=agent_a.email, ip="192.0.2.1")
    # Radicale's layout: the personal calendar, and a link to the commune's shared one.
    settings.GROUPWARE_DIR = tmp_path / "groupware"  # files outlive the test's rollback
    root = layout.store_dir("calendars") / "collection-root"
    personal = root / agent_a.email / "personnel"
    personal.mkdir(parents=True, exist_ok=True)
    (personal / "reunion.ics").write_text("BEGIN:VCALENDAR\nEND:VCALENDAR\n")
    shared = root / "commune-21271" / "agenda"
    shared.mkdir(parents=True, exist_ok=True)
    (shared / "conseil.ics").write_text("BEGIN:VCALENDAR\nEND:VCALENDAR\n")
    (root / agent_a.email / "commune").symlink_to(shared)
    return box


def test_export_holds_account_mail_files_and_journal(agent_data, agent_a, tmp_path):
    target = tmp_path / "agent.zip"
    result = CliRunner().invoke(main, ["user", "export", agent_a.email, "-o", str(target)])
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(target) as archive:
        names = archive.namelist()
        account = json.loads(archive.read("compte.json"))
        assert account["adresse"] == agent_a.email
        assert [m["commune"] for m in account["adhesions"]] == ["21271"]
        assert (
            archive.read("messagerie/agent.a@communes.cotedor.fr/Maildir/cur/1.mail:2,S") == MESSAGE
        )
        assert not any("dovecot.index" in n for n in names)
        assert archive.read("coffre/21271/notes-perso.txt") == b"mes notes"
        assert not any("compte-rendu" in n for n in names)  # the commune's, not theirs
        assert "agendas/calendars/personnel/reunion.ics" in names
        assert not any("conseil.ics" in n for n in names)  # shared, through a link
        journal = json.loads(archive.read("journal.json"))
        assert "member.added" in {e["action"] for e in journal}
        assert json.loads(archive.read("sensibilisation.json")) == []
    entry = AuditEntry.objects.get(action="governance.subject_exported")
    assert entry.target == agent_a.email
    assert entry.data["sha256"] == hashlib.sha256(target.read_bytes()).hexdigest()
    assert (entry.data["messages"], entry.data["fichiers"]) == (1, 1)
    assert not list(tmp_path.glob(".export-*"))


def test_erasure_keeps_what_the_law_keeps_and_is_journalled(
    agent_data, agent_a, commune_a, django_capture_on_commit_callbacks
):
    email = agent_a.email
    home = mail.mailbox_home(agent_data, mail.default_vmail_dir())
    journal_before = AuditEntry.objects.count()
    refused = CliRunner().invoke(main, ["user", "erase", email])
    assert refused.exit_code == 1 and "--yes" in refused.output
    with django_capture_on_commit_callbacks(execute=True):
        result = CliRunner().invoke(main, ["user", "erase", email, "--yes"])
    assert result.exit_code == 0, result.output
    assert "Conservé : archives scellées" in result.output
    assert not User.objects.filter(email=email).exists()
    assert not Membership.objects.filter(commune=commune_a, user__email=email).exists()
    assert not Mailbox.objects.filter(pk=agent_data.pk).exists() and not home.exists()
    assert not Space.objects.filter(commune=commune_a, kind="personal").exists()
    assert not LoginAttempt.objects.filter(email=email).exists()
    calendars = layout.store_dir("calendars") / "collection-root"
    assert not (calendars / email).exists()
    assert (calendars / "commune-21271" / "agenda" / "conseil.ics").exists()
    # The commune's document stays; the journal stays whole.
    assert Node.objects.filter(name="compte-rendu.txt", space__kind="commune").exists()
    assert AuditEntry.objects.count() > journal_before
    assert audit.verify().ok
    erased = AuditEntry.objects.get(action="governance.subject_erased")
    assert erased.target == email and erased.data["boites"] == 1
    assert "journal d'audit (preuve, RGPD art. 17-3)" in erased.data["conserve"]


def test_erasure_of_the_last_admin_is_refused_by_name(admin_a):
    with pytest.raises(ValidationError, match="Flavigny-sur-Ozerain : C'est le dernier admin"):
        subject.erase_user(ACTOR, admin_a)
    assert User.objects.filter(pk=admin_a.pk).exists()
    assert not AuditEntry.objects.filter(action="governance.subject_erased").exists()
