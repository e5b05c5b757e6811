"""The audit checks: each a small function that looks at one public aspect of a target
and returns findings (code, severity, plain-French explanation, fix). They never write
to the database; `services.scan_target` stores what they return."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Finding:
    code: str
    severity: str  # one of models.Severity's values
    title: str
    explanation: str
    fix: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# Points a finding takes off a target's 100 (docs/eservices.md, « Score »).
PENALTY = {"info": 0, "faible": 3, "moyenne": 8, "haute": 20, "critique": 40}


def score(findings: list[Finding]) -> int:
    """100 minus each finding's penalty, never below 0."""
    return max(0, 100 - sum(PENALTY[f.severity] for f in findings))
