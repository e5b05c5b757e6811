"""Enforcement in the kernel: the box's own nftables table, driven through the JSON API.

The agent talks to libnftables directly (a ctypes binding to Debian's libnftables1), so
the virtualenv needs neither system site-packages nor a subprocess per change; `nft -j`
is the fallback when the library cannot be loaded. Everything lives in one table,
`inet clocher`, that the agent owns and may recreate at will; nothing else of the host's
ruleset is touched.

Layout (see docs/shield.md, "The box's nftables table"):
- `allow4/allow6`: allowlist + management link + central, accepted first, never blocked;
- `blocked4/blocked6`: decisions (detectors, manual, collective), per-element timeouts;
- `feed4_12…feed4_32`, `feed6`: the bulk threat-intel blocklist (a million prefixes),
  IPv4 in one plain hash set per prefix length, matched by the source masked to that
  length (`ip saddr & 255.255.255.0 @feed4_24`). The list is merged first (no prefix in
  another), so a prefix is one element, added or deleted in constant time: the kernel's
  interval sets (rbtree) walk their elements on insertion (a delta into a million-element
  set costs minutes) and its pipapo sets on deletion, and nft's user space parses plain
  addresses faster than intervals (issue 14: a full load 3× cheaper than `nft -f` of one
  interval set). The price: 21 hash lookups per packet of no known flow instead of two;
- `country4_00…country4_ff` (256 sets by first octet: never changed by deltas),
  `country6`: ranges of the countries the commune blocks;
- `c2_4/c2_6`: command-and-control addresses, outbound to them is dropped;
- `hits4/hits6` and `c2hits4/c2hits6`: dynamic sets fed by the drop rules, one element
  per dropped source (or LAN host → C2 pair) with its own counter, so that the agent
  reports the flows it dropped per source without listing the million-element sets;
- `stealth4/stealth6`: (source, TCP port) of each stealth probe dropped at the WAN (TCP
  flags no stack sends: NULL, FIN without ACK, Xmas…), read by the port-scan detector;
- `ports` (protocol . port): inbound ports the commune closes (an exposed RDP), dropped
  from the WAN side unless the source is in `portallow4/6` (source . protocol . port);
  `porthits4/6` count the drops per (source, protocol, port).
Inbound (WAN side in gateway mode): packets of no connection (`ct state invalid`) are
dropped, and new flows get the `WAN_MARK` bit of their conntrack mark, the only flows
the port-scan detector reads.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import ipaddress
import json
import logging
import shutil
import socket
import subprocess
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from clocher_box import prefixes

log = logging.getLogger("clocher_box.nft")

TABLE = "clocher"
FAMILY = "inet"
# Elements per nft command during bulk loads: keeps libnftables' own memory bounded
# (it builds a netlink message per element) while amortising the per-call cost.
BATCH = 20_000
# IPv4 sets split by their first SHARD_BITS bits (see the module's docstring); every
# element is at least that long (`pack_v4`).
SHARD_BITS = {"country": 8}
SHARDED = tuple(SHARD_BITS)
# The feed's IPv4 prefix lengths, one hash set each: `pack_v4` writes none shorter than
# /12 (blocklist.MIN_PLEN).
FEED_LENGTHS = range(12, 33)
# Priority of the agent's filter chains: before the usual `filter` (0) chains of the host.
PRIORITY = -10

# Bit of the conntrack mark set on flows that came in from the WAN (`conntrack -E --mark`
# reads only those): one bit, OR-ed in, so that a host's own use of marks is kept.
WAN_MARK = 0x4000_0000
# TCP flags (PSH, ECE and CWR aside) that a real stack sends, as the kernel's conntrack
# accepts them (`tcp_valid_flags`); anything else (NULL, FIN alone, Xmas FIN|PSH|URG,
# SYN|FIN, SYN|RST, FIN|RST…) is a crafted probe.
TCP_FLAGS_MASK = ("fin", "syn", "rst", "ack", "urg")
VALID_TCP_FLAGS = (
    ("syn",),
    ("syn", "urg"),
    ("syn", "ack"),
    ("rst",),
    ("rst", "ack"),
    ("fin", "ack"),
    ("fin", "ack", "urg"),
    ("ack",),
    ("ack", "urg"),
)
# Seconds a stealth probe stays listed: several of the agent's readings (--interval).
STEALTH_TIMEOUT = 120
STEALTH_SIZE = 16_384

_NFT_CTX_OUTPUT_JSON = 1 << 4
_NFT_CTX_OUTPUT_HANDLE = 1 << 3

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class NftError(RuntimeError):
    """nftables refused a command (its message is kept)."""


class _LibNftables:
    """Minimal binding to libnftables.so.1: one context, JSON in and out, buffered."""

    def __init__(self) -> None:
        name = ctypes.util.find_library("nftables") or "libnftables.so.1"
        lib = ctypes.CDLL(name)
        lib.nft_ctx_new.restype = ctypes.c_void_p
        lib.nft_ctx_new.argtypes = [ctypes.c_uint32]
        lib.nft_ctx_output_set_flags.argtypes = [ctypes.c_void_p, ctypes.c_uint]
        lib.nft_ctx_buffer_output.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_buffer_error.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_get_output_buffer.restype = ctypes.c_char_p
        lib.nft_ctx_get_output_buffer.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_get_error_buffer.restype = ctypes.c_char_p
        lib.nft_ctx_get_error_buffer.argtypes = [ctypes.c_void_p]
        lib.nft_run_cmd_from_buffer.restype = ctypes.c_int
        lib.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        lib.nft_ctx_free.argtypes = [ctypes.c_void_p]
        self._lib = lib
        self._ctx = lib.nft_ctx_new(0)
        if not self._ctx:
            raise OSError("nft_ctx_new a échoué")
        lib.nft_ctx_output_set_flags(self._ctx, _NFT_CTX_OUTPUT_JSON | _NFT_CTX_OUTPUT_HANDLE)
        lib.nft_ctx_buffer_output(self._ctx)
        lib.nft_ctx_buffer_error(self._ctx)

    def run(self, command: bytes) -> str:
        rc = self._lib.nft_run_cmd_from_buffer(self._ctx, command)
        output = (self._lib.nft_ctx_get_output_buffer(self._ctx) or b"").decode()
        error = (self._lib.nft_ctx_get_error_buffer(self._ctx) or b"").decode()
        if rc != 0:
            raise NftError(error.strip() or f"nft a échoué (code {rc})")
        return output

    def close(self) -> None:
        if self._ctx:
            self._lib.nft_ctx_free(self._ctx)
            self._ctx = None


class _NftCommand:
    """Fallback: the `nft` program, one process per command."""

    def __init__(self) -> None:
        self.path = shutil.which("nft") or "/usr/sbin/nft"

    def run(self, command: bytes) -> str:
        proc = subprocess.run(  # noqa: S603 — fixed program, our own JSON on stdin
            [self.path, "-j", "-f", "-"], input=command, capture_output=True, check=False
        )
        if proc.returncode != 0:
            raise NftError(proc.stderr.decode().strip() or f"nft a échoué ({proc.returncode})")
        return proc.stdout.decode()

    def close(self) -> None:
        pass


class Nft:
    """Runs nftables JSON commands; `backend` is "lib" (ctypes) or "cli" (`nft -j`)."""

    def __init__(self, backend: str = "auto") -> None:
        self.backend: _LibNftables | _NftCommand
        if backend in ("auto", "lib"):
            try:
                self.backend = _LibNftables()
            except OSError:
                if backend == "lib":
                    raise
                log.warning("libnftables introuvable, repli sur la commande nft -j")
                self.backend = _NftCommand()
        else:
            self.backend = _NftCommand()

    @property
    def backend_name(self) -> str:
        return "lib" if isinstance(self.backend, _LibNftables) else "cli"

    def run(self, commands: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """One atomic batch of JSON commands; the objects nft answered (lists)."""
        if not commands:
            return []
        body = json.dumps({"nftables": list(commands)}, separators=(",", ":")).encode()
        output = self.backend.run(body)
        if not output.strip():
            return []
        return [item for item in json.loads(output).get("nftables", []) if "metainfo" not in item]

    def run_text(self, commands: bytes) -> None:
        """Commands in nft's native syntax (bulk element lists only, see _shard_batches)."""
        self.backend.run(commands)

    def list(self, kind: str, name: str) -> dict[str, Any] | None:
        """One object of the table (`set`, `chain`…), or None if it does not exist."""
        try:
            answer = self.run([{"list": {kind: {"family": FAMILY, "table": TABLE, "name": name}}}])
        except NftError:
            return None
        for item in answer:
            if kind in item:
                return dict(item[kind])
        return None

    def close(self) -> None:
        self.backend.close()


