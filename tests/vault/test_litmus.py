"""litmus, the WebDAV protocol test suite (Debian package), against the vault."""

from __future__ import annotations

import re
import subprocess
from urllib.parse import quote

import pytest

pytestmark = pytest.mark.django_db(transaction=True)

SUITES = ["basic", "copymove", "props", "locks", "http"]


@pytest.mark.parametrize("suite", SUITES)
def test_litmus_suite_passes(dav_user, commune_a, suite, tmp_path):
    url = dav_user.root + quote(commune_a.name) + "/"
    result = subprocess.run(  # noqa: S603
        ["litmus", url, dav_user.user.email, dav_user.password],  # noqa: S607
        env={"TESTS": suite, "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=tmp_path,  # litmus writes debug.log and child.log in its working directory
    )
    output = result.stdout + result.stderr
    summary = re.search(r"<- summary for `\w+': of (\d+) tests run: (\d+) passed", output)
    assert summary, output
    assert result.returncode == 0 and summary.group(1) == summary.group(2), output
