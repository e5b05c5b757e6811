"""Document import (issue 6): a folder tree or a zip into a space, hostile archives refused
entry by entry, quota checked before and during, reruns idempotent."""

from __future__ import annotations

import os
import stat
import time
import unicodedata
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from django.conf import settings
from django.core.exceptions import ValidationError
from django.urls import reverse

from clocher.cli import main
from clocher.core import audit
from clocher.core.models import AuditEntry
from clocher.vault import imports, services
from clocher.vault.models import CommuneUsage, DocumentImport, ImportStatus
from tests.vault.conftest import ACTOR

pytestmark = pytest.mark.django_db(transaction=True)

OLD = time.mktime((2019, 3, 14, 9, 26, 0, 0, 0, -1))


@pytest.fixture
def root_a(commune_a):
    return services.root_of(services.ensure_commune_space(ACTOR, commune_a))


def tree(node) -> dict[str, bytes | None]:
    """Every path under `node`: bytes for files, None for folders."""
    found: dict[str, bytes | None] = {}
    for child in services.children(node):
        if child.is_folder:
            found[child.name + "/"] = None
            for path, content in tree(child).items():
                found[f"{child.name}/{path}"] = content
        else:
            found[child.name] = b"".join(services.iter_content(child))
    return found


def test_folder_tree_keeps_names_folders_and_times(root_a, tmp_path):
    source = tmp_path / "pc-secretaire"
    nfd = unicodedata.normalize("NFD", "Délibérations")
    (source / nfd / "2019").mkdir(parents=True)
    (source / "vide").mkdir()
    (source / nfd / "2019" / "conseil du 14 mars.odt").write_bytes(b"odt" * 1000)
    (source / "budget.csv").write_bytes(b"ligne;montant\n1;2\n")
    os.utime(source / "budget.csv", (OLD, OLD))
    os.symlink("/etc/passwd", source / "lien")
    os.mkfifo(source / "tube")

    report = imports.import_documents(ACTOR, root_a, source)

    assert tree(root_a) == {
        "Délibérations/": None,
        "Délibérations/2019/": None,
        "Délibérations/2019/conseil du 14 mars.odt": b"odt" * 1000,
        "budget.csv": b"ligne;montant\n1;2\n",
        "vide/": None,
    }
    assert services.child(root_a, "budget.csv").modified_at.timestamp() == OLD
    assert (report.imported, report.folders) == (2, 3)
    assert sorted(report.skipped) == [
        ("lien", "lien symbolique"),
        ("tube", "fichier spécial (ni fichier ni dossier)"),
    ]
    assert AuditEntry.objects.filter(action="vault.import").count() == 1


def test_rerun_is_idempotent_and_a_changed_file_becomes_a_new_version(root_a, tmp_path):
    source = tmp_path / "docs"
    source.mkdir()
    (source / "a.txt").write_bytes(b"premier")
    (source / "b.txt").write_bytes(b"deuxieme")
    imports.import_documents(ACTOR, root_a, source)
    used = CommuneUsage.objects.get(commune=root_a.space.commune).used_bytes

    again = imports.import_documents(ACTOR, root_a, source)
    assert (again.imported, again.updated, again.unchanged) == (0, 0, 2)
    assert CommuneUsage.objects.get(commune=root_a.space.commune).used_bytes == used

    (source / "a.txt").write_bytes(b"premier, corrige")
    third = imports.import_documents(ACTOR, root_a, source)
    assert (third.imported, third.updated, third.unchanged) == (0, 1, 1)
    node = services.child(root_a, "a.txt")
    assert [v.size for v in services.versions(node)] == [16, 7]


def write_zip(path: Path, entries: dict[str, bytes], **kwargs) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, **kwargs) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return path


