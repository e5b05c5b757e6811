"""DNS for a mail domain: the records to publish (MX, SPF, DKIM, DMARC, MTA-STS, TLS-RPT,
client autoconfiguration) and a live check of what is actually published."""

from __future__ import annotations

import base64
from dataclasses import dataclass

import dns.exception
import dns.resolver
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from clocher.core import audit
from clocher.core.audit import Actor
from clocher.mail.models import DkimKey, MailDomain

# Where DMARC aggregate reports and TLS-RPT reports of a domain go (<local>@<domain>):
# on the shared domain, addresses of the operator (mail.reserved).
DMARC_REPORTS = "dmarc"
TLS_REPORTS = "tlsrpt"
REPORT_LOCAL_PARTS = frozenset({DMARC_REPORTS, TLS_REPORTS})


def generate_dkim_key(actor: Actor, domain: MailDomain) -> DkimKey:
    """A new 2048-bit RSA key with a dated selector; it becomes the signing key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public_der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    base = "clocher" + timezone.now().strftime("%Y%m")
    selector = base
    counter = 1
    while DkimKey.objects.filter(domain=domain, selector=selector).exists():
        counter += 1
        selector = f"{base}-{counter}"
    with transaction.atomic():
        record = DkimKey.objects.create(
            domain=domain,
            selector=selector,
            private_key=private_pem,
            public_key=base64.b64encode(public_der).decode(),
        )
        audit.record(actor, "mail.dkim_key_created", commune=domain.commune, target=str(record))
        transaction.on_commit(_publish_keys_to_rspamd)
    return record


def reload_mail_servers() -> None:
    """After a domain opens or closes, if the mail servers run on this machine."""
    from clocher.mail.engines import runtime
    from clocher.mail.engines.config import MailConfig

    if settings.MAIL_ENABLED:
        runtime.reload_postfix(MailConfig.from_settings())


def _publish_keys_to_rspamd() -> None:
    """Rewrite rspamd's key files and maps if the mail servers run on this machine."""
    from clocher.mail.engines import rspamd
    from clocher.mail.engines.config import MailConfig

    config = MailConfig.from_settings()
    if settings.MAIL_ENABLED and (rspamd.rspamd_dir(config) / "dkim").is_dir():
        rspamd.write_dkim_keys(config)


def rotate_dkim_key(actor: Actor, domain: MailDomain) -> DkimKey:
    """Create a new signing key and retire the older ones (their DNS records can be removed
    once messages signed with them are old: a week is plenty)."""
    with transaction.atomic():
        new = generate_dkim_key(actor, domain)
        DkimKey.objects.filter(domain=domain, retired_at__isnull=True).exclude(pk=new.pk).update(
            retired_at=timezone.now()
        )
        audit.record(
            actor,
            "mail.dkim_rotated",
            commune=domain.commune,
            target=domain.name,
            data={"selector": new.selector},
        )
    return new


def signing_key(domain: MailDomain) -> DkimKey | None:
    return DkimKey.objects.filter(domain=domain, retired_at__isnull=True).first()


@dataclass
class Record:
    name: str
    rtype: str
    value: str
    purpose: str
    status: str = "non vérifié"
    found: str = ""

    def zone_line(self) -> str:
        value = f'"{self.value}"' if self.rtype == "TXT" else self.value
        return f"{self.name}. 3600 IN {self.rtype} {value}"


