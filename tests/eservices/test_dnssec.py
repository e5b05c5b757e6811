"""DNSSEC validated, not only announced: a zone signed by BIND's dnssec-signzone whose DS
is at the parent validates (no finding); a forged signature, expired signatures, a DS of
another key and a DS without any key each give « signature DNSSEC invalide »."""

from __future__ import annotations

import pytest

from clocher.eservices import services
from clocher.eservices.checks import mail
from clocher.mail.dns import resolver
from tests.conftest import SYSTEM
from tests.eservices.test_audit import codes, confirmed

ZONE = """
signe.test. 60 IN TXT "v=spf1 mx -all"
_dmarc.signe.test. 60 IN TXT "v=DMARC1; p=reject"
www.signe.test. 60 IN A 127.0.0.1
autre.test. 60 IN TXT "v=spf1 -all"
"""


def _dnssec_findings(domain: str = "signe.test"):  # noqa: ANN202
    return [f for f in mail.check_dnssec(resolver(), domain) if f.code.startswith("DNSSEC")]


def test_signed_zone_validates(signed_dns):
    signed_dns(ZONE, "signe.test")
    assert _dnssec_findings() == []
    # The unsigned domain beside it is only « not signed », not « invalid ».
    assert [f.code for f in _dnssec_findings("autre.test")] == ["DNSSEC_MISSING"]


@pytest.mark.django_db
def test_forged_signature_is_invalid(commune_a, signed_dns):
    signed_dns(ZONE, "signe.test", broken=("signe.test.", 6))  # the SOA's RRSIG
    scan = services.scan_target(SYSTEM, confirmed(commune_a, "signe.test"))
    assert "DNSSEC_INVALID" in codes(scan) and "DNSSEC_MISSING" not in codes(scan)
    found = scan.findings.get(code="DNSSEC_INVALID")
    assert found.severity == "critique"
    assert found.title == (
        "Signature DNSSEC invalide pour le domaine signe.test : "
        "enregistrement SOA : signature fausse."
    )
    assert "DS" in found.fix


def test_forged_key_signature_is_invalid(signed_dns):
    signed_dns(ZONE, "signe.test", broken=("signe.test.", 48))  # the DNSKEY set's RRSIG
    (found,) = _dnssec_findings()
    assert "clés du domaine (DNSKEY) : signature fausse" in found.title


def test_expired_signatures_are_invalid(signed_dns):
    signed_dns(ZONE, "signe.test", validity=("20200101000000", "20200201000000"))
    (found,) = _dnssec_findings()
    assert (found.code, found.title) == (
        "DNSSEC_INVALID",
        "Signature DNSSEC invalide pour le domaine signe.test : "
        "clés du domaine (DNSKEY) : signature expirée.",
    )


def test_ds_of_another_key_is_invalid(signed_dns):
    signed_dns(ZONE, "signe.test", foreign_ds=True)
    (found,) = _dnssec_findings()
    assert "aucune clé du domaine ne correspond au DS" in found.title


def test_ds_without_any_key_is_invalid(signed_dns):
    records = signed_dns(ZONE, "signe.test")
    for key in [k for k in records if k[1] == 48 or k[2] == 48]:  # DNSKEY and its RRSIG
        del records[key]
    (found,) = _dnssec_findings()
    assert "aucune clé (DNSKEY)" in found.title
