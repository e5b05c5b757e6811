"""What-if prices and emission factors come from the settings (CLOCHER_ENERGY_PRICE_*,
CLOCHER_ENERGY_CO2_*) and the result says which were used."""

from __future__ import annotations

import pytest
from django.test import override_settings
from django.urls import reverse

from clocher.energy import services
from clocher.energy.models import Building
from tests.conftest import logged_in


@pytest.mark.django_db
def test_what_if_uses_the_configured_prices_and_factors_and_says_so(demo_a, admin_a) -> None:
    school = Building.objects.get(commune=demo_a, name__startswith="École")
    assert school.heating_energy == "gaz_naturel"
    default, _ = services.what_if(school)
    with override_settings(ENERGY_PRICE_GAS_EUR_KWH=0.22, ENERGY_CO2_GAS_KG_KWH=0.454):
        doubled, _ = services.what_if(school)
        page = logged_in(admin_a).post(
            reverse("energy:simulate", args=[demo_a.insee, school.pk]), follow=True
        )
    roof = {r.measure: r for r in default}["toiture"]
    roof2 = {r.measure: r for r in doubled}["toiture"]
    assert roof2.kwh_saved == pytest.approx(roof.kwh_saved)
    assert roof2.eur_saved == pytest.approx(2 * roof.eur_saved)
    assert roof2.co2_kg_saved == pytest.approx(2 * roof.co2_kg_saved)
    text = page.content.decode()
    assert "prix utilisés : électricité 0,25 €/kWh" in text
    assert "gaz naturel 0,22 €/kWh (0,454 kg CO2e/kWh)" in text
