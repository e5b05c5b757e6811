"""Backup then restore on a fresh data dir reproduces the platform; corrupted
repositories, missing or wrong kits are refused; one commune comes back alone."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from pathlib import Path

import pytest

from clocher.core.models import Commune
from clocher.operations import restic
from clocher.operations.services import keys, restore, snapshot
from clocher.operations.services.commune_restore import restore_commune
from clocher.shield.models import Box
from clocher.vault import services as vault
from clocher.vault.models import Node
from tests.archive.conftest import deposit
from tests.conftest import PASSWORD
from tests.operations.conftest import ACTOR

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("data_dir")]

READ_BACK = """
import hashlib, json
from clocher.vault import services
from clocher.vault.models import Node
out = {}
for node in Node.objects.filter(is_folder=False, deleted_at__isnull=True):
    digest = hashlib.sha256()
    for block in services.iter_content(node):
        digest.update(block)
    out[f"{node.space.commune.insee}{services.path_of(node)}"] = digest.hexdigest()
print(json.dumps(out))
"""


def read_back() -> dict[str, str]:
    out = {}
    for node in Node.objects.filter(is_folder=False, deleted_at__isnull=True):
        digest = hashlib.sha256()
        for block in vault.iter_content(node):
            digest.update(block)
        out[f"{node.space.commune.insee}{vault.path_of(node)}"] = digest.hexdigest()
    return out


def put_file(commune: Commune, name: str, data: bytes) -> Node:
    root = vault.root_of(vault.ensure_commune_space(ACTOR, commune))
    return vault.write_bytes(ACTOR, root, name, data, "application/octet-stream")


def kit_file(tmp_path: Path) -> Path:
    path = tmp_path / "kit.txt"
    keys.write_kit(keys.current_kit(), path)
    return path


def test_backup_then_restore_reproduces_the_platform(
    commune_a, commune_b, admin_a, tmp_path, flushable_archive, fresh, settings
):
    put_file(commune_a, "budget.txt", b"budget v1")
    put_file(commune_a, "budget.txt", b"budget v2, la version courante")
    put_file(commune_b, "photo.bin", bytes(range(256)) * 300)
    deposit(commune_a)
    # A delivered message: flags live in the Maildir file name (S = seen, F = flagged).
    maildir = Path(settings.MAIL_DIR) / "vmail" / "communes.example" / "k1" / "Maildir" / "cur"
    maildir.mkdir(parents=True)
    (maildir / "1733390000.M1P1.mail:2,FS").write_bytes(b"Subject: essai\r\n\r\ncorps\r\n")
    # An enrolled box (its Ed25519 key is its identity: it must not need a new enrolment).
    box = Box.objects.create(commune=commune_a, hostname="boitier-mairie", public_key="k" * 43)
    files = read_back()
    result = snapshot.take(ACTOR)
    assert result.snapshot_id and result.backup.ok
    kit = kit_file(tmp_path)

    proc = fresh.clocher("restore", "latest", "--kit", str(kit))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "lignes conformes à la sauvegarde" in proc.stdout

    assert fresh.python(READ_BACK) == files
    # Logins as they were: the admin's password hash, the box still enrolled under its key.
    assert fresh.python(
        "import json\nfrom clocher.accounts.models import User\n"
        f"print(json.dumps(User.objects.get(email={admin_a.email!r}).check_password({PASSWORD!r})))"
    )
    assert fresh.python(
        "import json\nfrom clocher.shield.models import Box\n"
        f"b = Box.objects.get(pk={str(box.pk)!r})\n"
        "print(json.dumps([b.commune.insee, b.public_key, b.revoked_at is None]))"
    ) == ["21271", "k" * 43, True]
    for args in (["audit", "verify"], ["archive", "audit"], ["vault", "fsck"]):
        checked = fresh.clocher(*args)
        assert checked.returncode == 0, (args, checked.stdout + checked.stderr)
    assert "Tout est intègre" in fresh.clocher("archive", "audit").stdout
    restored_mail = fresh.root / "mail" / "vmail" / "communes.example" / "k1" / "Maildir" / "cur"
    assert [p.name for p in restored_mail.iterdir()] == ["1733390000.M1P1.mail:2,FS"]
    # The keys came from the kit; a second restore onto the now-used platform is refused.
    assert (fresh.root / "vault" / "master.key").stat().st_mode & 0o777 == 0o600
    again = fresh.clocher("restore", "latest", "--kit", str(kit))
    assert again.returncode == 1 and "n'est pas vide" in again.stdout


def test_missing_or_wrong_kit_and_corrupted_repository_are_refused(commune_a, tmp_path, fresh):
    put_file(commune_a, "acte.txt", b"acte")
    snapshot.take(ACTOR)
    kit = kit_file(tmp_path)

    no_kit = fresh.clocher("restore", "latest")
    assert no_kit.returncode == 1 and "exige le kit de récupération" in no_kit.stdout

    with pytest.raises(keys.KitError, match="introuvable"):
        keys.read_kit(tmp_path / "absent.txt")
    text = kit.read_text()
    wrong_password = tmp_path / "mauvais-mot-de-passe.txt"
    lines = [
        "CLE-SAUVEGARDE: pas-le-bon" if line.startswith("CLE-SAUVEGARDE:") else line
        for line in text.splitlines()
    ]
    wrong_password.write_text("\n".join(lines))
    with pytest.raises(restore.RestoreError, match="ne l'ouvre pas"):
        restore.open_backup(wrong_password, "latest")
    other_master = tmp_path / "autre-cle.txt"
    lines = [
        "CLE-MAITRESSE: " + "QUFB" * 10 + "QUE=" if line.startswith("CLE-MAITRESSE:") else line
        for line in text.splitlines()
    ]
    other_master.write_text("\n".join(lines))
    with pytest.raises(keys.KitError, match="n'est pas celle de la sauvegarde"):
        restore.open_backup(other_master, "latest")
    incomplete = tmp_path / "incomplet.txt"
    incomplete.write_text("DEPOT: /nulle/part\n")
    with pytest.raises(keys.KitError, match="il manque CLE-SAUVEGARDE, CLE-MAITRESSE"):
        keys.read_kit(incomplete)

    # One flipped byte in every data pack: the read-back check and the restore say so.
    repo_dir = Path(keys.repository_location())
    for pack in (repo_dir / "data").rglob("*"):
        if pack.is_file():
            raw = bytearray(pack.read_bytes())
            raw[len(raw) // 2] ^= 0xFF
            pack.chmod(0o600)
            pack.write_bytes(bytes(raw))
    with pytest.raises(restic.ResticError, match="dépôt abîmé"):
        snapshot.verify(ACTOR, percent=100)
    corrupted = fresh.clocher("restore", "latest", "--kit", str(kit))
    assert corrupted.returncode == 1
    assert "dépôt abîmé" in corrupted.stdout


def test_repository_inside_the_data_dir_is_refused(data_dir):
    with pytest.raises(keys.KitError, match="doit vivre ailleurs"):
        keys.repository_location(str(data_dir / "depot"))


def test_commune_restore_brings_back_one_commune_only(commune_a, commune_b, tmp_path):
    lost = put_file(commune_a, "deliberation.txt", b"la deliberation perdue")
    kept_b = put_file(commune_b, "registre.txt", b"registre de B")
    snapshot.take(ACTOR)
    kit = kit_file(tmp_path)
    # A's file is deleted for good (trash, purge, chunks collected); B works on.
    vault.trash(ACTOR, lost)
    vault.purge(ACTOR, Node.objects.get(pk=lost.pk))
    vault.collect_garbage(remove=True, grace_seconds=0)
    assert "21001/deliberation.txt" not in read_back()
    newer_b = put_file(commune_b, "apres.txt", b"ecrit apres la sauvegarde")
    put_file(commune_b, "registre.txt", b"registre de B, modifie apres")
    b_before = {k: v for k, v in read_back().items() if k.startswith(commune_b.insee)}

    done = restore_commune(ACTOR, commune_a.insee, kit, "latest")

    files = read_back()
    key = f"{commune_a.insee}/deliberation.txt"
    assert files[key] == hashlib.sha256(b"la deliberation perdue").hexdigest()
    assert {k: v for k, v in files.items() if k.startswith(commune_b.insee)} == b_before
    assert Node.objects.filter(pk=newer_b.pk).exists() and kept_b.pk
    assert done.blobs >= 1 and "les autres communes n'ont pas été touchées" in done.summary()
    assert vault.fsck().ok


def test_commune_restore_of_an_unknown_commune(commune_a, tmp_path):
    snapshot.take(ACTOR)
    with pytest.raises(restore.RestoreError, match="99999 n'existe pas"):
        restore_commune(ACTOR, "99999", kit_file(tmp_path), "latest")


def test_backup_copies_no_key_and_no_live_database(commune_a, tmp_path, data_dir):
    put_file(commune_a, "a.txt", b"a")
    result = snapshot.take(ACTOR)
    repo = keys.repository()
    listing = restic.run(repo, ["ls", result.snapshot_id])
    assert "master.key" not in listing and "backup.key" not in listing
    assert "sauvegarde/manifest.json" in listing
    assert f"{data_dir}/clocher.sqlite3" not in listing
    shutil.rmtree(data_dir / "vault" / "blobs")


def test_kit_on_paper_reads_back(tmp_path):
    """The PDF printed by `clocher backup kit -o kit.pdf` is what a restore reads."""
    kit = keys.current_kit()
    pdf = tmp_path / "kit.pdf"
    keys.write_kit(kit, pdf)
    assert pdf.stat().st_mode & 0o777 == 0o600
    assert keys.read_kit(pdf) == kit
    assert keys.fingerprint(kit.master_key) in keys.kit_text(kit)


def test_a_second_backup_at_the_same_time_is_refused(data_dir):
    import fcntl

    lock_path = data_dir / "run" / "sauvegarde.lock"
    lock_path.parent.mkdir(parents=True)
    with lock_path.open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(restic.ResticError, match="déjà en cours"):
            snapshot.take(ACTOR)
    assert snapshot.take(ACTOR).backup.ok


def test_queue_that_cannot_go_back_waits_in_the_data_dir(settings, data_dir, tmp_path):
    from clocher.operations.services.restore import _put_queue

    settings.MAIL_ENABLED = False
    saved = tmp_path / "file"
    (saved / "deferred").mkdir(parents=True)
    (saved / "deferred" / "4XyZ1").write_bytes(b"queue file")

    said = _put_queue(saved)

    kept = data_dir / "file-postfix-a-remettre"
    assert said.startswith("file Postfix : non remise (CLOCHER_MAIL_ENABLED=0")
    assert str(kept) in said
    assert (kept / "deferred" / "4XyZ1").read_bytes() == b"queue file"


def test_kit_on_paper_keeps_a_long_repository_whole(tmp_path):
    """A repository address longer than the page's line comes back whole from the PDF."""
    kit = keys.current_kit()
    kit = keys.Kit(
        **{
            **kit.__dict__,
            "repository": "s3:https://sauvegarde.site-secours."
            "cotedor.fr/clocher-sauvegardes/" + "d" * 60 + "/depot",
        }
    )
    pdf = tmp_path / "kit.pdf"
    keys.write_kit(kit, pdf)
    assert keys.read_kit(pdf) == kit


