"""Which addresses the platform's own outgoing connections may reach.

A commune admin types server names in several forms (an IMAP server to bring mail from,
an e-service to audit), and the connection leaves from inside the département's network:
a name that resolves to loopback, a private network or a cloud metadata address would
reach its internal services. Callers resolve the name once (`addresses_of`), refuse it
if any address is not public (`is_public`), and connect to a checked address, never to
the name again (a hostile DNS could answer differently the second time)."""

from __future__ import annotations

import ipaddress
import socket

NAT64 = ipaddress.ip_network("64:ff9b::/96")


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


def addresses_of(host: str, port: int) -> list[str]:
    """Every address `host` resolves to for a TCP connection to `port`, in the resolver's
    order; OSError (or UnicodeError for a name that is not one) when it resolves to none."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))
