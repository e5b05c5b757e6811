"""`clocher-box run`: the daemon loop around the agent.

Threads: the conntrack reader (port scans), the auth log follower (sshd brute force),
the DNS resolver; the main loop reports drops, flushes the spool, sends the heartbeat
and refreshes the policy. When the central is unreachable nothing stops: the kernel
keeps dropping, detectors keep deciding, events wait in the spool.
"""

from __future__ import annotations

import ctypes
import ipaddress
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clocher_box import protocol
from clocher_box.agent import DEFAULT_SCENARIOS, Agent, FeedGap, PolicyRefused
from clocher_box.client import Central, CentralError
from clocher_box.detectors.portscan import PortScan
from clocher_box.detectors.sshd import SshBruteforce
from clocher_box.dns import SCENARIO as DNS_SCENARIO
from clocher_box.dns import SinkholeResolver, serve, system_upstream
from clocher_box.nft import WAN_MARK

log = logging.getLogger("clocher_box.run")

_REFUSED_SEQ = re.compile(r"seq=(\d+)")


@dataclass
class RunConfig:
    internal: list[str] = field(default_factory=list)
    auth_log: str = ""
    conntrack: bool = True
    dns_listen: str = ""
    dns_upstream: str = ""  # empty: the system's resolver (dns.system_upstream)
    sinkhole_v4: str = "0.0.0.0"  # noqa: S104 — an answer, not a bind
    interval: float = 5.0
    heartbeat_every: float = 60.0


def _die_with_parent() -> None:
    """conntrack -E is stopped with the agent, even if the agent is killed."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def local_addresses() -> list[str]:
    """The box's own addresses: its outbound flows are not scans."""
    try:
        done = subprocess.run(  # noqa: S603
            [shutil.which("ip") or "/usr/sbin/ip", "-j", "addr", "show"],
            capture_output=True,
            text=True,
            check=True,
        )
        links = json.loads(done.stdout)
    except (OSError, subprocess.CalledProcessError, ValueError):
        return []
    return [
        info["local"] for link in links for info in link.get("addr_info", []) if "local" in info
    ]


