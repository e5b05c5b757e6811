"""The alert check as a child of `clocher serve` (mail sent through the platform)."""

from __future__ import annotations

import sys

from clocher.core import supervisor


@supervisor.register
def alert_check() -> list[supervisor.Child]:
    """Every minute: the mail log counted, then the alert conditions checked."""
    argv = [sys.executable, "-m", "clocher.cli", "alerts", "--every", "60"]
    return [supervisor.Child("supervision : alertes", argv)]
