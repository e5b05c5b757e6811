"""Threat-intel blocklists: plain IP/CIDR lists, FireHOL netsets, Spamhaus DROP.

All three are "one address or prefix per line" with their own comments: `#` lines and
trailing `# …` (FireHOL, plain), `;` lines and `1.2.3.0/24 ; SBL123` (Spamhaus DROP),
and Spamhaus's newer JSON lines (`{"cidr": "1.2.3.0/24", "sblid": …}`). A malformed line
is counted and an example kept for the report; the rest of the list is applied.
"""

from __future__ import annotations

import ipaddress
import json
from array import array
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from clocher_box import prefixes

MAX_EXAMPLES = 5
# No element shorter than the feed's shortest set (nft.FEED_LENGTHS); a country shard
# (nft.SHARD_BITS, /8) holds each whole.
MIN_PLEN = 12


@dataclass
class ParsedList:
    # "I": 4 bytes per address ("L" is 8 on 64-bit Linux).
    v4_first: array = field(default_factory=lambda: array("I"))  # type: ignore[type-arg]
    v4_last: array = field(default_factory=lambda: array("I"))  # type: ignore[type-arg]
    v6: list[ipaddress.IPv6Network] = field(default_factory=list)
    entries: int = 0
    malformed: int = 0
    examples: list[str] = field(default_factory=list)

    def bad(self, number: int, line: str) -> None:
        self.malformed += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(f"ligne {number} : {line[:80]!r}")


def _token(line: str) -> str | None:
    """The address part of a line, "" for a comment or blank line, None if unreadable."""
    text = line.strip()
    if not text or text[0] in "#;":
        return ""
    if text[0] == "{":
        try:
            record = json.loads(text)
        except ValueError:
            return None
        if not isinstance(record, dict):
            return None
        if "cidr" not in record:
            return ""  # Spamhaus's trailing metadata record ({"type": "metadata", …})
        return str(record["cidr"])
    for separator in (";", "#"):
        text = text.split(separator, 1)[0]
    parts = text.split()
    return parts[0] if len(parts) == 1 else None


def parse_blocklist(lines: Iterable[str]) -> ParsedList:
    parsed = ParsedList()
    add_first, add_last = parsed.v4_first.append, parsed.v4_last.append
    parse_v4 = prefixes.parse_v4
    for number, line in enumerate(lines, 1):
        # Most lines hold an IPv4 address or prefix alone: read as such first.
        interval = parse_v4(line.strip())
        if interval is None:
            token = _token(line)
            if token == "":
                continue
            interval = parse_v4(token) if token is not None else None
            if interval is None:
                _other(parsed, number, line, token)
                continue
        add_first(interval[0])
        add_last(interval[1])
    parsed.entries = len(parsed.v4_first) + len(parsed.v6)
    return parsed


def _other(parsed: ParsedList, number: int, line: str, token: str | None) -> None:
    """A line that is no IPv4 address or prefix: IPv6, or malformed."""
    try:
        network = ipaddress.ip_network(token, strict=False) if token is not None else None
    except ValueError:
        network = None
    if isinstance(network, ipaddress.IPv6Network):
        parsed.v6.append(network)
    else:  # unreadable, or an IPv4 spelling parse_v4 refused (e.g. leading zeros)
        parsed.bad(number, line)


def pack_v4(firsts: array, lasts: array) -> array:  # type: ignore[type-arg]
    """Merged IPv4 intervals as sorted CIDRs packed `address << 8 | length`, none shorter
    than /12 (the feed has a set per length from /12, the country sets are by /8)."""
    merged_first, merged_last = prefixes.merge(firsts, lasts)
    packed = array("Q")
    append = packed.append
    for first, last in zip(merged_first, merged_last, strict=True):
        size = last - first + 1
        if not size & (size - 1) and not first & (size - 1):  # one block, as most are
            plen = 33 - size.bit_length()
            if plen >= MIN_PLEN:
                append((first << 8) | plen)
                continue
        _pack_interval(append, first, last)
    return packed


def _pack_interval(append: Callable[[int], None], first: int, last: int) -> None:
    """An interval that is not one block of /12 or longer: its blocks, the short ones split."""
    for address, plen in prefixes.interval_to_cidrs(first, last):
        if plen < MIN_PLEN:
            for index in range(1 << (MIN_PLEN - plen)):
                append(((address + (index << (32 - MIN_PLEN))) << 8) | MIN_PLEN)
        else:
            append((address << 8) | plen)


def diff_packed(old: Sequence[int], new: Sequence[int]) -> tuple[array, array]:  # type: ignore[type-arg]
    """(added, removed) between two sorted packed lists."""
    added, removed = array("Q"), array("Q")
    i = j = 0
    while i < len(old) and j < len(new):
        if old[i] == new[j]:
            i += 1
            j += 1
        elif old[i] < new[j]:
            removed.append(old[i])
            i += 1
        else:
            added.append(new[j])
            j += 1
    removed.extend(old[i:])
    added.extend(new[j:])
    return added, removed


def unpack(item: int) -> ipaddress.IPv4Network:
    return ipaddress.IPv4Network((item >> 8, item & 0xFF))
