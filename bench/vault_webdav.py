"""Vault over WebDAV: Clocher vs `rclone serve webdav` (a Go peer over a plain folder) vs
`cp` (the disk's limit), with the same client (rclone) in one run on the same disk.

Clocher runs as in production (the file server's command line of `clocher serve`, the
server HAProxy sends the sync clients to: granian, 2 workers × 8 threads; SQLite WAL;
BENCH_DAV_SERVER=web: gunicorn, the pages' server, instead), encrypting and chunking
everything; the peer stores plain files. Measured: a large file up and down, many small
files up and down, PROPFIND Depth 1 on the small-files folder, and the peak RSS of
Clocher's workers during the large upload and during the upload of a sparse file of more
than 4 GiB (Clocher only: memory must not grow with the size).

The transfers run in BENCH_ROUNDS rounds (default 3) that alternate which side goes
first, with new random content each round (Clocher would otherwise deduplicate what it
already holds), and each figure is the best of its side's rounds: on a shared machine a
burst of load then hits both sides alike instead of whichever phase it fell on. The
peak RSS is the highest of the rounds.

Sizes: BENCH_LARGE_MB (default 1024), BENCH_SMALL_FILES (default 10000, 4 KiB each),
BENCH_HUGE_MB (default 4097, 0 to skip).
"""

from __future__ import annotations

import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _mail import free_ports, wait_port  # noqa: E402
from _setup import django_with_fresh_db  # noqa: E402

