"""Mail servers of one's own on free loopback ports, in a directory of one's own: the
layout the mail tests and the mail benches both start (one place, so they cannot drift).
Nothing here runs in production, where `MailConfig.from_settings` reads CLOCHER_* ports."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported when used: the benches load this before Django is set up
    from clocher.mail.engines.config import MailConfig

PORT_SETTINGS = (
    "smtp_port",
    "submission_port",
    "imap_port",
    "imaps_port",
    "sieve_port",
    "lmtp_port",
    "auth_port",
    "quota_status_port",
    "reinject_port",
)


def free_ports(count: int) -> list[int]:
    """`count` distinct ports free at this instant (all bound at once, then released)."""
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def wait_for_port(port: int, timeout: float = 240) -> None:
    """Polls until something listens on loopback `port` (generous: a loaded machine)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"port {port} not listening after {timeout}s")


def wait_for_socket(path: Path, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} not created after {timeout}s")
        time.sleep(0.1)


def config_on_free_ports(base: Path, mail_dir: str = "mail", **overrides: Any) -> MailConfig:
    """Postfix, Dovecot and rspamd in `base`/`mail_dir`, every port a free one, the TLS
    pair in `base`/tls; `overrides` are any other MailConfig fields."""
    from clocher.mail.engines.config import MailConfig

    ports = dict(zip(PORT_SETTINGS, free_ports(len(PORT_SETTINGS)), strict=True))
    return MailConfig.from_settings(
        mail_dir=base / mail_dir,
        tls_cert=base / "tls" / "mail.crt",
        tls_key=base / "tls" / "mail.key",
        **ports,
        **overrides,
    )
