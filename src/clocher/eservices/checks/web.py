"""What a website's answer says: security headers, cookies, mixed content, an
out-of-date CMS, and third parties loaded from foreign clouds."""

from __future__ import annotations

import http.client
import json
import re
import socket
import ssl
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from clocher.eservices.checks import Finding, reach

TIMEOUT = 15.0
MAX_BODY = 2 * 1024 * 1024
MAX_REDIRECTS = 3
HSTS_MIN_AGE = 180 * 24 * 3600  # six months, the ANSSI's recommendation
# What a site that is down, or is not a web server, makes `fetch` raise.
FETCH_ERRORS = (OSError, http.client.HTTPException)
USER_AGENT = "Clocher-audit/1 (audit des e-services)"
CMS_FLOORS = Path(__file__).with_name("cms_versions.json")


@dataclass
class Page:
    url: str
    status: int
    headers: dict[str, str]  # lower-case names, last value
    cookies: list[str] = field(default_factory=list)  # raw Set-Cookie values
    body: str = ""


class _PinnedHTTPS(http.client.HTTPSConnection):
    """HTTPS to a checked address, the site's name in SNI (and in Host)."""

    def __init__(self, address: str, port: int, name: str, context: ssl.SSLContext) -> None:
        super().__init__(address, port, timeout=TIMEOUT, context=context)
        self.name, self.context = name, context

    def connect(self) -> None:
        sock = socket.create_connection((self.host, self.port), self.timeout)
        self.sock = self.context.wrap_socket(sock, server_hostname=reach.server_name(self.name))


def fetch(url: str) -> Page:
    """GET `url` following a few redirects, each hop to an address `reach` checked; the
    certificate is judged by the TLS check, not here, so that a bad certificate does not
    hide the rest of the audit."""
    for _ in range(MAX_REDIRECTS + 1):
        parts = urlsplit(url)
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:  # a port out of range, or not a number
            port = 0
        if parts.scheme not in ("http", "https") or not parts.hostname or not port:
            raise OSError(f"adresse non auditée : {url[:200]}")
        address = reach.checked_address(parts.hostname, port)
        conn: http.client.HTTPConnection
        if parts.scheme == "https":
            ctx = ssl.create_default_context()
            ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
            conn = _PinnedHTTPS(address, port, parts.hostname, ctx)
        else:
            conn = http.client.HTTPConnection(address, port, timeout=TIMEOUT)
        try:
            path = (parts.path or "/") + ("?" + parts.query if parts.query else "")
            conn.request("GET", path, headers={"User-Agent": USER_AGENT, "Host": parts.netloc})
            response = conn.getresponse()
            headers = {k.lower(): v for k, v in response.getheaders()}
            cookies = response.msg.get_all("Set-Cookie") or []
            body = response.read(MAX_BODY).decode("utf-8", "replace")
        finally:
            conn.close()
        if response.status in (301, 302, 303, 307, 308) and "location" in headers:
            url = urljoin(url, headers["location"])
            continue
        return Page(url, response.status, headers, cookies, body)
    return Page(url, response.status, headers, cookies, body)


