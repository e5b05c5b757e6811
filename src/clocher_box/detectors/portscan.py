"""Scenario `port-scan`: distinct destination ports per source within a window.

Source of truth: conntrack's NEW events (`conntrack -E -e NEW`), one line per new flow
that the kernel accepted, in the box's network namespace. We chose it over an nft `log`
rule read through NFLOG because it needs no log parsing of packet dumps, no extra rule
per packet, works the same in host and gateway mode and inside a namespace, and counts
flows (a retransmitted SYN is not a new port). Packets of an already blocked source are
dropped before conntrack confirms them, so a blocked scanner produces no more events.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Sequence

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
    """`ports` distinct destination ports from one source within `window` s → block it."""

    def __init__(
        self,
        ports: int = 10,
        window: int = 10,
        duration: int = 14400,
        internal: Sequence[str] = (),
    ) -> None:
        self.duration = duration
        self.window = DistinctWindow(ports, window)
        self.internal = [ipaddress.ip_network(n, strict=False) for n in internal]

    def is_internal(self, source: str) -> bool:
        try:
            address = ipaddress.ip_address(source)
        except ValueError:
            return True
        return any(address in network for network in self.internal)

    def feed(self, line: str, now: float | None = None) -> Verdict | None:
        event = parse_conntrack(line)
        if event is None:
            return None
        protocol, source, destination, port = event
        if self.is_internal(source):
            return None
        count = self.window.add(
            source, (protocol, port), now if now is not None else time.monotonic()
        )
        if count is None:
            return None
        return Verdict(
            source,
            SCENARIO,
            self.duration,
            f"{count} ports en {self.window.window} s (vers {destination})",
        )
