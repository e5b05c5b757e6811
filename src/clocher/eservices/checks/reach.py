"""Where the audit may connect: the commune's public face, never the operator's network.

A target is typed by a commune admin, confirmed by a DNS TXT record or a file, then
audited from inside the département's network. Its name could resolve (then or later) to
loopback, a private network or a cloud metadata address, and a site could redirect there:
the audit would then probe the platform's own services and report what they answer.
Every connection of the audit resolves its name here, refuses it when any address is not
public (unless CLOCHER_ESERVICES_ALLOW_PRIVATE, for the tests and an operator auditing
its own network), and connects to the address checked."""

from __future__ import annotations

import ipaddress

from django.conf import settings

from clocher.core.network import addresses_of, is_public


class AddressRefused(OSError):
    """The target leads to an internal or reserved address: not audited."""


def checked_address(host: str, port: int) -> str:
    """The address to connect to for `host`; AddressRefused when one of its addresses is
    not public, OSError when it resolves to none."""
    try:
        addresses = addresses_of(host, port)
    except UnicodeError as exc:  # not a host name at all
        raise OSError(f"nom invalide : {host}") from exc
    for address in addresses:
        check_public(address, host)
    return addresses[0]


def check_public(address: str, host: str) -> None:
    """AddressRefused when `address`, which `host` resolved to, is not public."""
    if not is_public(address) and not settings.ESERVICES_ALLOW_PRIVATE:
        raise AddressRefused(
            f"« {host} » mène à une adresse interne ou réservée ({address}) : "
            "l'audit ne s'y connecte pas."
        )


def server_name(host: str) -> str | None:
    """The name to send in SNI: `host`, unless it is an address."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return host
    return None
