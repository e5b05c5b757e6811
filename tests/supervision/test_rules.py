"""deploy/prometheus: the alert rules pass their promtool unit tests, the scrape
configuration and the Alertmanager route are valid, and every metric the rules use is
one /metrics exposes."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"
# Installed by `make install` (Debian packages prometheus and prometheus-alertmanager):
# an absent tool is a failure to see, not a skip.
PROMTOOL = "promtool"
AMTOOL = "amtool"


def run(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=120)


def test_rules_unit_tests():
    done = run(PROMTOOL, "test", "rules", "rules_test.yml", cwd=DEPLOY)
    assert done.returncode == 0, done.stdout + done.stderr


def test_rules_and_scrape_config_are_valid(tmp_path):
    for name in ("prometheus.yml", "rules.yml"):
        shutil.copy(DEPLOY / name, tmp_path / name)
    (tmp_path / "clocher-metrics.token").write_text("jeton\n")
    done = run(PROMTOOL, "check", "config", "prometheus.yml", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


def test_alertmanager_route():
    done = run(AMTOOL, "check-config", "alertmanager.yml", cwd=DEPLOY)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.django_db
def test_rules_use_exposed_metrics(settings, quiet_probes):
    from clocher.supervision import collect, exposition

    exposed = {family.name for family in exposition.families(collect.snapshot())}
    used = set(re.findall(r"\b(clocher_\w+)", (DEPLOY / "rules.yml").read_text()))
    assert used and used <= exposed, used - exposed
