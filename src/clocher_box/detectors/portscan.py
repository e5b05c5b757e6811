"""Scenario `port-scan`: distinct destination ports per source within a window.

Source of truth: conntrack's NEW events (`conntrack -E -e NEW`), one line per new flow
that the kernel accepted, in the box's network namespace. We chose it over an nft `log`
rule read through NFLOG because it needs no log parsing of packet dumps, no extra rule
per packet, works the same in host and gateway mode and inside a namespace, and counts
flows (a retransmitted SYN is not a new port). Packets of an already blocked source are
dropped before conntrack confirms them, so a blocked scanner produces no more events.
Only flows that came in from the WAN are read: the table marks them (`nft.WAN_MARK`) and
conntrack filters on that mark, so a LAN host's outbound flows never count.

Stealth probes (NULL, FIN, Xmas… see `nft.VALID_TCP_FLAGS`) belong to no flow and never
reach conntrack: the table drops them and records each (source, port) in a dynamic set
from the packet path; the daemon reads that set every few seconds (`stealth()` below).
The kernel aggregates, so a flood costs the agent one bounded listing, never a wakeup
per packet as an NFLOG reader would.

Two windows: the short one (`ports` in `window` s) catches a fast scan at once; the long
one (`slow_ports` in `slow_window` s, an hour by default, as psad does) catches a scanner
that paces its probes to stay under the short one.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterable, Sequence

from clocher_box.detectors import Verdict
from clocher_box.detectors.window import DistinctWindow

SCENARIO = "port-scan"


def parse_conntrack(line: str) -> tuple[str, str, str, int] | None:
    """(protocol, source, destination, destination port) of a `[NEW]` event line."""
    if "[NEW]" not in line:
        return None
    words = line.split()
    try:
        protocol = words[words.index("[NEW]") + 1]
    except (ValueError, IndexError):
        return None
    fields: dict[str, str] = {}
    for word in words:
        key, eq, value = word.partition("=")
        if eq and key in ("src", "dst", "dport") and key not in fields:
            fields[key] = value
    if len(fields) < 3 or not fields["dport"].isdigit():
        return None
    return protocol, fields["src"], fields["dst"], int(fields["dport"])


class PortScan:
    """`ports` distinct destination ports from one source within `window` s, or
    `slow_ports` within `slow_window` s → block it."""

    def __init__(
        self,
        ports: int = 10,
        window: int = 10,
        duration: int = 14400,
        internal: Sequence[str] = (),
        slow_ports: int = 20,
        slow_window: int = 3600,
        slow_sources: int = 10_000,
    ) -> None:
        self.duration = duration
        self.window = DistinctWindow(ports, window)
        self.slow = DistinctWindow(slow_ports, slow_window, max_sources=slow_sources)
        self.internal = [ipaddress.ip_network(n, strict=False) for n in internal]
        self._stealth_seen: dict[tuple[str, int], float] = {}

    def is_internal(self, source: str) -> bool:
        try:
            address = ipaddress.ip_address(source)
        except ValueError:
            return True
        return any(address in network for network in self.internal)

    def feed(self, line: str, now: float | None = None) -> Verdict | None:
        """A conntrack event line."""
        event = parse_conntrack(line)
        if event is None:
            return None
        protocol, source, destination, port = event
        at = now if now is not None else time.monotonic()
        return self.observe(source, (protocol, port), at, f"vers {destination}")

    def stealth(
        self, probes: Iterable[tuple[str, int, float]], now: float | None = None
    ) -> list[Verdict]:
        """The stealth set's listing: (source, TCP port, seconds since last seen). Each
        pair counts once per time it is seen (the set keeps it for a while)."""
        now = now if now is not None else time.monotonic()
        verdicts = []
        listed: dict[tuple[str, int], float] = {}
        for source, port, age in probes:
            at = listed[(source, port)] = now - age
            if at <= self._stealth_seen.get((source, port), -1.0) + 1:
                continue  # already counted (the listing rounds to the second)
            verdict = self.observe(source, ("tcp", port), at, "sondes furtives")
            if verdict is not None:
                verdicts.append(verdict)
        self._stealth_seen = listed  # as large as the kernel's set, no larger
        return verdicts

    def observe(self, source: str, key: tuple[str, int], at: float, what: str) -> Verdict | None:
        """One port touched by `source`, through both windows."""
        if self.is_internal(source):
            return None
        for window in (self.window, self.slow):
            count = window.add(source, key, at)
            if count is not None:
                self.window.forget(source)
                self.slow.forget(source)
                return Verdict(
                    source,
                    SCENARIO,
                    self.duration,
                    f"{count} ports en {int(window.window)} s ({what})",
                )
        return None
