"""The engine's refusals: one exception type, French message naming what is wrong."""

from __future__ import annotations

from dataclasses import dataclass


class EnergyInputError(ValueError):
    """A file or series the engine cannot use as a whole (nothing is half-read)."""


@dataclass(frozen=True)
class LineIssue:
    """One remark of a per-line import report.

    `line` is 1-based in the file (0 for the file as a whole); `level` is "erreur"
    (the line was not used) or "avertissement" (used, but worth a look).
    """

    line: int
    code: str
    message: str
    level: str = "erreur"
