"""A person's data export (`clocher user export`): N mail messages in their Maildir and
M files in their personal vault space, written to one zip by Clocher (decrypting the
vault's chunks, adding the account, awareness and journal files) vs Info-ZIP's `zip -r`
of the same messages and the same files already in plain form on disk (what an admin
would do by hand, without the decryption or the rest). Prints the wall and CPU seconds of
each side, the load average and their ratio.

Usage: python bench/governance_export.py [MESSAGES] [FILES]
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from _setup import django_with_fresh_db  # noqa: E402

django_with_fresh_db()

from clocher.core import services as core  # noqa: E402
from clocher.core.audit import Actor  # noqa: E402
from clocher.core.models import CommuneStatus, Role  # noqa: E402
from clocher.governance import subject  # noqa: E402
from clocher.mail import services as mail  # noqa: E402
from clocher.vault import services as vault  # noqa: E402

ACTOR = Actor(label="bench")


def message(i: int) -> bytes:
    body = f"Bonjour,\r\nCompte rendu n°{i} du conseil municipal.\r\n" * 40
    return f"Subject: message {i}\r\nFrom: a@b.test\r\n\r\n{body}".encode()


def main() -> None:
    messages = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    files = int(sys.argv[2]) if len(sys.argv) > 2 else 200
    core.ensure_operator(ACTOR, "Département", "communes.cotedor.fr", "n@cotedor.fr", "21")
    commune = core.create_commune(ACTOR, "21271", status=CommuneStatus.ACTIVE)
    user = core.add_member(ACTOR, commune, "agent@flavigny.test", Role.AGENT, invite=False)
    agent = user.membership.user
    box = mail.create_mailbox(ACTOR, commune, "agent@communes.cotedor.fr", user=agent)
    cur = mail.mailbox_home(box, mail.default_vmail_dir()) / "Maildir" / "cur"
    cur.mkdir(parents=True, exist_ok=True)
    plain = Path(tempfile.mkdtemp(prefix="bench-plain-"))
    (plain / "messagerie").mkdir()
    (plain / "coffre").mkdir()
    for i in range(messages):
        data = message(i)
        (cur / f"{i}.bench:2,S").write_bytes(data)
        (plain / "messagerie" / f"{i}.bench:2,S").write_bytes(data)
    root = vault.root_of(vault.ensure_personal_space(commune, agent))
    for i in range(files):
        data = os.urandom(20_000) + b"x" * 80_000  # 100 kB, partly compressible
        vault.write_bytes(Actor(user=agent), root, f"document-{i}.bin", data)
        (plain / "coffre" / f"document-{i}.bin").write_bytes(data)

    out = Path(tempfile.mkdtemp(prefix="bench-out-"))
    cpu, wall = time.process_time(), time.perf_counter()
    counts = subject.export_user(ACTOR, agent, out / "clocher.zip")
    ours_wall, ours_cpu = time.perf_counter() - wall, time.process_time() - cpu
    assert (counts["messages"], counts["fichiers"]) == (messages, files), counts

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter()
    zip_program = shutil.which("zip") or "/usr/bin/zip"
    subprocess.run([zip_program, "-q", "-r", str(out / "zip.zip"), "."], cwd=plain, check=True)  # noqa: S603
    peer_wall = time.perf_counter() - wall
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    peer_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)

    load = os.getloadavg()
    size = (out / "clocher.zip").stat().st_size / 1e6
    peer_size = (out / "zip.zip").stat().st_size / 1e6
    print(f"{messages} messages, {files} fichiers de 100 ko ; charge {load[0]:.2f} {load[1]:.2f}")
    print(f"clocher user export : {ours_wall:.2f} s ({ours_cpu:.2f} s CPU), {size:.1f} Mo")
    print(f"zip -r (en clair)   : {peer_wall:.2f} s ({peer_cpu:.2f} s CPU), {peer_size:.1f} Mo")
    print(f"rapport (temps Clocher / zip) : {ours_wall / peer_wall:.2f}x mur, "
          f"{ours_cpu / max(peer_cpu, 1e-9):.2f}x CPU")  # fmt: skip


if __name__ == "__main__":
    main()
