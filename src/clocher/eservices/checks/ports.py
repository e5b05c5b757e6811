"""Administration ports open on a public address (the town hall's, known from its box):
one polite TCP connection per port, nothing sent. nmap would see more (docs/eservices.md)."""

from __future__ import annotations

import socket

from clocher.eservices.checks import Finding

TIMEOUT = 3.0
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


def is_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=TIMEOUT):
            return True
    except OSError:
        return False


def check_ports(host: str, ports: dict[int, tuple[str, str]] | None = None) -> list[Finding]:
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
        for port, (service, severity) in sorted((ports or RISKY_PORTS).items())
        if is_open(host, port)
    ]