def test_hostile_zip_entries_are_skipped_and_listed_the_rest_imported(root_a, tmp_path):
    archive = tmp_path / "hostile.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("ok/arrêté 12.pdf", b"%PDF-1.7 arrete")
        z.writestr("../../etc/cron.d/evil", b"* * * * * root sh")
        z.writestr("/etc/passwd", b"root:x:0:0")
        z.writestr("ok/..\\..\\win.ini", b"[fonts]")
        z.writestr("ok/CON.txt", b"reserve")
        z.writestr("ok/facture\u202efdp.exe", b"MZ")
        z.writestr("ok/point.", b"windows")
        z.writestr("ok/" + "n" * 300, b"long")
        z.writestr("bombe.bin", b"\0" * (50 * 1024 * 1024))
        link = zipfile.ZipInfo("ok/lien")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        z.writestr(link, "/etc/shadow")

    report = imports.import_documents(ACTOR, root_a, archive)

    assert tree(root_a) == {"ok/": None, "ok/arrêté 12.pdf": b"%PDF-1.7 arrete"}
    reasons = dict(report.skipped)
    assert reasons["../../etc/cron.d/evil"].startswith("chemin qui remonte")
    assert reasons["/etc/passwd"] == "chemin absolu"
    assert reasons["ok/..\\..\\win.ini"].startswith("chemin qui remonte")
    assert "réservé par Windows" in reasons["ok/CON.txt"]
    assert "sens du texte" in reasons["ok/facture\u202efdp.exe"]
    assert "point" in reasons["ok/point."]
    assert "trop long" in reasons["ok/" + "n" * 300]
    assert "bombe zip" in reasons["bombe.bin"]
    assert reasons["ok/lien"] == "lien symbolique"
    assert len(report.skipped) == 9


def test_zip_bomb_beyond_the_total_limit_is_refused_before_writing(root_a, tmp_path, settings):
    settings.VAULT_IMPORT_MAX_BYTES = 10 * 1024 * 1024
    archive = write_zip(
        tmp_path / "grosse.zip", {f"f{i}.bin": os.urandom(1024 * 1024) for i in range(12)}
    )
    with pytest.raises(imports.ImportRefused, match="taille maximale"):
        imports.import_documents(ACTOR, root_a, archive)
    assert tree(root_a) == {}


def test_lying_zip_header_is_cut_off(root_a, tmp_path):
    """An entry whose data inflates past the size its header announces (a classic
    bomb trick) is refused and nothing of it is stored."""
    archive = write_zip(tmp_path / "ment.zip", {"petit.txt": b"A" * 100_000, "bon.txt": b"ok"})
    data = bytearray(archive.read_bytes())
    # Patch the central directory's uncompressed size of petit.txt to 10 bytes.
    with zipfile.ZipFile(archive) as z:
        info = z.getinfo("petit.txt")
    central = data.find(b"PK\x01\x02")  # the first central header is petit.txt's
    data[central + 24 : central + 28] = (10).to_bytes(4, "little")
    local = info.header_offset
    data[local + 22 : local + 26] = (10).to_bytes(4, "little")
    archive.write_bytes(bytes(data))

    report = imports.import_documents(ACTOR, root_a, archive)
    assert tree(root_a) == {"bon.txt": b"ok"}
    assert [path for path, _ in report.skipped] == ["petit.txt"]


def test_windows_zip_names_in_cp850_are_decoded(root_a, tmp_path):
    """French Windows archivers write CP850 names without the UTF-8 flag."""
    name = "Délibération.txt"
    placeholder = "D?lib?ration.txt"  # ASCII, as long as the CP850 bytes: no flag set
    archive = write_zip(tmp_path / "windows.zip", {placeholder: b"contenu"})
    raw = archive.read_bytes().replace(placeholder.encode(), name.encode("cp850"))
    archive.write_bytes(raw)

    report = imports.import_documents(ACTOR, root_a, archive)
    assert tree(root_a) == {name: b"contenu"}
    assert report.imported == 1


def test_quota_checked_before_nothing_written(root_a, commune_a, tmp_path):
    commune_a.quota_storage_bytes = 1000
    commune_a.save()
    archive = write_zip(tmp_path / "trop.zip", {"a.bin": os.urandom(600), "b.bin": os.urandom(600)})
    with pytest.raises(imports.ImportRefused, match="quota"):
        imports.import_documents(ACTOR, root_a, archive)
    assert tree(root_a) == {}