def test_backup_times_its_steps_and_makes_its_repository_once(tmp_path):
    first = snapshot.take(ACTOR, str(tmp_path / "depot"))
    assert list(first.steps) == ["dépôt", "base", "file Postfix", "S3", "restic"]
    assert all(seconds >= 0 for seconds in first.steps.values())
    config = tmp_path / "depot" / "config"
    made = config.stat().st_mtime_ns
    assert snapshot.take(ACTOR, str(tmp_path / "depot")).backup.ok
    assert config.stat().st_mtime_ns == made  # found by its config file, not made again


def test_backup_into_a_repository_with_another_password_is_refused(tmp_path):
    """The local repository is recognised without restic; its password is still checked,
    by the backup itself, and said plainly."""
    other = restic.Repository(str(tmp_path / "depot"), "pas-le-mot-de-passe-de-la-plateforme")
    restic.run(other, ["init"])
    with pytest.raises(restic.ResticError, match="ne l'ouvre pas"):
        snapshot.take(ACTOR, str(tmp_path / "depot"))


@pytest.mark.parametrize(
    ("location", "local"),
    [
        ("/srv/sauvegardes/clocher", True),
        ("depots/clocher", True),
        ("/srv/a:b", True),
        ("s3:https://s3.departement.example/clocher", False),
        ("rest:http://sauvegarde:8000/", False),
        ("sftp:user@host:/srv/restic", False),
    ],
)
def test_local_repository_addresses(location, local):
    assert restic.is_local(location) is local