# --- addresses -------------------------------------------------------------------------


def parse_network(text: str) -> Network:
    """An address or prefix, host bits tolerated (`192.0.2.7/24` → `192.0.2.0/24`)."""
    return ipaddress.ip_network(text.strip(), strict=False)


def source_text(network: Network) -> str:
    """How a blocked source is named: the bare address for a single host."""
    if network.prefixlen == network.max_prefixlen:
        return str(network.network_address)
    return str(network)


def set_suffix(network: Network) -> str:
    return "4" if network.version == 4 else "6"


def element(network: Network, timeout: int | None = None) -> dict[str, Any] | str:
    """A set element in nft's JSON: a bare address, a prefix, with its timeout if any."""
    if network.prefixlen == network.max_prefixlen:
        value: Any = str(network.network_address)
    else:
        value = {"prefix": {"addr": str(network.network_address), "len": network.prefixlen}}
    if timeout:
        return {"elem": {"val": value, "timeout": int(timeout)}}
    return value  # type: ignore[no-any-return]


def element_network(value: Any) -> Network | None:
    """The network of an element as nft lists it (address, prefix, range or elem)."""
    if isinstance(value, dict) and "elem" in value:
        value = value["elem"]["val"]
    if isinstance(value, str):
        return parse_network(value)
    if isinstance(value, dict) and "prefix" in value:
        return parse_network(f"{value['prefix']['addr']}/{value['prefix']['len']}")
    if isinstance(value, dict) and "range" in value:
        first, last = (ipaddress.ip_address(v) for v in value["range"])
        return next(ipaddress.summarize_address_range(first, last))  # type: ignore[arg-type,return-value]
    return None