def test_quota_reached_during_import_stops_cleanly_keeping_what_was_done(
    root_a, commune_a, tmp_path, monkeypatch, vault_dir
):
    """Another upload takes the room while the import runs: it stops, keeps the files
    already imported, and says so. The next batch, read and written aside meanwhile
    (issue 14), leaves no chunk on disk (those of the first batch's files not imported
    are garbage for `fsck --gc`, as an interrupted upload's)."""
    monkeypatch.setattr(imports, "IMPORT_BATCH", 4)
    commune_a.quota_storage_bytes = 6000
    commune_a.save()
    archive = write_zip(tmp_path / "docs.zip", {f"{i}.bin": os.urandom(500) for i in range(8)})

    def someone_else_uploads(done: int, total: int, name: str) -> None:
        if name == "1.bin":
            services.write_bytes(ACTOR, root_a, "autre.bin", os.urandom(5200))

    report = imports.import_documents(ACTOR, root_a, archive, progress=someone_else_uploads)
    assert "quota" in report.stopped
    assert sorted(tree(root_a)) == ["0.bin", "autre.bin"]
    assert report.imported == 1
    assert leftovers(vault_dir) == []
    assert services.fsck().problems == []
    # The first batch's four chunks and the other upload's: none of the second batch.
    assert len([p for p in (vault_dir / "blobs").rglob("*") if p.is_file()]) == 5


def test_truncated_zip_is_refused_clearly(root_a, tmp_path):
    archive = write_zip(tmp_path / "ok.zip", {"a.txt": b"x" * 5000})
    truncated = tmp_path / "tronque.zip"
    truncated.write_bytes(archive.read_bytes()[:-40])
    with pytest.raises(imports.ImportRefused, match="illisible"):
        imports.import_documents(ACTOR, root_a, truncated)


def test_cli_imports_into_a_folder_and_a_personal_space(root_a, commune_a, agent_a, tmp_path):
    archive = write_zip(tmp_path / "docs.zip", {"compte-rendu.txt": b"CR", "../x": b"no"})
    result = CliRunner().invoke(
        main, ["vault", "import", commune_a.insee, str(archive), "--into", "Reprise/2024"]
    )
    assert result.exit_code == 0, result.output
    assert "1 fichiers importés" in result.output
    assert "Ignoré : ../x" in result.output
    assert tree(root_a)["Reprise/2024/compte-rendu.txt"] == b"CR"

    result = CliRunner().invoke(
        main, ["vault", "import", commune_a.insee, str(archive), "--user", agent_a.email]
    )
    assert result.exit_code == 0, result.output
    personal = services.root_of(services.ensure_personal_space(commune_a, agent_a))
    assert tree(personal) == {"compte-rendu.txt": b"CR"}

    result = CliRunner().invoke(main, ["vault", "import", "99999", str(archive)])
    assert result.exit_code != 0
    assert "inconnue" in result.output


def test_refused_names_raise_validation_errors_not_crashes(root_a, tmp_path):
    with pytest.raises(ValidationError):
        imports.target_folder(ACTOR, root_a.space.commune.insee, "../..")


