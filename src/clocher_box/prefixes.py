"""Large prefix lists kept small: integers in arrays, merged without ipaddress objects.

A million `ipaddress.IPv4Network` objects weigh hundreds of megabytes and take seconds
to collapse; the feed is kept as two sorted arrays of first/last addresses instead, and
turned back into CIDR blocks only when written to nftables.
"""

from __future__ import annotations

import bisect
import ipaddress
import itertools
import operator
import socket
from array import array
from collections.abc import Callable, Iterable, Iterator

V4_BITS = 32
V6_BITS = 128


# Prefix lengths as written: 0 to 32, also zero-padded to two digits ("/08"), as before.
_LENGTHS = {text: n for n in range(V4_BITS + 1) for text in (str(n), f"{n:02d}")}


def parse_v4(text: str) -> tuple[int, int] | None:
    """First and last address of an IPv4 address or prefix, or None if it is not one.

    Strict: four decimal octets without leading zeros (`inet_pton`'s rule, and
    `ipaddress`'s: `010.0.0.1` could mean 8 or 10), an optional /0-32. Host bits are
    tolerated and cleared (`192.0.2.7/24` → 192.0.2.0/24), as feeds do. The C parser
    reads a million lines in half the time of splitting them in Python.
    """
    address, slash, length = text.partition("/")
    try:
        value = int.from_bytes(socket.inet_pton(socket.AF_INET, address), "big")
    except (OSError, ValueError):  # not a dotted quad; ValueError: an embedded NUL
        return None
    plen = _LENGTHS.get(length) if slash else V4_BITS
    if plen is None:
        return None
    host = (1 << (V4_BITS - plen)) - 1
    first = value & ~host & 0xFFFFFFFF
    return first, first | host


def merge(firsts: array, lasts: array) -> tuple[array, array]:  # type: ignore[type-arg]
    """Sorted, non-overlapping, non-adjacent IPv4 intervals covering the same addresses.

    Feeds usually come sorted: then nothing is copied. Otherwise the pairs are bucketed
    by first octet as packed 64-bit integers and each bucket sorted on its own, so the
    transient Python list is a 256th of the feed (a sort of the whole list would hold
    a million Python ints, 40 MB, at once).
    """
    pairs: Iterable[tuple[int, int]]
    if all(map(operator.le, firsts, itertools.islice(firsts, 1, None))):  # sorted?
        pairs = zip(firsts, lasts, strict=True)
    else:
        buckets = [array("Q") for _ in range(256)]
        for first, last in zip(firsts, lasts, strict=True):
            buckets[first >> 24].append((first << 32) | last)
        pairs = _sorted_buckets(buckets)
    out_first: array = array(firsts.typecode)  # type: ignore[type-arg]
    out_last: array = array(lasts.typecode)  # type: ignore[type-arg]
    current_first = current_last = -2
    for first, last in pairs:
        if first <= current_last + 1:
            if last > current_last:
                current_last = last
            continue
        if current_last >= 0:
            out_first.append(current_first)
            out_last.append(current_last)
        current_first, current_last = first, last
    if current_last >= 0:
        out_first.append(current_first)
        out_last.append(current_last)
    return out_first, out_last


def _sorted_buckets(buckets: list[array]) -> Iterator[tuple[int, int]]:  # type: ignore[type-arg]
    for index, bucket in enumerate(buckets):
        for packed in sorted(bucket):
            yield packed >> 32, packed & 0xFFFFFFFF
        buckets[index] = array("Q")  # freed as we go


def interval_to_cidrs(first: int, last: int, bits: int = V4_BITS) -> Iterator[tuple[int, int]]:
    """The CIDR blocks (address, prefix length) that cover [first, last] exactly."""
    while first <= last:
        size = (first & -first).bit_length() - 1 if first else bits
        while size > 0 and first + (1 << size) - 1 > last:
            size -= 1
        yield first, bits - size
        first += 1 << size


def cidr_text(address: int, plen: int, bits: int = V4_BITS) -> str:
    if bits == V4_BITS:
        text = socket.inet_ntoa(address.to_bytes(4, "big"))  # a million: 0.1 s less
    else:
        text = str(ipaddress.IPv6Address(address))
    return text if plen == bits else f"{text}/{plen}"


def intervals_to_cidrs(
    firsts: Iterable[int], lasts: Iterable[int], bits: int = V4_BITS
) -> Iterator[tuple[int, int]]:
    for first, last in zip(firsts, lasts, strict=True):
        yield from interval_to_cidrs(first, last, bits)


def contains(firsts: array, lasts: array, address: int) -> bool:  # type: ignore[type-arg]
    """Whether a merged interval list covers `address` (binary search)."""
    low, high = 0, len(firsts)
    while low < high:
        middle = (low + high) // 2
        if firsts[middle] <= address:
            low = middle + 1
        else:
            high = middle
    return low > 0 and lasts[low - 1] >= address


def packed_prefix(first: int, last: int) -> int:
    """A CIDR block given by its first and last address, packed `address << 8 | length`."""
    return (first << 8) | (33 - (last - first + 1).bit_length())


def span(item: int) -> tuple[int, int]:
    """First and last address of a packed CIDR (`address << 8 | length`)."""
    address, plen = item >> 8, item & 0xFF
    return address, address + (1 << (32 - plen)) - 1


