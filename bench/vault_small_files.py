"""Vault small files measured at the servers' pace: Clocher vs `rclone serve webdav`.

`vault_webdav.py` uses rclone as the client, which sends one file at a time per transfer
and made both servers wait for it (31 files/s on both sides). Here a stdlib client
(http.client in BENCH_CONNECTIONS threads, 16 by default, each one keep-alive
connection) PUTs then GETs BENCH_SMALL_FILES files of 4 KiB (2,000 by default) into a
commune space, then times a PROPFIND Depth 1 of the folder. Clocher runs with the very
command line `clocher serve` gives its file server (granian; BENCH_DAV_SERVER=web:
gunicorn, the pages' server), on a demo database (SQLite, or the PostgreSQL of
CLOCHER_DATABASE_URL); the peer serves a plain folder.

The CPU time of each server (its main process and workers; rclone) and of the client is
read from /proc around each phase and printed with the rates, to show what is measured:
a server at the edge of the machine's cores, not a client that waits. The share of a
server's CPU spent in the kernel (`noyau`) is printed too: the peer's file creation
costs it from 0.26 to over 1 ms of CPU a PUT from one run to another, mostly there
(docs/performance.md), which moves the PUT ratio as much as our own server does. Rounds
(BENCH_ROUNDS, 3) alternate which side goes first, with new content each round, and
each figure is the best of its side, printed with the spread of its rounds and the load
average.

The GET phase reads the files BENCH_GET_PASSES times (5 by default) in one timed window:
one pass of 2,000 GETs lasts 0.2 to 0.4 s, over which either side's rate moved by ±25 %
from one round to the next (the peer's from 7,200 to 11,100 GET/s in one run); over five
passes the spread falls to a few per cent and the ratio stops depending on which side
drew the luckier fraction of a second (docs/performance.md, « GET over a longer window »).
Both sides serve the files from the page cache in every pass, and neither keeps a file's
content in memory between requests.

Each side keeps its files (Clocher its whole data dir, database included) on a new ext4
file system made for the run (`_fresh_fs.py`: a loop device, as root; BENCH_FRESH_FS=0 or
elsewhere a temporary folder): ext4's file creation slows down where many files were
deleted, and earlier runs of this bench delete tens of thousands.
"""

from __future__ import annotations

import base64
import http.client
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _fresh_fs import fresh_file_system  # noqa: E402
from vault_webdav import DAV_SERVER, SMALL_BYTES, prepare, servers  # noqa: E402

