"""axe-core (npm, pinned in tests/e2e/package.json, installed by `make install`) run in the
page by Chromium: the RGAA asks for WCAG 2.1 A/AA, which are axe's tags below."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urldefrag, urlsplit

from selenium import webdriver

AXE_JS = Path(__file__).resolve().parent / "node_modules" / "axe-core" / "axe.min.js"
WCAG_21_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]

# What a crawl must not open: leaving the session, files rather than pages, machine APIs.
SKIPPED_PATHS = ("/deconnexion/", "/api/", "/metrics", "/healthz", "/remote.php", "/ocs/", "/dav")
SKIPPED_SUFFIXES = (
    ".pdf",
    ".csv",
    ".xml",
    ".txt",
    ".pem",
    ".zip",
    ".ics",
    ".mobileconfig",
    ".php",
    "/telecharger",
)

RUN_AXE = """
const done = arguments[arguments.length - 1];
axe.run(document, {runOnly: {type: "tag", values: arguments[0]}, resultTypes: ["violations"]})
  .then(r => done(r.violations.map(v => v.id + " (" + v.impact + "): " + v.help + " — "
      + v.nodes.map(n => n.target.join(" ")).join(", "))))
  .catch(e => done(["axe n'a pas pu s'exécuter : " + e]));
"""


def violations(driver: webdriver.Chrome) -> list[str]:
    """The WCAG 2.1 A/AA violations of the page open in the browser, one line each."""
    driver.execute_script(AXE_JS.read_text(encoding="utf-8"))
    driver.set_script_timeout(60)
    return list(driver.execute_async_script(RUN_AXE, WCAG_21_AA))


def check_axe_runs(driver: webdriver.Chrome) -> None:
    """axe finds the unlabelled checkbox of a page made for it: a crawl that reports no
    violation has really been checked."""
    driver.get(
        "data:text/html;charset=utf-8,<html lang=fr><title>t</title><main>"
        "<h1>t</h1><input type=checkbox></main></html>"
    )
    assert any(line.startswith("label ") for line in violations(driver))


def _crawlable(url: str, origin: str) -> bool:
    parts = urlsplit(url)
    return (
        f"{parts.scheme}://{parts.netloc}" == origin
        and not any(parts.path.startswith(p) for p in SKIPPED_PATHS)
        and not parts.path.lower().endswith(SKIPPED_SUFFIXES)
    )


def audit_site(
    driver: webdriver.Chrome, origin: str, start: str, limit: int
) -> dict[str, list[str]]:
    """Open `start` and the pages its links lead to (breadth first, same site, at most
    `limit` pages, query strings included once per path), and run axe on each:
    page path → violations (empty when the page passes)."""
    found: dict[str, list[str]] = {}
    queue = [origin + start]
    seen_paths: set[str] = set()
    while queue and len(found) < limit:
        url = queue.pop(0)
        path = urlsplit(url).path
        if path in seen_paths:
            continue
        seen_paths.add(path)
        driver.get(url)
        found[path] = violations(driver)
        links = driver.execute_script(
            "return Array.from(document.querySelectorAll('a[href]:not([download])'), a => a.href)"
        )
        for link in sorted(set(links)):
            link = urldefrag(link).url
            if _crawlable(link, origin) and urlsplit(link).path not in seen_paths:
                queue.append(link)
    return found
