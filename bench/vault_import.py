"""Document import: `imports.import_documents` of a folder tree and of the same tree
zipped (BENCH_IMPORT_FILES small files, 10,000 by default, 4 KiB, 100 per folder) vs
`cp -r` of the tree on the same disk (a new ext4 file system made for the run,
`_fresh_fs.py`), in one run; then a rerun of the folder (every file
compared, nothing written). SQLite, or the PostgreSQL of CLOCHER_DATABASE_URL.
The load average is printed with the figures, and each side's CPU seconds: `cp`'s (its
process, from getrusage), the import's (this process, all its threads, plus on
PostgreSQL the server backend serving it): on a shared machine CPU time is the fairer
figure, the wall time depends on what the other processes leave.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _fresh_fs import fresh_file_system  # noqa: E402
from shield_events import _backend_cpu  # noqa: E402
from vault_webdav import SMALL_BYTES, prepare  # noqa: E402

FILES = int(os.environ.get("BENCH_IMPORT_FILES", "10000"))
PER_FOLDER = 100


def main() -> None:
    with fresh_file_system("import") as place:
        measure(place.path, place.kind)


def measure(base: str, place: str) -> None:
    """Both sides (`cp -r` and the imports, the database too) on `base`."""
    bench = prepare(base)
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
    load_start = " ".join(f"{x:.2f}" for x in os.getloadavg())
    try:
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(["cp", "-r", str(tree), str(work / "copie")], check=True)  # noqa: S603, S607
        cp = time.perf_counter() - start
        copied = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run(["sync"], check=True)  # noqa: S607 - cp's data on disk, as the vault's
        cp_sync = time.perf_counter() - start
        synced = resource.getrusage(resource.RUSAGE_CHILDREN)
        # sync's CPU is the kernel writing back every dirty page of the machine (the other
        # processes' too): shown apart, the ratio is against cp's own.
        cp_cpu = copied.ru_utime + copied.ru_stime - children.ru_utime - children.ru_stime
        sync_cpu = synced.ru_utime + synced.ru_stime - copied.ru_utime - copied.ru_stime
        figures = {}
        for label, path, into in (
            ("dossier", tree, "d"),
            ("zip", archive, "z"),
            ("relance (dossier)", tree, "d"),
        ):
            folder = imports.target_folder(actor, bench.commune.insee, into)
            cpu, backend, start = time.process_time(), _backend_cpu(), time.perf_counter()
            report = imports.import_documents(actor, folder, path)
            wall = time.perf_counter() - start
            figures[label] = (wall, time.process_time() - cpu, _backend_cpu() - backend)
            assert report.imported + report.unchanged == FILES, report.as_dict()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    database = "PostgreSQL" if os.environ.get("CLOCHER_DATABASE_URL") else "SQLite"
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"Import de {FILES} fichiers de 4 Kio ; base {database} ; fichiers : {place} ; "
        f"charge au début {load_start}, à la fin {load}"
    )
    print(
        f"cp -r : {cp:.2f} s ({FILES / cp:.0f} fichiers/s, CPU {cp_cpu:.2f} s) ; "
        f"cp -r + sync : {cp_sync:.2f} s (CPU de sync {sync_cpu:.2f} s)"
    )
    for label, (seconds, python, server) in figures.items():
        cpu = python + server
        print(
            f"{label:<18} {seconds:6.2f} s  {FILES / seconds:7.0f} fichiers/s  "
            f"ratio / cp {cp / seconds:.2f}  CPU {cpu:.2f} s"
            + (f" (Python {python:.2f}, serveur {server:.2f})" if server else "")
            + f"  ratio CPU / cp {cp_cpu / cpu:.2f}"
        )


if __name__ == "__main__":
    main()