def _touched(loaded: array, first: int, last: int) -> tuple[int, int]:  # type: ignore[type-arg]
    """[first, last] widened to the runs of loaded CIDRs it overlaps or adjoins (a run of
    adjacent CIDRs is one merged interval: merged intervals never adjoin)."""
    low, high = first, last
    index = bisect.bisect_right(loaded, ((first - 1 if first else 0) << 8) | 0xFF) - 1
    if index >= 0 and span(loaded[index])[1] >= first - 1:
        while index > 0 and span(loaded[index - 1])[1] + 1 == span(loaded[index])[0]:
            index -= 1
        low = min(low, span(loaded[index])[0])
    index = bisect.bisect_left(loaded, low << 8)
    while index < len(loaded) and span(loaded[index])[0] <= high + 1:
        high = max(high, span(loaded[index])[1])
        index += 1
    return low, high


def patch(
    raw: array,  # type: ignore[type-arg]
    loaded: array,  # type: ignore[type-arg]
    add: Iterable[int],
    remove: Iterable[int],
    refused: Callable[[int, int], bool],
    pack: Callable[[array, array], array],  # type: ignore[type-arg]
    own_cidr_from: int = V4_BITS + 1,
) -> tuple[array, array, array, array, list[int], list[int]]:  # type: ignore[type-arg]
    """Applies prefix additions and removals (packed) to `raw`, the list as sent, and to
    `loaded`, its merged CIDRs (packed, sorted, without the prefixes `refused` by the
    allowlist), touching only the regions the changes reach: (raw, loaded, CIDRs to add,
    CIDRs to delete, raw prefixes really added, really removed; the last two are what
    the box logs instead of writing the whole list again, see `apply_sorted`).
    Idempotent: adding a present prefix or removing an absent one is no change. The
    merged CIDRs of a region depend only on the raw prefixes inside it, since a region
    is widened to whole merged intervals (`_touched`). A prefix of `own_cidr_from` bits
    or more alone in its region is its own merged CIDR (what `pack` gives for it)."""
    adding = sorted({p for p in add if not _has(raw, p)})
    removing = {p for p in remove if _has(raw, p)}
    regions: list[list[int]] = []
    for item in sorted([*adding, *removing]):
        low, high = _touched(loaded, *span(item))
        if regions and low <= regions[-1][1] + 1:
            regions[-1][1] = max(regions[-1][1], high)
        else:
            regions.append([low, high])
    new_raw, new_loaded = array("Q"), array("Q")
    plus, minus = array("Q"), array("Q")
    raw_at = loaded_at = 0
    raw_view, loaded_view = _bytes(raw), _bytes(loaded)
    for low, high in regions:
        raw_from = bisect.bisect_left(raw, low << 8)
        raw_to = bisect.bisect_right(raw, (high << 8) | 0xFF)
        inside = sorted(
            {p for p in raw[raw_from:raw_to] if p not in removing}
            | set(
                adding[
                    bisect.bisect_left(adding, low << 8) : bisect.bisect_right(
                        adding, (high << 8) | 0xFF
                    )
                ]
            )
        )
        if len(inside) == 1 and inside[0] & 0xFF >= own_cidr_from:  # the usual region
            cidrs = array("Q", [] if refused(*span(inside[0])) else inside)
        else:
            firsts, lasts = array("I"), array("I")
            for item in inside:
                first, last = span(item)
                if not refused(first, last):
                    firsts.append(first)
                    lasts.append(last)
            cidrs = pack(firsts, lasts)
        loaded_from = bisect.bisect_left(loaded, low << 8)
        loaded_to = bisect.bisect_right(loaded, (high << 8) | 0xFF)
        old = set(loaded[loaded_from:loaded_to])
        new = set(cidrs)
        plus.extend(sorted(new - old))
        minus.extend(sorted(old - new))
        new_raw.frombytes(raw_view[raw_at * 8 : raw_from * 8])  # no slice copied twice
        new_raw.extend(inside)
        raw_at = raw_to
        new_loaded.frombytes(loaded_view[loaded_at * 8 : loaded_from * 8])
        new_loaded.extend(cidrs)
        loaded_at = loaded_to
    new_raw.frombytes(raw_view[raw_at * 8 :])
    new_loaded.frombytes(loaded_view[loaded_at * 8 :])
    return new_raw, new_loaded, plus, minus, adding, sorted(removing)


def _has(items: array, value: int) -> bool:  # type: ignore[type-arg]
    index = bisect.bisect_left(items, value)
    return index < len(items) and items[index] == value


def apply_sorted(
    items: array,  # type: ignore[type-arg]
    add: Iterable[int],
    remove: Iterable[int],
) -> array:  # type: ignore[type-arg]
    """`items` (sorted, unique) with `add` inserted and `remove` taken out, copied by
    slices between the changes: the cost of a memory copy plus one binary search per
    change, not a Python step per item (a million items, a thousand changes)."""
    out: array = array(items.typecode)  # type: ignore[type-arg]
    view, size = _bytes(items), items.itemsize
    at = 0
    for value, adding in sorted([*((v, True) for v in add), *((v, False) for v in remove)]):
        index = bisect.bisect_left(items, value, at)
        out.frombytes(view[at * size : index * size])
        at = index
        present = at < len(items) and items[at] == value
        if adding and not present and (not out or out[-1] != value):
            out.append(value)
        elif not adding and present:
            at += 1
    out.frombytes(view[at * size :])
    return out


def _bytes(items: array) -> memoryview:  # type: ignore[type-arg]
    """The bytes of a packed array ('Q': 8 per item), to copy runs of it without
    making Python integers."""
    return memoryview(items).cast("B")
