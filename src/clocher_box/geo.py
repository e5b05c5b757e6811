"""Country of an address, offline: geoip2fast's bundled database, loaded once, lazily.

Tests and labs give the documentation ranges (RFC 5737) a country through a mapping
file named by CLOCHER_BOX_GEO_OVERRIDES (`203.0.113.0/24 CN` per line); the overrides
win over the database for lookups and are added to the country sets.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger("clocher_box.geo")

OVERRIDES_ENV = "CLOCHER_BOX_GEO_OVERRIDES"


@functools.cache
def _database() -> Any:
    from geoip2fast import GeoIP2Fast

    return GeoIP2Fast(verbose=False, geoip2fast_data_file="geoip2fast-ipv6.dat.gz")


@functools.cache
def _overrides(path: str) -> tuple[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str], ...]:
    found = []
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            prefix, code = text.split()
            found.append((ipaddress.ip_network(prefix, strict=False), code.upper()))
        except ValueError:
            log.warning("%s ligne %d illisible : %r", path, number, line)
    return tuple(found)


def overrides() -> tuple[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str], ...]:
    path = os.environ.get(OVERRIDES_ENV, "")
    return _overrides(path) if path else ()


def country(source: str) -> str:
    """ISO 3166 alpha-2 code of an address (or of a prefix's first address), "" if unknown."""
    try:
        address = ipaddress.ip_network(source, strict=False).network_address
    except ValueError:
        return ""
    for network, code in overrides():
        if address.version == network.version and address in network:
            return code
    if address.is_private or address.is_reserved or address.is_loopback:
        return ""
    result = _database().lookup(str(address))
    code = getattr(result, "country_code", "") or ""
    return code if len(code) == 2 and code.isalpha() else ""


def country_networks(code: str) -> Iterator[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """Every network the database (and the overrides) attribute to a country."""
    code = code.upper()
    for network, override in overrides():
        if override == code:
            yield network
    db = _database()
    from geoip2fast import geoip2fast as module

    names = module.mainListNamesCountry
    wanted = {i for i, name in enumerate(names) if name.split(":")[0] == code}
    for root, ids in enumerate(module.mainListIDCountryCodes):
        firsts = module.mainListFirstIP[root]
        lengths = module.mainListNetlength[root]
        for chunk, ident in enumerate(ids):
            if ident in wanted:
                first, plen = firsts[chunk], lengths[chunk]
                if first < 2**32:
                    yield ipaddress.IPv4Network((first, plen))
                else:
                    yield ipaddress.IPv6Network((first, plen))
    del db
