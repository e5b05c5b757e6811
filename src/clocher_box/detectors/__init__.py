"""Detectors: each a named scenario with its parameters (see docs/shield.md).

A detector reads what it watches (conntrack events, a log, counters) and returns
`Verdict`s; the agent decides (allowlist, existing decisions), enforces and reports.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Verdict:
    source: str
    scenario: str
    duration: int
    detail: str = ""
