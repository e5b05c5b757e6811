"""The e-services audit against local servers: every expected finding on the weak site
and the weak mail domain, none on the strong ones, a target never contacted before its
ownership is confirmed, and one commune's targets invisible to another's people."""

from __future__ import annotations

import json
import socket
import threading

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from clocher.core.models import AuditEntry
from clocher.eservices import services
from clocher.eservices.checks import score
from clocher.eservices.models import Finding, Scan, Target
from tests.conftest import SYSTEM
from tests.eservices.conftest import MTA_STS_POLICY

WEAK_SITE_FINDINGS = {
    "TLS_CERT_EXPIRED",
    "TLS_CERT_SELF_SIGNED",
    "TLS_CERT_NAME_MISMATCH",
    "TLS_OLD_PROTOCOL",
    "TLS_NO_TLS13",
    "TLS_CIPHER_NULL",
    "TLS_CIPHER_ANONYMOUS",
    "TLS_CBC_OLD_PROTOCOL",
    "HSTS_MISSING",
    "CSP_MISSING",
    "XCTO_MISSING",
    "REFERRER_POLICY_MISSING",
    "COOKIE_NOT_SECURE",
    "COOKIE_NOT_HTTPONLY",
    "MIXED_CONTENT",
    "CMS_OUTDATED",
    "THIRD_PARTY_GOOGLE_ANALYTICS",
    "THIRD_PARTY_GOOGLE_FONTS",
}

# solide.test's zone is signed by BIND's tools and its DS published (signed_dns).
MAIL_ZONE = """
faible.test. 60 IN TXT "v=spf1 +all"
_dmarc.faible.test. 60 IN TXT "v=DMARC1; p=none"
solide.test. 60 IN TXT "v=spf1 mx -all"
solide.test. 60 IN TXT "clocher-verification={token}"
_dmarc.solide.test. 60 IN TXT "v=DMARC1; p=reject; rua=mailto:dmarc@solide.test"
sel1._domainkey.solide.test. 60 IN TXT "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapi"
mail._domainkey.faible.test. 60 IN TXT "v=DKIM1; p="
_mta-sts.solide.test. 60 IN TXT "v=STSv1; id=20261205"
mta-sts.solide.test. 60 IN A 127.0.0.1
_smtp._tls.solide.test. 60 IN TXT "v=TLSRPTv1; rua=mailto:tls@solide.test"
"""


def confirmed(commune, value: str) -> Target:
    target = services.add_target(SYSTEM, commune, value)
    return services.confirm_target(SYSTEM, target, attestation="serveur de test")


def codes(scan: Scan) -> set[str]:
    return set(scan.findings.values_list("code", flat=True))


@pytest.mark.django_db
def test_weak_site_every_finding(commune_a, weak_site):
    scan = services.scan_target(SYSTEM, confirmed(commune_a, weak_site.url))
    assert codes(scan) == WEAK_SITE_FINDINGS
    by_code = {f.code: f for f in scan.findings.all()}
    assert "TLS 1.0 et TLS 1.1" in by_code["TLS_OLD_PROTOCOL"].title
    assert "WordPress 5.0" in by_code["CMS_OUTDATED"].title
    assert "PHPSESSID" in by_code["COOKIE_NOT_SECURE"].title
    assert all(f.explanation and f.fix for f in scan.findings.all())
    assert scan.score == 0  # far more than 100 points of penalties


@pytest.mark.django_db
def test_strong_site_no_false_finding(commune_a, strong_site):
    scan = services.scan_target(SYSTEM, confirmed(commune_a, strong_site.url))
    assert codes(scan) == set()
    assert scan.score == 100
    assert "/readme.html" in strong_site.requests  # the CMS marker was looked for


@pytest.mark.django_db
def test_untrusted_certificate_without_the_authority(commune_a, strong_site, settings):
    settings.ESERVICES_CA_FILE = ""  # the system's authorities do not know the test one
    scan = services.scan_target(SYSTEM, confirmed(commune_a, strong_site.url))
    assert codes(scan) == {"TLS_CERT_UNTRUSTED"}


@pytest.mark.django_db
def test_plain_http_site(commune_a, plain_site):
    scan = services.scan_target(SYSTEM, confirmed(commune_a, plain_site.url))
    assert codes(scan) == {"HTTP_NO_TLS", "CSP_MISSING", "XCTO_MISSING", "REFERRER_POLICY_MISSING"}


@pytest.mark.django_db
def test_not_a_web_server_is_unreachable_not_a_crash(commune_a):
    """A port that answers something else than HTTP: one `UNREACHABLE`, the scan stored."""
    listener = socket.create_server(("127.0.0.1", 0))

    def answer_garbage() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")

    threading.Thread(target=answer_garbage, daemon=True).start()
    with listener:
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/"
        scan = services.scan_target(SYSTEM, confirmed(commune_a, url))
    assert codes(scan) == {"UNREACHABLE"}


