"""Which IMAP servers an import may reach. The server is whatever a commune admin types
in the import form, and the connection leaves from Clocher's own network: without a
check, the form would open connections to the département's internal services (the
database, a cloud metadata endpoint, an admin port on the LAN) and tell which ports are
open. Unless the operator allows it (CLOCHER_MAIL_IMPORT_ALLOW_PRIVATE, e.g. to bring
mail in from a server of its own network), the name is resolved, refused if any of its
addresses is not public, and the connection goes to an address that was checked — never
to the name again, which a hostile DNS could point elsewhere in between."""

from __future__ import annotations

import logging
import socket
import ssl
from typing import Any

from imapclient import IMAPClient, imap4, tls

from clocher.core.network import addresses_of, is_public

log = logging.getLogger("clocher.security")
# IMAP's own ports (RFC 9051: 143 with STARTTLS, 993 with TLS): the only ones a public
# server is reached on, so the form cannot probe other services of the internet either.
IMAP_PORTS = frozenset({143, 993})


class ServerRefused(Exception):
    """The server may not be reached: the message says why, in French."""


def hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def public_addresses(host: str, port: int) -> list[str]:
    """The addresses of `host`, all public, to connect to; ServerRefused otherwise."""
    if port not in IMAP_PORTS:
        raise ServerRefused(
            f"Port {port} refusé : une reprise se connecte au port IMAP d'un serveur, "
            "993 (TLS) ou 143 (STARTTLS)."
        )
    try:
        addresses = addresses_of(host, port)
    except (OSError, UnicodeError) as exc:
        log.info("mail import: %s does not resolve: %s", host, exc)
        raise ServerRefused(f"Serveur « {host} » introuvable : ce nom n'existe pas.") from exc
    internal = [address for address in addresses if not is_public(address)]
    if internal or not addresses:
        log.warning("mail import: %s refused, it resolves to %s", host, ", ".join(internal))
        raise ServerRefused(
            f"Adresse refusée : « {host} » mène à une adresse interne ou réservée (boucle "
            "locale, réseau privé, lien local…). Une reprise ne se connecte qu'à un serveur "
            "public ; l'opérateur peut l'autoriser (CLOCHER_MAIL_IMPORT_ALLOW_PRIVATE)."
        )
    return addresses


class _PinnedTLS(tls.IMAP4_TLS):
    def __init__(self, host: str, address: str, port: int, context: Any, timeout: Any) -> None:
        self.address = address
        super().__init__(host, port, context, timeout)

    def _create_socket(self, timeout: float | None = None) -> socket.socket:
        sock = socket.create_connection(
            (self.address, self.port), timeout if timeout is not None else self._timeout
        )
        return tls.wrap_socket(sock, self.ssl_context, self.host)  # certificate of `host`


class _PinnedPlain(imap4.IMAP4WithTimeout):
    def __init__(self, host: str, address: str, port: int, timeout: Any) -> None:
        self.address = address
        super().__init__(host, port, timeout)

    def _create_socket(self, timeout: float | None = None) -> socket.socket:
        return socket.create_connection(
            (self.address, self.port), timeout if timeout is not None else self._timeout
        )


class PinnedIMAPClient(IMAPClient):
    """An IMAPClient connected to `address` while TLS (implicit or STARTTLS) checks the
    certificate against `host`. imapclient opens its socket in `_create_IMAP4`: the one
    place to override, for both transports."""

    def __init__(self, host: str, address: str, **kwargs: Any) -> None:
        self.address = address
        super().__init__(host, **kwargs)

    def _create_IMAP4(self) -> Any:
        timeout = getattr(self._timeout, "connect", None)
        if self.ssl:
            return _PinnedTLS(self.host, self.address, self.port, self.ssl_context, timeout)
        return _PinnedPlain(self.host, self.address, self.port, timeout)


def open_client(
    host: str, port: int, *, implicit_tls: bool, context: ssl.SSLContext, allow_private: bool
) -> IMAPClient:
    """A connected (not logged-in) client. Checked and pinned unless `allow_private`;
    each checked address is tried in turn, as the name itself would be."""
    options: dict[str, Any] = {"port": port, "ssl": implicit_tls, "ssl_context": context}
    if allow_private:
        return IMAPClient(host, timeout=120, **options)
    unreachable: OSError | None = None
    for address in public_addresses(host, port):
        try:
            return PinnedIMAPClient(host, address, timeout=120, **options)
        except ssl.SSLError:
            raise
        except OSError as exc:
            unreachable = exc
    assert unreachable is not None  # public_addresses never returns an empty list
    raise unreachable
