"""`make box-deb` (issue 18): the box agent as a Debian package, installed on this machine
with apt like a town hall's mini-PC would, then removed. Before enrolment the package
leaves the service stopped and `clocher-box status` says so; the agent runs on Debian's
python3 and libraries (and the vendored geoip2fast) alone."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
APT = ["apt-get", "-y", "-o", "DPkg::Lock::Timeout=300"]
ENV = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}

# Installs a Debian package on this machine: CI runs as root, as the netns tests need.
pytestmark = [pytest.mark.slow]


def _run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(  # noqa: S603
        argv, cwd=REPO, env=ENV, capture_output=True, text=True, timeout=600, check=False
    )
    assert not check or done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


@pytest.fixture
def installed() -> Iterator[str]:
    """The package built and installed; removed afterwards, whatever the test did."""
    build = _run("make", "box-deb")
    (deb,) = [line for line in build.stdout.splitlines() if line.endswith(".deb")]
    try:
        install = _run(*APT, "install", "--no-install-recommends", f"./{deb}")
        yield install.stdout
    finally:
        _run(*APT, "remove", "clocher-box", check=False)


def test_installed_box_waits_for_enrolment(installed):
    # The postinst says why the service does not start and what to do.
    assert "non enrôlé" in installed and "clocher-box enroll" in installed
    unit = Path("/lib/systemd/system/clocher-box.service").read_text()
    assert "ConditionPathExists=/var/lib/clocher-box/box.json" in unit
    assert "ExecStart=/usr/bin/clocher-box run" in unit
    assert Path("/etc/default/clocher-box").is_file()

    status = _run("/usr/bin/clocher-box", "status", check=False)
    assert status.returncode == 3, status.stdout + status.stderr
    assert "Boîtier non enrôlé" in status.stdout and "clocher-box enroll" in status.stdout
    assert not Path("/var/lib/clocher-box/box.json").exists()

    # The unit is not active (no systemd as PID 1 in a container: then nothing runs it).
    if shutil.which("systemctl") and Path("/run/systemd/system").is_dir():
        active = _run("systemctl", "is-active", "clocher-box", check=False)
        assert active.stdout.strip() != "active"
    running = _run("pgrep", "-f", "/usr/bin/clocher-box run", check=False)
    assert running.returncode == 1, running.stdout

    # Debian's python3 and libraries are enough: signing, DNS, the central's client, and
    # the country database vendored under /usr/lib/clocher-box.
    probe = _run(
        "/usr/bin/python3", "-I", "-c",
        "import sys; sys.path.insert(0, '/usr/lib/clocher-box')\n"
        "import clocher_box.protocol, clocher_box.dns, clocher_box.client\n"
        "from clocher_box import geo; print(geo.country('2a01:e0a::1'))",
    )  # fmt: skip
    assert probe.stdout.strip() == "FR"