@pytest.mark.django_db
def test_mail_domains(commune_a, signed_dns, mta_sts):
    strong = services.add_target(SYSTEM, commune_a, "solide.test", dkim_selectors="sel1")
    signed_dns(MAIL_ZONE.format(token=strong.token), "solide.test")
    services.confirm_target(SYSTEM, strong)  # the TXT record is the proof
    assert strong.confirmed_how == "DNS TXT sur solide.test"
    assert codes(services.scan_target(SYSTEM, strong)) == set()
    # A revoked key (p= empty) and a selector with no record at all.
    weak = services.add_target(SYSTEM, commune_a, "faible.test", dkim_selectors="mail, s2")
    services.confirm_target(SYSTEM, weak, attestation="serveur de test")
    scan = services.scan_target(SYSTEM, weak)
    assert codes(scan) == {
        "SPF_PERMISSIVE", "DMARC_NONE", "MTA_STS_MISSING", "TLS_RPT_MISSING", "DKIM_MISSING",
        "DNSSEC_MISSING",
    }  # fmt: skip
    assert scan.findings.filter(code="DKIM_MISSING").count() == 2
    bare = services.scan_target(SYSTEM, confirmed(commune_a, "absent.test"))
    assert codes(bare) == {
        "SPF_MISSING", "DMARC_MISSING", "MTA_STS_MISSING", "TLS_RPT_MISSING",
        "DKIM_NOT_DECLARED", "DNSSEC_MISSING",
    }  # fmt: skip


@pytest.mark.django_db
def test_mta_sts_policy_read_over_https(commune_a, zone, mta_sts):
    zone(
        """
_mta-sts.essai.test. 60 IN TXT "v=STSv1; id=1"
mta-sts.essai.test. 60 IN A 127.0.0.1
_mta-sts.sanspolitique.test. 60 IN TXT "v=STSv1; id=1"
_mta-sts.autrenom.test. 60 IN TXT "v=STSv1; id=1"
mta-sts.autrenom.test. 60 IN A 127.0.0.1
"""
    )
    policy = "version: STSv1\nmode: testing\nmx: mx.essai.test\nmax_age: 86400\n"
    mta_sts.routes[MTA_STS_POLICY] = (200, [], policy)
    mta_sts.requests.clear()
    testing = services.scan_target(SYSTEM, confirmed(commune_a, "essai.test"))
    assert "MTA_STS_NOT_ENFORCED" in codes(testing)
    assert mta_sts.requests == [MTA_STS_POLICY]
    # Announced, but no host for the policy; and a host whose certificate is another's.
    for domain in ("sanspolitique.test", "autrenom.test"):
        found = codes(services.scan_target(SYSTEM, confirmed(commune_a, domain)))
        assert "MTA_STS_POLICY_UNREACHABLE" in found and "MTA_STS_MISSING" not in found
    assert mta_sts.requests == [MTA_STS_POLICY]  # the wrong certificate got no request


def test_dkim_selectors_are_checked_names():
    assert services.parse_selectors("Sel1; mail , sel1") == "sel1,mail"
    with pytest.raises(ValidationError, match="sélecteur DKIM"):
        services.parse_selectors("pas un sélecteur")


@pytest.mark.django_db
def test_public_address_open_ports(commune_a, monkeypatch):
    from clocher.eservices.checks import ports

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    # Port 1 (tcpmux) has no listener here: the closed port of the same check.
    risky = {port: ("RDP (bureau à distance Windows)", "critique"), 1: ("tcpmux", "haute")}
    monkeypatch.setattr(ports, "RISKY_PORTS", risky)
    target = confirmed(commune_a, "127.0.0.1")
    with listener:
        scan = services.scan_target(SYSTEM, target)
    assert codes(scan) == {f"PORT_OPEN_{port}"}
    assert "boîtier Clocher" in scan.findings.get().fix


@pytest.mark.django_db
def test_unconfirmed_target_is_never_contacted(commune_a, weak_site):
    target = services.add_target(SYSTEM, commune_a, weak_site.url)
    assert services.scan_all(SYSTEM) == [] and services.scan_all(SYSTEM, commune_a) == []
    with pytest.raises(ValidationError, match="pas confirmée"):
        services.scan_target(SYSTEM, target)
    assert weak_site.requests == []
    assert not Scan.objects.exists()
    # Without a published proof, the operator cannot confirm either.
    with pytest.raises(ValidationError, match=target.token):
        services.confirm_target(SYSTEM, target)
    assert weak_site.requests == ["/.well-known/clocher-verification.txt"]
    target.refresh_from_db()
    assert not target.is_confirmed


