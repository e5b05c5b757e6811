"""Where each source folder lands in the Clocher mailbox (no server needed)."""

from __future__ import annotations

from clocher.mail.migrate.sources import SourceFolder
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
