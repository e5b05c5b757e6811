"""Whether a signed domain's DNSSEC answers validate, with dnspython: the DS published at
the parent designates a key (KSK) of the domain, that key signs the domain's keys
(DNSKEY), and those keys sign its records (SOA). A broken chain is worse than no DNSSEC:
validating resolvers then refuse every answer of the domain.

The parent's DS itself is taken as the platform's resolver returns it (the chain above
the domain, up to the root, is the resolver's to validate: docs/eservices.md)."""

from __future__ import annotations

import copy
import time

import dns.dnssec
import dns.exception
import dns.flags
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.resolver
import dns.rrset
from dns.rdtypes.ANY.DNSKEY import DNSKEY
from dns.rdtypes.ANY.DS import DS


def _signed(
    res: dns.resolver.Resolver, name: dns.name.Name, rdtype: dns.rdatatype.RdataType
) -> tuple[dns.rrset.RRset, dns.rrset.RRset | None]:
    """The RRset and its signatures (None when the answer carries none)."""
    asking = copy.copy(res)  # the DO bit on a copy: the caller's resolver stays as it was
    asking.use_edns(0, dns.flags.DO, 1232)
    answer = asking.resolve(name, rdtype)
    if answer.rrset is None:  # pragma: no cover - resolve raises NoAnswer first
        raise dns.resolver.NoAnswer
    try:
        sigs = answer.response.find_rrset(
            answer.response.answer, answer.rrset.name, dns.rdataclass.IN,
            dns.rdatatype.RRSIG, rdtype,
        )  # fmt: skip
    except KeyError:
        sigs = None
    return answer.rrset, sigs


def _designated(name: dns.name.Name, key: DNSKEY, parent: list[DS]) -> bool:
    for ds in parent:
        try:
            made = dns.dnssec.make_ds(name, key, ds.digest_type, validating=True)
        except (dns.exception.UnsupportedAlgorithm, dns.exception.DeniedByPolicy):
            continue
        if made == ds:
            return True
    return False


def _why(sigs: dns.rrset.RRset) -> str:
    """Why no signature validated (dnspython only says none did): out of its dates, or
    false."""
    now = time.time()
    if all(sig.expiration < now for sig in sigs):
        return "signature expirée"
    if all(sig.inception > now for sig in sigs):
        return "signature pas encore valide"
    return "signature fausse"


def problem(res: dns.resolver.Resolver, domain: str, parent: list[DS]) -> str:
    """What breaks the chain from the parent's DS to the domain's records ('' if none)."""
    name = dns.name.from_text(domain)
    try:
        keys, key_sigs = _signed(res, name, dns.rdatatype.DNSKEY)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return "le parent publie un DS mais le domaine ne publie aucune clé (DNSKEY)"
    designated = [key for key in keys if _designated(name, key, parent)]
    if not designated:
        return "aucune clé du domaine ne correspond au DS publié chez le parent"
    if key_sigs is None:
        return "les clés du domaine (DNSKEY) ne sont pas signées"
    anchor = dns.rrset.from_rdata_list(name, keys.ttl, designated)
    try:
        dns.dnssec.validate(keys, key_sigs, {name: anchor})
    except dns.dnssec.ValidationFailure:
        return f"clés du domaine (DNSKEY) : {_why(key_sigs)}"
    try:
        soa, soa_sigs = _signed(res, name, dns.rdatatype.SOA)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return "le domaine ne publie pas d'enregistrement SOA"
    if soa_sigs is None:
        return "l'enregistrement SOA n'est pas signé"
    try:
        dns.dnssec.validate(soa, soa_sigs, {name: keys})
    except dns.dnssec.ValidationFailure:
        return f"enregistrement SOA : {_why(soa_sigs)}"
    return ""