@pytest.mark.django_db
def test_confirm_by_well_known_file(commune_a, strong_site):
    target = services.add_target(SYSTEM, commune_a, strong_site.url)
    strong_site.routes[services.WELL_KNOWN] = (200, [], services.proof_text(target) + "\n")
    services.confirm_target(SYSTEM, target)
    assert target.confirmed_how.startswith("fichier https://127.0.0.1:")
    assert [s.target for s in services.scan_all(SYSTEM, commune_a)] == [target]
    actions = AuditEntry.objects.filter(target=str(target)).values_list("action", flat=True)
    assert list(actions.order_by("seq")) == [
        "eservices.add",
        "eservices.confirm",
        "eservices.scan",
    ]


@pytest.mark.django_db
def test_targets_are_isolated_between_communes(
    commune_a, commune_b, admin_a, admin_b, agent_a, operator_admin
):
    from clocher.core.audit import Actor

    mine = services.add_target(Actor(user=admin_a), commune_a, "https://mairie-a.example/")
    theirs = services.add_target(Actor(user=admin_b), commune_b, "https://mairie-b.example/")
    assert list(services.targets_for(admin_a)) == [mine]
    assert list(services.targets_for(admin_b)) == [theirs]
    assert list(services.targets_for(admin_b, commune_a)) == []
    assert set(services.targets_for(operator_admin)) == {mine, theirs}
    with pytest.raises(PermissionDenied):
        services.add_target(Actor(user=admin_b), commune_a, "https://intrus.example/")
    with pytest.raises(PermissionDenied):  # an agent is not the commune's admin
        services.add_target(Actor(user=agent_a), commune_a, "https://autre.example/")
    with pytest.raises(PermissionDenied):  # only the operator confirms ownership
        services.confirm_target(Actor(user=admin_a), mine, attestation="c'est à nous")
    assert Target.objects.count() == 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("HTTPS://Mairie.Example", ("url", "https://mairie.example/")),
        ("Flavigny.FR.", ("domain", "flavigny.fr")),
        ("2001:db8::1", None),  # documentation range: not public
        ("192.168.1.10", None),
        ("pas une cible", None),
        ("81.250.1.2", ("ip", "81.250.1.2")),
    ],
)
def test_parse_target(settings, text, expected):
    settings.ESERVICES_ALLOW_PRIVATE = False
    if expected is None:
        with pytest.raises(ValidationError):
            services.parse_target(text)
    else:
        assert services.parse_target(text) == expected


@pytest.mark.django_db
def test_report_worst_first_and_weakest_target_score(commune_a, weak_site, strong_site, zone):
    zone("")
    services.scan_target(SYSTEM, confirmed(commune_a, strong_site.url))
    services.scan_target(SYSTEM, confirmed(commune_a, "absent.test"))
    services.add_target(SYSTEM, commune_a, weak_site.url)  # not confirmed: not audited
    made = services.report(commune_a)
    mail_findings = Finding.objects.filter(scan__target__value="absent.test")
    assert made.score == score([_plain(f) for f in mail_findings]) == 100 - 20 - 20 - 8 - 3 - 3
    severities = [f["gravite"] for f in made.findings]
    assert severities == ["haute", "haute", "moyenne", "faible", "faible", "info"]
    assert [t["confirmee"] for t in made.targets] == [True, True, False]
    assert weak_site.requests == []


def _plain(stored: Finding):  # noqa: ANN202
    from clocher.eservices.checks import Finding as Plain

    return Plain(stored.code, stored.severity, stored.title, stored.explanation, stored.fix)


@pytest.mark.django_db
def test_cli(commune_a, strong_site):
    """`clocher eservices add|list|confirm|scan|report`."""
    from click.testing import CliRunner

    from clocher.cli import main

    def clocher(*args: str):  # noqa: ANN202
        return CliRunner().invoke(main, ["eservices", *args])

    added = clocher("add", "21271", strong_site.url)
    assert added.exit_code == 0, added.output
    target = Target.objects.get()
    assert target.token in added.output
    refused = clocher("confirm", str(target.pk))
    assert refused.exit_code != 0 and "Preuve introuvable" in refused.output
    assert clocher("scan", "21271", "--json").output.strip() == "[]"
    assert clocher("confirm", str(target.pk), "--attest", "test").exit_code == 0
    scanned = json.loads(clocher("scan", "21271", "--json").output)
    assert scanned == [{"cible": strong_site.url, "commune": "21271", "score": 100, "constats": []}]
    report = json.loads(clocher("report", "21271", "--json").output)
    assert report["score"] == 100 and report["constats"] == []
    assert "score 100/100" in clocher("report", "21271").output
    assert "99999" in clocher("add", "99999", "x.fr").output


