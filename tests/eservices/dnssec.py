"""A loopback DNS server answering with DNSSEC signatures: zones signed by BIND's own
dnssec-keygen/dnssec-signzone from Debian (an independent signer, not the dnspython
that validates), their DS served as the parent would, unsigned records beside them.
UDP on a free port; the RRSIGs of an answer when the query sets the DO bit."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataset
import dns.rdatatype
import dns.rrset
import dns.zone

SIGNZONE = shutil.which("dnssec-signzone") or "/usr/bin/dnssec-signzone"
KEYGEN = shutil.which("dnssec-keygen") or "/usr/bin/dnssec-keygen"
Records = dict[tuple[dns.name.Name, int, int], dns.rdataset.Rdataset]  # name, type, covers


def split(text: str, apex: str) -> tuple[str, str]:
    """(the lines of `apex`'s zone, the others), DS lines dropped: signing makes them."""
    inside, outside = [], []
    for line in text.strip().splitlines():
        name, _, rest = line.partition(" ")
        if " DS " in f" {rest} ":
            continue
        own = name == f"{apex}." or name.endswith(f".{apex}.")
        (inside if own else outside).append(line)
    return "\n".join(inside), "\n".join(outside)


def _run(*argv: str, cwd: Path) -> str:
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"{argv[0]} : {done.stderr.strip()}")
    return done.stdout


def sign(
    apex: str, records: str, workdir: Path, validity: tuple[str, str] | None = None
) -> tuple[str, str]:
    """The zone of `apex` (SOA and NS added) signed with a new KSK and ZSK, and its DS
    lines; `validity` (start, end as YYYYMMDDHHMMSS) dates the signatures."""
    workdir.mkdir(parents=True, exist_ok=True)
    source = workdir / "zone.db"
    source.write_text(
        f"$ORIGIN {apex}.\n$TTL 60\n"
        f"@ IN SOA ns.{apex}. hostmaster.{apex}. 1 3600 600 86400 60\n"
        f"@ IN NS ns.{apex}.\nns IN A 127.0.0.1\n{records}\n"
    )
    active = ["-P", validity[0], "-A", validity[0]] if validity else []  # keys of that time
    for role in (("-f", "KSK"), ()):
        _run(KEYGEN, "-q", "-K", ".", "-a", "ECDSAP256SHA256", *role, *active, "-n", "ZONE",
             apex, cwd=workdir)  # fmt: skip
    # -P: no check after signing, which would refuse the signatures of another time.
    dates = ["-P", "-s", validity[0], "-e", validity[1]] if validity else []
    _run(SIGNZONE, "-q", "-S", "-K", ".", "-d", ".", *dates, "-o", apex, "-f", "zone.signed",
         "zone.db", cwd=workdir)  # fmt: skip
    return (workdir / "zone.signed").read_text(), (workdir / f"dsset-{apex}.").read_text()


def parse(signed: str, apex: str, others: str) -> Records:
    """Every RRset of the signed zone and of the other lines (absolute names: DS, other
    domains), keyed for the server's lookups."""
    zones = [
        dns.zone.from_text(signed, origin=f"{apex}.", relativize=False),
        dns.zone.from_text(others, origin=dns.name.root, relativize=False, check_origin=False),
    ]
    return {
        (name, rdataset.rdtype, rdataset.covers): rdataset
        for zone in zones
        for name, node in zone.nodes.items()
        for rdataset in node
    }


def break_signature(records: Records, name: str, covered: dns.rdatatype.RdataType) -> None:
    """Flip one bit of the signature of `name`'s `covered` RRset (a forged answer)."""
    key = (dns.name.from_text(name), dns.rdatatype.RRSIG, covered)
    old = records[key]
    forged = dns.rdataset.Rdataset(old.rdclass, old.rdtype, old.covers)
    for rrsig in old:
        signature = bytearray(rrsig.signature)
        signature[len(signature) // 2] ^= 0x01
        forged.add(rrsig.replace(signature=bytes(signature)), old.ttl)
    records[key] = forged


def answer(records: Records, wire: bytes) -> bytes:
    query = dns.message.from_wire(wire)
    response = dns.message.make_response(query)
    question = query.question[0]
    found = records.get((question.name, question.rdtype, dns.rdatatype.NONE))
    if found is not None:
        response.answer.append(dns.rrset.from_rdata_list(question.name, found.ttl, found))
        signatures = records.get((question.name, dns.rdatatype.RRSIG, question.rdtype))
        if signatures is not None and query.ednsflags & dns.flags.DO:
            response.answer.append(
                dns.rrset.from_rdata_list(question.name, signatures.ttl, signatures)
            )
    elif not any(name == question.name for name, _, _ in records):
        response.set_rcode(dns.rcode.NXDOMAIN)
    return response.to_wire()


@contextmanager
def serving(records: Records) -> Iterator[str]:
    """'127.0.0.1:PORT' answering from `records` until the block ends."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                wire, peer = sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                sock.sendto(answer(records, wire), peer)
            except Exception:  # noqa: BLE001, S112 - a malformed query gets no answer
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{sock.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=30)
        sock.close()
