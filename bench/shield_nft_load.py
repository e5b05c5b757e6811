# ruff: noqa: S603, S607, E501 — a bench driving ip/nft as root with fixed arguments
"""Shield figure: loading 100,000 and 1,000,000 prefixes into the box's nftables sets,
applying a delta of 1,000, and the agent's peak RSS — against `nft -f` of the same
prefixes in nft's native syntax into one interval set, in the same run. The agent's
load starts from the text list (read, parsed, merged, written to feed.bin, loaded); the
peer's file is written beforehand. Wall and CPU seconds (user + system: the kernel's
netlink work is in the system time of the process that sends) of each side.

Runs as root in a network namespace it creates and removes. Usage:
    .venv/bin/python bench/shield_nft_load.py [--sizes 100000,1000000] [--peer-delta-timeout 300]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Child: the agent loading a list in this namespace, printing timings and its peak RSS.
AGENT = """
import json, resource, statistics, sys, time
from pathlib import Path
from clocher_box import nft
from clocher_box.agent import Agent
from clocher_box.detectors.blocklist import parse_blocklist
state, first, second, ROUNDS = Path(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
back_add, back_remove = Path(sys.argv[5]).read_text().split(), Path(sys.argv[6]).read_text().split()
def cpu():
    # user + system: libnftables runs in this process and the kernel's netlink work
    # in its system time, so this is the whole load's CPU.
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
def hwm():
    # VmHWM, this address space's peak: ru_maxrss would also count the bench's own
    # memory, inherited by the forked child until it executes ip and then Python.
    return int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0]) // 1024
agent = Agent(state, nft.Layout())
agent.start()
stages = {"started": hwm()}
t, c = time.monotonic(), cpu()
with open(first) as f:
    report = agent.load_feed(parse_blocklist(f))
load, load_cpu = time.monotonic() - t, cpu() - c
stages["loaded"] = hwm()
t, c = time.monotonic(), cpu()
with open(second) as f:
    delta = agent.load_feed(parse_blocklist(f))
delta_s, delta_cpu = time.monotonic() - t, cpu() - c
stages["delta"] = hwm()
# The same 1,000 changes the other way round, as the central sends them now: a signed
# delta from the version held (versioned path), instead of the whole list re-read.
# First the whole list as the central sends it on first contact: one text in a signed
# envelope, measured from the answer's bytes (what `Central.call` holds) through the
# signature's check, the JSON and the load; then the deltas, whose lists come from the
# bench's parent, so that this process holds no more than an agent would.
from clocher_box import protocol
key = protocol.new_private_key()
answer = json.dumps(protocol.sign_envelope(key, {"box": "b", "version": 1, "feed": {"version": 1, "text": open(second).read()}})).encode()
open("/proc/self/clear_refs", "w").write("5")  # VmHWM back to the current RSS
envelope = json.loads(answer)  # Central.call: the answer's bytes, then freed
del answer
policy = protocol.open_envelope(protocol.public_key_b64(key), envelope)  # Central.policy
del envelope
agent.apply_policy(policy, box_id="b")
del policy
stages["full list"] = hwm()
open("/proc/self/clear_refs", "w").write("5")  # VmHWM back to the current RSS
added_back, removed_back = back_add, back_remove
# Deltas back and forth (the 1,000 changes, then the reverse), the median of ROUNDS: one
# delta is a tenth of a second, which one burst of a shared machine's load can double.
walls, cpus = [], []
for version in range(2, 2 + ROUNDS):
    forth = version % 2 == 0
    part = {"version": version, "since": version - 1,
            "add": added_back if forth else removed_back, "remove": removed_back if forth else added_back}
    t, c = time.monotonic(), cpu()
    agent.apply_policy({"box": "b", "version": version, "feed": part}, box_id="b")
    walls.append(time.monotonic() - t)
    # CPU time of the agent's process, the kernel's work on its netlink batch included:
    # on a machine shared with other jobs the wall time is mostly waiting for a core.
    cpus.append(cpu() - c)
stages["versioned"] = hwm()
print(json.dumps({"load": load, "load_cpu": load_cpu, "delta": delta_s, "delta_cpu": delta_cpu,
                  "versioned": statistics.median(walls), "versioned_cpu": statistics.median(cpus),
                  "versioned_walls": walls, "prefixes": report.prefixes,
                  "added": delta.added, "removed": delta.removed, "backend": agent.table.nft.backend_name,
                  "rss_mb": max(stages.values()), "stages": stages}))