def check_headers(page: Page) -> list[Finding]:
    findings = []
    https = page.url.startswith("https://")
    h = page.headers
    if not https:
        findings.append(
            Finding(
                "HTTP_NO_TLS",
                "haute",
                "Le site est servi sans chiffrement (http://).",
                "Ce que les usagers saisissent ou lisent circule en clair sur le réseau.",
                "Servez le site en https:// et redirigez http:// vers https://.",
            )
        )
    hsts = h.get("strict-transport-security", "")
    age = re.search(r"max-age\s*=\s*\"?(\d+)", hsts)
    if https and not age:
        findings.append(
            Finding(
                "HSTS_MISSING",
                "moyenne",
                "L'en-tête Strict-Transport-Security (HSTS) est absent.",
                "Sans lui, un attaquant sur le réseau peut ramener l'usager vers la "
                "version non chiffrée du site.",
                'Ajoutez « Strict-Transport-Security: max-age=31536000" » '
                "(nginx : add_header Strict-Transport-Security max-age=31536000 always;).",
            )
        )
    elif https and age and int(age.group(1)) < HSTS_MIN_AGE:
        findings.append(
            Finding(
                "HSTS_SHORT",
                "faible",
                f"La durée HSTS est courte ({age.group(1)} secondes).",
                "La protection cesse trop vite après la dernière visite.",
                "Portez max-age à au moins six mois (15552000), idéalement un an.",
            )
        )
    if "content-security-policy" not in h:
        findings.append(
            Finding(
                "CSP_MISSING",
                "moyenne",
                "L'en-tête Content-Security-Policy (CSP) est absent.",
                "Rien ne limite les scripts que la page peut charger : une faille de "
                "saisie suffit pour injecter du code chez les usagers.",
                "Définissez une politique, par exemple « default-src 'self' », puis "
                "ajoutez les sources réellement utilisées.",
            )
        )
    if h.get("x-content-type-options", "").strip().lower() != "nosniff":
        findings.append(
            Finding(
                "XCTO_MISSING",
                "faible",
                "L'en-tête X-Content-Type-Options: nosniff est absent.",
                "Le navigateur peut interpréter un fichier déposé comme un script.",
                "Ajoutez « X-Content-Type-Options: nosniff ».",
            )
        )
    if "referrer-policy" not in h:
        findings.append(
            Finding(
                "REFERRER_POLICY_MISSING",
                "faible",
                "L'en-tête Referrer-Policy est absent.",
                "L'adresse complète des pages consultées (parfois avec des identifiants) "
                "part vers les sites tiers.",
                "Ajoutez « Referrer-Policy: strict-origin-when-cross-origin ».",
            )
        )
    return findings


def check_cookies(page: Page) -> list[Finding]:
    findings = []
    https = page.url.startswith("https://")
    for raw in page.cookies:
        name = raw.split("=", 1)[0].strip()
        attributes = {a.strip().split("=", 1)[0].lower() for a in raw.split(";")[1:]}
        if https and "secure" not in attributes:
            findings.append(
                Finding(
                    "COOKIE_NOT_SECURE",
                    "moyenne",
                    f"Le cookie « {name} » n'a pas l'attribut Secure.",
                    "Il peut être envoyé sans chiffrement et intercepté.",
                    f"Ajoutez l'attribut Secure au cookie « {name} ».",
                )
            )
        if "httponly" not in attributes:
            findings.append(
                Finding(
                    "COOKIE_NOT_HTTPONLY",
                    "faible",
                    f"Le cookie « {name} » n'a pas l'attribut HttpOnly.",
                    "Un script injecté dans la page peut le lire et voler la session.",
                    f"Ajoutez l'attribut HttpOnly au cookie « {name} ».",
                )
            )
    return findings


