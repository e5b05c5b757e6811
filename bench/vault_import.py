"""Document import: `imports.import_documents` of a folder tree and of the same tree
zipped (BENCH_IMPORT_FILES small files, 10,000 by default, 4 KiB, 100 per folder) vs
`cp -r` of the tree on the same disk, in one run; then a rerun of the folder (every file
compared, nothing written). SQLite, or the PostgreSQL of CLOCHER_DATABASE_URL.
The load average is printed with the figures.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from vault_webdav import SMALL_BYTES, prepare  # noqa: E402

FILES = int(os.environ.get("BENCH_IMPORT_FILES", "10000"))
PER_FOLDER = 100


def main() -> None:
    bench = prepare()
    from clocher.core.audit import Actor
    from clocher.vault import imports, services

    actor = Actor(label="bench")
    services.root_of(services.ensure_commune_space(actor, bench.commune))
    work = Path(tempfile.mkdtemp(prefix="clocher-bench-import-", dir=bench.data_dir))
    tree = work / "arbre"
    archive = work / "arbre.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        for i in range(FILES):
            path = tree / f"d{i // PER_FOLDER:03d}" / f"f{i:05d}.txt"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(os.urandom(SMALL_BYTES))
            out.write(path, str(path.relative_to(tree)))
    try:
        start = time.perf_counter()
        subprocess.run(["cp", "-r", str(tree), str(work / "copie")], check=True)  # noqa: S603, S607
        cp = time.perf_counter() - start
        subprocess.run(["sync"], check=True)  # noqa: S607 - cp's data on disk, as the vault's
        cp_sync = time.perf_counter() - start
        figures = {}
        for label, path, into in (
            ("dossier", tree, "d"),
            ("zip", archive, "z"),
            ("relance (dossier)", tree, "d"),
        ):
            folder = imports.target_folder(actor, bench.commune.insee, into)
            start = time.perf_counter()
            report = imports.import_documents(actor, folder, path)
            figures[label] = time.perf_counter() - start
            assert report.imported + report.unchanged == FILES, report.as_dict()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    database = "PostgreSQL" if os.environ.get("CLOCHER_DATABASE_URL") else "SQLite"
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"Import de {FILES} fichiers de 4 Kio ; base {database} ; charge {load}")
    print(f"cp -r : {cp:.2f} s ({FILES / cp:.0f} fichiers/s) ; cp -r + sync : {cp_sync:.2f} s")
    for label, seconds in figures.items():
        print(
            f"{label:<18} {seconds:6.2f} s  {FILES / seconds:7.0f} fichiers/s  "
            f"ratio / cp {cp / seconds:.2f}"
        )


if __name__ == "__main__":
    main()
