"""Network namespaces for the box's end-to-end test, made and removed by the test.

Only documentation addresses (RFC 5737) are used, so no packet is meant for a real host.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


class Lab:
    """Namespaces and veth pairs, all removed by `close()` (and the root-side links)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.namespaces: list[str] = []
        self.root_links: list[str] = []

    def ns(self, name: str) -> str:
        full = f"{self.prefix}-{name}"
        ip("netns", "add", full)
        self.namespaces.append(full)
        self.exec(full, "ip", "link", "set", "lo", "up")
        return full

    def link(self, left: str | None, left_if: str, right: str, right_if: str) -> None:
        """A veth pair; `left` None means the root namespace (where `left_if` must be new).
        Made under temporary names, then moved and renamed, so that names like eth0 in a
        namespace never clash with the host's."""
        count = len(self.namespaces) + len(self.root_links) + id(right_if) % 1000
        temp_left, temp_right = f"{self.prefix}l{count}", f"{self.prefix}r{count}"
        ip("link", "add", temp_left, "type", "veth", "peer", "name", temp_right)
        if left is None:
            ip("link", "set", temp_left, "name", left_if)
            self.root_links.append(left_if)
        else:
            ip("link", "set", temp_left, "netns", left)
            ip("-n", left, "link", "set", temp_left, "name", left_if)
        ip("link", "set", temp_right, "netns", right)
        ip("-n", right, "link", "set", temp_right, "name", right_if)

    def address(self, ns: str | None, ifname: str, *cidrs: str) -> None:
        run = (lambda *a: ip(*a)) if ns is None else (lambda *a: self.exec(ns, "ip", *a))
        for cidr in cidrs:
            run("addr", "add", cidr, "dev", ifname)
        run("link", "set", ifname, "up")

    def exec(self, ns: str, *command: str, check: bool = True, timeout: float = 30) -> str:
        done = subprocess.run(
            ["ip", "netns", "exec", ns, *command],
            check=False,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"{command} dans {ns} : {done.stderr.strip()}")
        return done.stdout

    def python(self, ns: str, code: str, *args: str, timeout: float = 30) -> str:
        return self.exec(ns, sys.executable, "-c", code, *args, timeout=timeout)

    def popen(self, ns: str, command: Sequence[str], **kwargs: object) -> subprocess.Popen[str]:
        return subprocess.Popen(["ip", "netns", "exec", ns, *command], text=True, **kwargs)  # type: ignore[call-overload, no-any-return]

    def close(self) -> None:
        for link in self.root_links:
            subprocess.run(["ip", "link", "del", link], check=False, capture_output=True)
        for ns in reversed(self.namespaces):
            subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True)
