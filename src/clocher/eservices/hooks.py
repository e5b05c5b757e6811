"""How the e-services audit plugs into the platform: the weekly audit under `clocher
serve` (the operator reaches the audit from the console's menu, not a tile: the
dashboard's query budget is spent)."""

from __future__ import annotations

import sys

from clocher.core import supervisor


@supervisor.register
def eservices_schedule() -> list[supervisor.Child]:
    """Every hour, the confirmed targets not audited for a week are audited."""
    argv = [sys.executable, "-m", "clocher.cli", "eservices", "schedule", "--every", "3600"]
    return [supervisor.Child("e-services : audit hebdomadaire", argv)]