def collapse(networks: Iterable[Network]) -> tuple[list[Network], list[Network]]:
    """IPv4 and IPv6 networks merged so that none overlaps (interval sets refuse overlaps)."""
    v4: list[ipaddress.IPv4Network] = []
    v6: list[ipaddress.IPv6Network] = []
    for network in networks:
        (v4 if network.version == 4 else v6).append(network)  # type: ignore[arg-type]
    return list(ipaddress.collapse_addresses(v4)), list(ipaddress.collapse_addresses(v6))


def overlaps_any(network: Network, protected: Sequence[Network]) -> Network | None:
    """The first protected network that `network` touches, if any."""
    for other in protected:
        if other.version == network.version and network.overlaps(other):  # type: ignore[arg-type]
            return other
    return None


def _element_in(base: str, network: Network, timeout: int | None = None) -> Any:
    """An element as set `base` stores it (with every protocol for the pipapo sets)."""
    if base in CONCAT_BASES:
        value = element(network)
        return {"concat": [value, {"range": [0, 255]}]}
    return element(network, timeout)


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --- the table -------------------------------------------------------------------------


@dataclass
class Layout:
    """Where the box sits: host mode (filters its own input) or gateway between WAN and LAN."""

    mode: str = "host"  # "host" | "gateway"
    wan: str = ""
    lan: str = ""
    management: list[Network] = field(default_factory=list)


def _set(name: str, kind: str | list[str], flags: list[str], **extra: Any) -> dict[str, Any]:
    obj = {"family": FAMILY, "table": TABLE, "name": name, "type": kind, "flags": flags}
    return {"add": {"map" if "map" in extra else "set": obj | extra}}


def _rule(chain: str, *expr: dict[str, Any], comment: str = "") -> dict[str, Any]:
    rule: dict[str, Any] = {"family": FAMILY, "table": TABLE, "chain": chain, "expr": list(expr)}
    if comment:
        rule["comment"] = comment
    return {"add": {"rule": rule}}


def _match(field_: str, proto: str, right: Any, op: str = "==") -> dict[str, Any]:
    return {
        "match": {
            "op": op,
            "left": {"payload": {"protocol": proto, "field": field_}},
            "right": right,
        }
    }


def _iface(direction: str, name: str) -> dict[str, Any]:
    return {"match": {"op": "==", "left": {"meta": {"key": direction}}, "right": name}}


_COUNTER: dict[str, Any] = {"counter": None}
# The feed's shards are `ipv4_addr . inet_proto` sets matched with every protocol: a
# concatenation makes the kernel use its pipapo backend, whose insertion does not walk
# the set, and spares nft's user space fetching every element of the table's interval
# sets before each change (rbtree sets: +500 bytes of agent memory per element).
_L4PROTO: dict[str, Any] = {"meta": {"key": "l4proto"}}
# Sets that may be large are pipapo sets for the same reason (a country: 30,000 ranges).
CONCAT_BASES = ("country", "country4_")
_DROP: dict[str, Any] = {"drop": None}
_ACCEPT: dict[str, Any] = {"accept": None}


def _source_match(proto: str, set_name: str) -> dict[str, Any]:
    saddr: Any = {"payload": {"protocol": proto, "field": "saddr"}}
    if set_name.startswith(CONCAT_BASES):
        saddr = {"concat": [saddr, _L4PROTO]}
    return {"match": {"op": "==", "left": saddr, "right": f"@{set_name}"}}


def _update_hits(key: Any, hits: str) -> dict[str, Any]:
    return {"set": {"op": "update", "elem": key, "set": f"@{hits}"}}


def _flags(names: Sequence[str]) -> Any:
    """TCP flags OR-ed together as nft's JSON writes them."""
    value: Any = names[0]
    for name in names[1:]:
        value = {"|": [value, name]}
    return value


def _crafted_tcp() -> dict[str, Any]:
    """Matches TCP flag combinations outside `VALID_TCP_FLAGS`."""
    flags = {"payload": {"protocol": "tcp", "field": "flags"}}
    return {
        "match": {
            "op": "!=",
            "left": {"&": [flags, _flags(TCP_FLAGS_MASK)]},
            "right": {"set": [_flags(combo) for combo in VALID_TCP_FLAGS]},
        }
    }


