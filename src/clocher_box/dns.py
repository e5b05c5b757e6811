"""A local DNS resolver that sinkholes malicious and phishing domains.

LAN hosts use the box as their resolver. A query for a sinkholed domain or any of its
subdomains is answered with the sinkhole address (A and AAAA) and recorded as an event
(`dns-sinkhole`, source = the host that asked, detail = the name); everything else is
forwarded unchanged to the configured upstream resolver.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from dnslib import AAAA, QTYPE, RR, A, DNSRecord
from dnslib.server import BaseResolver, DNSLogger, DNSServer

log = logging.getLogger("clocher_box.dns")

SCENARIO = "dns-sinkhole"
TTL = 60


def normalise(domain: str) -> str:
    return domain.strip().rstrip(".").lower()


def is_sinkholed(name: str, domains: set[str]) -> str | None:
    """The sinkholed domain `name` falls under (itself or a parent), or None."""
    labels = normalise(name).split(".")
    for start in range(len(labels)):
        candidate = ".".join(labels[start:])
        if candidate in domains:
            return candidate
    return None


class SinkholeResolver(BaseResolver):  # type: ignore[misc]
    def __init__(
        self,
        upstream: str,
        sinkhole_v4: str = "0.0.0.0",  # noqa: S104 — an answer, not a bind
        sinkhole_v6: str = "::",
        on_sinkhole: Callable[[str, str], None] | None = None,
        timeout: float = 3.0,
    ) -> None:
        host, _, port = upstream.rpartition(":") if ":" in upstream else (upstream, "", "53")
        self.upstream = ((host or upstream).strip("[]"), int(port or 53))
        self.sinkhole_v4 = sinkhole_v4
        self.sinkhole_v6 = sinkhole_v6
        self.on_sinkhole = on_sinkhole
        self.timeout = timeout
        self.domains: set[str] = set()

    def set_domains(self, domains: Iterable[str]) -> None:
        self.domains = {normalise(d) for d in domains if normalise(d)}

    def resolve(self, request: DNSRecord, handler: Any) -> DNSRecord:
        name = str(request.q.qname)
        matched = is_sinkholed(name, self.domains)
        if matched is None:
            try:
                answer = request.send(
                    *self.upstream, timeout=self.timeout, tcp=handler.protocol == "tcp"
                )
                return DNSRecord.parse(answer)
            except OSError as exc:
                log.warning("résolveur amont %s:%d injoignable : %s", *self.upstream, exc)
                reply = request.reply()
                reply.header.rcode = 2  # SERVFAIL
                return reply
        reply = request.reply()
        qtype = QTYPE[request.q.qtype]
        if qtype in ("A", "ANY"):
            reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A(self.sinkhole_v4), ttl=TTL))
        if qtype in ("AAAA", "ANY"):
            reply.add_answer(RR(request.q.qname, QTYPE.AAAA, rdata=AAAA(self.sinkhole_v6), ttl=TTL))
        client = handler.client_address[0]
        log.info("DNS : %s a demandé %s (domaine %s), réponse puits", client, name, matched)
        if self.on_sinkhole is not None:
            self.on_sinkhole(client, normalise(name))
        return reply


def system_upstream(listen: str, resolv_conf: str = "/etc/resolv.conf") -> str:
    """The resolver the town hall already uses (first `nameserver` of resolv.conf that is
    not the box's own listener): no foreign public resolver by default."""
    listen_host = listen.rpartition(":")[0].strip("[]")
    try:
        lines = Path(resolv_conf).read_text().splitlines()
    except OSError:
        lines = []
    for line in lines:
        fields = line.split()
        if len(fields) >= 2 and fields[0] == "nameserver" and fields[1] != listen_host:
            host = fields[1]
            return f"[{host}]:53" if ":" in host else f"{host}:53"
    raise ValueError(
        f"Aucun résolveur amont dans {resolv_conf} : indiquez --dns-upstream "
        "(le résolveur du département ou du fournisseur d'accès)."
    )


def serve(resolver: SinkholeResolver, address: str, port: int) -> list[DNSServer]:
    """UDP and TCP servers in background threads (stop() each at shutdown)."""
    quiet = DNSLogger(log="-request,-reply,-truncated,-error", prefix=False)
    servers = [
        DNSServer(resolver, address=address, port=port, logger=quiet),
        DNSServer(resolver, address=address, port=port, tcp=True, logger=quiet),
    ]
    for server in servers:
        server.start_thread()
    return servers
