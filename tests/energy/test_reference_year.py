"""The building's reference year (décret tertiaire): chosen on the page among the years
that have data (each shown with its consumption), by the API and the CLI; a year
without a complete consumption is refused with a French message naming it. The
commune's reference is the sum of each building's own reference."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from django.urls import reverse

from clocher.api.services import create_token
from clocher.cli import main as cli
from clocher.core.models import AuditEntry
from clocher.energy import services
from clocher.energy.models import Building
from tests.conftest import logged_in
from tests.energy.conftest import ACTOR


@pytest.mark.django_db
def test_page_offers_the_years_with_data_and_refuses_one_without(demo_a, admin_a) -> None:
    mairie = Building.objects.get(commune=demo_a, name="Mairie")
    candidates = services.reference_candidates(mairie)
    assert [c.year for c in candidates] == [2015, 2016, 2017, 2018, 2019]
    client = logged_in(admin_a)
    url = reverse("energy:building", args=[demo_a.insee, mairie.pk])
    page = client.get(url).content.decode()
    assert "Fixer l'année de référence" in page
    measured = f"{candidates[1].kwh:,.0f}".replace(",", "\u202f")
    assert f"2016 : {measured} kWh mesurés" in page and "2012 :" not in page
    post = reverse("energy:reference_year", args=[demo_a.insee, mairie.pk])
    page = client.post(post, {"annee": "2012"}, follow=True).content.decode()
    assert "Année de référence 2012 refusée" in page and "pas de consommation complète" in page
    mairie.refresh_from_db()
    assert mairie.reference_year is None
    page = client.post(post, {"annee": "2017"}, follow=True).content.decode()
    assert "Année de référence : 2017." in page
    mairie.refresh_from_db()
    assert mairie.reference_year == 2017
    assert services.building_trajectory(mairie).trajectory.reference_year == 2017
    assert AuditEntry.objects.filter(action="energy.reference_year_set").count() == 1
    client.post(post, {"annee": ""})
    mairie.refresh_from_db()
    assert mairie.reference_year is None


@pytest.mark.django_db
def test_an_agent_of_the_commune_may_choose_the_year(demo_a, agent_a) -> None:
    mairie = Building.objects.get(commune=demo_a, name="Mairie")
    post = reverse("energy:reference_year", args=[demo_a.insee, mairie.pk])
    assert logged_in(agent_a).post(post, {"annee": "2018"}).status_code == 302
    mairie.refresh_from_db()
    assert mairie.reference_year == 2018


@pytest.mark.django_db
def test_api_sets_the_reference_year_and_refuses_a_year_without_data(demo_a, admin_a) -> None:
    mairie = Building.objects.get(commune=demo_a, name="Mairie")
    _, token = create_token(ACTOR, admin_a, "tests")
    url = f"/api/v1/communes/{demo_a.insee}/energy/buildings/{mairie.pk}/"
    api_headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    from django.test import Client

    api = Client(**api_headers)
    bad = api.patch(url, json.dumps({"reference_year": 2011}), content_type="application/json")
    assert bad.status_code == 400 and "2011 refusée" in bad.json()["detail"]
    good = api.patch(url, json.dumps({"reference_year": 2016}), content_type="application/json")
    assert good.status_code == 200 and good.json()["reference_year"] == 2016
    cleared = api.patch(url, json.dumps({"reference_year": None}), content_type="application/json")
    assert cleared.json()["reference_year"] is None


@pytest.mark.django_db
def test_cli_reference_lists_sets_and_refuses(demo_a) -> None:
    mairie = Building.objects.get(commune=demo_a, name="Mairie")
    runner = CliRunner()
    out = runner.invoke(cli, ["energy", "reference", str(mairie.pk)])
    assert out.exit_code == 0 and "2015" in out.output and "2019" in out.output
    out = runner.invoke(cli, ["energy", "reference", str(mairie.pk), "2013"])
    assert out.exit_code == 1 and "2013 refusée" in out.output
    out = runner.invoke(cli, ["energy", "reference", str(mairie.pk), "2019"])
    assert out.exit_code == 0, out.output
    mairie.refresh_from_db()
    assert mairie.reference_year == 2019


@pytest.mark.django_db
def test_commune_reference_is_the_sum_of_each_buildings_own_reference(demo_a, admin_a):
    mairie = Building.objects.get(commune=demo_a, name="Mairie")
    services.set_reference_year(ACTOR, mairie, 2019)
    total, rows = services.commune_trajectory(demo_a)
    known = [r.trajectory for r in rows if r.trajectory]
    assert len(known) == len(rows) >= 2
    assert {t.reference_year for t in known} != {2019}  # mixed years
    assert total.reference_kwh == pytest.approx(sum(t.reference_kwh for t in known))
    page = logged_in(admin_a).get(reverse("energy:buildings", args=[demo_a.insee]))
    text = page.content.decode()
    assert "Référence de la commune" in text and "Mairie : 2019" in text
