"""End to end: attacker → box (gateway, real nftables) → LAN host, central over its link.

Namespaces (RFC 5737 addresses only):
  attacker  203.0.113.10 (scanner), .20 (blocklisted), .30 (scans while the central is
            down), .200 (its country is blocked) — all on one veth to the box's WAN
  box       wan 203.0.113.1/24, lan 192.0.2.1/24, management 198.51.100.2/30
  lan       192.0.2.10 with a TCP service on 8080 that records who connected
  root      198.51.100.1/30: the real Clocher central (pytest-django's LiveServer)
The box is the real `clocher-box run` process. A test-only mapping gives the
documentation addresses their countries (CLOCHER_BOX_GEO_OVERRIDES).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test.testcases import LiveServerThread, QuietWSGIRequestHandler
from pytest_django.live_server_helper import LiveServer

from clocher.shield import feeds, report, services
from clocher.shield.models import Box, FeedPurpose, ShieldEvent
from tests.box.netns import Lab, available
from tests.conftest import SYSTEM

pytestmark = [pytest.mark.slow, pytest.mark.skipif(bool(available()), reason=available())]

CENTRAL = "198.51.100.1"
PORT = 18_765
BOX = Path(sys.executable).with_name("clocher-box")

# Connects from `source` to each port of `target`; prints "open", "refused" or "timeout".
CONNECT = """
import json, socket, sys
source, target, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])
out = []
for port in map(int, sys.argv[4:]):
    s = socket.socket()
    s.settimeout(timeout)
    s.bind((source, 0))
    try:
        s.connect((target, port))
        out.append("open")
    except ConnectionRefusedError:
        out.append("refused")
    except OSError:
        out.append("timeout")
    finally:
        s.close()
print(json.dumps(out))
"""

# The LAN host's service: accepts on 8080 and writes each peer address on a line.
SERVICE = """
import socket, sys
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind(("192.0.2.10", 8080))
server.listen(64)
with open(sys.argv[1], "a") as log:
    while True:
        conn, peer = server.accept()
        log.write(peer[0] + "\\n")
        log.flush()
        conn.close()
