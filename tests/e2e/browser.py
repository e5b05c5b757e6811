"""Headless Debian Chromium driven through Debian's chromedriver (nothing downloaded)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from tests.conftest import PASSWORD

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"


@contextmanager
def chromium() -> Iterator[webdriver.Chrome]:
    """A headless Chromium on a profile of its own, removed when the browser quits."""
    profile = tempfile.mkdtemp(prefix="clocher-chromium-")
    binary = shutil.which("chromium") or "/usr/bin/chromium"
    driver_path = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,1000",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    options.add_argument("--lang=fr-FR")
    try:
        driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
        try:
            yield driver
        finally:
            driver.quit()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def screenshot(driver: webdriver.Chrome, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


def field(driver: webdriver.Chrome, label: str) -> WebElement:
    """The input a visible <label> names: what a screen-reader user would reach."""
    element = driver.find_element(By.XPATH, f'//label[starts-with(normalize-space(.), "{label}")]')
    return driver.find_element(By.ID, element.get_attribute("for"))


def log_in(
    driver: webdriver.Chrome, wait: WebDriverWait, base_url: str, email: str, insee: str
) -> None:
    """Log in through the login page, as a person would, and wait for the commune's console."""
    driver.get(f"{base_url}/connexion/")
    field(driver, "Adresse électronique").send_keys(email)
    field(driver, "Mot de passe").send_keys(PASSWORD + Keys.ENTER)
    wait.until(ec.url_contains(f"/c/{insee}/"))