agent.close()
"""


def ns_run(ns: str, *command: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    """`command` in the namespace, in a session of its own: with the kernel's autogroup
    scheduling (on here) each session shares the cores with the machine's others as one
    group, so a side measured does not also share its group with whatever the caller's
    session runs at the same time (a delta of 0.1 s measured 0.27–0.41 s beside a mail
    bench started from the same shell)."""
    return subprocess.run(
        ["ip", "netns", "exec", ns, *command],
        text=True,
        capture_output=True,
        check=True,
        start_new_session=True,
        **kwargs,
    )  # type: ignore[call-overload, no-any-return]


def prefixes(count: int, seed: int) -> list[int]:
    rng = random.Random(seed)
    found: set[int] = set()
    while len(found) < count:
        found.add(rng.getrandbits(24))
    return sorted(found)


def text(value: int) -> str:
    return f"{value >> 16}.{(value >> 8) & 255}.{value & 255}.0/24"


def _children_cpu() -> float:
    """User + system seconds of the finished child processes (`nft -f` here)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def peer(
    ns: str,
    work: Path,
    nets: list[int],
    delta: tuple[list[int], list[int]] | None,
    delta_timeout: float,
) -> dict[str, float]:
    """nft -f: one table, one interval set, the same prefixes in native syntax."""
    setup = work / "peer.nft"
    setup.write_text(
        "add table inet peer\nadd set inet peer s { type ipv4_addr; flags interval,timeout; }\n"
        "add element inet peer s { " + ", ".join(text(n) for n in nets) + " }\n"
    )
    started, cpu = time.monotonic(), _children_cpu()
    ns_run(ns, "nft", "-f", str(setup))
    result = {"load": time.monotonic() - started, "load_cpu": _children_cpu() - cpu}
    if delta is not None:
        added, removed = delta
        change = work / "peer-delta.nft"
        change.write_text(
            "delete element inet peer s { " + ", ".join(text(n) for n in removed) + " }\n"
            "add element inet peer s { " + ", ".join(text(n) for n in added) + " }\n"
        )
        started = time.monotonic()
        try:
            ns_run(ns, "nft", "-f", str(change), timeout=delta_timeout)
            result["delta"] = time.monotonic() - started
        except subprocess.TimeoutExpired:
            result["delta_timeout"] = delta_timeout
    ns_run(ns, "nft", "delete", "table", "inet", "peer")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument(
        "--peer-delta-timeout",
        type=float,
        default=300,
        help="seconds after which nft -f's delta is given up (it can take many minutes)",
    )
    parser.add_argument("--delta-rounds", type=int, default=9, help="versioned deltas timed")
    args = parser.parse_args()
    ns = f"clbench{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        with tempfile.TemporaryDirectory(prefix="shield-bench-") as tmp:
            work = Path(tmp)
            sizes = [int(s) for s in args.sizes.split(",")]
            for size in sizes:
                nets = prefixes(size, seed=size)
                present = set(nets)
                rng = random.Random(1)
                removed = rng.sample(nets, 500)
                added: list[int] = []
                while len(added) < 500:
                    candidate = rng.getrandbits(24)
                    if (
                        candidate not in present
                        and candidate - 1 not in present
                        and candidate + 1 not in present
                    ):
                        added.append(candidate)
                        present.add(candidate)
                second = sorted(set(nets) - set(removed) | set(added))
                (work / "first.txt").write_text("\n".join(text(n) for n in nets) + "\n")
                (work / "second.txt").write_text("\n".join(text(n) for n in second) + "\n")
                # The versioned deltas go back to the first list, then forth again.
                (work / "back-add.txt").write_text("\n".join(sorted(text(n) for n in removed)))
                (work / "back-remove.txt").write_text("\n".join(sorted(text(n) for n in added)))
                state = work / f"state-{size}"
                out = ns_run(
                    ns,
                    sys.executable,
                    "-c",
                    AGENT,
                    str(state),
                    str(work / "first.txt"),
                    str(work / "second.txt"),
                    str(args.delta_rounds),
                    str(work / "back-add.txt"),
                    str(work / "back-remove.txt"),
                    timeout=1800,
                )
                agent = json.loads(out.stdout.strip().splitlines()[-1])
                ns_run(ns, "nft", "delete", "table", "inet", "clocher")
                print(
                    f"{'':>9}  versioned signed delta of the same 1,000, median of {args.delta_rounds} "
                    f"back and forth: {agent['versioned']:.3f} s wall, {agent['versioned_cpu']:.3f} s CPU "
                    f"(each: {', '.join(f'{w:.3f}' for w in agent['versioned_walls'])} s); peer, the "
                    f"re-read-and-diff path: {agent['delta']:.2f} s wall, {agent['delta_cpu']:.2f} s CPU, "
                    f"ratio {agent['delta'] / agent['versioned']:.0f} wall, "
                    f"{agent['delta_cpu'] / agent['versioned_cpu']:.0f} CPU; target < 0.2 s; "
                    f"load average {os.getloadavg()[0]:.1f}",
                    flush=True,
                )
                print(
                    f"{size:>9,} prefixes ({agent['prefixes']:,} after merge, {agent['backend']}): "
                    f"agent load {agent['load']:.1f} s, delta of 1,000 (+{agent['added']} "
                    f"−{agent['removed']}) {agent['delta']:.2f} s, peak RSS {agent['rss_mb']:.0f} MB"
                    f" (target < 150 MB; peak after each step: {agent['stages']})",
                    flush=True,
                )
                theirs = peer(ns, work, nets, (added, removed), args.peer_delta_timeout)
                if "delta" in theirs:
                    delta = f"{theirs['delta']:.2f} s, ratio {theirs['delta'] / agent['delta']:.1f}"
                else:
                    delta = f"> {theirs['delta_timeout']:.0f} s (given up), ratio > {theirs['delta_timeout'] / agent['delta']:.1f}"
                print(
                    f"{'':>9}  nft -f, one set: load {theirs['load']:.1f} s "
                    f"(ratio {theirs['load'] / agent['load']:.2f}; CPU {theirs['load_cpu']:.2f} s "
                    f"vs the agent's {agent['load_cpu']:.2f} s, ratio "
                    f"{theirs['load_cpu'] / agent['load_cpu']:.2f}; target ≥ 2), delta {delta}; "
                    f"load average {os.getloadavg()[0]:.1f}"
                )
                sys.stdout.flush()
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)


if __name__ == "__main__":
    main()
