"""PROPFIND Depth 1 on a large folder: Clocher vs `rclone serve webdav` (a Go peer over a
plain folder), the same entries on both sides, in one run.

The folders are filled directly (Clocher's through its services, the peer's on disk),
so the figure can be taken without the small-files transfer of `vault_webdav.py`.
Measured: an empty body (allprop, what `vault_webdav.py` sends) and the property list
the Nextcloud desktop client sends, median of BENCH_RUNS (7).

Size: BENCH_ENTRIES (default 10000 files of 4 KiB).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from vault_webdav import SMALL_BYTES, prepare, propfind_ms, servers  # noqa: E402

ENTRIES = int(os.environ.get("BENCH_ENTRIES", "10000"))
RUNS = int(os.environ.get("BENCH_RUNS", "7"))
NEXTCLOUD_BODY = b"""<?xml version="1.0"?>
<d:propfind xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns" xmlns:nc="http://nextcloud.org/ns">
<d:prop><d:resourcetype/><d:getlastmodified/><d:getcontentlength/><d:getetag/>
<oc:id/><oc:downloadURL/><oc:dDC/><oc:permissions/><oc:size/><nc:is-encrypted/>
<oc:share-types/><nc:has-preview/></d:prop></d:propfind>"""


def main() -> None:
    bench = prepare()
    from clocher.core.audit import Actor
    from clocher.vault import services as vault

    actor = Actor(label="bench")
    root = vault.root_of(vault.ensure_commune_space(actor, bench.commune))
    folder = vault.create_folder(actor, root, "p")
    work = Path(tempfile.mkdtemp(prefix="clocher-bench-propfind-"))
    peer_dir = work / "pair"
    (peer_dir / "p").mkdir(parents=True)
    for i in range(ENTRIES):
        content = os.urandom(SMALL_BYTES)
        vault.write_bytes(actor, folder, f"f{i:05d}.txt", content)
        (peer_dir / "p" / f"f{i:05d}.txt").write_bytes(content)
    try:
        with servers(bench, peer_dir) as (_, _writer, port, peer_port):
            space = requests.utils.quote(bench.commune.name)
            ours = f"http://127.0.0.1:{port}/remote.php/dav/files/{bench.login}/{space}/p/"
            theirs = f"http://127.0.0.1:{peer_port}/p/"
            auth = (bench.login, bench.password)
            figures = {
                label: (
                    propfind_ms(ours, auth, body, RUNS),
                    propfind_ms(theirs, None, body, RUNS),
                )
                for label, body in (("allprop", None), ("Nextcloud", NEXTCLOUD_BODY))
            }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"PROPFIND Depth 1 sur {ENTRIES} entrées, médiane de {RUNS}")
    for label, (clocher, peer) in figures.items():
        print(
            f"{label:<10} Clocher {clocher:6.0f} ms   rclone serve {peer:6.0f} ms   "
            f"ratio (temps) {clocher / peer:.2f}"
        )


if __name__ == "__main__":
    main()