def test_page_imports_a_zip_in_the_background_and_shows_the_report(
    root_a, client_admin_a, commune_a, tmp_path
):
    archive = write_zip(
        tmp_path / "clé-usb.zip", {"Arrêtés/2023-01.pdf": b"%PDF-1.4 a", "../../x": b"no"}
    )
    url = reverse("vault:import_zip", kwargs={"insee": commune_a.insee, "node_id": root_a.pk})
    page = client_admin_a.get(url)
    assert page.status_code == 200
    assert 'label for="archive"' in page.content.decode()

    with archive.open("rb") as sent:
        answer = client_admin_a.post(url, {"archive": sent}, HTTP_ACCEPT="application/json")
    assert answer.status_code == 200, answer.content
    status_url = answer.json()["redirect"]

    # The task ran in place (tests); the page shows the report and no progress poller.
    status = client_admin_a.get(status_url)
    text = status.content.decode()
    assert "Terminé" in text
    assert "1 fichier(s) importé(s)" in text
    assert "../../x" in text and "chemin qui remonte" in text
    assert "hx-trigger" not in text
    assert tree(root_a)["Arrêtés/2023-01.pdf"] == b"%PDF-1.4 a"
    assert not list((Path(settings.DATA_DIR) / "imports").iterdir())  # zip removed

    # A job in progress is polled by htmx, and the fragment alone comes back.
    job = DocumentImport.objects.get()
    DocumentImport.objects.filter(pk=job.pk).update(
        status=ImportStatus.RUNNING, done_bytes=50, total_bytes=200, current="Arrêtés/b.pdf"
    )
    running = client_admin_a.get(status_url).content.decode()
    assert 'hx-trigger="every 1s"' in running and "25 %" in running
    fragment = client_admin_a.get(status_url, HTTP_HX_REQUEST="true").content.decode()
    assert fragment.lstrip().startswith('<section id="import-progress"')

    # Not a zip: a clear refusal on the job page, nothing imported.
    bad = tmp_path / "pas-un-zip.zip"
    bad.write_bytes(b"ceci n'est pas une archive")
    with bad.open("rb") as sent:
        refused = client_admin_a.post(url, {"archive": sent}, follow=True)
    assert "Archive zip illisible" in refused.content.decode()