def expected_records(domain: MailDomain) -> list[Record]:
    name = domain.name
    host = settings.MAIL_HOSTNAME or f"mail.{name}"
    web_host = settings.BASE_URL.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
    records = [
        Record(name, "MX", f"10 {host}.", "réception du courrier"),
        Record(name, "TXT", "v=spf1 mx -all", "SPF : seuls nos serveurs envoient"),
        Record(
            f"_dmarc.{name}",
            "TXT",
            f"v=DMARC1; p=quarantine; rua=mailto:{DMARC_REPORTS}@{name}",
            "DMARC : que faire des messages non authentifiés",
        ),
        Record(
            f"_mta-sts.{name}",
            "TXT",
            "v=STSv1; id=" + timezone.now().strftime("%Y%m%d"),
            "MTA-STS : TLS obligatoire vers nos serveurs",
        ),
        Record(
            f"_smtp._tls.{name}",
            "TXT",
            f"v=TLSRPTv1; rua=mailto:{TLS_REPORTS}@{name}",
            "TLS-RPT : rapports d'échec TLS",
        ),
        Record(f"autoconfig.{name}", "CNAME", f"{web_host}.", "configuration Thunderbird"),
        Record(
            f"_autodiscover._tcp.{name}", "SRV", f"0 0 443 {web_host}.", "configuration Outlook"
        ),
        Record(
            f"_imaps._tcp.{name}",
            "SRV",
            f"0 1 {settings.MAIL_IMAPS_PORT} {host}.",
            "IMAP (RFC 6186)",
        ),
        Record(
            f"_submission._tcp.{name}",
            "SRV",
            f"0 1 {settings.MAIL_SUBMISSION_PORT} {host}.",
            "envoi (RFC 6186)",
        ),
    ]
    for key in DkimKey.objects.filter(domain=domain):
        state = "signature" if key.retired_at is None else "ancienne clé, à retirer plus tard"
        records.append(
            Record(
                f"{key.selector}._domainkey.{name}",
                "TXT",
                f"v=DKIM1; k=rsa; p={key.public_key}",
                f"DKIM ({state})",
            )
        )
    return records


def resolver() -> dns.resolver.Resolver:
    """The system resolver, or CLOCHER_DNS_RESOLVER=host[:port] (e.g. a local unbound)."""
    configured = getattr(settings, "DNS_RESOLVER", "")
    if not configured:
        return dns.resolver.Resolver()
    res = dns.resolver.Resolver(configure=False)
    host, _, port = configured.partition(":")
    res.nameservers = [host]
    res.port = int(port or 53)
    res.lifetime = 3
    return res


def _normalise(rtype: str, text: str) -> str:
    text = text.strip()
    if rtype == "TXT":
        text = "".join(part.strip('"') for part in text.split('" "'))
    return " ".join(text.lower().split()).rstrip(".")


def check(records: list[Record], res: dns.resolver.Resolver | None = None) -> list[Record]:
    """Query each record and say: publié, différent (with what is found) or absent."""
    res = res or resolver()
    for record in records:
        try:
            answer = res.resolve(record.name, record.rtype)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            record.status, record.found = "absent", ""
            continue
        except dns.exception.DNSException as exc:
            record.status, record.found = "injoignable", exc.__class__.__name__
            continue
        found = [item.to_text() for item in answer]
        wanted = _normalise(record.rtype, record.value)
        if any(_normalise(record.rtype, f) == wanted for f in found):
            record.status, record.found = "publié", ""
        elif (
            record.rtype == "TXT"
            and record.value.startswith("v=DMARC1")
            and any("v=dmarc1" in f.lower() for f in found)
        ):
            record.status, record.found = "publié (politique différente)", " | ".join(found)
        else:
            record.status, record.found = "différent", " | ".join(found)
    return records


def verify_domain(
    actor: Actor, domain: MailDomain, res: dns.resolver.Resolver | None = None
) -> Record:
    """Prove a commune's domain points here (its MX names our mail host) and open it to
    mail. A later failed check does not close it: DNS hiccups must not bounce mail."""
    mx = check([expected_records(domain)[0]], res)[0]
    if mx.status == "publié" and domain.dns_verified_at is None:
        with transaction.atomic():
            domain.dns_verified_at = timezone.now()
            domain.save(update_fields=["dns_verified_at"])
            audit.record(actor, "mail.domain_verified", commune=domain.commune, target=domain.name)
            transaction.on_commit(reload_mail_servers)
    return mx


def ensure_dkim_key(actor: Actor, domain: MailDomain) -> DkimKey:
    return signing_key(domain) or generate_dkim_key(actor, domain)


def mta_sts_policy() -> str:
    host = settings.MAIL_HOSTNAME or "*." + (
        MailDomain.objects.filter(commune__isnull=True).values_list("name", flat=True).first() or ""
    )
    return f"version: STSv1\nmode: enforce\nmx: {host}\nmax_age: 604800\n"
