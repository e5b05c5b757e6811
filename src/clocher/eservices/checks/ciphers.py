"""Cipher suites and known TLS flaws of a website, seen by nmap's NSE scripts from
Debian (`ssl-enum-ciphers` grades each suite per protocol version; `ssl-heartbleed`,
`ssl-poodle`, `ssl-ccs-injection`, `ssl-dh-params` try the flaws), read from its XML
output. sslyze needs an older cryptography than the one we ship and testssl.sh takes
half a minute a site (docs/eservices.md): nmap answers the same questions in seconds.

Only called on a confirmed target (services.scan_target refuses the others first)."""

from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ET  # noqa: S405 - nmap's own output, not foreign XML
from dataclasses import dataclass, field

from clocher.eservices.checks import Finding, reach
from clocher.governance import cputime

NMAP_TIMEOUT = 300.0
SCRIPTS = "ssl-enum-ciphers,ssl-heartbleed,ssl-poodle,ssl-ccs-injection,ssl-dh-params"
_HOST = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.:-]*$")  # a name or an address, never an option


@dataclass
class TlsScan:
    """What nmap's scripts saw on one port."""

    suites: dict[str, set[str]] = field(default_factory=dict)  # protocol → suite names
    vulnerable: dict[str, list[str]] = field(default_factory=dict)  # script → titles


def nmap_tls(host: str, port: int) -> TlsScan:
    """Run the TLS scripts on one port (TCP connect, no ping: only the handshakes)."""
    nmap = shutil.which("nmap")
    if nmap is None:
        raise FileNotFoundError("nmap absent : apt-get install nmap")
    if not _HOST.match(host):
        raise ValueError(f"hôte invalide : {host!r}")
    address = reach.checked_address(host, port)  # nmap goes there, the name in SNI
    named = [] if address == host else ["--script-args", f"tls.servername={host}"]
    done = cputime.run(  # fixed argv, the host checked above; its CPU is counted
        [nmap, "-Pn", "-sT", "-n", "--max-retries", "1", "--script", SCRIPTS, *named,
         "-oX", "-", "-p", str(port), address],
        timeout=NMAP_TIMEOUT,
    )  # fmt: skip
    if done.returncode != 0:
        raise OSError(f"nmap : {done.stderr.strip()[:200]}")
    return parse(done.stdout)


def _elem(table: ET.Element, key: str) -> str:
    for elem in table.findall("elem"):
        if elem.get("key") == key:
            return elem.text or ""
    return ""


def parse(xml: str) -> TlsScan:
    """The suites offered per protocol and the flaws confirmed, from nmap's -oX."""
    found = TlsScan()
    for script in ET.fromstring(xml).iter("script"):  # noqa: S314 - nmap's own output
        sid = script.get("id", "")
        if sid == "ssl-enum-ciphers":
            for proto in script.findall("table"):
                ciphers = next(
                    (t for t in proto.findall("table") if t.get("key") == "ciphers"), None
                )
                if ciphers is not None:
                    found.suites[proto.get("key", "")] = {
                        _elem(suite, "name") for suite in ciphers.findall("table")
                    }
            continue
        for vuln in script.findall("table"):
            if _elem(vuln, "state").upper() in ("VULNERABLE", "LIKELY VULNERABLE"):
                found.vulnerable.setdefault(sid, []).append(_elem(vuln, "title"))
    return found


def _offering(scan: TlsScan, test: re.Pattern[str], protocols: tuple[str, ...] = ()) -> list[str]:
    return sorted(
        {
            name
            for proto, names in scan.suites.items()
            if not protocols or proto in protocols
            for name in names
            if test.search(name)
        }
    )


def _listed(names: list[str], limit: int = 3) -> str:
    more = f" et {len(names) - limit} autre(s)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


# (code, severity, which suites, title, explanation, fix), the worst first.
_SUITE_RULES: list[tuple[str, str, re.Pattern[str], str, str, str]] = [
    (
        "TLS_CIPHER_NULL",
        "critique",
        re.compile(r"_WITH_NULL_"),
        "Le site accepte des suites sans chiffrement (NULL)",
        "Avec ces suites, les échanges circulent en clair : quiconque est sur le réseau les "
        "lit, mots de passe compris.",
        "Retirez-les de la liste des suites (nginx : ssl_ciphers HIGH:!aNULL:!eNULL:!MD5; "
        "Apache : SSLCipherSuite HIGH:!aNULL:!eNULL:!MD5).",
    ),
    (
        "TLS_CIPHER_EXPORT",
        "critique",
        re.compile(r"EXPORT"),
        "Le site accepte des suites « export » (FREAK, Logjam)",
        "Ces suites volontairement affaiblies des années 1990 se cassent en quelques heures.",
        "Retirez-les (nginx : ssl_ciphers HIGH:!aNULL:!eNULL:!EXPORT; "
        "Apache : SSLCipherSuite HIGH:!aNULL:!EXPORT).",
    ),
    (
        "TLS_CIPHER_ANONYMOUS",
        "haute",
        re.compile(r"_anon_"),
        "Le site accepte des suites anonymes (sans certificat)",
        "Le serveur ne prouve pas son identité : un attaquant sur le réseau se fait passer "
        "pour lui et lit tout (attaque de l'intercepteur).",
        "Excluez-les (nginx : ssl_ciphers HIGH:!aNULL:!eNULL; Apache : SSLCipherSuite "
        "HIGH:!aNULL:!eNULL).",
    ),
    (
        "TLS_CIPHER_RC4",
        "haute",
        re.compile(r"_RC4_"),
        "Le site accepte le chiffrement RC4",
        "RC4 est cassé (RFC 7465) : des parties des échanges peuvent être retrouvées.",
        "Excluez RC4 (nginx : ssl_ciphers HIGH:!aNULL:!RC4; Apache : SSLCipherSuite "
        "HIGH:!aNULL:!RC4).",
    ),
    (
        "TLS_CIPHER_3DES",
        "moyenne",
        re.compile(r"_(3DES|DES|IDEA)_"),
        "Le site accepte 3DES ou DES (SWEET32)",
        "Ces chiffrements à blocs de 64 bits laissent retrouver un cookie de session après "
        "une longue connexion (attaque SWEET32).",
        "Excluez-les (nginx : ssl_ciphers HIGH:!aNULL:!3DES; Apache : SSLCipherSuite "
        "HIGH:!aNULL:!3DES).",
    ),
    (
        "TLS_NO_FORWARD_SECRECY",
        "moyenne",
        re.compile(r"^TLS_(RSA|DH|ECDH)_(?!anon_)"),
        "Le site accepte des suites sans confidentialité persistante",
        "Avec l'échange de clé RSA (ou DH statique), qui obtient un jour la clé privée du "
        "serveur déchiffre tous les échanges enregistrés auparavant.",
        "Ne gardez que les suites ECDHE/DHE (nginx : ssl_ciphers "
        "ECDHE+AESGCM:ECDHE+CHACHA20; Apache : SSLCipherSuite ECDHE+AESGCM:ECDHE+CHACHA20).",
    ),
]