LARGE_MB = int(os.environ.get("BENCH_LARGE_MB", "1024"))
SMALL_FILES = int(os.environ.get("BENCH_SMALL_FILES", "10000"))
HUGE_MB = int(os.environ.get("BENCH_HUGE_MB", "4097"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
SMALL_BYTES = 4096
# Which of Clocher's servers answers: "files" (granian, what HAProxy sends the sync
# clients to) or "web" (gunicorn, the pages' server, which serves the same paths).
DAV_SERVER = os.environ.get("BENCH_DAV_SERVER", "files")


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def rclone(env: dict[str, str], *args: str) -> None:
    subprocess.run(["rclone", *args, "--transfers", "4"], env=env, check=True)  # noqa: S603, S607


def _workers(master_pid: int) -> list[str]:
    return Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()


def reset_peak_rss(master_pid: int) -> None:
    """Start the workers' VmHWM afresh (Linux: `5` in clear_refs), so that the next
    peak is that of the next transfer, not of everything since they started."""
    for pid in _workers(master_pid):
        Path(f"/proc/{pid}/clear_refs").write_text("5")


def peak_rss(master_pid: int) -> int:
    """Largest VmHWM among the server's children (its workers)."""
    peaks = []
    for pid in _workers(master_pid):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peaks.append(int(line.split()[1]) * 1024)
    return max(peaks)


def propfind_ms(
    url: str, auth: tuple[str, str] | None, body: bytes | None = None, runs: int = 5
) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        answer = requests.request(
            "PROPFIND", url, auth=auth, headers={"Depth": "1"}, data=body, timeout=600
        )
        assert answer.status_code == 207, answer.status_code
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


@dataclass
class Bench:
    """A fresh database with one commune, its space and an agent's app password."""

    data_dir: str
    commune: Any
    login: str
    password: str


def prepare(base: str | None = None) -> Bench:
    """The demo commune and its agent, in a new data dir under `base` (else /tmp)."""
    if shutil.which("rclone") is None:
        sys.exit("rclone absent : make install")
    data_dir = django_with_fresh_db(base)
    from clocher.accounts.services import create_app_password
    from clocher.core import services as core
    from clocher.core.audit import Actor
    from clocher.core.models import Role
    from clocher.vault import services as vault

    actor = Actor(label="bench")
    core.ensure_operator(actor, "Département bench", "bench.test", "bench@bench.test", "21")
    commune = core.create_commune(actor, "21271", status="active")
    user = core.add_member(actor, commune, "bench@flavigny.test", Role.AGENT, invite=False)
    password = create_app_password(actor, user.membership.user, "bench").clear
    vault.ensure_commune_space(actor, commune)
    return Bench(data_dir, commune, user.membership.user.email, password)


@contextmanager
def servers(
    bench: Bench, peer_dir: Path
) -> Iterator[tuple[subprocess.Popen[bytes], subprocess.Popen[bytes], int, int]]:
    """Clocher's file server with the command line `clocher serve` gives it (2 workers;
    BENCH_DAV_SERVER=web: gunicorn, the web server, instead) and `rclone serve webdav`
    over `peer_dir`; (the server's main process, its small files' writer, Clocher's
    port, the peer's port)."""
    from clocher.core.supervisor import core_children
    from clocher.vault.dav.server import files_server
    from clocher.vault.dav.writer import writer_child

    port, peer_port = free_ports(2)
    env = {**os.environ, "CLOCHER_DATA_DIR": bench.data_dir}
    workers = int(os.environ.get("CLOCHER_WEB_WORKERS", "2"))  # as `clocher serve`
    if DAV_SERVER == "web":
        web = core_children(f"127.0.0.1:{port}", web_workers=workers)[0]
    else:
        web = files_server(f"127.0.0.1:{port}", workers)
    # The small files' writer beside the file server, as `clocher serve` starts it.
    writer = subprocess.Popen(  # noqa: S603
        writer_child().argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    clocher = subprocess.Popen(  # noqa: S603
        web.argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    peer = subprocess.Popen(  # noqa: S603
        ["rclone", "serve", "webdav", str(peer_dir), "--addr", f"127.0.0.1:{peer_port}"],  # noqa: S607
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        wait_port(port)
        wait_port(peer_port)
        yield clocher, writer, port, peer_port
    finally:
        for process in (clocher, peer, writer):
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)


def fresh_content(large: Path, small: Path) -> None:
    """New random bytes in the large file and the small ones (same names, same sizes)."""
    with large.open("wb") as out:
        for _ in range(LARGE_MB):
            out.write(os.urandom(1 << 20))
    small.mkdir(exist_ok=True)
    for i in range(SMALL_FILES):
        (small / f"f{i:05d}.txt").write_bytes(os.urandom(SMALL_BYTES))


def main() -> None:
    bench = prepare()
    work = Path(tempfile.mkdtemp(prefix="clocher-bench-vault-"))
    large, small = work / "grand.bin", work / "petits"

    peer_dir = work / "pair"
    peer_dir.mkdir()
    try:
        with servers(bench, peer_dir) as (clocher, _, port, peer_port):
            results, cp, huge_seconds, clocher_propfind, peer_propfind = measure(
                bench, work, large, small, clocher, port, peer_port
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(results, cp, huge_seconds, clocher_propfind, peer_propfind)


def measure(
    bench: Bench,
    work: Path,
    large: Path,
    small: Path,
    clocher: subprocess.Popen[bytes],
    port: int,
    peer_port: int,
) -> tuple[dict[str, dict[str, float]], dict[str, float], float, float, float]:
    login, password, commune = bench.login, bench.password, bench.commune
    obscure = ["rclone", "obscure", password]
    obscured = subprocess.run(obscure, capture_output=True, text=True, check=True)  # noqa: S603
    (work / "rclone.conf").touch()
    space = requests.utils.quote(commune.name)
    client_env = {
        "PATH": os.environ["PATH"],
        "HOME": str(work),
        "RCLONE_CONFIG": str(work / "rclone.conf"),
        "RCLONE_CONFIG_CLOCHER_TYPE": "webdav",
        "RCLONE_CONFIG_CLOCHER_URL": f"http://127.0.0.1:{port}/remote.php/dav/files/"
        f"{login}/{space}",
        "RCLONE_CONFIG_CLOCHER_VENDOR": "other",
        "RCLONE_CONFIG_CLOCHER_USER": login,
        "RCLONE_CONFIG_CLOCHER_PASS": obscured.stdout.strip(),
        "RCLONE_CONFIG_PAIR_TYPE": "webdav",
        "RCLONE_CONFIG_PAIR_URL": f"http://127.0.0.1:{peer_port}",
        "RCLONE_CONFIG_PAIR_VENDOR": "other",
    }
    results: dict[str, dict[str, float]] = {"clocher": {"rss": 0}, "pair": {}}
    cp: dict[str, float] = {}

    def keep_best(figures: dict[str, float], key: str, seconds: float) -> None:
        figures[key] = min(figures.get(key, seconds), seconds)

    for turn in range(ROUNDS):
        fresh_content(large, small)
        for name in ("clocher", "pair") if turn % 2 == 0 else ("pair", "clocher"):
            back, figures = work / f"retour-{name}-{turn}", results[name]
            if name == "clocher":
                reset_peak_rss(clocher.pid)
            up = timed(lambda n=name, t=turn: rclone(client_env, "copy", str(large), f"{n}:g{t}"))
            keep_best(figures, "grand ↑", up)
            if name == "clocher":
                figures["rss"] = max(figures["rss"], peak_rss(clocher.pid))
            down = timed(
                lambda n=name, t=turn, b=back: rclone(client_env, "copy", f"{n}:g{t}", str(b / "g"))
            )
            keep_best(figures, "grand ↓", down)
            up = timed(lambda n=name, t=turn: rclone(client_env, "copy", str(small), f"{n}:p{t}"))
            keep_best(figures, "petits ↑", up)
            down = timed(
                lambda n=name, t=turn, b=back: rclone(client_env, "copy", f"{n}:p{t}", str(b / "p"))
            )
            keep_best(figures, "petits ↓", down)
            shutil.rmtree(back)
        cp_dir = work / f"cp-{turn}"
        cp_dir.mkdir()
        keep_best(cp, "grand ↑", timed(lambda d=cp_dir: shutil.copy(large, d / "g")))
        keep_best(cp, "petits ↑", timed(lambda d=cp_dir: shutil.copytree(small, d / "p")))
        shutil.rmtree(cp_dir)
    huge_seconds = 0.0
    if HUGE_MB:
        huge = work / "creux.bin"
        with huge.open("wb") as out:
            out.truncate(HUGE_MB << 20)
        reset_peak_rss(clocher.pid)
        huge_seconds = timed(lambda: rclone(client_env, "copy", str(huge), "clocher:h"))
        results["clocher"]["rss huge"] = peak_rss(clocher.pid)
    clocher_propfind = propfind_ms(
        f"http://127.0.0.1:{port}/remote.php/dav/files/{login}/{space}/p0/", (login, password)
    )
    peer_propfind = propfind_ms(f"http://127.0.0.1:{peer_port}/p0/", None)
    return results, cp, huge_seconds, clocher_propfind, peer_propfind


def report(
    results: dict[str, dict[str, float]],
    cp: dict[str, float],
    huge_seconds: float,
    clocher_propfind: float,
    peer_propfind: float,
) -> None:
    print(
        f"Fichier de {LARGE_MB} Mio, {SMALL_FILES} fichiers de 4 Kio ; client rclone, "
        f"4 transferts ; meilleur de {ROUNDS} tours alternés"
    )
    print(f"{'mesure':<12}{'Clocher':>12}{'rclone serve':>14}{'cp':>10}{'ratio':>8}")
    for key, volume in (
        ("grand ↑", LARGE_MB),
        ("grand ↓", LARGE_MB),
        ("petits ↑", SMALL_FILES),
        ("petits ↓", SMALL_FILES),
    ):
        unit = "Mio/s" if key.startswith("grand") else "fich/s"
        ours, theirs = volume / results["clocher"][key], volume / results["pair"][key]
        disk = f"{volume / cp[key]:.0f}" if key in cp else "-"
        print(f"{key:<12}{ours:>8.1f} {unit:<4}{theirs:>9.1f}{disk:>10}{ours / theirs:>8.2f}")
    print(
        f"PROPFIND Depth 1 ({SMALL_FILES} entrées) : Clocher {clocher_propfind:.0f} ms, "
        f"rclone serve {peer_propfind:.0f} ms, ratio (temps) {clocher_propfind / peer_propfind:.2f}"
    )
    rss = results["clocher"]["rss"] / 2**20
    print(f"RSS max d'un worker pendant l'envoi du grand fichier : {rss:.0f} Mio")
    if HUGE_MB:
        rss = results["clocher"]["rss huge"] / 2**20
        print(
            f"Fichier creux de {HUGE_MB} Mio envoyé en {huge_seconds:.0f} s ; "
            f"RSS max d'un worker pendant cet envoi : {rss:.0f} Mio"
        )


if __name__ == "__main__":
    main()
