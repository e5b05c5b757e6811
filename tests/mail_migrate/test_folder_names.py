"""Where each source folder lands in the Clocher mailbox (no server needed)."""

from __future__ import annotations

from pathlib import Path

from clocher.mail.migrate.sources import MboxSource, SourceFolder, mbox_folder_parts
from clocher.mail.migrate.target import TargetFolders, target_names

TARGET = TargetFolders(
    separator="/",
    existing={"INBOX", "Sent", "Drafts", "Trash", "Junk"},
    specials={"\\Sent": "Sent", "\\Drafts": "Drafts", "\\Trash": "Trash", "\\Junk": "Junk"},
)


def folders(*names: str, sent: str = "") -> list[SourceFolder]:
    return [
        SourceFolder(name, tuple(name.split("/")), "\\Sent" if name == sent else None)
        for name in names
    ]


def test_outlook_inbox_is_the_inbox_when_the_source_has_none():
    names = target_names(
        folders("Boîte de réception", "Boîte de réception/Élus", "Éléments envoyés/2018"),
        TARGET,
    )
    assert names == {
        "Boîte de réception": "INBOX",
        "Boîte de réception/Élus": "INBOX/Élus",
        "Éléments envoyés/2018": "Sent/2018",
    }


def test_a_folder_named_like_an_inbox_beside_the_real_one_stays_apart():
    names = target_names(folders("INBOX", "Boîte de réception", "Envoi", sent="Envoi"), TARGET)
    assert names == {"INBOX": "INBOX", "Boîte de réception": "Boîte de réception", "Envoi": "Sent"}


def test_special_names_count_at_the_top_only():
    names = target_names(folders("Projets/Brouillons", "INBOX/Corbeille"), TARGET)
    assert names == {"Projets/Brouillons": "Projets/Brouillons", "INBOX/Corbeille": "Trash"}


MESSAGE = b"From a@b.fr Mon Jan  3 10:00:00 2011\nSubject: test\n\nBonjour\n"


def mbox_folders(root: Path, *files: str) -> dict[str, str]:
    """Source folder name → Clocher folder, for an export directory holding these files."""
    for name in files:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(MESSAGE)
    (root / "table_of_contents").write_bytes(b"\x00\x01")  # Apple Mail's index, not mail
    source = MboxSource(root)
    return target_names(source.folders(), TARGET)


def test_thunderbird_export_loses_the_mbox_extension(tmp_path):
    assert mbox_folders(tmp_path, "État civil.mbox", "Urbanisme.MBX", "Conseil") == {
        "État civil": "État civil",
        "Urbanisme": "Urbanisme",
        "Conseil": "Conseil",
    }


def test_apple_mail_directories_are_the_folders(tmp_path):
    names = mbox_folders(
        tmp_path, "État civil.mbox/mbox", "Élus.mbox/mbox", "Élus.mbox/2019.mbox/mbox"
    )
    assert names == {"État civil": "État civil", "Élus": "Élus", "Élus/2019": "Élus/2019"}


def test_one_apple_mailbox_exported_alone_is_named_after_its_directory(tmp_path):
    assert mbox_folders(tmp_path / "Marchés publics.mbox", "mbox") == {
        "Marchés publics": "Marchés publics"
    }


def test_nested_thunderbird_folders(tmp_path):
    names = mbox_folders(tmp_path, "Archives.sbd/2019.mbox", "Archives.mbox", "Archives.sbd/2020")
    assert names == {
        "Archives": "Archives",
        "Archives/2019": "Archives/2019",
        "Archives/2020": "Archives/2020",
    }


def test_a_name_that_is_only_the_extension_is_kept(tmp_path):
    assert mbox_folders(tmp_path, ".mbox", "mbox") == {".mbox": "․mbox", "mbox": "mbox"}


def test_a_stripped_name_taken_by_another_file_keeps_its_extension(tmp_path):
    assert mbox_folders(tmp_path, "Notes", "Notes.mbox") == {
        "Notes": "Notes",
        "Notes.mbox": "Notes․mbox",
    }


def test_folder_parts_of_an_export():
    assert mbox_folder_parts(("Élus.mbox", "mbox")) == ("Élus",)
    assert mbox_folder_parts(("mbox",), "Élus.mbox") == ("Élus",)
    assert mbox_folder_parts(("mbox",), "export") == ("mbox",)
    assert mbox_folder_parts(("Archives.sbd", "2019.mbx")) == ("Archives", "2019")