FILES = int(os.environ.get("BENCH_SMALL_FILES", "2000"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "16"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
GET_PASSES = int(os.environ.get("BENCH_GET_PASSES", "5"))
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(*pids: int) -> float:
    """User + system CPU of `pids` and their live children (the server's workers)."""
    return sum(cpu_split(*pids))


def cpu_split(*pids: int) -> tuple[float, float]:
    """(user, system) CPU seconds of `pids` and their live children: the system part is
    the kernel's work for the server (file creation, writes, flushes, sockets)."""
    user = system = 0.0
    every = list(pids)
    for pid in pids:
        try:
            every += [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        except OSError:
            continue
    for one in every:
        try:
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        user += int(fields[11]) / TICKS
        system += int(fields[12]) / TICKS
    return user, system


def client_cpu() -> float:
    times = os.times()
    return times.user + times.system


class Side:
    """One server as the client sees it: its port, its URL prefix, its headers."""

    def __init__(
        self, name: str, port: int, prefix: str, auth: str | None, pids: tuple[int, ...]
    ) -> None:
        self.name, self.port, self.prefix, self.pids = name, port, prefix, pids
        self.headers = {"Authorization": f"Basic {auth}"} if auth else {}

    def request(
        self, conn: http.client.HTTPConnection, method: str, path: str, body: bytes | None = None
    ) -> tuple[int, bytes]:
        headers = dict(self.headers)
        if method == "PROPFIND":
            headers["Depth"] = "1"
        conn.request(method, self.prefix + path, body=body, headers=headers)
        answer = conn.getresponse()
        return answer.status, answer.read()


def requests_of(method: str) -> int:
    """Requests in one phase: each file PUT once, read GET_PASSES times."""
    return FILES * (GET_PASSES if method == "GET" else 1)


def run_phase(side: Side, method: str, folder: str, contents: list[bytes]) -> float:
    """`requests_of(method)` requests through CONNECTIONS keep-alive connections, the
    files in turn; seconds of wall time."""
    errors: list[str] = []

    def work(offset: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", side.port, timeout=120)
        try:
            for n in range(offset, requests_of(method), CONNECTIONS):
                i = n % len(contents)
                path = f"/{folder}/f{i:05d}.txt"
                if method == "PUT":
                    status, _ = side.request(conn, "PUT", path, contents[i])
                    ok = status in (200, 201, 204)
                else:
                    status, body = side.request(conn, "GET", path)
                    ok = status == 200 and body == contents[i]
                if not ok:
                    errors.append(f"{side.name} {method} {path}: {status}")
                    return
        finally:
            conn.close()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(CONNECTIONS)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise SystemExit(errors[0])
    return time.perf_counter() - start


def propfind_ms(side: Side, folder: str, runs: int = 5) -> float:
    conn = http.client.HTTPConnection("127.0.0.1", side.port, timeout=120)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        status, _ = side.request(conn, "PROPFIND", f"/{folder}/")
        assert status == 207, status
        times.append((time.perf_counter() - start) * 1000)
    conn.close()
    return statistics.median(times)


def main() -> None:
    with fresh_file_system("clocher") as ours, fresh_file_system("pair") as theirs:
        measure(ours.path, theirs.path, ours.kind)


def measure(our_base: str, peer_dir: str, place: str) -> None:
    """Both servers' files on `our_base` and `peer_dir`; the figures printed."""
    bench = prepare(our_base)
    database = "PostgreSQL" if os.environ.get("CLOCHER_DATABASE_URL") else "SQLite"
    best: dict[tuple[str, str], tuple[float, float, float, float]] = {}
    rounds: dict[tuple[str, str], list[float]] = {}
    propfind: dict[str, float] = {}
    try:
        with servers(bench, Path(peer_dir)) as (clocher, writer, port, peer_port):
            peer_pid = _peer_pid(peer_port)
            token = base64.b64encode(f"{bench.login}:{bench.password}".encode()).decode()
            space = quote(bench.commune.name)
            sides = [
                Side("Clocher", port, f"/remote.php/dav/files/{quote(bench.login)}/{space}",
                     token, (clocher.pid, writer.pid)),
                Side("rclone serve", peer_port, "", None, (peer_pid,)),
            ]  # fmt: skip
            for turn in range(ROUNDS):
                contents = [os.urandom(SMALL_BYTES) for _ in range(FILES)]
                order = sides if turn % 2 == 0 else sides[::-1]
                for side in order:
                    conn = http.client.HTTPConnection("127.0.0.1", side.port, timeout=60)
                    status, _ = side.request(conn, "MKCOL", f"/t{turn}")
                    conn.close()
                    assert status == 201, (side.name, status)
                    for method in ("PUT", "GET"):
                        server_before, client_before = cpu_split(*side.pids), client_cpu()
                        seconds = run_phase(side, method, f"t{turn}", contents)
                        server_after = cpu_split(*side.pids)
                        figures = (
                            seconds,
                            sum(server_after) - sum(server_before),
                            client_cpu() - client_before,
                            server_after[1] - server_before[1],
                        )
                        key = (side.name, method)
                        rounds.setdefault(key, []).append(requests_of(method) / seconds)
                        if key not in best or seconds < best[key][0]:
                            best[key] = figures
                    propfind[side.name] = min(
                        propfind.get(side.name, float("inf")), propfind_ms(side, f"t{turn}")
                    )
    finally:
        from django.db import connections

        connections.close_all()  # the database's file system is unmounted next
    report(f"{database} ; fichiers : {place}, un par côté", best, rounds, propfind)


def _peer_pid(port: int) -> int:
    """rclone's pid, from the listening socket's owner (the bench starts it)."""
    command = ["ss", "-Hltnp", f"sport = :{port}"]
    found = subprocess.run(command, capture_output=True, text=True, check=True).stdout  # noqa: S603
    return int(found.split("pid=", 1)[1].split(",", 1)[0])


def report(
    database: str, best: dict[tuple[str, str], tuple[float, float, float, float]],
    rounds: dict[tuple[str, str], list[float]], propfind: dict[str, float],
) -> None:  # fmt: skip
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"{FILES} fichiers de 4 Kio (PUT une fois, GET {GET_PASSES} fois), {CONNECTIONS} "
        f"connexions keep-alive (http.client), meilleur de {ROUNDS} tours alternés ; "
        f"base {database} ; serveur "
        f"{'gunicorn (web)' if DAV_SERVER == 'web' else 'granian (fichiers)'} ; "
        f"charge {load} ; {os.cpu_count()} cœurs"
    )
    print(
        f"{'':<16}{'PUT/s':>9}{'CPU serv.':>11}{'noyau':>8}{'CPU client':>12}"
        f"{'GET/s':>9}{'CPU serv.':>11}{'noyau':>8}{'CPU client':>12}"
    )
    rates = {}
    for name in ("Clocher", "rclone serve"):
        cells = []
        for method in ("PUT", "GET"):
            seconds, server, client, kernel = best[(name, method)]
            rates[(name, method)] = requests_of(method) / seconds
            # CPU as cores busy over the phase: 2.0 is both cores of a 2-core machine;
            # "noyau": the share of the server's CPU spent in the kernel on its behalf.
            cells.append(
                f"{rates[(name, method)]:>9.0f}{server / seconds:>9.2f} c"
                f"{kernel / server if server else 0:>8.0%}{client / seconds:>10.2f} c"
            )
        print(f"{name:<16}{''.join(cells)}")
    spread = " ; ".join(
        f"{name} {method} {min(rounds[(name, method)]):.0f}–{max(rounds[(name, method)]):.0f}"
        for name in ("Clocher", "rclone serve")
        for method in ("PUT", "GET")
    )
    print(f"écart des tours (par seconde) : {spread}")
    print(
        f"ratio PUT {rates[('Clocher', 'PUT')] / rates[('rclone serve', 'PUT')]:.2f} "
        f"(objectif ≥ 0,3) ; ratio GET "
        f"{rates[('Clocher', 'GET')] / rates[('rclone serve', 'GET')]:.2f} (objectif ≥ 0,5)"
    )
    ours, theirs = propfind["Clocher"], propfind["rclone serve"]
    print(
        f"PROPFIND Depth 1 ({FILES} entrées) : Clocher {ours:.1f} ms, rclone serve "
        f"{theirs:.1f} ms, ratio (temps) {ours / theirs:.2f} (objectif ≤ 1,0)"
    )
    print(
        "CPU en cœurs occupés pendant la phase (c) : serveur = processus et enfants ; "
        "noyau = part de ce CPU passée dans le noyau (création et écriture des fichiers, "
        "vidages, sockets)."
    )


if __name__ == "__main__":
    main()
