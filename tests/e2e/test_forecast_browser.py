"""An agent, in a real headless Chromium: send a series, run the forecast, read the fan
chart and the sentence — by labels, as a screen-reader user would; no CSP violation."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from clocher.forecast.models import Forecast
from tests.e2e.browser import field, log_in, screenshot
from tests.forecast.test_services import csv_of, monthly_points

pytestmark = pytest.mark.browser


@pytest.mark.django_db(transaction=True)
def test_agent_sends_a_series_and_reads_the_fan_chart(
    live_server, browser, commune_a, agent_a, tmp_path
):
    wait = WebDriverWait(browser, 60)
    log_in(browser, wait, live_server.url, agent_a.email, commune_a.insee)
    browser.get(f"{live_server.url}/c/{commune_a.insee}/previsions/")
    path = tmp_path / "eau des bâtiments.csv"
    path.write_bytes(csv_of(monthly_points(48)))
    field(browser, "Fichier de la série").send_keys(str(path))
    field(browser, "Unité").send_keys("m³")
    browser.find_element(By.XPATH, "//button[normalize-space(.)='Envoyer la série']").click()
    wait.until(ec.url_contains("/previsions/series/"))
    horizon = field(browser, "Horizon")
    horizon.clear()
    horizon.send_keys("12" + Keys.ENTER)
    wait.until(ec.url_contains("/previsions/calculs/"))
    chart = browser.find_element(By.CSS_SELECTOR, "svg.chart[role='img']")
    assert chart.size["width"] > 300 and chart.size["height"] > 150
    assert len(chart.find_elements(By.TAG_NAME, "polygon")) == 2
    forecast = Forecast.objects.get()
    why = browser.find_element(By.CSS_SELECTOR, "p.why").text
    assert why.startswith("Pourquoi ce modèle ?") and forecast.model in why
    screenshot(browser, "10-prevision-eventail")
    logs = browser.get_log("browser") if hasattr(browser, "get_log") else []
    assert not [entry for entry in logs if "Content Security Policy" in entry.get("message", "")]
