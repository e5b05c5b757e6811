"""The tests' PST writer against the real readers: libpff (pffinfo, pffexport) and libpst
(readpst) read every folder and message of what it writes, a big attachment whole."""

from __future__ import annotations

import email
import email.policy
import subprocess
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from tests.mail_migrate.pst_writer import Attachment, Folder, Message, write_pst

# 30 KB: more than a heap holds and than a block, so a subnode over an XBLOCK.
BIG = Attachment("plan cadastral.bin", bytes(range(256)) * 120)
EXPECTED = {
    "Boîte de réception": 2,
    "Boîte de réception/Élus": 1,
    "Boîte de réception/Élus/Conseil municipal": 1,
    "Éléments envoyés": 1,
}


def letter(n: int, **options) -> Message:
    return Message(
        f"Lettre n° {n}",
        ("Mairie", "mairie@flavigny.fr"),
        [("Anne Élue", "anne@flavigny.fr")],
        f"Texte {n} é\r\n",
        datetime(2019, 5, n, 8, 0, tzinfo=UTC),
        **options,
    )


def written(path: Path) -> Path:
    council = Folder("Conseil municipal", [letter(4)])
    inbox = Folder(
        "Boîte de réception",
        [letter(1, read=False), letter(2, attachments=[BIG])],
        [Folder("Élus", [letter(3, flagged=True)], [council])],
    )
    write_pst(path, "Mairie de Flavigny", [inbox, Folder("Éléments envoyés", [letter(5)])])
    return path


def tool(*argv: str | Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(a) for a in argv], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and not done.stderr, done.stderr
    return done


def test_libpff_reads_every_folder_message_and_attachment(tmp_path):
    pst = written(tmp_path / "outlook.pst")
    info = tool("pffinfo", pst).stdout
    assert "64-bit" in info and "Encryption type:\tnone" in info
    tool("pffexport", "-m", "all", "-t", tmp_path / "out", pst)
    top = tmp_path / "out.export" / "Haut de la banque d'informations"
    found = Counter(
        "/".join(m.parent.relative_to(top).parts) for m in top.rglob("Message0*") if m.is_dir()
    )
    assert found == EXPECTED
    message = top / "Boîte de réception" / "Message00002"
    assert (message / "Attachments" / f"1_{BIG.filename}").read_bytes() == BIG.data
    assert "Lettre n° 2" in (message / "OutlookHeaders.txt").read_text()


def test_readpst_reads_every_folder_message_and_attachment(tmp_path):
    pst = written(tmp_path / "outlook.pst")
    (tmp_path / "out").mkdir()
    tool("readpst", "-D", "-e", "-8", "-b", "-q", "-o", tmp_path / "out", pst)
    top = tmp_path / "out" / "Mairie de Flavigny"
    files = list(top.rglob("*.eml"))
    assert Counter("/".join(f.parent.relative_to(top).parts) for f in files) == EXPECTED
    parsed = [email.message_from_bytes(f.read_bytes(), policy=email.policy.default) for f in files]
    attached = [(a.get_filename(), a.get_content()) for m in parsed for a in m.iter_attachments()]
    assert attached == [(BIG.filename, BIG.data)]
    assert sorted(str(m["Subject"]) for m in parsed) == [f"Lettre n° {n}" for n in range(1, 6)]
