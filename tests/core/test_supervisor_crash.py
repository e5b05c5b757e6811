"""`clocher serve`'s supervisor killed like the OOM killer would (SIGKILL), then started
again, with the real Postfix, Dovecot and rspamd (issue 18, crash recovery).

The supervisor runs in its own process (as under `clocher serve`) with the mail daemons
only, on free ports, in a data dir of its own; the mailbox is in the test database.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from dnslib.server import DNSLogger, DNSServer

from clocher.core import health, processes, supervisor
from clocher.mail import hooks as mail_hooks
from clocher.mail.engines import rspamd, runtime
from clocher.mail.engines.config import MailConfig
from tests.mail.conftest import (  # noqa: F401 - make_box is a fixture
    ZoneResolver,
    config_on_free_ports,
    fetch_subjects,
    make_box,
    message,
    smtp_in,
    wait_for_messages,
    wait_for_port,
)

DEADLINE = 90.0  # generous: 7 engineers share 2 cores
SUPERVISOR = (
    "import json, sys\n"
    "from pathlib import Path\n"
    "from clocher.core import supervisor\n"
    "spec = json.loads(sys.argv[1])\n"
    "children = [supervisor.Child(n, a, tuple(Path(p) for p in f)) for n, a, f in spec]\n"
    "sys.exit(supervisor.run(children))\n"
)


def poll(what: str, test: Callable[[], Any], timeout: float = DEADLINE) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = test()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not after {timeout} s")
        time.sleep(0.2)


def state(data_dir: Path) -> dict[str, Any]:
    try:
        return json.loads((data_dir / "run" / "state.json").read_text())
    except (OSError, ValueError):
        return {}


def child(data_dir: Path, name: str) -> dict[str, Any]:
    return (state(data_dir).get("children") or {}).get(name) or {}


def processes_of(data_dir: Path, groups: set[int]) -> list[str]:
    """Live processes naming this data dir on their command line, or in a group one of
    its daemons led (rspamd renames itself: its command line no longer says where)."""
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        proc = processes.find(int(entry.name))
        try:
            cmdline = Path(f"/proc/{entry.name}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if proc is not None and (str(data_dir).encode() in cmdline or proc.pgid in groups):
            found.append(f"{proc.pid} {cmdline.decode(errors='replace')}")
    return found


class Installation:
    """A data dir with its mail daemons, and a supervisor started and killed at will."""

    def __init__(self, data_dir: Path, config: MailConfig) -> None:
        self.data_dir, self.config = data_dir, config
        self.spec = [
            ("rspamd", rspamd.argv(config), []),
            ("postfix", runtime.postfix_argv(config), runtime.postfix_pidfiles(config)),
            ("dovecot", runtime.dovecot_argv(config), runtime.dovecot_pidfiles(config)),
        ]
        self.spec = [(n, a, [str(p) for p in f]) for n, a, f in self.spec]
        self.groups: set[int] = set()
        self.log = (data_dir / "supervisor.log").open("ab")

    def start(self) -> subprocess.Popen[bytes]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLOCHER_")}
        env.update(CLOCHER_DATA_DIR=str(self.data_dir), DJANGO_SETTINGS_MODULE="clocher.settings")
        return subprocess.Popen(
            [sys.executable, "-c", SUPERVISOR, json.dumps(self.spec)],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # like a service: not in the test's process group
        )

    def all_running(self, stable: bool = False) -> bool:
        children = state(self.data_dir).get("children") or {}
        if len(children) != 3 or any(c["state"] != "running" for c in children.values()):
            return False
        if stable and any(c["restarts"] for c in children.values()):
            return False
        self.groups |= {c["pgid"] for c in children.values()}
        return True

    def wait_for_service(self) -> None:
        poll("daemons running", self.all_running)
        for port in (self.config.smtp_port, self.config.imap_port, self.config.lmtp_port):
            wait_for_port(port, DEADLINE)


@pytest.fixture
def installation(settings, live_server) -> Iterator[Installation]:
    """Its own data dir (traversable by the daemons, unlike pytest's tmp_path), the test
    database, and a loopback DNS server answering at once for rspamd."""
    data_dir = Path(tempfile.mkdtemp(prefix="clocher-crash-"))
    data_dir.chmod(0o755)
    settings.DATA_DIR = data_dir
    config = config_on_free_ports(data_dir, live_server.url)
    settings.MAIL_BIND, settings.MAIL_SMTP_PORT = "127.0.0.1", config.smtp_port
    settings.MAIL_IMAP_PORT = config.imap_port
    quiet = DNSLogger(log="-request,-reply,-truncated,-recv,-send,-data", prefix=False)
    dns = DNSServer(ZoneResolver(""), port=0, address="127.0.0.1", logger=quiet)
    dns.start_thread()
    settings.DNS_RESOLVER = f"127.0.0.1:{dns.server.server_address[1]}"
    runtime.prepare(config)
    made = Installation(data_dir, config)
    yield made
    # Whatever a failed assertion left running goes, then the directory.
    made.groups |= {c["pgid"] for c in (state(data_dir).get("children") or {}).values()}
    for group in made.groups - {None}:
        processes.stop(processes.Proc(group, group, 0), 5.0)
    for line in processes_of(data_dir, set()):
        if leftover := processes.find(int(line.split()[0])):
            processes.stop(leftover, 5.0)
    made.log.close()
    dns.stop()
    shutil.rmtree(data_dir, ignore_errors=True)


def fake_smtp_server(port: int) -> socket.socket:
    """Something else on Postfix's port that still greets like an SMTP server: what an
    orphan of a crashed run looked like to `clocher check`."""
    server = socket.create_server(("127.0.0.1", port))

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.sendall(b"220 orphelin ESMTP\r\n")

    threading.Thread(target=serve, daemon=True).start()
    return server


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_supervisor_killed_then_restarted_replaces_orphans_and_delivers(
    installation,
    make_box,  # noqa: F811 - the fixture imported above
):
    box = make_box("jeanne.martin")
    data_dir, config = installation.data_dir, installation.config

    first = installation.start()
    installation.wait_for_service()
    old_master = child(data_dir, "postfix")
    os.kill(first.pid, signal.SIGKILL)  # as the OOM killer would
    first.wait()
    # The bug's premise: Postfix's master outlives its supervisor (it changes credentials
    # at start, which clears PR_SET_PDEATHSIG), holding the queue lock and the ports.
    orphan = processes.Proc(old_master["pid"], old_master["pgid"], old_master["start"])
    assert processes.alive(orphan)

    second = installation.start()
    try:
        poll("postfix replaced", lambda: child(data_dir, "postfix").get("pid") != orphan.pid)
        installation.wait_for_service()
        assert not processes.alive(orphan)
        # No restart loop: every daemon stays up past the stability delay.
        poll("stable", lambda: installation.all_running(stable=True))
        assert health.supervised_processes().ok
        smtp = mail_hooks.smtp()
        assert smtp.ok and "ESMTP Clocher" in smtp.detail, smtp

        with smtp_in(config) as client:
            client.sendmail(
                "maire@exemple.fr",
                [box.address],
                message("maire@exemple.fr", box.address, "Apres le crash"),
            )
        imap = wait_for_messages(config, box.address, box.password, 1, timeout=DEADLINE)
        assert fetch_subjects(imap) == ["Apres le crash"]
        imap.logout()

        # A clean stop leaves nothing of this data dir running.
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=DEADLINE) == 0
        assert poll("all stopped", lambda: not processes_of(data_dir, installation.groups) or [])
        assert state(data_dir)["supervisor"] is None
        assert not health.supervised_processes().ok
    finally:
        if second.poll() is None:  # a failed assertion: stop it cleanly, with its daemons
            second.send_signal(signal.SIGTERM)
            second.wait(timeout=DEADLINE)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_daemon_in_a_restart_loop_is_reported_down_though_its_port_answers(installation):
    data_dir, config = installation.data_dir, installation.config
    squatter = fake_smtp_server(config.smtp_port)
    run = installation.start()
    try:
        poll("postfix looping", lambda: (child(data_dir, "postfix").get("restarts") or 0) >= 2)
        smtp = mail_hooks.smtp()
        assert not smtp.ok and "postfix" in smtp.detail and "boucle" in smtp.detail, smtp
        overall = health.supervised_processes()
        assert not overall.ok and "postfix" in overall.detail, overall
        assert "dovecot" not in overall.detail
    finally:
        squatter.close()
        run.send_signal(signal.SIGTERM)
        run.wait(timeout=DEADLINE)
    assert not processes_of(data_dir, installation.groups)


def test_a_second_supervisor_on_the_same_data_dir_is_refused(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOCHER_")}
    env.update(CLOCHER_DATA_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="clocher.settings")
    argv = [sys.executable, "-c", SUPERVISOR, "[]"]
    first = subprocess.Popen(argv, env=env, start_new_session=True)
    try:
        poll("first supervisor", lambda: (state(tmp_path).get("supervisor") or {}).get("pid"))
        second = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=DEADLINE)
        assert second.returncode == 1
        assert f"`clocher serve` tourne déjà sur {tmp_path} (pid {first.pid})" in second.stderr
    finally:
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=DEADLINE) == 0


def test_each_data_dir_has_its_own_mail_dir_and_queue(tmp_path):
    """Postfix's queue and configuration follow CLOCHER_DATA_DIR, even as root."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOCHER_")}
    code = "from django.conf import settings; print(settings.MAIL_DIR)"
    dirs = []
    for name in ("a", "b"):
        env.update(CLOCHER_DATA_DIR=str(tmp_path / name), DJANGO_SETTINGS_MODULE="clocher.settings")
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        dirs.append(out.stdout.strip())
    assert dirs == [str(tmp_path / "a" / "mail"), str(tmp_path / "b" / "mail")]


def test_a_mail_dir_serves_one_installation_only(tmp_path):
    (tmp_path / "mail").mkdir()
    runtime.claim(tmp_path / "mail", tmp_path / "one")
    runtime.claim(tmp_path / "mail", tmp_path / "one")  # the same one again: fine
    with pytest.raises(supervisor.CannotStart) as refused:
        runtime.claim(tmp_path / "mail", tmp_path / "two")
    assert f"appartient à l'installation {tmp_path / 'one'}" in str(refused.value)
    assert "CLOCHER_MAIL_DIR" in str(refused.value)