class Daemon:
    def __init__(self, agent: Agent, central: Central | None, config: RunConfig) -> None:
        self.agent = agent
        self.central = central
        self.config = config
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []
        self.processes: list[subprocess.Popen[str]] = []
        self.dns_servers: list[Any] = []
        self.resolver: SinkholeResolver | None = None
        self.policy_refused = 0
        self._detectors()

    def _detectors(self) -> None:
        # A central that predates a parameter sends the scenario without it: default kept.
        scan = DEFAULT_SCENARIOS["port-scan"] | self.agent.scenario("port-scan")
        self.portscan = PortScan(
            scan["ports"],
            scan["window"],
            scan["duration"],
            internal=self.config.internal + local_addresses(),
            slow_ports=scan["slow_ports"],
            slow_window=scan["slow_window"],
        )
        ssh = self.agent.scenario("ssh-bruteforce")
        self.ssh = SshBruteforce(
            ssh.get("failures", 5), ssh.get("window", 60), ssh.get("duration", 14400)
        )

    # --- threads -------------------------------------------------------------------------

    def _thread(self, target: Any, name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self.threads.append(thread)

    def _read_conntrack(self) -> None:
        command = [shutil.which("conntrack") or "/usr/sbin/conntrack", "-E", "-e", "NEW"]
        command += ["--mark", f"{WAN_MARK:#x}/{WAN_MARK:#x}"]  # WAN-originated flows only
        proc = subprocess.Popen(  # noqa: S603 — fixed program and arguments
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 — only prctl, no locks
        )
        self.processes.append(proc)
        assert proc.stdout is not None
        for line in proc.stdout:
            verdict = self.portscan.feed(line)
            if verdict is not None:
                self.agent.decide(verdict)
        if not self.stop.is_set():
            log.error("conntrack -E s'est arrêté (code %s)", proc.poll())

    def _follow_auth_log(self) -> None:
        """Follows the log like `tail -F`: from the saved position if it is the same
        file, from its end on a first start, from the beginning of a rotated-in file."""
        path = Path(self.config.auth_log)
        position = self.agent.state.get("auth_log_position", {})
        handle = None
        inode = None
        rotated = False
        while not self.stop.is_set():
            if handle is None:
                try:
                    handle = path.open("rb")
                except OSError:
                    self.stop.wait(1)
                    continue
                inode = os.fstat(handle.fileno()).st_ino
                if position.get("inode") == inode:
                    handle.seek(min(position.get("offset", 0), os.fstat(handle.fileno()).st_size))
                elif not rotated:
                    handle.seek(0, os.SEEK_END)
            line = handle.readline()
            if line.endswith(b"\n"):
                verdict = self.ssh.feed(line.decode(errors="replace"))
                if verdict is not None:
                    self.agent.decide(verdict)
                continue
            if line:  # a line still being written: read it whole next time
                handle.seek(-len(line), os.SEEK_CUR)
            offset = handle.tell()
            if position.get("offset") != offset or position.get("inode") != inode:
                position = {"inode": inode, "offset": offset}
                with self.agent.lock:
                    self.agent.state.put("auth_log_position", position)
            try:
                rotated = os.stat(path).st_ino != inode
            except OSError:
                rotated = True
            if rotated:
                handle.close()
                handle = None
                continue
            self.stop.wait(0.5)

    def read_stealth(self) -> int:
        """Feeds the stealth probes the kernel listed to the port-scan detector; the
        number of sources blocked."""
        if self.agent.table is None:
            return 0
        with self.agent.lock:
            probes = self.agent.table.stealth()
        return sum(self.agent.decide(v) for v in self.portscan.stealth(probes))

    def _sinkholed(self, client: str, name: str) -> None:
        self.agent.event("drops", client, DNS_SCENARIO, flows=1, detail=name)

    # --- central -------------------------------------------------------------------------

    def flush(self) -> int:
        """Sends spooled events in batches; each leaves the spool once acknowledged."""
        if self.central is None:
            return 0
        sent = 0
        while True:
            with self.agent.lock:
                batch = self.agent.spool.pending()
            if not batch:
                return sent
            try:
                answer = self.central.send_events(batch)
            except CentralError as exc:
                refused = _REFUSED_SEQ.search(str(exc)) if exc.status == 400 else None
                if refused is None:
                    raise
                # One event the central will never take must not hold up the others.
                seq = int(refused.group(1))
                log.error("événement %d refusé par le central, écarté : %s", seq, exc)
                with self.agent.lock:
                    self.agent.spool.acknowledge([seq])
                continue
            with self.agent.lock:
                self.agent.spool.acknowledge([event["seq"] for event in batch])
            sent += int(answer.get("accepted", 0))

    def refresh_policy(self, force: bool = False) -> None:
        if self.central is None:
            return
        health = self.agent.health() | {"policy_refused": self.policy_refused}
        version = self.central.heartbeat(health)
        box_id = self.central.identity.box_id
        if not force and version <= self.agent.applied_version(box_id):
            return
        try:
            policy = self.central.policy(self.agent.feed_version())
            try:
                report = self.agent.apply_policy(policy, box_id=box_id)
            except FeedGap as exc:
                log.warning("%s : liste complète demandée", exc)
                policy = self.central.policy(0)
                report = self.agent.apply_policy(policy, box_id=box_id)
        except (protocol.SignatureError, PolicyRefused) as exc:
            self.policy_refused += 1
            log.error("politique refusée (%s) : la précédente reste en vigueur", exc)
            return
        self._detectors()
        if self.resolver is not None:
            self.resolver.set_domains(self.agent.state.get("sinkhole_domains", []))
        log.info(
            "politique %s appliquée : %d préfixes, %d mal formés, %d refusés",
            policy.get("version"),
            report.prefixes,
            report.malformed,
            len(report.refused),
        )

    # --- loop ----------------------------------------------------------------------------

    def run(self) -> None:
        self.agent.start()
        if self.central is not None:
            self.agent.protect(
                f"{a}/{ipaddress.ip_address(a).max_prefixlen}" for a in self.central.addresses()
            )
        if self.config.conntrack:
            self._thread(self._read_conntrack, "conntrack")
        if self.config.auth_log:
            self._thread(self._follow_auth_log, "auth-log")
        if self.config.dns_listen:
            address, _, port = self.config.dns_listen.rpartition(":")
            upstream = self.config.dns_upstream or system_upstream(self.config.dns_listen)
            self.resolver = SinkholeResolver(
                upstream, self.config.sinkhole_v4, on_sinkhole=self._sinkholed
            )
            self.resolver.set_domains(self.agent.state.get("sinkhole_domains", []))
            self.dns_servers = serve(self.resolver, address, int(port))
        last_heartbeat = 0.0
        first = True
        log.info("boîtier démarré (%s)", self.agent.layout.mode)
        while not self.stop.is_set():
            try:
                self.read_stealth()
                self.agent.collect_drops()
            except Exception:  # noqa: BLE001 — the loop must survive a failed read
                log.exception("lecture des compteurs impossible")
            try:
                if time.monotonic() - last_heartbeat >= self.config.heartbeat_every:
                    self.refresh_policy(force=first)
                    last_heartbeat, first = time.monotonic(), False
                self.flush()
            except CentralError as exc:
                log.warning("central injoignable, les événements attendent : %s", exc)
                last_heartbeat = (
                    time.monotonic() - self.config.heartbeat_every + self.config.interval
                )
            self.stop.wait(self.config.interval)
        self.shutdown()

    def shutdown(self) -> None:
        for proc in self.processes:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
        for server in self.dns_servers:
            server.stop()
        for thread in self.threads:  # they use the agent, closed after us
            thread.join(5)
        try:
            self.agent.collect_drops()
            self.flush()
        except Exception as exc:  # noqa: BLE001 — best effort at exit
            log.warning("derniers événements non envoyés : %s", exc)
        log.info("boîtier arrêté")