def _stealth_rules(chain: str, wan: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Inbound packets of no connection: stealth probes recorded per (source, port) and
    dropped, then whatever else conntrack finds invalid dropped (backscatter, stale
    segments: dropped, not counted as scans, since anyone can make a server send them)."""
    rules = []
    for v, proto in (("4", "ip"), ("6", "ip6")):
        key = {
            "concat": [
                {"payload": {"protocol": proto, "field": "saddr"}},
                {"payload": {"protocol": "tcp", "field": "dport"}},
            ]
        }
        rules.append(
            _rule(
                chain,
                *wan,
                {"match": {"op": "==", "left": {"meta": {"key": "nfproto"}}, "right": f"ipv{v}"}},
                _crafted_tcp(),
                _update_hits(key, f"stealth{v}"),
                _COUNTER,
                _DROP,
                comment=f"stealth{v}",
            )
        )
    # Also the stealth probes the update above could not record (set full).
    invalid = {"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": ["invalid"]}}
    rules.append(_rule(chain, *wan, invalid, _COUNTER, _DROP, comment="invalid"))
    return rules


_TH_DPORT: dict[str, Any] = {"payload": {"protocol": "th", "field": "dport"}}


def _port_rules(chain: str, wan: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Inbound to a closed port (`ports`), from a source not let through for it
    (`portallow`): counted per (source, protocol, port) and dropped. After the stealth
    rules, so that a crafted probe still feeds the scan detector."""
    closed = {"concat": [_L4PROTO, _TH_DPORT]}
    rules = []
    for v, proto in (("4", "ip"), ("6", "ip6")):
        key = {"concat": [{"payload": {"protocol": proto, "field": "saddr"}}, _L4PROTO, _TH_DPORT]}
        rules.append(
            _rule(
                chain,
                *wan,
                # The family first: one compare spares the other family's rule its lookup.
                {"match": {"op": "==", "left": {"meta": {"key": "nfproto"}}, "right": f"ipv{v}"}},
                {"match": {"op": "==", "left": closed, "right": "@ports"}},
                {"match": {"op": "!=", "left": key, "right": f"@portallow{v}"}},
                _update_hits(key, f"porthits{v}"),
                _COUNTER,
                _DROP,
                comment=f"ports{v}",
            )
        )
    return rules


@dataclass(frozen=True)
class PortRule:
    """A closed inbound port and the sources still let through to it."""

    proto: str  # "tcp" | "udp"
    port: int
    allow: tuple[Network, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.port}/{self.proto}"


def table_commands(layout: Layout) -> list[dict[str, Any]]:
    """The whole table, from scratch, but for the shards (`shard_text`): sets, then
    chains and their rules (one batch)."""
    return set_commands() + hook_commands(layout)


def set_commands() -> list[dict[str, Any]]:
    """The table, from scratch, and its sets and maps (the shards aside)."""
    cmds: list[dict[str, Any]] = [
        {"add": {"table": {"family": FAMILY, "name": TABLE}}},
        {"delete": {"table": {"family": FAMILY, "name": TABLE}}},
        {"add": {"table": {"family": FAMILY, "name": TABLE}}},
    ]
    for v, kind in (("4", "ipv4_addr"), ("6", "ipv6_addr")):
        cmds += [
            _set(f"allow{v}", kind, ["interval"]),
            _set(f"blocked{v}", kind, ["interval", "timeout"]),
            _set(f"c2_{v}", kind, ["interval"]),
            _set(f"hits{v}", kind, ["timeout"], timeout=86400, size=65536, stmt=[_COUNTER]),
            _set(
                f"c2hits{v}",
                [kind, kind],
                ["timeout"],
                timeout=86400,
                size=65536,
                stmt=[_COUNTER],
            ),
            _set(
                f"stealth{v}",
                [kind, "inet_service"],
                ["timeout"],
                timeout=STEALTH_TIMEOUT,
                size=STEALTH_SIZE,
            ),
            _set(f"portallow{v}", [kind, "inet_proto", "inet_service"], ["interval"]),
            _set(
                f"porthits{v}",
                [kind, "inet_proto", "inet_service"],
                ["timeout"],
                timeout=86400,
                size=65536,
                stmt=[_COUNTER],
            ),
        ]
    cmds.append(_set("ports", ["inet_proto", "inet_service"], []))
    cmds += [_set(feed_set(plen), "ipv4_addr", []) for plen in FEED_LENGTHS]
    cmds.append(_set("feed6", "ipv6_addr", ["interval", "timeout"]))
    cmds.append(_set("country6", ["ipv6_addr", "inet_proto"], ["interval"]))
    for base in SHARDED:  # their shards: `shard_text`
        cmds.append(_set(f"{base}map4", "ipv4_addr", ["interval"], map="verdict"))
    return cmds


def hook_commands(layout: Layout) -> list[dict[str, Any]]:
    """The chains hooked to the kernel, and their rules."""
    cmds: list[dict[str, Any]] = []
    hooks = [("input", "input")]
    if layout.mode == "gateway":
        hooks.append(("forward", "forward"))
    for chain, hook in hooks:
        cmds.append(
            {
                "add": {
                    "chain": {
                        "family": FAMILY,
                        "table": TABLE,
                        "name": chain,
                        "type": "filter",
                        "hook": hook,
                        "prio": PRIORITY,
                        "policy": "accept",
                    }
                }
            }
        )
        cmds += _chain_rules(chain, layout)
    return cmds


def _chain_rules(chain: str, layout: Layout) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = []
    if chain == "input":
        rules.append(_rule(chain, _iface("iifname", "lo"), _ACCEPT, comment="loopback"))
    inbound: list[dict[str, Any]] = []
    if chain == "forward" and layout.wan:
        inbound = [_iface("iifname", layout.wan)]
    # Allowlist first (the management link and the central are in it): nothing below,
    # whatever a policy or a detector put in the sets, can cut them off.
    for v, proto in (("4", "ip"), ("6", "ip6")):
        rules.append(
            _rule(
                chain,
                _match("saddr", proto, f"@allow{v}"),
                _COUNTER,
                _ACCEPT,
                comment=f"allow{v} src",
            )
        )
        rules.append(
            _rule(
                chain,
                _match("daddr", proto, f"@allow{v}"),
                _COUNTER,
                _ACCEPT,
                comment=f"allow{v} dst",
            )
        )
    for v, proto in (("4", "ip"), ("6", "ip6")):
        saddr = {"payload": {"protocol": proto, "field": "saddr"}}
        daddr = {"payload": {"protocol": proto, "field": "daddr"}}
        for name in ("blocked", "feed", "country"):
            if v == "4" and name == "feed":
                rules += [_feed_rule(chain, inbound, plen) for plen in FEED_LENGTHS]
                continue
            if v == "4" and name in SHARDED:
                vmap = {"vmap": {"key": saddr, "data": f"@{name}map4"}}
                rules.append(_rule(chain, *inbound, vmap, comment=f"{name}4 shards"))
                continue
            rules.append(
                _rule(
                    chain,
                    *inbound,
                    _source_match(proto, f"{name}{v}"),
                    _update_hits(saddr, f"hits{v}"),
                    _COUNTER,
                    _DROP,
                    comment=f"{name}{v}",
                )
            )
        out = [_iface("iifname", layout.lan)] if chain == "forward" and layout.lan else []
        if chain == "forward" or layout.mode == "host":
            rules.append(
                _rule(
                    chain,
                    *out,
                    _match("daddr", proto, f"@c2_{v}"),
                    _update_hits({"concat": [daddr, saddr]}, f"c2hits{v}"),
                    _COUNTER,
                    _DROP,
                    comment=f"c2_{v}",
                )
            )
    # WAN side only (gateway mode: both hooks; host mode: all but loopback, accepted above).
    wan = [_iface("iifname", layout.wan)] if layout.mode == "gateway" and layout.wan else []
    rules += _stealth_rules(chain, wan)
    rules += _port_rules(chain, wan)
    # Mark the flows that came in from the WAN (and make conntrack track this namespace's
    # flows): their NEW events feed the scan detector, a LAN host's outbound never does.
    mark = {"ct": {"key": "mark"}}
    rules.append(
        _rule(
            chain,
            *wan,
            {"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": ["new"]}},
            {"mangle": {"key": mark, "value": {"|": [mark, WAN_MARK]}}},
            _COUNTER,
            comment="new flows",
        )
    )
    return rules


