"""`clocher groupware resource add|list`."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from clocher.groupware.cli import groupware
from clocher.groupware.models import Resource

pytestmark = pytest.mark.django_db


def test_resource_add_then_list(commune_a):
    runner = CliRunner()
    added = runner.invoke(groupware, ["resource", "add", commune_a.insee, "Salle des fêtes"])
    assert added.exit_code == 0, added.output
    assert "ressource-21271-salle-des-fetes" in added.output
    assert Resource.objects.get(commune=commune_a).name == "Salle des fêtes"
    again = runner.invoke(groupware, ["resource", "add", commune_a.insee, "salle des fêtes"])
    assert again.exit_code == 1 and "déjà" in again.output
    listed = runner.invoke(groupware, ["resource", "list", commune_a.insee, "--json"])
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.output)[0]["identifiant"] == "salle-des-fetes"
