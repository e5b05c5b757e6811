"""A real S3 server for the tests: Ceph's RADOS Gateway (Debian's `radosgw`) on a
single-node cluster (one monitor, one memory-backed OSD), started in a temporary
directory on loopback ports and stopped afterwards."""

from __future__ import annotations

import secrets
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.mail.conftest import free_ports

# Ceph's clients default to cephx; this throw-away cluster runs without authentication
# (loopback only), which radosgw accepts only with the message modes set explicitly.
NO_AUTH = [
    "--auth-client-required",
    "none",
    "--ms-mon-client-mode",
    "crc",
    "--ms-client-mode",
    "crc",
]


@dataclass
class S3Server:
    endpoint: str
    access_key: str
    secret_key: str


def use_fresh_bucket(settings, server: S3Server) -> None:
    """Point the vault at `server`, in a bucket of its own for this test."""
    settings.VAULT_BACKEND = "s3"
    settings.VAULT_S3_ENDPOINT = server.endpoint
    settings.VAULT_S3_ACCESS_KEY = server.access_key
    settings.VAULT_S3_SECRET_KEY = server.secret_key
    settings.VAULT_S3_BUCKET = f"coffre-{uuid.uuid4().hex[:12]}"


def _config(root: Path, mon_port: int) -> Path:
    conf = root / "ceph.conf"
    conf.write_text(
        f"""[global]
fsid = {uuid.uuid4()}
mon host = 127.0.0.1:{mon_port}
public addr = 127.0.0.1
ms bind ipv6 = false
auth cluster required = none
auth service required = none
auth client required = none
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
mon allow pool size one = true
mon warn on pool no redundancy = false
mon data avail warn = 1
mon max pg per osd = 1000
osd objectstore = memstore
memstore device bytes = 1073741824
mon data = {root}/mon/$cluster-$id
osd data = {root}/osd/$cluster-$id
run dir = {root}/run
log file = {root}/log/$name.log
admin socket = {root}/run/$name.asok
keyring = {root}/keyring
"""
    )
    for sub in ("mon/ceph-a", "osd/ceph-0", "run", "log"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    return conf


def _wait_http(port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("radosgw n'a pas ouvert son port")


@contextmanager
def running(root: Path) -> Iterator[S3Server]:
    mon_port, rgw_port = free_ports(2)
    conf = _config(root, mon_port)
    base = ["-c", str(conf)]
    processes: list[subprocess.Popen[bytes]] = []

    def run(*argv: str) -> str:
        return subprocess.run(  # noqa: S603
            [*argv], capture_output=True, text=True, check=True, timeout=120
        ).stdout

    def start(*argv: str) -> None:
        processes.append(
            subprocess.Popen(  # noqa: S603
                [*argv], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
        )

    try:
        monmap = root / "monmap"
        fsid = next(
            line.split("=")[1].strip()
            for line in conf.read_text().splitlines()
            if line.startswith("fsid")
        )
        run(
            "monmaptool",
            "--create",
            "--add",
            "a",
            f"127.0.0.1:{mon_port}",
            "--fsid",
            fsid,
            str(monmap),
        )
        run("ceph-mon", *base, "--mkfs", "-i", "a", "--monmap", str(monmap))
        start("ceph-mon", *base, "-i", "a", "-f")
        osd_id = run("ceph", *base, "--connect-timeout", "30", "osd", "create").strip()
        run("ceph-osd", *base, "-i", osd_id, "--mkfs")
        start("ceph-osd", *base, "-i", osd_id, "-f")
        start(
            "radosgw", *base, "-n", "client.admin", "-f", *NO_AUTH,
            "--rgw-frontends", f"beast endpoint=127.0.0.1:{rgw_port}",
        )  # fmt: skip
        _wait_http(rgw_port, time.monotonic() + 90)
        access, secret = "CLOCHER" + secrets.token_hex(6).upper(), secrets.token_urlsafe(24)
        run(
            "radosgw-admin", *base, "-n", "client.admin", *NO_AUTH, "user", "create",
            "--uid", "clocher", "--display-name", "Clocher", "--access-key", access,
            "--secret-key", secret,
        )  # fmt: skip
        yield S3Server(f"http://127.0.0.1:{rgw_port}", access, secret)
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