def feed_set(plen: int) -> str:
    return f"feed4_{plen}"


def _feed_rule(chain: str, inbound: list[dict[str, Any]], plen: int) -> dict[str, Any]:
    """Drops a source whose first `plen` bits are an element of `feed4_<plen>`."""
    saddr: Any = {"payload": {"protocol": "ip", "field": "saddr"}}
    masked = saddr
    if plen < 32:
        mask = prefixes.cidr_text(((1 << plen) - 1) << (32 - plen), 32)
        masked = {"&": [saddr, mask]}
    return _rule(
        chain,
        *inbound,
        {"match": {"op": "==", "left": masked, "right": f"@{feed_set(plen)}"}},
        _update_hits(saddr, "hits4"),
        _COUNTER,
        _DROP,
        comment="feed4",
    )


def shard_rule(name: str, base: str) -> dict[str, Any]:
    """The one rule of a shard's chain, in JSON (`shard_text` writes the same natively)."""
    saddr4 = {"payload": {"protocol": "ip", "field": "saddr"}}
    return _rule(
        name,
        _source_match("ip", name),
        _update_hits(saddr4, "hits4"),
        _COUNTER,
        _DROP,
        comment=f"{base}4",
    )


def shard_text(base: str) -> str:
    """The shards of `base` (sets, chains and their rule) in nft's native syntax: nft
    parses these 12,000 objects about three times faster than the same in JSON (the
    agent's start: 5.3 s instead of 1.9 s, load average 17)."""
    lines = []
    for shard in range(1 << SHARD_BITS[base]):
        name = shard_name(base, shard)
        lines += [
            f"add set {FAMILY} {TABLE} {name} "
            "{ type ipv4_addr . inet_proto; flags interval,timeout; }",
            f"add chain {FAMILY} {TABLE} {name}",
            f"add rule {FAMILY} {TABLE} {name} ip saddr . meta l4proto @{name} "
            f'update @hits4 {{ ip saddr }} counter drop comment "{base}4"',
        ]
    return "\n".join(lines)


