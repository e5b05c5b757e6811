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
from tests.box.netns import Lab
from tests.conftest import SYSTEM

pytestmark = pytest.mark.slow

CENTRAL = "198.51.100.1"
PORT = 18_765
BOX = Path(sys.executable).with_name("clocher-box")
SSHD = "/usr/sbin/sshd"

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

# A TCP service: accepts on ADDRESS:8080 and writes each peer address on a line.
SERVICE = """
import socket, sys
server = socket.socket()
server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
server.bind((sys.argv[2], 8080))
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


def start_central(settings: Any, monkeypatch: pytest.MonkeyPatch) -> LiveServer:
    """The real central on its link's address (the box reaches it over mgmt0)."""
    settings.ALLOWED_HOSTS = ["*"]
    monkeypatch.setattr(LiveServerThread, "_create_server", reusable_address)
    return LiveServer(f"{CENTRAL}:{PORT}")


def enroll(box_ns: str, env: dict[str, str], token: str, state: Path) -> str:
    """`clocher-box enroll` inside the box's namespace; the box id it was given."""
    enrolled = subprocess.run(
        ["ip", "netns", "exec", box_ns, str(BOX), "enroll"]
        + ["--server", f"http://{CENTRAL}:{PORT}", "--token", token],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert enrolled.returncode == 0, enrolled.stderr
    return str(json.loads((state / "box.json").read_text())["box_id"])


def stop(*processes: subprocess.Popen[str] | None) -> None:
    for proc in processes:
        if proc is not None:
            proc.terminate()  # the agent stops its conntrack reader
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.mark.django_db(transaction=True)
def test_box_blocks_reports_and_survives_the_central(
    lab, tmp_path, commune_a, settings, monkeypatch
):
    nss = build(lab, tmp_path)
    att, box_ns, lan = nss["att"], nss["box"], nss["lan"]
    central = start_central(settings, monkeypatch)
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
        box_id = enroll(box_ns, env, token, state)
        assert oct((state / "box.key").stat().st_mode & 0o777) == "0o600"
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
        service = lab.popen(lan, [sys.executable, "-c", SERVICE, str(seen), "192.0.2.10"])
        wait_for(
            lambda: (
                rule_counters(lab, box_ns)
                and "203.0.113.20"
                in lab.exec(box_ns, "nft", "list", "set", "inet", "clocher", "feed4_32")
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
        stop(box_proc, service)
        central.stop()
        lab.exec(nss["box"], "nft", "delete", "table", "inet", "clocher", check=False)


# sshd answers every password prompt of the attacker's real ssh client with this.
ASKPASS = "#!/bin/sh\necho pas-le-bon-mot-de-passe\n"


def start_sshd(lab: Lab, ns: str, tmp: Path, address: str) -> tuple[subprocess.Popen[str], Path]:
    """The real OpenSSH server on `address`, logging to its own file (`sshd -E`)."""
    key, log = tmp / "ssh_host_ed25519_key", tmp / "auth.log"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    config = tmp / "sshd_config"
    config.write_text(
        f"ListenAddress {address}\nHostKey {key}\nPidFile {tmp / 'sshd.pid'}\n"
        "PasswordAuthentication yes\nKbdInteractiveAuthentication no\nUsePAM no\n"
        "PermitRootLogin yes\nMaxStartups 100\n"
    )
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation dir
    log.touch()
    proc = lab.popen(ns, [SSHD, "-D", "-f", str(config), "-E", str(log)])
    wait_for(lambda: "Server listening" in log.read_text(), what="sshd prêt")
    return proc, log


def ssh_attempt(lab: Lab, ns: str, source: str, target: str, askpass: Path) -> str:
    """One login as root with a wrong password, by the real ssh client; its last words
    ("timeout" when the box cuts a session off midway: its packets are dropped)."""
    try:
        done = subprocess.run(
            ["ip", "netns", "exec", ns, "ssh", "-n", "-b", source]
            + ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"]
            + ["-o", "PreferredAuthentications=password", "-o", "NumberOfPasswordPrompts=1"]
            + ["-o", "ConnectTimeout=2", f"root@{target}", "true"],
            env=dict(
                os.environ, SSH_ASKPASS=str(askpass), SSH_ASKPASS_REQUIRE="force", DISPLAY=":0"
            ),
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return "timeout"
    return (done.stderr.strip().splitlines() or [""])[-1]


@pytest.mark.django_db(transaction=True)
def test_host_mode_blocks_ssh_bruteforce_and_scans_never_the_management_link(
    lab, tmp_path, commune_a, settings, monkeypatch
):
    """The box protects itself (host mode): a real ssh client guessing passwords against
    the box's real sshd is blocked from its log; a scan of the box too; the central on
    the management link scans it without ever being blocked."""
    att, box_ns = lab.ns("att"), lab.ns("box")
    lab.link(att, "att0", box_ns, "eth0")
    lab.link(None, f"{lab.prefix}m", box_ns, "mgmt0")
    lab.address(att, "att0", "203.0.113.40/24", "203.0.113.41/24", "203.0.113.42/24")
    lab.address(box_ns, "eth0", "203.0.113.1/24")
    lab.address(box_ns, "mgmt0", "198.51.100.2/30")
    lab.address(None, f"{lab.prefix}m", f"{CENTRAL}/30")
    central = start_central(settings, monkeypatch)
    sshd = box_proc = service = None
    try:
        state = tmp_path / "state"
        env = dict(os.environ, CLOCHER_BOX_STATE_DIR=str(state))
        box_id = enroll(box_ns, env, services.issue_token(SYSTEM, commune_a).token, state)
        sshd, auth_log = start_sshd(lab, box_ns, tmp_path, "203.0.113.1")
        seen = tmp_path / "seen.txt"
        seen.touch()
        service = lab.popen(box_ns, [sys.executable, "-c", SERVICE, str(seen), "0.0.0.0"])  # noqa: S104 - inside the test namespace
        box_proc = lab.popen(
            box_ns,
            [str(BOX), "run", "--mode", "host", "--management", "198.51.100.0/30"]
            + ["--auth-log", str(auth_log), "--interval", "1", "--heartbeat", "1"],
            env=env,
            stdout=(tmp_path / "box.log").open("w"),
            stderr=subprocess.STDOUT,
        )
        wait_for(lambda: rule_counters(lab, box_ns), what="table appliquée")
        box_ip = "203.0.113.1"
        assert connect(lab, att, "203.0.113.40", [8080], target=box_ip) == ["open"]

        # Password guessing with the real client, until the box's verdict cuts it off.
        askpass = tmp_path / "askpass"
        askpass.write_text(ASKPASS)
        askpass.chmod(0o700)
        answers = []
        for _ in range(6):
            answers.append(ssh_attempt(lab, att, "203.0.113.40", box_ip, askpass))
            blocked = lab.exec(box_ns, "nft", "list", "set", "inet", "clocher", "blocked4")
            if "203.0.113.40" in blocked:
                break
        assert "Permission denied" in answers[0]
        assert "203.0.113.40" in blocked, answers
        assert "Failed password for root from 203.0.113.40" in auth_log.read_text()
        assert connect(lab, att, "203.0.113.40", [22, 8080], target=box_ip) == ["timeout"] * 2
        assert ssh_attempt(lab, att, "203.0.113.40", box_ip, askpass).endswith(
            ("timed out", "timeout")
        )
        assert connect(lab, att, "203.0.113.41", [8080], target=box_ip) == ["open"]

        # A scan of the box itself: blocked in the input hook.
        scan_ports = list(range(4000, 4015))
        connect(lab, att, "203.0.113.42", scan_ports, timeout=0.3, target=box_ip)
        wait_for(
            lambda: (
                "203.0.113.42"
                in lab.exec(box_ns, "nft", "list", "set", "inet", "clocher", "blocked4")
            ),
            what="décision contre le balayage",
        )
        assert connect(lab, att, "203.0.113.42", [8080], target=box_ip) == ["timeout"]

        # The same scan from the central, over the management link: never blocked.
        root_scan = json.loads(
            subprocess.run(
                [sys.executable, "-c", CONNECT, CENTRAL, "198.51.100.2", "0.3"]
                + [str(p) for p in scan_ports + [8080]],
                capture_output=True,
                text=True,
                timeout=60,
                check=True,
            ).stdout
        )
        assert root_scan == ["refused"] * 15 + ["open"]
        time.sleep(3)  # past the detector's reading of conntrack
        assert CENTRAL not in lab.exec(box_ns, "nft", "list", "set", "inet", "clocher", "blocked4")

        # Both verdicts reach the central over that link, with their scenario.
        def arrived() -> bool:
            got = {(e.kind, e.scenario, e.source) for e in events(box_id)}
            return {
                ("decision", "ssh-bruteforce", "203.0.113.40"),
                ("decision", "port-scan", "203.0.113.42"),
            } <= got

        wait_for(arrived, what="événements au central")
        assert not ShieldEvent.objects.filter(box_id=box_id, source=CENTRAL).exists()
        assert seen.read_text().splitlines().count("203.0.113.40") == 1  # the first, only
    except BaseException:
        print((tmp_path / "box.log").read_text() if (tmp_path / "box.log").exists() else "")
        raise
    finally:
        stop(box_proc, service, sshd)
        central.stop()
        lab.exec(box_ns, "nft", "delete", "table", "inet", "clocher", check=False)


# Counts, in the LAN host's namespace, the packets each source got through to it.
LAN_PROBE = """table inet probe {{
  chain pre {{ type filter hook prerouting priority -300; policy accept;
{rules}
  }}
}}
"""


def lan_received(lab: Lab, lan: str) -> dict[str, int]:
    listed = json.loads(lab.exec(lan, "nft", "-j", "list", "table", "inet", "probe"))
    return {
        item["rule"]["comment"]: next(
            e["counter"]["packets"] for e in item["rule"]["expr"] if "counter" in e
        )
        for item in listed["nftables"]
        if "rule" in item
    }


def blocked(lab: Lab, box: str) -> str:
    return lab.exec(box, "nft", "list", "set", "inet", "clocher", "blocked4")


def nmap(source: str, *options: str) -> list[str]:
    """nmap from `source` (on the attacker's veth) at the LAN host, no ping, no DNS."""
    return ["nmap", "-n", "-Pn", "-e", "att0", "-S", source, "--max-retries", "0", *options]


def test_stealth_and_slow_scans_are_dropped_at_the_wan_and_block_their_source(tmp_path):
    """Defect 8 of issue 12. A real nmap from a fresh address each time: FIN, Xmas and
    NULL probes never reach the LAN host and block their source; a SYN scan paced at one
    probe every 2 s (never 10 ports in 10 s) is caught by the long window (lowered to 6
    ports in 600 s here); a LAN host opening many connections outward is never blocked
    (no --internal given: only WAN-originated flows count); an allowlisted address
    still gets through whatever it sends. The box runs offline: its events wait in the
    spool, which is what is checked (the spool → central path has its own test above)."""
    from clocher_box.spool import Spool
    from clocher_box.state import State

    # Own prefix: never the namespaces or links of the tests above, even run alongside.
    lab = Lab(f"h6s{os.getpid() % 10000}")
    box_proc = None
    try:
        att, box_ns, lan = lab.ns("att"), lab.ns("box"), lab.ns("lan")
        lab.link(att, "att0", box_ns, "wan0")
        lab.link(box_ns, "lan0", lan, "eth0")
        sources = {
            "-sF": "203.0.113.11",
            "-sX": "203.0.113.12",
            "-sN": "203.0.113.13",
            "slow": "203.0.113.14",
            "allowed": "203.0.113.99",
            "server": "203.0.113.50",  # a server on the internet, for the LAN host
        }
        lab.address(att, "att0", *(f"{a}/24" for a in sources.values()))
        lab.exec(att, "ip", "route", "add", "192.0.2.0/24", "via", "203.0.113.1")
        lab.address(box_ns, "wan0", "203.0.113.1/24")
        lab.address(box_ns, "lan0", "192.0.2.1/24")
        lab.exec(box_ns, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        lab.address(lan, "eth0", "192.0.2.10/24")
        lab.exec(lan, "ip", "route", "add", "default", "via", "192.0.2.1")
        rules = "\n".join(
            f'    ip saddr {a} counter comment "{a}"' for a in sorted(sources.values())
        )
        probe = subprocess.run(
            ["ip", "netns", "exec", lan, "nft", "-f", "-"],
            input=LAN_PROBE.format(rules=rules),
            capture_output=True,
            text=True,
            check=False,
        )
        assert probe.returncode == 0, probe.stderr

        # The detector's parameters as a policy brings them, the long window lowered.
        state = tmp_path / "state"
        state.mkdir()
        seeded = State(state)
        seeded.put(
            "scenarios",
            {
                "port-scan": {
                    "ports": 10,
                    "window": 10,
                    "duration": 14400,
                    "slow_ports": 6,
                    "slow_window": 600,
                }
            },
        )
        seeded.close()
        env = dict(os.environ, CLOCHER_BOX_STATE_DIR=str(state))
        box_proc = lab.popen(
            box_ns,
            [str(BOX), "run", "--offline", "--mode", "gateway", "--wan", "wan0"]
            + ["--lan", "lan0", "--management", f"{sources['allowed']}/32", "--interval", "1"],
            env=env,
            stdout=(tmp_path / "box.log").open("w"),
            stderr=subprocess.STDOUT,
        )
        wait_for(lambda: rule_counters(lab, box_ns), what="table appliquée")

        # Before anything: a SYN from the allowlisted address reaches the LAN host.
        assert connect(lab, att, sources["allowed"], [8080]) == ["refused"]

        # Stealth probes: dropped at the WAN (nmap learns nothing), source blocked.
        for flag in ("-sF", "-sX", "-sN"):
            source = sources[flag]
            scanned = lab.exec(att, *nmap(source, flag, "-p", "2000-2014", "192.0.2.10"))
            assert "closed" not in scanned, scanned  # no answer from the LAN host's ports
            wait_for(lambda s=source: s in blocked(lab, box_ns), what=f"blocage {flag}")
            assert lan_received(lab, lan)[source] == 0, flag
        counters = rule_counters(lab, box_ns)  # once blocked, a source's probes hit blocked4
        assert counters["stealth4"] >= 3 * 6 and counters["stealth4"] + counters["blocked4"] >= 45

        # The allowlist still wins: the same probes from it go through, never counted.
        lab.exec(att, *nmap(sources["allowed"], "-sF", "-p", "2000-2014", "192.0.2.10"))
        assert lan_received(lab, lan)[sources["allowed"]] >= 16
        assert sources["allowed"] not in lab.exec(
            box_ns, "nft", "list", "set", "inet", "clocher", "stealth4"
        )

        # A LAN host opening 20 connections outward in a second: not a scan.
        ports = list(range(5000, 5020))
        outward = connect(lab, lan, "192.0.2.10", ports, timeout=5, target=sources["server"])
        assert outward == ["refused"] * 20

        # The slow SYN scan: 12 ports, at least 2 s apart (≤ 6 in any 10 s).
        slow = sources["slow"]
        scanner = lab.popen(
            att,
            nmap(slow, "-sS", "--scan-delay", "2s", "-p", "3000-3011", "192.0.2.10"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for(lambda: slow in blocked(lab, box_ns), timeout=90, what="balayage lent")
        finally:
            scanner.terminate()
            scanner.wait(10)
        reached = lan_received(lab, lan)[slow]
        assert reached >= 6  # the probes before the decision went through
        assert connect(lab, att, slow, [3011], timeout=0.3) == ["timeout"]
        assert lan_received(lab, lan)[slow] == reached

        box_proc.send_signal(signal.SIGTERM)
        assert box_proc.wait(15) == 0
        box_proc = None
        spool = Spool(state / "spool.db")
        try:
            decisions = {e["source"]: e for e in spool.pending(10_000) if e["kind"] == "decision"}
        finally:
            spool.close()
        assert set(decisions) == {sources[f] for f in ("-sF", "-sX", "-sN", "slow")}
        assert {e["scenario"] for e in decisions.values()} == {"port-scan"}
        assert all(
            "sondes furtives" in decisions[sources[f]]["detail"] for f in ("-sF", "-sX", "-sN")
        )
        assert decisions[slow]["detail"].startswith("6 ports en 600 s")  # the long window
        # Neither the LAN host nor the allowlisted address was blocked (the scan's
        # decision above came after their flows in the detector's order).
        assert "192.0.2.10" not in blocked(lab, box_ns)
        assert sources["allowed"] not in blocked(lab, box_ns)
    except BaseException:
        print((tmp_path / "box.log").read_text() if (tmp_path / "box.log").exists() else "")
        raise
    finally:
        stop(box_proc)
        lab.close()