class _Resources(HTMLParser):
    """The URLs a page loads (scripts, styles, images, frames) and its generator meta."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.generator = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "meta" and (values.get("name") or "").lower() == "generator":
            self.generator = values.get("content") or ""
        for attr in ("src", "href", "data"):
            if tag in ("a",) or not values.get(attr):
                continue
            if tag == "link" and "stylesheet" not in (values.get("rel") or "") and attr == "href":
                continue
            self.urls.append(str(values[attr]))


def _resources(page: Page) -> _Resources:
    parser = _Resources()
    parser.feed(page.body)
    return parser


def check_mixed_content(page: Page) -> list[Finding]:
    if not page.url.startswith("https://"):
        return []
    plain = sorted({u for u in _resources(page).urls if u.startswith("http://")})
    if not plain:
        return []
    return [
        Finding(
            "MIXED_CONTENT",
            "moyenne",
            f"La page sécurisée charge {len(plain)} ressource(s) sans chiffrement "
            f"(par exemple {plain[0]}).",
            "Ces ressources peuvent être modifiées en chemin ; les navigateurs les bloquent "
            "souvent, et la page s'affiche mal.",
            "Chargez ces ressources en https:// ou hébergez-les sur le site.",
        )
    ]


# Foreign clouds a commune's page should not send its visitors to (host suffix, name,
# severity, why): the CNIL found Google Analytics' transfers unlawful (2022), a German
# court fined a site for Google Fonts (LG München, 2022).
THIRD_PARTIES = [
    ("google-analytics.com", "Google Analytics", "haute", "mesure d'audience"),
    ("googletagmanager.com", "Google Tag Manager", "haute", "mesure d'audience"),
    ("doubleclick.net", "Google DoubleClick", "haute", "publicité"),
    ("connect.facebook.net", "Facebook (Meta)", "haute", "pixel de suivi"),
    ("fonts.googleapis.com", "Google Fonts", "moyenne", "polices de caractères"),
    ("fonts.gstatic.com", "Google Fonts", "moyenne", "polices de caractères"),
    ("youtube.com", "YouTube", "faible", "vidéo intégrée"),
]


def check_third_parties(page: Page) -> list[Finding]:
    seen: dict[str, tuple[str, str, str]] = {}
    for url in _resources(page).urls:
        host = (urlsplit(urljoin(page.url, url)).hostname or "").lower()
        for suffix, name, severity, use in THIRD_PARTIES:
            if host == suffix or host.endswith("." + suffix):
                seen.setdefault(name, (severity, use, host))
    return [
        Finding(
            "THIRD_PARTY_" + re.sub(r"[^A-Z]+", "_", name.upper()).strip("_"),
            severity,
            f"La page charge {name} ({use}, depuis {host}).",
            "Chaque visite transmet l'adresse IP de l'usager à une entreprise soumise à "
            "des lois étrangères, sans son consentement : c'est contraire au RGPD et à la "
            "souveraineté des données publiques.",
            f"Retirez {name} ou remplacez-le par un service hébergé en France "
            "(polices servies par le site lui-même, mesure d'audience Matomo exemptée "
            "de consentement).",
        )
        for name, (severity, use, host) in sorted(seen.items())
    ]


_GENERATOR = re.compile(r"\b(WordPress|Joomla!?|Drupal)\s+(\d+(?:\.\d+)*)", re.I)
_README_VERSION = re.compile(r"Version\s+(\d+(?:\.\d+)+)", re.I)


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def cms_version(page: Page, readme: str = "") -> tuple[str, str] | None:
    """(CMS, version) from the generator meta, else from WordPress's readme.html."""
    match = _GENERATOR.search(_resources(page).generator)
    if match:
        name = {"wordpress": "WordPress", "drupal": "Drupal"}.get(match.group(1).lower(), "Joomla")
        return name, match.group(2)
    readme_match = _README_VERSION.search(readme) if "wordpress" in readme.lower() else None
    if readme_match:
        return "WordPress", readme_match.group(1)
    return None


def check_cms(page: Page, readme: str = "") -> list[Finding]:
    found = cms_version(page, readme)
    if found is None:
        return []
    name, version = found
    floors = json.loads(CMS_FLOORS.read_text())
    floor = floors["versions"].get(name)
    if floor is None or _version(version) >= _version(floor):
        return []
    return [
        Finding(
            "CMS_OUTDATED",
            "haute",
            f"Le site utilise {name} {version}, une version qui a des failles connues.",
            f"Les failles des versions de {name} antérieures à {floor} sont publiées : "
            "des robots les exploitent automatiquement sur tous les sites qu'ils trouvent.",
            f"Mettez {name} à jour (au moins {floor}) ainsi que ses extensions, et "
            "activez les mises à jour de sécurité automatiques.",
        )
    ]