SAMPLE_SCHEMA = """
CREATE TABLE "acte" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT, "titre" text NOT NULL,
                     "corps" blob NULL, "montant" real NULL);
CREATE INDEX "acte_titre" ON "acte" ("titre");
CREATE TABLE "journal" ("cle" char(32) NOT NULL PRIMARY KEY, "texte" text NOT NULL);
CREATE TRIGGER "acte_ecrit_une_fois" BEFORE UPDATE ON "acte"
BEGIN SELECT RAISE(ABORT, 'acte scellé'); END;
"""


def _sample_database(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path)
    db.executescript(SAMPLE_SCHEMA)
    rows = [
        ("Délibération n° 12 ; « l'école »", b"\x00\xff\n", 1234.5),
        ("ligne\nsur deux; avec ' et \"", None, None),
    ]
    db.executemany('INSERT INTO "acte" ("titre", "corps", "montant") VALUES (?, ?, ?)', rows)
    db.execute('DELETE FROM "acte" WHERE "id" = 2')  # the counter keeps its high mark
    db.execute('INSERT INTO "acte" ("titre") VALUES (?)', ("après",))
    db.execute('INSERT INTO "journal" VALUES (?, ?)', ("a" * 32, "x" * 5000))
    db.commit()
    return db


def test_sqlite_dump_per_table_comes_back_identical(tmp_path):
    source = _sample_database(tmp_path / "source.sqlite3")
    stage = tmp_path / "stage"
    stage.mkdir()
    snapshot._dump_tables(source, stage / snapshot.SQLITE_DUMP_DIR)
    assert sorted(p.name for p in (stage / snapshot.SQLITE_DUMP_DIR).iterdir()) == [
        "00-schema.sql",
        "acte.sql",
        "journal.sql",
        "zz-index.sql",
    ]
    restored = sqlite3.connect(snapshot.sqlite_from_dump(stage, tmp_path / "copie.sqlite3"))
    assert list(restored.iterdump()) == list(source.iterdump())
    # The AUTOINCREMENT counter and the write-once trigger came back too.
    restored.execute('INSERT INTO "acte" ("titre") VALUES (?)', ("suivant",))
    assert restored.execute('SELECT max("id") FROM "acte"').fetchone() == (4,)
    with pytest.raises(sqlite3.IntegrityError, match="acte scellé"):
        restored.execute('UPDATE "acte" SET "titre" = ? WHERE "id" = 1', ("changé",))


def test_sqlite_dump_of_an_older_backup_in_one_file_still_restores(tmp_path):
    source = _sample_database(tmp_path / "source.sqlite3")
    stage = tmp_path / "stage"
    stage.mkdir()
    (stage / snapshot.SQLITE_DUMP).write_text("\n".join(source.iterdump()), encoding="utf-8")
    restored = sqlite3.connect(snapshot.sqlite_from_dump(stage, tmp_path / "copie.sqlite3"))
    assert list(restored.iterdump()) == list(source.iterdump())
