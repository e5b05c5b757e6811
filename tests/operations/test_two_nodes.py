"""More than one node (issue 18): two `clocher serve --roles web,tasks` nodes, each with
its own data dir and port, on one PostgreSQL database, one S3 bucket (the test radosgw)
and one master key — what the production profile runs behind HAProxy (deploy/haproxy/).

A file put through node 1 reads back through node 2; a task is run by exactly one node;
node 1 killed (SIGKILL of every process, as a power cut) in the middle of an upload leaves
no half file visible from node 2, which keeps serving."""

from __future__ import annotations

import base64
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote
from xml.etree import ElementTree

import pytest
import requests
from django.db import connection

from clocher.accounts.services import create_app_password
from clocher.shield import services as shield_services
from clocher.storage.blobstore import store
from clocher.vault import services
from clocher.vault.dav.app import DAV_PREFIX
from tests.mail.conftest import free_ports
from tests.vault import rgw

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="deux nœuds partagent une base : PostgreSQL seulement (la passe PostgreSQL de "
        "`make test`, CLOCHER_DATABASE_URL) ; SQLite est la base d'un seul nœud",
    ),
]

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Node:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path


def _database_url() -> str:
    """The test database itself (pytest-django's `test_…`), which the nodes share."""
    db = connection.settings_dict
    auth = db["USER"] + (f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _tree(pid: int) -> list[int]:
    """`pid` and all its descendants, from /proc (children run in their own sessions)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(stat.parent.name))
    found = [pid]
    for each in found:
        found.extend(children.get(each, []))
    return found


def _kill_tree(process: subprocess.Popen[bytes]) -> None:
    for pid in _tree(process.pid):
        with contextlib.suppress(ProcessLookupError):  # already gone
            os.kill(pid, signal.SIGKILL)
    process.wait(timeout=30)


def _wait_ready(node: Node, deadline: float) -> None:
    while time.monotonic() < deadline:
        assert node.process.poll() is None, node.log.read_text()[-3000:]
        try:
            if requests.get(f"{node.url}/healthz", timeout=5).status_code == 200:
                return
        except requests.RequestException:  # not listening yet, or still loading
            pass
        time.sleep(0.3)
    raise AssertionError(f"{node.name} ne répond pas :\n{node.log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory):
    with rgw.running(tmp_path_factory.mktemp("ceph")) as server:
        yield server


@pytest.fixture
def shared(settings, s3_server, tmp_path) -> dict[str, str]:
    """What the nodes share: database, bucket, master key, secret key."""
    rgw.use_fresh_bucket(settings, s3_server)
    settings.VAULT_MASTER_KEY = base64.b64encode(os.urandom(32)).decode()
    store().ensure_bucket()  # type: ignore[attr-defined]
    # The boxes' signing key, made once and mounted by every node (a node with a key of
    # its own refuses to start: docs/operations.md).
    settings.SHIELD_CENTRAL_KEY_FILE = str(tmp_path / "partage" / "central-ed25519.key")
    shield_services.signing_key()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOCHER_")}
    env.update(
        PYTHONPATH=str(REPO),  # the nodes' workers import tests.operations.node_tasks
        CLOCHER_DATABASE_URL=_database_url(),
        CLOCHER_SECRET_KEY=uuid.uuid4().hex * 2,
        CLOCHER_VAULT_BACKEND="s3",
        CLOCHER_VAULT_S3_ENDPOINT=s3_server.endpoint,
        CLOCHER_VAULT_S3_BUCKET=settings.VAULT_S3_BUCKET,
        CLOCHER_VAULT_S3_ACCESS_KEY=s3_server.access_key,
        CLOCHER_VAULT_S3_SECRET_KEY=s3_server.secret_key,
        CLOCHER_VAULT_MASTER_KEY=settings.VAULT_MASTER_KEY,
        CLOCHER_SMTP_HOST="file",
        # Files and tasks here; a web node's webmail (php-fpm, which must traverse to the
        # data dir, not pytest's private tmp_path) is tests/groupware/test_webmail_front.py.
        CLOCHER_WEBMAIL_ENABLED="0",
        CLOCHER_SHIELD_CENTRAL_KEY_FILE=settings.SHIELD_CENTRAL_KEY_FILE,
    )
    return env


@pytest.fixture
def nodes(shared, tmp_path) -> Iterator[list[Node]]:
    started: list[Node] = []
    try:
        ports = free_ports(4)  # each node's web and file servers
        for name, port, files in zip(("nœud 1", "nœud 2"), ports[:2], ports[2:], strict=True):
            data = tmp_path / f"node{len(started) + 1}"
            data.mkdir()
            log = data / "serve.log"
            env = {
                **shared,
                "CLOCHER_DATA_DIR": str(data),
                "CLOCHER_BIND": f"127.0.0.1:{port}",
                "CLOCHER_FILES_BIND": f"127.0.0.1:{files}",
                "CLOCHER_BASE_URL": f"http://127.0.0.1:{port}",
            }
            with log.open("wb") as out:
                process = subprocess.Popen(  # noqa: S603
                    [sys.executable, "-m", "clocher.cli", "serve", "--roles", "web,tasks"]
                    + ["--web-workers", "1", "--task-workers", "1"],
                    env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                )  # fmt: skip
            started.append(Node(name, f"http://127.0.0.1:{port}", process, log))
        deadline = time.monotonic() + 90  # a loaded CI machine loads Django slowly
        for node in started:
            _wait_ready(node, deadline)
        yield started
    finally:
        for node in started:
            if node.process.poll() is None:
                node.process.send_signal(signal.SIGTERM)
        for node in started:
            try:
                node.process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                _kill_tree(node.process)


@pytest.fixture
def account(nodes, admin_a, commune_a) -> tuple[tuple[str, str], str]:
    """An app password of commune A's admin and the DAV URL of A's shared folder."""
    from clocher.core.audit import Actor

    services.ensure_commune_space(Actor(label="tests"), commune_a)
    password = create_app_password(Actor(label="tests"), admin_a, "tests").clear
    return (admin_a.email, password), f"{DAV_PREFIX}/{admin_a.email}/{quote(commune_a.name)}/"


def _names(base: str, folder: str, auth: tuple[str, str]) -> set[str]:
    answer = requests.request(
        "PROPFIND", base + folder, auth=auth, headers={"Depth": "1"}, timeout=60
    )
    assert answer.status_code == 207, answer.text
    hrefs = ElementTree.fromstring(answer.content).iter("{DAV:}href")
    return {unquote(h.text.rstrip("/").rsplit("/", 1)[-1]) for h in hrefs if h.text}


def test_two_nodes_share_files_tasks_and_survive_a_crash(nodes, account, shared, tmp_path):
    one, two = nodes
    auth, folder = account

    # A file put through node 1 reads back, identical, through node 2.
    data = os.urandom(9 * 1024 * 1024 + 7)  # three chunks in the shared bucket
    put = requests.put(one.url + folder + "plan.bin", data=data, auth=auth, timeout=120)
    assert put.status_code == 201, put.text
    back = requests.get(two.url + folder + "plan.bin", auth=auth, timeout=120)
    assert back.status_code == 200 and back.content == data

    # Tasks on the shared database queue: each one run by exactly one node.
    runs = tmp_path / "runs.txt"
    count = 20
    enqueue = subprocess.run(  # noqa: S603
        [sys.executable, "-c", "import django; django.setup()\n"
         "from tests.operations.node_tasks import record_run\n"
         f"for n in range({count}): record_run.enqueue({str(runs)!r}, n)"],
        env={**shared, "CLOCHER_DATA_DIR": str(tmp_path / "client"),
             "DJANGO_SETTINGS_MODULE": "clocher.settings"},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert enqueue.returncode == 0, enqueue.stderr[-2000:]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        lines = runs.read_text().splitlines() if runs.exists() else []
        if len(lines) >= count:
            break
        time.sleep(0.3)
    time.sleep(1.5)  # a second run of any task (the defect) would have landed by now
    lines = runs.read_text().splitlines()
    assert sorted(int(line.split()[0]) for line in lines) == list(range(count)), lines
    assert {line.split()[1] for line in lines} <= {str(tmp_path / "node1"), str(tmp_path / "node2")}

    # Node 1 killed in the middle of an upload: the chunks it had stored are in the bucket,
    # but no file — neither whole nor partial — is visible from node 2.
    bucket = store()
    before = set(bucket.names())
    host, port = one.url.removeprefix("http://").split(":")
    total, sent = 64 * 1024 * 1024, 24 * 1024 * 1024
    token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    with socket.create_connection((host, int(port)), timeout=60) as sock:
        sock.sendall(
            f"PUT {folder}coupure.bin HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Authorization: Basic {token}\r\nContent-Length: {total}\r\n\r\n".encode()
        )
        # Loopback buffers hold at most ~10 MiB: node 1 has read (and sealed) the rest.
        sock.sendall(os.urandom(sent))
        deadline = time.monotonic() + 30
        while not set(bucket.names()) - before and time.monotonic() < deadline:
            time.sleep(0.2)
        assert set(bucket.names()) - before, "le nœud 1 n'a encore rien stocké"
        _kill_tree(one.process)
    assert "coupure.bin" not in _names(two.url, folder, auth)
    assert requests.get(two.url + folder + "coupure.bin", auth=auth, timeout=60).status_code == 404

    # Node 2 keeps serving: reads and writes.
    assert requests.get(two.url + folder + "plan.bin", auth=auth, timeout=120).content == data
    again = requests.put(two.url + folder + "après.txt", data=b"toujours la", auth=auth, timeout=60)
    assert again.status_code == 201, again.text
    assert {"plan.bin", "après.txt"} <= _names(two.url, folder, auth)
