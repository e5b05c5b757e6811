"""A closed port (issue 21, « bloquer ce port ») with real packets, in network namespaces:
attacker → box (gateway, the agent's real nftables table) → LAN host.

  attacker  203.0.113.10 (anyone), 203.0.113.99 (let through for the port)
  box       wan 203.0.113.1/24, lan 192.0.2.1/24
  lan       192.0.2.10, listening on 3389 (an exposed RDP) and 8080

The agent is driven by short scripts run inside the box's namespace (its table stays in
the kernel between them): one applies a policy closing 3389/tcp, the other collects the
drops into the spool, as the daemon's loop does.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.box.netns import Lab
from tests.box.test_e2e_netns import CONNECT

pytestmark = pytest.mark.slow

# The agent in the box's namespace: argv state dir, then what to do.
AGENT = """
import json, sys
from pathlib import Path
from clocher_box import nft
from clocher_box.agent import Agent
agent = Agent(Path(sys.argv[1]), nft.Layout(mode="gateway", wan="wan0", lan="lan0"))
if sys.argv[2] == "apply":
    agent.start()
    agent.apply_policy(json.loads(sys.argv[3]))
    print(json.dumps(agent.health()["ports_blocked"]))
else:
    agent.collect_drops()
    print(json.dumps(agent.spool.pending(1000)))
agent.close()
"""

# Listens on 192.0.2.10 at each port given; prints nothing, runs until killed.
LISTEN = """
import selectors, socket, sys
sel = selectors.DefaultSelector()
for port in map(int, sys.argv[1:]):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("192.0.2.10", port))
    s.listen(64)
    sel.register(s, selectors.EVENT_READ)
while True:
    for key, _ in sel.select():
        conn, _peer = key.fileobj.accept()
        conn.close()
"""

POLICY = {
    "allowlist": [],
    "blocklist": [],
    "ports_blocked": [
        {"proto": "tcp", "port": 3389, "allow": ["203.0.113.99/32"], "reason": "RDP exposé"}
    ],
}


def connect(
    lab: Lab, ns: str, source: str, target: str, ports: list[int], wait: float = 15
) -> list[str]:
    """What each port answers. An answer is the kernel's (a veth, no process to
    schedule), so 15 s is ample on a loaded machine; where a drop is expected, a
    shorter wait only makes the test quicker, never wrong (a late answer is an answer)."""
    args = [source, target, str(wait), *map(str, ports)]
    return list(json.loads(lab.python(ns, CONNECT, *args, timeout=300)))


def wait_for(check: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"délai dépassé : {what}"
        time.sleep(0.3)


def test_closed_port_drops_and_counts_syns_others_pass(tmp_path: Path) -> None:
    lab = Lab(f"prt{os.getpid() % 10000}")
    listener = None
    try:
        att, box, lan = lab.ns("att"), lab.ns("box"), lab.ns("lan")
        lab.link(att, "att0", box, "wan0")
        lab.link(box, "lan0", lan, "eth0")
        lab.address(att, "att0", "203.0.113.10/24", "203.0.113.99/24")
        lab.exec(att, "ip", "route", "add", "192.0.2.0/24", "via", "203.0.113.1")
        lab.address(box, "wan0", "203.0.113.1/24")
        lab.address(box, "lan0", "192.0.2.1/24")
        lab.exec(box, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        lab.address(lan, "eth0", "192.0.2.10/24")
        lab.exec(lan, "ip", "route", "add", "default", "via", "192.0.2.1")
        listener = lab.popen(lan, [sys.executable, "-c", LISTEN, "3389", "8080"])
        state = tmp_path / "state"
        state.mkdir()

        # Before the rule: the LAN host's RDP answers from the internet.
        wait_for(
            lambda: connect(lab, att, "203.0.113.10", "192.0.2.10", [8080]) == ["open"],
            "service du poste du réseau local",
        )
        assert connect(lab, att, "203.0.113.10", "192.0.2.10", [3389]) == ["open"]

        applied = lab.python(box, AGENT, str(state), "apply", json.dumps(POLICY), timeout=120)
        assert json.loads(applied) == ["3389/tcp"]

        # After: 3389 dropped (no answer, not even a reset), 8080 still open, and the
        # source let through for the port still reaches it.
        assert connect(lab, att, "203.0.113.10", "192.0.2.10", [3389], wait=3) == ["timeout"]
        assert connect(lab, att, "203.0.113.10", "192.0.2.10", [8080]) == ["open"]
        assert connect(lab, att, "203.0.113.99", "192.0.2.10", [3389]) == ["open"]
        # The box's own input from the WAN: its 3389 (nothing listens) is silent too,
        # where its 8080 refuses.
        assert connect(lab, att, "203.0.113.10", "203.0.113.1", [3389], wait=3) == ["timeout"]
        assert connect(lab, att, "203.0.113.10", "203.0.113.1", [8080]) == ["refused"]

        counters = json.loads(
            lab.exec(box, "nft", "-j", "list", "set", "inet", "clocher", "porthits4")
        )
        elems = next(i["set"] for i in counters["nftables"] if "set" in i).get("elem", [])
        hit = {e["elem"]["val"]["concat"][0]: e["elem"]["counter"]["packets"] for e in elems}
        assert set(hit) == {"203.0.113.10"}  # neither the allowed source nor 8080
        assert hit["203.0.113.10"] >= 2  # a SYN to the LAN host, one to the box (+ retries)

        pending = json.loads(lab.python(box, AGENT, str(state), "collect", timeout=120))
        drops = [e for e in pending if e["kind"] == "drops"]
        assert [(e["source"], e["scenario"], e["detail"]) for e in drops] == [
            ("203.0.113.10", "port-block", "port 3389/tcp")
        ]
        assert drops[0]["flows"] == hit["203.0.113.10"]
        # Collected again without new drops: nothing more is reported.
        again = json.loads(lab.python(box, AGENT, str(state), "collect", timeout=120))
        assert sum(e["flows"] for e in again if e["kind"] == "drops") == drops[0]["flows"]

        # The rule lifted by the next policy: 3389 answers again.
        lab.python(
            box,
            AGENT,
            str(state),
            "apply",
            json.dumps({**POLICY, "ports_blocked": []}),
            timeout=120,
        )
        assert connect(lab, att, "203.0.113.10", "192.0.2.10", [3389]) == ["open"]
    finally:
        if listener is not None:
            listener.kill()
            listener.wait()
        lab.close()
