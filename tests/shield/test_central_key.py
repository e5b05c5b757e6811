"""Several web nodes sign box policies with one key: a node with another is refused."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from clocher.cli import main
from clocher.shield import services
from clocher.shield.models import CentralKey


@pytest.mark.django_db
def test_web_node_with_another_key_refuses_to_start(settings, tmp_path):
    settings.SHIELD_CENTRAL_KEY_FILE = str(tmp_path / "shared" / "central-ed25519.key")
    first = services.check_central_key()  # first use: recorded
    assert CentralKey.objects.get().fingerprint == first
    assert services.check_central_key() == first  # same key: fine
    # A node that did not get the copied key makes its own.
    settings.SHIELD_CENTRAL_KEY_FILE = str(tmp_path / "node2" / "central-ed25519.key")
    result = CliRunner().invoke(main, ["serve", "--roles", "web"])
    assert result.exit_code == 1
    assert "n'est pas celle de la plateforme" in result.output
    assert "CLOCHER_SHIELD_CENTRAL_KEY_FILE" in result.output
    assert CentralKey.objects.get().fingerprint == first
