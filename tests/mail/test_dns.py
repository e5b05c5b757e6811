"""The DNS helper against a real DNS server (dnslib on loopback), and DKIM keys that
verify with dkimpy through the record we tell the commune to publish."""

from __future__ import annotations

import dkim
import pytest
from click.testing import CliRunner
from django.urls import reverse

from clocher.cli import main
from clocher.core.audit import Actor
from clocher.mail import dns, services

ACTOR = Actor(label="tests")


@pytest.mark.django_db
def test_records_and_live_check(operator, dns_server, settings):
    settings.MAIL_HOSTNAME = "mail.communes.cotedor.fr"
    domain = services.shared_domain()
    key = dns.ensure_dkim_key(ACTOR, domain)
    records = dns.expected_records(domain)
    by_type = {(r.name, r.rtype): r for r in records}
    assert by_type[("communes.cotedor.fr", "MX")].value == "10 mail.communes.cotedor.fr."
    dkim_name = f"{key.selector}._domainkey.communes.cotedor.fr"
    assert by_type[(dkim_name, "TXT")].value.startswith("v=DKIM1; k=rsa; p=")
    # Publish everything but DMARC, and a wrong SPF.
    published = [r for r in records if not r.name.startswith("_dmarc")]
    zone = "\n".join(
        r.zone_line()
        if r.purpose.startswith("SPF") is False
        else 'communes.cotedor.fr. 3600 IN TXT "v=spf1 include:_spf.google.com ~all"'
        for r in published
    )
    # Long TXT values (DKIM) must be split in 255-byte strings in a zone file.
    zone = "\n".join(_split_long_txt(line) for line in zone.splitlines())
    dns_server(zone)
    status = {(r.name, r.rtype): r for r in dns.check(dns.expected_records(domain))}
    assert status[("communes.cotedor.fr", "MX")].status == "publié"
    assert status[(dkim_name, "TXT")].status == "publié"
    assert status[("_dmarc.communes.cotedor.fr", "TXT")].status == "absent"
    spf = status[("communes.cotedor.fr", "TXT")]
    assert spf.status == "différent" and "google" in spf.found


def _split_long_txt(line: str) -> str:
    if " TXT " not in line:
        return line
    head, _, value = line.partition(" TXT ")
    text = value.strip('"')
    chunks = [text[i : i + 200] for i in range(0, len(text), 200)]
    return head + " TXT " + " ".join(f'"{c}"' for c in chunks)


@pytest.mark.django_db
def test_dkim_key_signs_and_verifies_through_its_record(operator):
    domain = services.shared_domain()
    key = dns.ensure_dkim_key(ACTOR, domain)
    record = next(r for r in dns.expected_records(domain) if "_domainkey" in r.name)
    message = (
        b"From: mairie.flavigny@communes.cotedor.fr\r\nTo: x@example.org\r\n"
        b"Subject: Test\r\n\r\nBonjour.\r\n"
    )
    signature = dkim.sign(
        message,
        key.selector.encode(),
        b"communes.cotedor.fr",
        key.private_key.encode(),
        include_headers=[b"from", b"to", b"subject"],
    )

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes:
        assert name.decode().rstrip(".") == record.name
        return record.value.encode()

    assert dkim.verify(signature + message, dnsfunc=dnsfunc)


@pytest.mark.django_db
def test_rotation_keeps_the_old_key_published(operator):
    domain = services.shared_domain()
    old = dns.ensure_dkim_key(ACTOR, domain)
    new = dns.rotate_dkim_key(ACTOR, domain)
    assert new.selector != old.selector
    assert dns.signing_key(domain) == new
    names = [r.name for r in dns.expected_records(domain)]
    assert f"{old.selector}._domainkey.communes.cotedor.fr" in names
    assert f"{new.selector}._domainkey.communes.cotedor.fr" in names


@pytest.mark.django_db
def test_cli_and_page(operator, client_operator, dns_server):
    dns_server("")  # nothing published
    runner = CliRunner()
    zone = runner.invoke(main, ["mail", "dns", "communes.cotedor.fr"])
    assert zone.exit_code == 0 and "IN MX 10" in zone.output
    checked = runner.invoke(main, ["mail", "dns", "communes.cotedor.fr", "--check"])
    assert checked.exit_code == 1 and "absent" in checked.output
    page = client_operator.get(
        reverse("mail:dns", kwargs={"domain": "communes.cotedor.fr"}), {"verifier": "1"}
    )
    body = page.content.decode()
    assert "_domainkey.communes.cotedor.fr" in body and "absent" in body
    assert client_operator.get("/.well-known/mta-sts.txt").content.startswith(b"version: STSv1")
