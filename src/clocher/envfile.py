"""Read the commented KEY=value file that `clocher init` writes (no shell expansion)."""

from __future__ import annotations

import os
from pathlib import Path


def parse_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key = key.strip().removeprefix("export ").strip()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[key] = value
    return values


def load_env_file(path: Path) -> None:
    """Set the file's CLOCHER_* keys that the environment does not already set."""
    if not path.is_file():
        return
    for key, value in parse_env_file(path).items():
        if key.startswith("CLOCHER_"):
            os.environ.setdefault(key, value)