def test_import_writes_a_batch_in_a_few_statements_with_one_journal_entry_per_file(
    root_a, commune_a, tmp_path, monkeypatch
):
    """Issue 14: the new files of a batch are saved together (rows in bulk, quotas
    charged once); each still has its journal entry and is counted in the quotas."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from clocher.vault.models import Space

    files = {f"d{i % 3}/f{i:03d}.txt": os.urandom(100 + i) for i in range(300)}
    archive = write_zip(tmp_path / "lot.zip", files)
    real_fsync, fsyncs = os.fsync, []

    def counting_fsync(fd: int) -> None:
        fsyncs.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", counting_fsync)
    with CaptureQueriesContext(connection) as queries:
        report = imports.import_documents(ACTOR, root_a, archive)
    monkeypatch.undo()
    assert report.imported == 300
    # File by file it was about fifteen statements each (4,500), then three a file while
    # the journal was appended entry by entry; now a batch of 256 is a few statements
    # (folders, rows in bulk, one journal append).
    assert len(queries) < 150
    # The chunks of a batch reach the disk with one flush of the file system, not an
    # fsync for each (and one for each of their directories).
    assert len(fsyncs) < 30
    assert AuditEntry.objects.filter(action="vault.file_created").count() == 300
    assert audit.verify().ok
    total = sum(len(data) for data in files.values())
    assert Space.objects.get(pk=root_a.space_id).used_bytes == total
    assert CommuneUsage.objects.get(commune=commune_a).used_bytes == total
    stored = tree(root_a)  # once: a tree per path read the 300 files 300 times (130 s)
    assert {path: stored[path] for path in files} == files
    again = imports.import_documents(ACTOR, root_a, archive)
    assert (again.imported, again.unchanged) == (0, 300)


def leftovers(vault_dir: Path) -> list[str]:
    """Chunk files written aside and never renamed (an abandoned batch must leave none)."""
    return [p.name for p in (vault_dir / "blobs").rglob(".*.tmp")]


@pytest.mark.parametrize("step", ["flush", "transaction"])
def test_a_batch_that_fails_loses_nothing_before_it_and_the_rerun_completes(
    root_a, tmp_path, monkeypatch, vault_dir, step
):
    """Issue 14: batches are prepared ahead (the next one is read and written aside while
    one is committed). The third batch fails, either while its chunks are made durable or
    in its transaction: the two before are kept whole, nothing of the third or of the
    one prepared ahead is left (no row, no chunk written aside), the journal verifies, and
    a rerun imports the rest, counting the kept files as already there."""
    from clocher.storage.blobstore import local

    monkeypatch.setattr(imports, "IMPORT_BATCH", 10)
    source = tmp_path / "docs"
    files = {f"d{i // 7}/f{i:02d}.txt": os.urandom(50 + i) for i in range(45)}
    for name, data in files.items():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_bytes(data)
    calls = {"n": 0}
    if step == "flush":
        real_sync = local._sync_file_system

        def failing_sync(directory: str) -> bool:
            calls["n"] += 1
            if calls["n"] == 5:  # two flushes a batch: the first of the third batch
                raise OSError(5, "Input/output error", directory)
            return real_sync(directory)

        monkeypatch.setattr(local, "_sync_file_system", failing_sync)
        expected: type[Exception] = OSError
    else:
        real_save = services.save_new_files

        def failing_save(actor, batch):
            calls["n"] += 1
            saved = real_save(actor, batch)
            if calls["n"] == 3:
                raise RuntimeError("panne au milieu du lot")
            return saved

        monkeypatch.setattr(services, "save_new_files", failing_save)
        expected = RuntimeError

    with pytest.raises(expected):
        imports.import_documents(ACTOR, root_a, source)
    monkeypatch.undo()

    # Sorted names: the entries come in the walk's order, which is the file system's.
    kept = {p: c for p, c in tree(root_a).items() if c is not None}
    assert len(kept) == 20
    assert all(files[path] == content for path, content in kept.items())
    assert leftovers(vault_dir) == []
    assert AuditEntry.objects.filter(action="vault.file_created").count() == 20
    assert audit.verify().ok
    assert services.fsck().problems == []

    again = imports.import_documents(ACTOR, root_a, source)
    assert (again.imported, again.unchanged, again.skipped) == (25, 20, [])
    assert {p: c for p, c in tree(root_a).items() if c is not None} == files
    assert leftovers(vault_dir) == []


def lie_about_size(archive: Path, name: str, size: int) -> None:
    """Make the zip's headers (local and central) announce `size` bytes for `name`."""
    data = bytearray(archive.read_bytes())
    with zipfile.ZipFile(archive) as z:
        local = z.getinfo(name).header_offset
    central = data.find(b"PK\x01\x02")
    while data[central + 46 : central + 46 + len(name)] != name.encode():
        central = data.find(b"PK\x01\x02", central + 4)
    data[central + 24 : central + 28] = size.to_bytes(4, "little")
    data[local + 22 : local + 26] = size.to_bytes(4, "little")
    archive.write_bytes(bytes(data))


def test_an_unreadable_file_mid_batch_is_named_and_the_rest_of_its_batch_kept(
    root_a, tmp_path, monkeypatch
):
    """A file that cannot be read in the middle of a batch (here an entry inflating past
    its header) is listed by name; the other files of its batch are committed, and a rerun
    counts them as there and names the bad one again."""
    monkeypatch.setattr(imports, "IMPORT_BATCH", 10)
    files = {f"f{i:02d}.txt": os.urandom(100) for i in range(25)}
    files["f13.txt"] = b"A" * 100_000
    archive = write_zip(tmp_path / "lot.zip", files)
    lie_about_size(archive, "f13.txt", 10)

    report = imports.import_documents(ACTOR, root_a, archive)
    assert report.imported == 24
    # zipfile stops at the announced size and finds the CRC wrong (else: "bombe zip").
    assert [path for path, _ in report.skipped] == ["f13.txt"]
    assert "CRC" in report.skipped[0][1] or "bombe zip" in report.skipped[0][1]
    assert tree(root_a) == {n: d for n, d in files.items() if n != "f13.txt"}

    again = imports.import_documents(ACTOR, root_a, archive)
    assert (again.imported, again.unchanged) == (0, 24)
    assert [path for path, _ in again.skipped] == ["f13.txt"]