@pytest.mark.django_db
def test_commune_page(admin_a, agent_a, admin_b, commune_a, zone):
    from tests.conftest import logged_in

    url = "/c/21271/e-services/"
    client = logged_in(admin_a)
    assert url in client.get(reverse("core:commune_console", args=["21271"])).content.decode()
    added = client.post(url, {"target": "absent.test"})
    assert added.status_code == 302 and added["Location"] == url
    target = Target.objects.get(commune=commune_a)
    page = client.get(url).content.decode()
    assert services.proof_text(target) in page and "pas encore audité" in page
    refused = client.post(url, {"target": "pas une cible"})
    assert refused.status_code == 400 and "ni une adresse de site" in refused.content.decode()
    zone("")
    services.confirm_target(SYSTEM, target, attestation="test")
    services.scan_target(SYSTEM, target)
    page = client.get(url).content.decode()
    assert "Score : <strong>46/100" in page and "n&#x27;a pas d&#x27;enregistrement SPF" in page
    assert logged_in(agent_a).get(url).status_code == 404  # the commune's admins only
    assert logged_in(admin_b).get(url).status_code == 404
    assert logged_in(admin_b).post(url, {"target": "intrus.test"}).status_code == 404
    assert Target.objects.count() == 1


@pytest.mark.django_db
def test_scan_all_audits_confirmed_targets_together(
    commune_a, commune_b, weak_site, strong_site, plain_site, settings
):
    settings.ESERVICES_PARALLEL = 2
    weak = confirmed(commune_a, weak_site.url)
    strong = confirmed(commune_b, strong_site.url)
    services.add_target(SYSTEM, commune_a, plain_site.url)  # not confirmed
    scans = services.scan_all(SYSTEM)
    assert [(s.target, codes(s)) for s in scans] == [(weak, WEAK_SITE_FINDINGS), (strong, set())]
    assert [s.target for s in services.scan_all(SYSTEM, commune_b)] == [strong]
    assert plain_site.requests == []


@pytest.mark.django_db
def test_a_target_leading_to_an_internal_address_is_not_audited(commune_a, plain_site, settings):
    """A commune's site named `localhost` (or any name whose DNS answers loopback, a
    private network, a metadata address) was fetched from inside the département's
    network: the audit would report what the platform's own services answer. The name
    passed the check at its entry (only addresses typed as such were checked)."""
    settings.ESERVICES_ALLOW_PRIVATE = True  # the test server is on loopback: enter it
    port = plain_site.url.rsplit(":", 1)[1].rstrip("/")
    target = confirmed(commune_a, f"http://localhost:{port}/")
    settings.ESERVICES_ALLOW_PRIVATE = False
    scan = services.scan_target(SYSTEM, target)
    assert codes(scan) == {"ADDRESS_REFUSED"}
    assert "interne ou réservée" in scan.findings.get().title
    assert plain_site.requests == []  # nothing reached the server


def test_a_redirect_to_an_internal_address_is_not_followed(plain_site, settings, monkeypatch):
    """A public site's redirect is checked like the site: each hop is resolved, checked
    and connected to at the address checked."""
    from clocher.eservices.checks import reach, web
    from tests.eservices.conftest import serving

    inside = plain_site  # stands for a service of the département's network
    with serving({"/": (302, [("Location", inside.url + "admin")], "")}, None) as outside:
        # `public.test` stands for a public site: its address, the loopback written as
        # IPv6, is taken as public; 127.0.0.1 as written is not.
        def resolve(host: str, port: int) -> list[str]:
            return ["::ffff:127.0.0.1"] if host == "public.test" else ["127.0.0.1"]

        monkeypatch.setattr(reach, "addresses_of", resolve)
        monkeypatch.setattr(reach, "is_public", lambda address: address.startswith("::ffff:"))
        settings.ESERVICES_ALLOW_PRIVATE = False
        with pytest.raises(reach.AddressRefused):
            web.fetch(outside.url.replace("127.0.0.1", "public.test"))
    assert outside.requests == ["/"] and inside.requests == []


def test_a_redirect_to_a_port_out_of_range_is_a_site_that_does_not_answer():
    """`Location: http://host:99999/` made `urlsplit(...).port` raise ValueError, which the
    audit did not expect from a fetch."""
    from clocher.eservices.checks import web
    from tests.eservices.conftest import serving

    redirect = {"/": (302, [("Location", "http://127.0.0.1:99999/")], "")}
    with serving(redirect, None) as site, pytest.raises(web.FETCH_ERRORS):
        web.fetch(site.url)
    assert site.requests == ["/"]
