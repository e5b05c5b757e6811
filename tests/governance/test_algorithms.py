"""The register of public algorithms is generated from the model cards next to the code:
every model the platform runs has one, complete, and a changed parameter shows at once."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from django.urls import reverse

from clocher.awareness import rating
from clocher.cli import main
from clocher.energy.engine import baseline
from clocher.forecast.engine.models import CANDIDATES
from clocher.governance import algorithms


def test_every_model_has_a_complete_card_read_from_its_code():
    cards = algorithms.cards()
    assert {c["service"] for c in cards} == {"forecast", "energy", "awareness", "shield"}
    for card in cards:
        assert all(card[k] for k in algorithms.SECTIONS), card["nom"]
    forecast = next(c for c in cards if c["service"] == "forecast")
    assert all(c.label in forecast["logique"] for c in CANDIDATES.values())
    glicko = next(c for c in cards if c["service"] == "awareness")
    assert glicko["parametres"]["tau (variation de la volatilité)"] == rating.TAU
    energy = next(c for c in cards if c["nom"].startswith("Référence"))
    assert energy["parametres"]["seuil G14 mensuel (CV(RMSE), |NMBE|)"] == list(
        baseline.G14_LIMITS["monthly"]
    )


def test_a_changed_setting_changes_the_register(settings):
    settings.SHIELD_BRUTEFORCE_FAILURES = 7
    shield = next(c for c in algorithms.cards() if c["service"] == "shield")
    assert shield["parametres"]["échecs avant blocage"] == 7
    assert "échoue 7 fois" in shield["logique"]


def test_a_card_missing_a_section_is_named(monkeypatch):
    from clocher.shield import modelcard

    monkeypatch.setattr(modelcard, "model_cards", lambda: [{"nom": "x", "service": "shield"}])
    with pytest.raises(ValueError, match="clocher.shield.modelcard incomplète : finalite"):
        algorithms.cards()


@pytest.mark.django_db
def test_cli_and_pages_show_the_algorithms(client_operator, commune_a):
    result = CliRunner().invoke(main, ["governance", "algorithms", "--json"])
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.output)) == len(algorithms.cards())
    plain = CliRunner().invoke(main, ["governance", "algorithms"])
    assert "Logique de traitement" in plain.output and "Glicko-2" in plain.output
    for url in (
        reverse("governance:operator"),
        reverse("governance:commune", kwargs={"insee": commune_a.insee}),
    ):
        body = client_operator.get(url).content.decode()
        assert "Adaptation des exercices d&#x27;hameçonnage (Glicko-2)" in body