# Known flaws tried by the scripts → (code, severity, title, explanation, fix).
_FLAWS: dict[str, tuple[str, str, str, str, str]] = {
    "ssl-heartbleed": (
        "TLS_HEARTBLEED",
        "critique",
        "Le site est vulnérable à Heartbleed",
        "Un attaquant lit à distance la mémoire du serveur : clés privées, mots de passe, "
        "sessions des usagers.",
        "Mettez à jour OpenSSL sur le serveur, puis changez la clé privée et le certificat.",
    ),
    "ssl-poodle": (
        "TLS_POODLE",
        "haute",
        "Le site est vulnérable à POODLE (SSL 3.0)",
        "SSL 3.0 laisse un attaquant sur le réseau déchiffrer les cookies de session.",
        "Désactivez SSL 3.0 (nginx : ssl_protocols TLSv1.2 TLSv1.3; Apache : SSLProtocol "
        "-all +TLSv1.2 +TLSv1.3).",
    ),
    "ssl-ccs-injection": (
        "TLS_CCS_INJECTION",
        "haute",
        "Le site est vulnérable à l'injection CCS (CVE-2014-0224)",
        "Un attaquant sur le réseau force des clés faibles et lit ou modifie les échanges.",
        "Mettez à jour OpenSSL sur le serveur.",
    ),
    "ssl-dh-params": (
        "TLS_DH_WEAK",
        "moyenne",
        "Le site utilise des paramètres Diffie-Hellman faibles",
        "Un groupe Diffie-Hellman trop petit ou trop partagé (Logjam) peut être cassé par un "
        "attaquant qui en a les moyens : les échanges enregistrés deviennent lisibles.",
        "Utilisez un groupe d'au moins 2048 bits (nginx : ssl_dhparam avec le fichier "
        "ffdhe2048 de la RFC 7919 ; Apache : SSLOpenSSLConfCmd DHParameters) ou seulement "
        "ECDHE.",
    ),
}


def findings(scan: TlsScan, where: str) -> list[Finding]:
    """The findings of one nmap run, each once, with the suites that justify it."""
    out = []
    for code, severity, test, title, explanation, fix in _SUITE_RULES:
        names = _offering(scan, test)
        if names:
            out.append(Finding(code, severity, f"{title} ({_listed(names)}) sur {where}.",
                               explanation, fix))  # fmt: skip
    if "SSLv3" in scan.suites:
        out.append(
            Finding(
                "TLS_SSLV3", "critique", f"Le site accepte encore SSL 3.0 sur {where}.",
                "SSL 3.0 est cassé depuis 2014 (POODLE) et interdit (RFC 7568).",
                "N'autorisez que TLS 1.2 et TLS 1.3 (nginx : ssl_protocols TLSv1.2 TLSv1.3; "
                "Apache : SSLProtocol -all +TLSv1.2 +TLSv1.3).",
            )
        )  # fmt: skip
    cbc = _offering(scan, re.compile(r"_CBC_"), ("SSLv3", "TLSv1.0"))
    if cbc:
        out.append(
            Finding(
                "TLS_CBC_OLD_PROTOCOL", "faible",
                f"Le site propose des suites CBC en TLS 1.0 ({_listed(cbc)}) sur {where}.",
                "En TLS 1.0, le chiffrement CBC est exposé à l'attaque BEAST contre les "
                "navigateurs anciens.",
                "Désactivez TLS 1.0 (nginx : ssl_protocols TLSv1.2 TLSv1.3;), ce qui règle "
                "aussi ce point.",
            )
        )  # fmt: skip
    for script, titles in sorted(scan.vulnerable.items()):
        if script == "ssl-dh-params" and all("anonymous" in t.lower() for t in titles):
            continue  # the anonymous suites already make their own finding
        if script in _FLAWS:
            code, severity, title, explanation, fix = _FLAWS[script]
            out.append(Finding(code, severity, f"{title} ({where}).", explanation, fix))
    return out


def check_ciphers(host: str, port: int) -> list[Finding]:
    """The cipher suites and known flaws of https://host:port/."""
    return findings(nmap_tls(host, port), f"{host}:{port}")
