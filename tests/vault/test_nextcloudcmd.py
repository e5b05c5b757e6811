"""The stock Nextcloud sync client (`nextcloudcmd`, Debian's nextcloud-desktop-cmd)
against the vault: both directions, renames and deletions on each side, a conflict (both
versions kept), and a 200 MB file sent through chunked upload."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from pathlib import Path

import pytest

from clocher.vault import services
from clocher.vault.models import Node, UploadSession
from tests.vault.conftest import ACTOR

pytestmark = [
    pytest.mark.django_db(transaction=True),
]


def sync(dav_user, local: Path, space: str) -> str:
    try:
        result = _run_client(dav_user, local, space)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"nextcloudcmd stuck: {(exc.stderr or b'').decode(errors='replace')[-4000:]}")
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-4000:]
    return log


def _run_client(dav_user, local: Path, space: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        [  # noqa: S607
            "nextcloudcmd",
            "--non-interactive",
            "--max-sync-retries",
            "1",
            "-u",
            dav_user.user.email,
            "-p",
            dav_user.password,
            "--path",
            f"/{space}",
            str(local),
            dav_user.base,
        ],
        env={"HOME": str(local.parent), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
        capture_output=True,
        text=True,
        timeout=SYNC_TIMEOUT,
        check=False,
    )


SYNC_TIMEOUT = int(os.environ.get("NEXTCLOUDCMD_TIMEOUT", "300"))


def server_files(space_root: Node) -> dict[str, bytes]:
    found = {}
    for node in Node.objects.filter(
        space=space_root.space, is_folder=False, deleted_at__isnull=True
    ):
        if all(a.deleted_at is None for a in services.ancestors(node)):
            found[services.path_of(node)] = b"".join(services.iter_content(node))
    return found


def local_files(local: Path) -> dict[str, bytes]:
    return {
        "/" + str(p.relative_to(local)): p.read_bytes()
        for p in local.rglob("*")
        if p.is_file() and not p.name.startswith((".sync_", "._sync_", ".owncloudsync"))
    }


def test_nextcloudcmd_syncs_both_ways_and_keeps_both_sides_of_a_conflict(
    dav_user, commune_a, tmp_path
):
    space = commune_a.name
    root = services.root_of(services.ensure_commune_space(ACTOR, commune_a))
    conseil = services.create_folder(ACTOR, root, "Conseil")
    services.write_bytes(ACTOR, conseil, "ordre du jour.txt", b"Point 1\n")
    local = tmp_path / "poste"
    local.mkdir()

    # Server → local, then local → server.
    sync(dav_user, local, space)
    assert (local / "Conseil" / "ordre du jour.txt").read_bytes() == b"Point 1\n"
    (local / "Budget").mkdir()
    (local / "Budget" / "primitif 2027.csv").write_bytes(b"chapitre;montant\n011;1200\n")
    (local / "Conseil" / "ordre du jour.txt").write_bytes(b"Point 1\nPoint 2\n")
    sync(dav_user, local, space)
    assert server_files(root) == local_files(local)

    # Rename and delete on the local side.
    (local / "Budget" / "primitif 2027.csv").rename(local / "Budget" / "BP 2027.csv")
    (local / "Conseil" / "ordre du jour.txt").unlink()
    sync(dav_user, local, space)
    assert set(server_files(root)) == {"/Budget/BP 2027.csv"}

    # Create, rename and delete on the server side.
    budget = services.child(root, "Budget")
    bp = services.child(budget, "BP 2027.csv")
    services.move(ACTOR, bp, budget, "BP 2027 voté.csv")
    services.write_bytes(ACTOR, conseil, "PV.txt", "Procès-verbal\n".encode())
    sync(dav_user, local, space)
    assert local_files(local) == server_files(root)
    assert (local / "Budget" / "BP 2027 voté.csv").exists()
    services.trash(ACTOR, services.child(conseil, "PV.txt"))
    sync(dav_user, local, space)
    assert not (local / "Conseil" / "PV.txt").exists()

    # Both sides edit the same file: both versions survive, on both sides.
    csv = local / "Budget" / "BP 2027 voté.csv"
    csv.write_bytes(b"version du poste\n")
    services.write_bytes(ACTOR, budget, "BP 2027 voté.csv", b"version du serveur\n")
    sync(dav_user, local, space)
    sync(dav_user, local, space)  # the conflict copy goes up on the next run
    contents = set(local_files(local).values())
    assert {b"version du poste\n", b"version du serveur\n"} <= contents
    on_server = server_files(root)
    assert {b"version du poste\n", b"version du serveur\n"} <= set(on_server.values())
    assert any("conflicted copy" in path or "conflit" in path for path in on_server)


def test_nextcloudcmd_sends_a_200_mb_file_in_chunks(dav_user, commune_a, tmp_path):
    space = commune_a.name
    root = services.root_of(services.ensure_commune_space(ACTOR, commune_a))
    local = tmp_path / "poste"
    local.mkdir()
    big = local / "plans cadastre.bin"
    block = os.urandom(1 << 20)
    with big.open("wb") as out:
        for i in range(200):
            out.write(block[: (1 << 20) - 1] + bytes([i]))  # 200 distinct chunks
    log = sync(dav_user, local, space)
    node = services.child(root, "plans cadastre.bin")
    assert node is not None and node.size == big.stat().st_size
    # Sent in parts through a chunked-upload session, then assembled by MOVE of `.file`.
    assert '"MKCOL" "http' in log and "/remote.php/dav/uploads/" in log
    assert re.search(r'"MOVE" "http[^"]*/remote\.php/dav/uploads/[^"]*/\.file"', log)
    assert len(re.findall(r"PUT of \"http[^\"]*/dav/uploads/", log)) >= 2
    assert UploadSession.objects.count() == 0  # assembled, parts gone
    assert node.current.sha256 == hashlib.sha256(big.read_bytes()).hexdigest()
    # and it comes back intact
    fresh = tmp_path / "autre poste"
    fresh.mkdir()
    sync(dav_user, fresh, space)
    assert (fresh / "plans cadastre.bin").read_bytes() == big.read_bytes()
