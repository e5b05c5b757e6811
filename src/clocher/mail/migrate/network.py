"""Which IMAP servers an import may reach. The server is whatever a commune admin types
in the import form, and the connection leaves from Clocher's own network: without a
check, the form would open connections to the département's internal services (the
database, a cloud metadata endpoint, an admin port on the LAN) and tell which ports are
open. Unless the operator allows it (CLOCHER_MAIL_IMPORT_ALLOW_PRIVATE, e.g. to bring
mail in from a server of its own network), the name is resolved, refused if any of its
addresses is not public, and the connection goes to an address that was checked — never
to the name again, which a hostile DNS could point elsewhere in between."""

from __future__ import annotations

import ipaddress
import logging
import socket
import ssl
from typing import Any

from imapclient import IMAPClient, imap4, tls

log = logging.getLogger("clocher.security")
# IMAP's own ports (RFC 9051: 143 with STARTTLS, 993 with TLS): the only ones a public
# server is reached on, so the form cannot probe other services of the internet either.
IMAP_PORTS = frozenset({143, 993})
NAT64 = ipaddress.ip_network("64:ff9b::/96")


class ServerRefused(Exception):
    """The server may not be reached: the message says why, in French."""


def hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries and leads to (mapped, NAT64, 6to4)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.sixtofour


def is_public(address: str) -> bool:
    """True for a global unicast address; False for loopback, private, link-local,
    shared (CGNAT), reserved, documentation, multicast, unspecified, site-local, and
    IPv6 forms of such IPv4 addresses."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_v4(ip)
        if inner is not None:
            return is_public(str(inner))
        if ip.is_site_local:
            return False
    return ip.is_global and not (
        ip.is_multicast
        or ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_unspecified
    )


def public_addresses(host: str, port: int) -> list[str]:
    """The addresses of `host`, all public, to connect to; ServerRefused otherwise."""
    if port not in IMAP_PORTS:
        raise ServerRefused(
            f"Port {port} refusé : une reprise se connecte au port IMAP d'un serveur, "
            "993 (TLS) ou 143 (STARTTLS)."
        )
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        log.info("mail import: %s does not resolve: %s", host, exc)
        raise ServerRefused(f"Serveur « {host} » introuvable : ce nom n'existe pas.") from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
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
