"""Administration ports open on a public address (the town hall's, known from its box),
seen by nmap from Debian with polite timing (-T2: one probe at a time, 0.4 s apart) and
a plain TCP connect scan — only on a target whose ownership the operator confirmed
(services.scan_target refuses the others before anything is sent)."""

from __future__ import annotations

import shutil
import socket
import xml.etree.ElementTree as ET  # noqa: S405 - nmap's own output, not foreign XML

from clocher.eservices.checks import Finding, reach
from clocher.governance import cputime

TIMEOUT = 3.0
NMAP_TIMEOUT = 300.0
# Port → (service, severity): what ransomware crews scan the internet for first.
RISKY_PORTS: dict[int, tuple[str, str]] = {
    21: ("FTP", "haute"),
    23: ("Telnet", "critique"),
    445: ("SMB (partage de fichiers Windows)", "critique"),
    1433: ("SQL Server", "haute"),
    3306: ("MySQL", "haute"),
    3389: ("RDP (bureau à distance Windows)", "critique"),
    5432: ("PostgreSQL", "haute"),
    5900: ("VNC (prise en main à distance)", "critique"),
}


def nmap_open_ports(host: str, ports: list[int]) -> dict[int, str]:
    """Open port → the service nmap names for it (from its port table: nothing is sent
    beyond the TCP handshake). `-Pn`: a town hall's router often drops pings."""
    nmap = shutil.which("nmap")
    if nmap is None:
        raise FileNotFoundError("nmap absent : apt-get install nmap")
    reach.check_public(host, host)
    done = cputime.run(  # fixed argv, the host is a validated IP address
        [nmap, "-Pn", "-sT", "-T2", "-n", "--max-retries", "1", "-oX", "-",
         "-p", ",".join(map(str, sorted(ports))), host],
        timeout=NMAP_TIMEOUT,
    )  # fmt: skip
    if done.returncode != 0:
        raise OSError(f"nmap : {done.stderr.strip()[:200]}")
    found = {}
    for port in ET.fromstring(done.stdout).iter("port"):  # noqa: S314 - nmap's own output
        state = port.find("state")
        if state is not None and state.get("state") == "open":
            service = port.find("service")
            found[int(port.get("portid", "0"))] = (
                service.get("name", "") if service is not None else ""
            )
    return found


def is_open(host: str, port: int) -> bool:
    """Without nmap: one TCP connection, nothing sent."""
    reach.check_public(host, host)
    try:
        with socket.create_connection((host, port), timeout=TIMEOUT):
            return True
    except OSError:
        return False


def open_ports(host: str, ports: list[int]) -> dict[int, str]:
    if shutil.which("nmap"):
        return nmap_open_ports(host, ports)
    return {port: "" for port in ports if is_open(host, port)}


def check_ports(host: str, ports: dict[int, tuple[str, str]] | None = None) -> list[Finding]:
    risky = ports or RISKY_PORTS
    found = open_ports(host, list(risky))
    return [
        Finding(
            f"PORT_OPEN_{port}",
            severity,
            f"Le port {port} ({service}) est ouvert sur {host}.",
            f"Un service d'administration ({service}) joignable depuis Internet est la "
            "première porte qu'essaient les attaquants (rançongiciels) : mots de passe "
            "devinés, failles connues.",
            f"Fermez le port {port} sur le pare-feu ou bloquez-le sur le boîtier Clocher de "
            "la mairie ; pour travailler à distance, passez par un VPN.",
        )
        for port, (service, severity) in sorted(risky.items())
        if port in found
    ]
