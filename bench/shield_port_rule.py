# ruff: noqa: S603, S607 — a bench driving ip/nft as root with fixed arguments
"""Shield (issue 21, « bloquer ce port »): what closing and reopening a port costs the box.

In a network namespace the bench makes and removes, the agent's whole table (gateway
layout) is loaded, then --rounds times a port is closed (with one source let through)
and reopened: by the agent (`nft.Table.load_ports`, one atomic JSON batch through
libnftables in its own process), and by the peer an administrator would use, `nft -f`
of the same changes in nft's native syntax (one process per change). Prints wall and
CPU seconds of each side (the peer's CPU is its child processes') and their ratios.
Usage: .venv/bin/python bench/shield_port_rule.py [--rounds 200]
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import resource
import subprocess
import sys
import time

NATIVE_CLOSE = """flush set inet clocher ports
flush set inet clocher portallow4
flush set inet clocher portallow6
add element inet clocher ports { tcp . 3389 }
add element inet clocher portallow4 { 198.51.100.7 . tcp . 3389 }
"""
NATIVE_OPEN = """flush set inet clocher ports
flush set inet clocher portallow4
flush set inet clocher portallow6
"""


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def inside(rounds: int) -> None:
    """Run in the namespace: the agent's table, then both sides timed."""
    from clocher_box import nft

    table = nft.Table(nft.Nft("lib"), nft.Layout(mode="gateway", wan="wan0", lan="lan0"))
    table.create()
    rule = nft.PortRule("tcp", 3389, (ipaddress.ip_network("198.51.100.7/32"),))
    table.load_ports([rule])  # warm: libnftables' first call loads its caches
    table.load_ports([])

    wall, cpu = time.monotonic(), time.process_time()
    for _ in range(rounds):
        table.load_ports([rule])
        table.load_ports([])
    ours = (time.monotonic() - wall, time.process_time() - cpu)

    wall, cpu = time.monotonic(), _children_cpu()
    for _ in range(rounds):
        for text in (NATIVE_CLOSE, NATIVE_OPEN):
            subprocess.run(["nft", "-f", "-"], input=text.encode(), check=True)
    peer = (time.monotonic() - wall, _children_cpu() - cpu)

    changes = 2 * rounds
    print(f"{changes} changements (fermer puis rouvrir 3389/tcp, une source admise)")
    print(f"agent (libnftables, JSON) : {ours[0]:.2f} s, CPU {ours[1]:.2f} s")
    print(f"pair (nft -f, natif)      : {peer[0]:.2f} s, CPU {peer[1]:.2f} s")
    print(
        f"par changement : agent {ours[1] / changes * 1000:.2f} ms CPU, "
        f"pair {peer[1] / changes * 1000:.2f} ms CPU"
    )
    print(f"ratio pair/agent : mur {peer[0] / ours[0]:.2f}x, CPU {peer[1] / ours[1]:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inside:
        inside(args.rounds)
        return
    ns = f"benchport{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        print(f"charge moyenne au départ : {os.getloadavg()[0]:.1f}")
        subprocess.run(
            ["ip", "netns", "exec", ns, sys.executable, __file__, "--inside"]
            + ["--rounds", str(args.rounds)],
            check=True,
        )
        print(f"charge moyenne à la fin : {os.getloadavg()[0]:.1f}")
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)


if __name__ == "__main__":
    main()
