# ruff: noqa: S603, S607 — a bench driving ip/nft as root with fixed arguments
"""Shield finding (issue 14): where a feed delta's time goes on the box. Deleting an
element from a concatenated interval set (the kernel's pipapo backend, the layout of
the feed shards `feed4_NN`) costs in proportion to the set's size; additions do not.

For sets of 250, 1,000 and 4,000 `a.b.c.0/24 . 0-255` elements (a feed shard of the
1,000,000-prefix list holds ≈ 3,900), times `nft -f` deleting 100 of them, then adding
them back, then making them expire instead (`timeout 10ms`, what the agent does since
issue 14) and, a second later, the commit whose garbage collection drops them; best of
--rounds, in a network namespace the bench makes and removes.
Usage: .venv/bin/python bench/shield_pipapo_delete.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path

SET = "add table inet t\ndelete table inet t\nadd table inet t\n" + (
    "add set inet t s { type ipv4_addr . inet_proto; flags interval,timeout; }\n"
)


def elements(values: list[int], extra: str = "") -> str:
    return ", ".join(f"10.{v >> 8}.{v & 255}.0/24 . 0-255{extra}" for v in values)


def timed(ns: str, path: Path, text: str) -> float:
    path.write_text(text)
    started = time.monotonic()
    subprocess.run(["ip", "netns", "exec", ns, "nft", "-f", str(path)], check=True)
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    ns = f"clpipapo{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    print(f"load average: {os.getloadavg()[0]:.1f}")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp) / "cmd.nft"
            for size in (250, 1000, 4000):
                values = list(range(size))
                victims = values[:: size // 100][:100]
                deletes, adds, expiries, collects = [], [], [], []
                for _ in range(args.rounds):
                    timed(ns, work, SET + f"add element inet t s {{ {elements(values)} }}\n")
                    deletes.append(
                        timed(ns, work, f"delete element inet t s {{ {elements(victims)} }}\n")
                    )
                    adds.append(
                        timed(ns, work, f"add element inet t s {{ {elements(victims)} }}\n")
                    )
                    expire = elements(victims, " timeout 10ms")
                    expiries.append(timed(ns, work, f"add element inet t s {{ {expire} }}\n"))
                    time.sleep(1.5)  # the set's garbage collection runs at most once a second
                    collects.append(
                        timed(ns, work, "add element inet t s { 10.250.0.0/24 . 0-255 }\n")
                    )
                print(
                    f"set of {size:>5}: 100 deletions {min(deletes):.3f} s "
                    f"({min(deletes) * 10:.2f} ms each), 100 additions {min(adds):.3f} s, "
                    f"100 expiries {min(expiries):.3f} s + the commit collecting them "
                    f"{min(collects):.3f} s"
                )
    finally:
        subprocess.run(["ip", "netns", "delete", ns], check=False)


if __name__ == "__main__":
    main()