def output_chain_commands(layout: Layout) -> list[dict[str, Any]]:
    """Host mode: outbound to C2 leaves through the output hook."""
    if layout.mode != "host":
        return []
    cmds: list[dict[str, Any]] = [
        {
            "add": {
                "chain": {
                    "family": FAMILY,
                    "table": TABLE,
                    "name": "output",
                    "type": "filter",
                    "hook": "output",
                    "prio": PRIORITY,
                    "policy": "accept",
                }
            }
        }
    ]
    for v, proto in (("4", "ip"), ("6", "ip6")):
        saddr = {"payload": {"protocol": proto, "field": "saddr"}}
        daddr = {"payload": {"protocol": proto, "field": "daddr"}}
        cmds.append(
            _rule(
                "output",
                _match("daddr", proto, f"@c2_{v}"),
                _update_hits({"concat": [daddr, saddr]}, f"c2hits{v}"),
                _COUNTER,
                _DROP,
                comment=f"c2_{v}",
            )
        )
    return cmds


# --- operations ------------------------------------------------------------------------


def _elements_cmd(verb: str, set_name: str, elements: Sequence[Any]) -> dict[str, Any]:
    return {
        verb: {
            "element": {"family": FAMILY, "table": TABLE, "name": set_name, "elem": list(elements)}
        }
    }


def _shard_batches(verb: str, base: str, packed: Sequence[int]) -> Iterator[bytes]:
    """Commands writing packed IPv4 CIDRs (sorted) to their shards, BATCH elements each.

    The one place where the agent writes nft's native syntax instead of JSON: element
    lists only (`add element inet clocher feed4_01 { 1.2.3.0/24 . 0-255, … }`), because
    libnftables parses them twice as fast as the same elements in JSON and Python builds
    them ten times faster (100,000 prefixes: 1.8 s instead of 4.9 s).
    """
    lines: list[str] = []
    elems: list[str] = []
    pending = 0
    shard = -1
    shift = 32 - SHARD_BITS[base]
    for address, plen in _within_shards(packed, SHARD_BITS[base]):
        if address >> shift != shard:
            if elems:
                lines.append(_elements_text(verb, base, shard, elems))
            shard, elems = address >> shift, []
        elems.append(prefixes.cidr_text(address, plen))
        pending += 1
        if pending >= BATCH:
            lines.append(_elements_text(verb, base, shard, elems))
            yield "\n".join(lines).encode()
            lines, elems, pending = [], [], 0
    if elems:
        lines.append(_elements_text(verb, base, shard, elems))
    if lines:
        yield "\n".join(lines).encode()


def _feed_batches(verb: str, packed: Sequence[int]) -> Iterator[bytes]:
    """Commands writing packed IPv4 CIDRs to the feed's sets, one per prefix length,
    BATCH elements a batch: `add element inet clocher feed4_24 { 192.0.2.0, … }`."""
    if any(item & 0xFF < FEED_LENGTHS[0] for item in packed):  # a state from /8 shards
        packed = [
            (address << 8) | plen for address, plen in _within_shards(packed, FEED_LENGTHS[0])
        ]
    text = socket.inet_ntoa
    for start in range(0, len(packed), BATCH):
        lengths: dict[int, list[str]] = {}
        for item in packed[start : start + BATCH]:
            # A bare address: the set's key is the source masked to its length's bits.
            plen = item & 0xFF
            same = lengths.get(plen)
            if same is None:
                same = lengths[plen] = []
            same.append(text((item >> 8).to_bytes(4, "big")))
        yield _feed_text(verb, lengths)


def _feed_text(verb: str, lengths: dict[int, list[str]]) -> bytes:
    return "\n".join(
        f"{verb} element {FAMILY} {TABLE} {feed_set(plen)} {{ {', '.join(lengths[plen])} }}"
        for plen in sorted(lengths)
    ).encode()


def _within_shards(packed: Sequence[int], bits: int) -> Iterator[tuple[int, int]]:
    """(address, length) of packed CIDRs, those shorter than a shard split (a state
    written when the shards were /8 may hold a /9)."""
    for item in packed:
        address, plen = item >> 8, item & 0xFF
        if plen >= bits:
            yield address, plen
            continue
        for index in range(1 << (bits - plen)):
            yield address + (index << (32 - bits)), bits