"""

DNS_QUERY = """
import sys
from dnslib import DNSRecord
answer = DNSRecord.parse(DNSRecord.question(sys.argv[1]).send("192.0.2.1", 53, timeout=3))
print(" ".join(str(rr.rdata) for rr in answer.rr))
"""


def wait_for(check: Callable[[], Any], timeout: float = 20, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"délai dépassé : {what}")


@pytest.fixture
def lab() -> Iterator[Lab]:
    lab = Lab(f"clb{os.getpid() % 10000}")
    try:
        yield lab
    finally:
        lab.close()


def build(lab: Lab, tmp: Path) -> dict[str, str]:
    att, box, lan = lab.ns("att"), lab.ns("box"), lab.ns("lan")
    prefix = lab.prefix
    lab.link(att, "att0", box, "wan0")
    lab.link(box, "lan0", lan, "eth0")
    lab.link(None, f"{prefix}m", box, "mgmt0")
    lab.address(
        att,
        "att0",
        "203.0.113.10/24",
        "203.0.113.20/24",
        "203.0.113.30/24",
        "203.0.113.66/24",
        "203.0.113.200/24",
    )
    lab.exec(att, "ip", "route", "add", "192.0.2.0/24", "via", "203.0.113.1")
    lab.address(box, "wan0", "203.0.113.1/24")
    lab.address(box, "lan0", "192.0.2.1/24")
    lab.address(box, "mgmt0", "198.51.100.2/30")
    lab.exec(box, "sysctl", "-qw", "net.ipv4.ip_forward=1")
    lab.address(lan, "eth0", "192.0.2.10/24")
    lab.exec(lan, "ip", "route", "add", "default", "via", "192.0.2.1")
    lab.address(None, f"{prefix}m", f"{CENTRAL}/30")
    return {"att": att, "box": box, "lan": lan}


def connect(
    lab: Lab,
    ns: str,
    source: str,
    ports: list[int],
    timeout: float = 0.5,
    target: str = "192.0.2.10",
) -> list[str]:
    args = [source, target, str(timeout), *map(str, ports)]
    return json.loads(lab.python(ns, CONNECT, *args, timeout=60))


def scan(lab: Lab, att: str, box: str, source: str, first_port: int) -> None:
    """15 closed ports of the LAN host in about a second, then wait for the decision."""
    connect(lab, att, source, list(range(first_port, first_port + 15)), timeout=0.3)
    wait_for(
        lambda: source in lab.exec(box, "nft", "list", "set", "inet", "clocher", "blocked4"),
        what=f"décision contre {source}",
    )


def rule_counters(lab: Lab, box: str) -> dict[str, int]:
    text = lab.exec(box, "nft", "-j", "list", "table", "inet", "clocher", check=False)
    if not text.strip():
        return {}
    listed = json.loads(text)
    totals: dict[str, int] = {}
    for item in listed["nftables"]:
        rule = item.get("rule")
        if rule and rule.get("comment"):
            for expr in rule["expr"]:
                if isinstance(expr.get("counter"), dict):
                    key = rule["comment"]
                    totals[key] = totals.get(key, 0) + expr["counter"]["packets"]
    return totals


def events(box_id: str) -> list[ShieldEvent]:
    return list(ShieldEvent.objects.filter(box_id=box_id).order_by("seq"))


def reusable_address(thread: LiveServerThread, connections_override: Any = None) -> Any:
    """Django's live server refuses SO_REUSEADDR (to catch port clashes); the central is
    restarted on its port here, with the previous connections still in TIME_WAIT."""
    return thread.server_class(
        (thread.host, thread.port),
        QuietWSGIRequestHandler,
        allow_reuse_address=True,
        connections_override=connections_override,
    )


@pytest.mark.django_db(transaction=True)
def test_box_blocks_reports_and_survives_the_central(
    lab, tmp_path, commune_a, settings, monkeypatch
):
    nss = build(lab, tmp_path)
    att, box_ns, lan = nss["att"], nss["box"], nss["lan"]
    settings.ALLOWED_HOSTS = ["*"]
    monkeypatch.setattr(LiveServerThread, "_create_server", reusable_address)
    central = LiveServer(f"{CENTRAL}:{PORT}")
    box_proc = service = None
    try:
        # Operator side: a feed with the blocklisted address, a blocked country, a sinkhole.
        feeds.import_feed(SYSTEM, "e2e-list", "e2e.txt", lines=["203.0.113.20/32 ; SBL1"])
        feeds.import_feed(
            SYSTEM, "e2e-c2", "c2.txt", purpose=FeedPurpose.C2, lines=["203.0.113.66"]
        )
        services.set_countries(SYSTEM, commune_a, ["KP"])
        services.add_sinkhole(SYSTEM, "phish.example", "hameçonnage")
        token = services.issue_token(SYSTEM, commune_a).token

        state = tmp_path / "state"
        geo = tmp_path / "geo.txt"
        geo.write_text("203.0.113.0/25 CN\n203.0.113.192/26 KP\n")
        env = dict(os.environ, CLOCHER_BOX_GEO_OVERRIDES=str(geo), CLOCHER_BOX_STATE_DIR=str(state))
        enrolled = subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                box_ns,
                str(BOX),
                "enroll",
                "--server",
                f"http://{CENTRAL}:{PORT}",
                "--token",
                token,
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert enrolled.returncode == 0, enrolled.stderr
        assert oct((state / "box.key").stat().st_mode & 0o777) == "0o600"
        box_id = json.loads((state / "box.json").read_text())["box_id"]
        assert Box.objects.get(pk=box_id).commune == commune_a

        log_path = tmp_path / "box.log"
        box_proc = lab.popen(
            box_ns,
            [
                str(BOX),
                "run",
                "--mode",
                "gateway",
                "--wan",
                "wan0",
                "--lan",
                "lan0",
                "--management",
                "198.51.100.0/30",
                "--internal",
                "192.0.2.0/24",
                "--dns-listen",
                "192.0.2.1:53",
                "--dns-upstream",
                "127.0.0.1:53",
                "--interval",
                "1",
                "--heartbeat",
                "1",
            ],
            env=env,
            stdout=log_path.open("w"),
            stderr=subprocess.STDOUT,
        )
        seen = tmp_path / "seen.txt"
        seen.touch()
        service = lab.popen(lan, [sys.executable, "-c", SERVICE, str(seen)])
        wait_for(
            lambda: (
                rule_counters(lab, box_ns)
                and "203.0.113.20"
                in lab.exec(box_ns, "nft", "list", "set", "inet", "clocher", "feed4_cb")
            ),
            what="table et politique appliquées",
        )

        # Before anything: the scanner reaches the LAN service.
        assert connect(lab, att, "203.0.113.10", [8080]) == ["open"]
        # The blocklisted address is dropped from its very first packet.
        assert connect(lab, att, "203.0.113.20", [8080]) == ["timeout"]
        # So is the blocked country's address.
        assert connect(lab, att, "203.0.113.200", [8080]) == ["timeout"]
        assert seen.read_text().splitlines() == ["203.0.113.10"]

        # The scan: 15 closed ports in a second → blocked; the service is cut off.
        scan(lab, att, box_ns, "203.0.113.10", first_port=2000)
        assert connect(lab, att, "203.0.113.10", [8080, 8080]) == ["timeout", "timeout"]
        assert seen.read_text().splitlines() == ["203.0.113.10"]  # LAN side: nothing new
        counters = rule_counters(lab, box_ns)
        assert counters["blocked4"] >= 2 and counters["feed4"] >= 1 and counters["country4"] >= 1

        # The LAN host cannot reach the command-and-control address (whose host is up).
        assert counters["c2_4"] == 0
        assert connect(lab, lan, "192.0.2.10", [443], target="203.0.113.66") == ["timeout"]

        # The sinkhole answers for the domain and its subdomains.
        assert lab.python(lan, DNS_QUERY, "login.phish.example").split() == ["0.0.0.0"]  # noqa: S104

        # The events reach the central: decision with country and scenario, drops.
        def arrived() -> bool:
            got = {(e.kind, e.scenario, e.source) for e in events(box_id)}
            return {
                ("decision", "port-scan", "203.0.113.10"),
                ("drops", "port-scan", "203.0.113.10"),
                ("drops", "blocklist", "203.0.113.20"),
                ("drops", "country-policy", "203.0.113.200"),
                ("drops", "dns-sinkhole", "192.0.2.10"),
                ("drops", "c2-outbound", "203.0.113.66"),
            } <= got

        wait_for(arrived, what="événements au central")
        decision = ShieldEvent.objects.get(box_id=box_id, kind="decision", source="203.0.113.10")
        assert decision.country == "CN" and decision.duration == 14400
        month = report.build(report.parse_month(time.strftime("%Y-%m")), commune_a)
        assert "CN" in {line.key for line in month.by_country}
        assert {"port-scan", "blocklist", "country-policy"} <= {
            line.key for line in month.by_scenario
        }

        # The central goes down during an attack: the box blocks on its own.
        central.stop()
        scan(lab, att, box_ns, "203.0.113.30", first_port=3000)
        assert connect(lab, att, "203.0.113.30", [8080]) == ["timeout"]
        time.sleep(2)  # a few failed flushes and heartbeats
        assert not ShieldEvent.objects.filter(box_id=box_id, source="203.0.113.30").exists()

        # Back: every event arrives, each exactly once.
        central = LiveServer(f"{CENTRAL}:{PORT}")
        wait_for(
            lambda: ShieldEvent.objects.filter(
                box_id=box_id, source="203.0.113.30", kind="drops"
            ).exists(),
            what="rattrapage",
        )
        box_proc.send_signal(signal.SIGTERM)
        assert box_proc.wait(15) == 0
        box_proc = None
        seqs = [e.seq for e in events(box_id)]
        assert seqs == list(range(1, len(seqs) + 1))  # none lost, none twice

        # Agent stopped: the kernel keeps dropping; status says what and why; unblock.
        def box_command(*args: str) -> str:
            done = subprocess.run(
                ["ip", "netns", "exec", box_ns, str(BOX), *args],
                env=env,
                capture_output=True,
                text=True,
                timeout=30,
                check=True,
            )
            return done.stdout

        status = json.loads(box_command("status", "--json"))
        reasons = {d["source"]: d["scenario"] for d in status["decisions"]}
        assert reasons["203.0.113.10"] == reasons["203.0.113.30"] == "port-scan"
        assert status["counters"]["blocked4"] >= 3 and status["health"]["spool_backlog"] == 0
        assert connect(lab, att, "203.0.113.10", [8080]) == ["timeout"]
        assert "débloquée" in box_command("unblock", "203.0.113.10")
        assert connect(lab, att, "203.0.113.10", [8080]) == ["open"]
    except BaseException:
        print((tmp_path / "box.log").read_text() if (tmp_path / "box.log").exists() else "")
        raise
    finally:
        for proc in (box_proc, service):
            if proc is not None:
                proc.terminate()  # the agent stops its conntrack reader
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        central.stop()
        lab.exec(nss["box"], "nft", "delete", "table", "inet", "clocher", check=False)