def _elements_text(verb: str, base: str, shard: int, elems: list[str]) -> str:
    values = " . 0-255, ".join(elems)
    name = shard_name(base, shard)
    return f"{verb} element {FAMILY} {TABLE} {name} {{ {values} . 0-255 }}"


def _text6(verb: str, network: Network) -> bytes:
    return f"{verb} element {FAMILY} {TABLE} feed6 {{ {network} }}".encode()


def shard_map_elements(base: str) -> list[Any]:
    """`a.b.0.0/bits : jump <base>4_NN…` for each shard."""
    bits = SHARD_BITS[base]
    return [
        [
            element(ipaddress.IPv4Network((shard << (32 - bits), bits))),
            {"jump": {"target": shard_name(base, shard)}},
        ]
        for shard in range(1 << bits)
    ]


def shard_name(base: str, index: int) -> str:
    return f"{base}4_{index:0{SHARD_BITS[base] // 4}x}"


def flush_set_cmd(set_name: str) -> dict[str, Any]:
    return {"flush": {"set": {"family": FAMILY, "table": TABLE, "name": set_name}}}


class Table:
    """The agent's table: create it, fill its sets, read its counters."""

    def __init__(self, nft: Nft, layout: Layout) -> None:
        self.nft = nft
        self.layout = layout

    def create(self) -> None:
        """Sets, then the shards (native syntax), then the hooked chains with the maps
        filled: no packet meets the table before it is whole."""
        self.nft.run(set_commands())
        self.nft.run_text("\n".join(shard_text(base) for base in SHARDED).encode())
        # The kernel refuses (ENOENT) map elements jumping to chains of the same batch.
        self.nft.run(
            hook_commands(self.layout)
            + output_chain_commands(self.layout)
            + [_elements_cmd("add", f"{base}map4", shard_map_elements(base)) for base in SHARDED]
        )

    def exists(self) -> bool:
        return self.nft.list("set", "blocked4") is not None

    def remove(self) -> None:
        self.nft.run(
            [
                {"add": {"table": {"family": FAMILY, "name": TABLE}}},
                {"delete": {"table": {"family": FAMILY, "name": TABLE}}},
            ]
        )

    def add(self, base: str, items: Sequence[tuple[Network, int | None]]) -> None:
        """Adds (network, timeout) pairs to `base`4/6, in batches."""
        for suffix in ("4", "6"):
            elems = [_element_in(base, n, t) for n, t in items if set_suffix(n) == suffix]
            for chunk in _chunks(elems, BATCH):
                self.nft.run([_elements_cmd("add", f"{base}{suffix}", chunk)])

    def delete(self, base: str, networks: Sequence[Network]) -> None:
        for suffix in ("4", "6"):
            elems = [_element_in(base, n) for n in networks if set_suffix(n) == suffix]
            for chunk in _chunks(elems, BATCH):
                self.nft.run([_elements_cmd("delete", f"{base}{suffix}", chunk)])

    def replace(self, base: str, items: Sequence[tuple[Network, int | None]]) -> None:
        """Flush and refill `base`4/6; a small set is replaced atomically (one batch)."""
        if len(items) <= BATCH:
            cmds = [flush_set_cmd(f"{base}4"), flush_set_cmd(f"{base}6")]
            for suffix in ("4", "6"):
                elems = [_element_in(base, n, t) for n, t in items if set_suffix(n) == suffix]
                if elems:
                    cmds.append(_elements_cmd("add", f"{base}{suffix}", elems))
            self.nft.run(cmds)
            return
        self.nft.run([flush_set_cmd(f"{base}4"), flush_set_cmd(f"{base}6")])
        self.add(base, items)

    def load_sharded(self, base: str, packed4: Sequence[int], networks6: Sequence[Network]) -> None:
        """Replaces a sharded set's content: IPv4 as packed sorted CIDRs (address << 8 |
        length, none shorter than /8), IPv6 networks."""
        self.nft.run(
            [flush_set_cmd(shard_name(base, shard)) for shard in range(1 << SHARD_BITS[base])]
            + [flush_set_cmd(f"{base}6")]
        )
        self._sharded(base, "add", packed4)
        self.add(base, [(n, None) for n in networks6])

    def load_feed(self, packed4: Sequence[int], networks6: Sequence[Network]) -> None:
        """Replaces the feed: packed sorted IPv4 CIDRs, IPv6 networks."""
        self.nft.run(
            [flush_set_cmd(feed_set(plen)) for plen in FEED_LENGTHS] + [flush_set_cmd("feed6")]
        )
        for batch in _feed_batches("add", packed4):
            self.nft.run_text(batch)
        self.add("feed", [(n, None) for n in networks6])

    def feed_delta(
        self,
        added4: Sequence[int],
        removed4: Sequence[int],
        added6: Sequence[Network] = (),
        removed6: Sequence[Network] = (),
    ) -> None:
        """Applies a difference to the feed, removals before additions (a merged prefix
        may replace its parts); in one atomic batch when it is small. In the feed's hash
        sets a deletion costs what an addition costs, whatever the set's size."""
        if len(added4) + len(removed4) + len(added6) + len(removed6) <= BATCH:
            lines = [*_feed_batches("delete", removed4)]
            lines += [_text6("delete", n) for n in removed6]
            lines += [*_feed_batches("add", added4)]
            lines += [_text6("add", n) for n in added6]
            if lines:
                self.nft.run_text(b"\n".join(lines))
            return
        for batch in _feed_batches("delete", removed4):
            self.nft.run_text(batch)
        self.delete("feed", list(removed6))
        for batch in _feed_batches("add", added4):
            self.nft.run_text(batch)
        self.add("feed", [(n, None) for n in added6])

    def _sharded(self, base: str, verb: str, packed: Sequence[int]) -> None:
        for batch in _shard_batches(verb, base, packed):
            self.nft.run_text(batch)

    def elements(self, set_name: str) -> list[dict[str, Any]]:
        listed = self.nft.list("set", set_name) or {}
        return list(listed.get("elem", []))

    def hits(self) -> dict[str, int]:
        """Packets dropped per source address since it was first dropped (inbound sets)."""
        found: dict[str, int] = {}
        for name in ("hits4", "hits6"):
            for item in self.elements(name):
                elem = item.get("elem", {})
                counter = elem.get("counter", {})
                found[str(elem.get("val"))] = int(counter.get("packets", 0))
        return found

    def stealth(self) -> list[tuple[str, int, float]]:
        """Stealth probes listed: (source, TCP port, seconds since the last one)."""
        found = []
        for name in ("stealth4", "stealth6"):
            for item in self.elements(name):
                elem = item.get("elem", {})
                source, port = elem.get("val", {}).get("concat", ["", 0])
                age = STEALTH_TIMEOUT - float(elem.get("expires", STEALTH_TIMEOUT))
                found.append((str(source), int(port), max(age, 0.0)))
        return found

    def c2_hits(self) -> dict[tuple[str, str], int]:
        """Packets dropped per (C2 address, LAN host)."""
        found: dict[tuple[str, str], int] = {}
        for name in ("c2hits4", "c2hits6"):
            for item in self.elements(name):
                elem = item.get("elem", {})
                c2, host = elem.get("val", {}).get("concat", ["", ""])
                found[(str(c2), str(host))] = int(elem.get("counter", {}).get("packets", 0))
        return found

    def load_ports(self, rules: Sequence[PortRule]) -> None:
        """Replaces the closed ports and their allowed sources, in one atomic batch."""
        cmds = [flush_set_cmd(name) for name in ("ports", "portallow4", "portallow6")]
        closed = [{"concat": [rule.proto, rule.port]} for rule in rules]
        if closed:
            cmds.append(_elements_cmd("add", "ports", closed))
        for suffix in ("4", "6"):
            allowed = [
                {"concat": [element(network), rule.proto, rule.port]}
                for rule in rules
                for network in rule.allow
                if set_suffix(network) == suffix
            ]
            if allowed:
                cmds.append(_elements_cmd("add", f"portallow{suffix}", allowed))
        self.nft.run(cmds)

    def port_hits(self) -> dict[tuple[str, str, int], int]:
        """Packets dropped per (source, protocol, port) at a closed port."""
        found: dict[tuple[str, str, int], int] = {}
        for name in ("porthits4", "porthits6"):
            for item in self.elements(name):
                elem = item.get("elem", {})
                source, proto, port = elem.get("val", {}).get("concat", ["", "", 0])
                key = (str(source), str(proto), _port_number(port))
                found[key] = int(elem.get("counter", {}).get("packets", 0))
        return found

    def rule_counters(self) -> dict[str, int]:
        """Packets counted by each commented rule, summed over chains (`blocked4` → n)."""
        totals: dict[str, int] = {}
        chains = ["input", "forward"] + (["output"] if self.layout.mode == "host" else [])
        for chain in chains:
            listed = (
                self.nft.run(
                    [{"list": {"chain": {"family": FAMILY, "table": TABLE, "name": chain}}}]
                )
                if self.nft.list("chain", chain)
                else []
            )
            for item in listed:
                rule = item.get("rule")
                if not rule:
                    continue
                for expr in rule.get("expr", []):
                    if "counter" in expr and isinstance(expr["counter"], dict):
                        key = rule.get("comment", "")
                        totals[key] = totals.get(key, 0) + int(expr["counter"].get("packets", 0))
        return totals


def _port_number(value: Any) -> int:
    """A port as nft lists it: a number, or a service name (`ms-wbt-server`)."""
    if isinstance(value, int) or str(value).isdigit():
        return int(value)
    import socket

    return socket.getservbyname(str(value))
