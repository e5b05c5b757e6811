"""A mail domain's public protections, read from DNS with dnspython (the resolver of
CLOCHER_DNS_RESOLVER, as the mail app's own DNS check), and its MTA-STS policy read
over HTTPS."""

from __future__ import annotations

import re
import socket
import ssl

import dns.exception
import dns.resolver

from clocher.eservices.checks import Finding, dnssec, reach


def txt_records(res: dns.resolver.Resolver, name: str) -> list[str]:
    """The TXT strings at `name` (each record's parts joined), [] when there are none."""
    try:
        answer = res.resolve(name, "TXT")
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    return [b"".join(record.strings).decode("utf-8", "replace") for record in answer]


def _tagged(records: list[str], prefix: str) -> list[str]:
    return [r.strip() for r in records if r.strip().lower().startswith(prefix.lower())]


def check_spf(res: dns.resolver.Resolver, domain: str) -> list[Finding]:
    spf = _tagged(txt_records(res, domain), "v=spf1")
    if not spf:
        return [
            Finding(
                "SPF_MISSING",
                "haute",
                f"Le domaine {domain} n'a pas d'enregistrement SPF.",
                "N'importe qui peut envoyer des courriels au nom de la commune ; ils "
                "arrivent aussi plus souvent en indésirables.",
                f"Publiez un TXT sur {domain} : « v=spf1 mx -all » (avec les serveurs "
                "qui envoient réellement le courrier de la commune).",
            )
        ]
    if len(spf) > 1:
        return [
            Finding(
                "SPF_MULTIPLE",
                "moyenne",
                f"Le domaine {domain} a {len(spf)} enregistrements SPF.",
                "La norme n'en admet qu'un : les destinataires ignorent alors SPF.",
                "Fusionnez-les en un seul enregistrement v=spf1.",
            )
        ]
    last = spf[0].split()[-1].lower()
    if last in ("+all", "all", "?all"):
        return [
            Finding(
                "SPF_PERMISSIVE",
                "haute" if last != "?all" else "moyenne",
                f"L'enregistrement SPF de {domain} finit par « {last} ».",
                "Il autorise (ou ne refuse pas) l'envoi depuis n'importe quel serveur : "
                "il ne protège pas contre l'usurpation.",
                "Terminez l'enregistrement par « -all » (ou « ~all » pendant une transition).",
            )
        ]
    return []


def check_dmarc(res: dns.resolver.Resolver, domain: str) -> list[Finding]:
    dmarc = _tagged(txt_records(res, f"_dmarc.{domain}"), "v=DMARC1")
    if not dmarc:
        return [
            Finding(
                "DMARC_MISSING",
                "haute",
                f"Le domaine {domain} n'a pas de politique DMARC.",
                "Les messageries des usagers ne savent pas quoi faire d'un faux courriel "
                "de la mairie : l'hameçonnage au nom de la commune passe.",
                f"Publiez un TXT sur _dmarc.{domain} : « v=DMARC1; p=quarantine; "
                f"rua=mailto:dmarc@{domain} », puis passez à p=reject.",
            )
        ]
    tags = {
        key.strip().lower(): value.strip().lower()
        for key, _, value in (part.partition("=") for part in dmarc[0].split(";"))
    }
    if tags.get("p", "none") == "none":
        return [
            Finding(
                "DMARC_NONE",
                "moyenne",
                f"La politique DMARC de {domain} est « p=none ».",
                "Elle ne fait qu'observer : les faux courriels au nom de la commune sont "
                "quand même distribués.",
                "Après avoir vérifié les rapports, passez à p=quarantine puis p=reject.",
            )
        ]
    return []


MTA_STS_PORT = 443  # RFC 8461: the policy is at https://mta-sts.<domain>/ (tests move it)
MAX_POLICY = 64 * 1024


def fetch_mta_sts_policy(res: dns.resolver.Resolver, domain: str, cafile: str = "") -> str:
    """The policy file, over HTTPS with a certificate valid for mta-sts.<domain> (as a
    sending server would require), the name resolved by the audit's own resolver."""
    host = f"mta-sts.{domain}"
    address = res.resolve(host, "A")[0].to_text()
    reach.check_public(address, host)
    ctx = ssl.create_default_context(cafile=cafile or None)
    request = (
        f"GET /.well-known/mta-sts.txt HTTP/1.0\r\nHost: {host}\r\n"
        "User-Agent: Clocher-audit/1\r\n\r\n"
    )
    with (
        socket.create_connection((address, MTA_STS_PORT), timeout=15) as sock,
        ctx.wrap_socket(sock, server_hostname=host) as tls,
    ):
        tls.sendall(request.encode())
        data = b""
        while len(data) < MAX_POLICY and (chunk := tls.recv(8192)):
            data += chunk
    head, _, body = data.decode("utf-8", "replace").partition("\r\n\r\n")
    if head.split(" ", 2)[1:2] != ["200"]:
        raise ValueError(f"réponse {head.splitlines()[0] if head else 'vide'}")
    return body


def check_mta_sts(res: dns.resolver.Resolver, domain: str, cafile: str = "") -> list[Finding]:
    if not _tagged(txt_records(res, f"_mta-sts.{domain}"), "v=STSv1"):
        return [
            Finding(
                "MTA_STS_MISSING",
                "faible",
                f"Le domaine {domain} ne publie pas de politique MTA-STS.",
                "Les courriels reçus par la commune peuvent être ramenés à une transmission "
                "non chiffrée par un attaquant sur le réseau.",
                f"Publiez _mta-sts.{domain} (TXT « v=STSv1; id=… ») et la politique sur "
                f"https://mta-sts.{domain}/.well-known/mta-sts.txt.",
            )
        ]
    url = f"https://mta-sts.{domain}/.well-known/mta-sts.txt"
    try:
        policy = fetch_mta_sts_policy(res, domain, cafile)
    except (dns.exception.DNSException, OSError, ValueError) as exc:
        return [
            Finding(
                "MTA_STS_POLICY_UNREACHABLE",
                "moyenne",
                f"La politique MTA-STS annoncée n'est pas lisible sur {url} "
                f"({exc.__class__.__name__}).",
                "Les serveurs qui envoient du courrier à la commune ignorent alors MTA-STS : "
                "l'annonce ne protège rien.",
                f"Servez {url} en https avec un certificat valide pour mta-sts.{domain}.",
            )
        ]
    fields = dict(
        (key.strip().lower(), value.strip().lower())
        for key, _, value in (line.partition(":") for line in policy.splitlines())
    )
    if fields.get("version") != "stsv1" or fields.get("mode") != "enforce":
        return [
            Finding(
                "MTA_STS_NOT_ENFORCED",
                "faible",
                f"La politique MTA-STS de {domain} n'impose pas le chiffrement "
                f"(mode « {fields.get('mode', '?')} »).",
                "En mode testing ou none, un courriel peut encore arriver sans chiffrement.",
                "Après quelques semaines de rapports TLS sans erreur, passez à « mode: enforce ».",
            )
        ]
    return []


def check_tls_rpt(res: dns.resolver.Resolver, domain: str) -> list[Finding]:
    if _tagged(txt_records(res, f"_smtp._tls.{domain}"), "v=TLSRPTv1"):
        return []
    return [
        Finding(
            "TLS_RPT_MISSING",
            "faible",
            f"Le domaine {domain} ne demande pas de rapports TLS (TLS-RPT).",
            "Personne n'est prévenu quand des courriels n'arrivent pas à la commune de "
            "façon chiffrée.",
            f"Publiez un TXT sur _smtp._tls.{domain} : « v=TLSRPTv1; "
            f"rua=mailto:tls-rpt@{domain} ».",
        )
    ]


def check_dkim(res: dns.resolver.Resolver, domain: str, selectors: list[str]) -> list[Finding]:
    """The keys of the selectors the commune declared (they cannot be listed from DNS:
    a selector is any name its mail service chose)."""
    if not selectors:
        return [
            Finding(
                "DKIM_NOT_DECLARED",
                "info",
                f"Aucun sélecteur DKIM n'est déclaré pour {domain}.",
                "Les signatures DKIM des courriels de la commune n'ont pas pu être vérifiées.",
                "Déclarez les sélecteurs DKIM de votre messagerie (clocher eservices add "
                "DOMAINE --dkim SELECTEUR, ou la page de l'audit).",
            )
        ]
    findings = []
    for selector in selectors:
        name = f"{selector}._domainkey.{domain}"
        keys = [r for r in txt_records(res, name) if re.search(r"(^|;)\s*p=[A-Za-z0-9+/]", r)]
        if not keys:
            findings.append(
                Finding(
                    "DKIM_MISSING",
                    "haute",
                    f"Le sélecteur DKIM « {selector} » n'a pas de clé publiée ({name}).",
                    "Les courriels signés avec ce sélecteur échouent à DKIM : ils arrivent en "
                    "indésirables, et DMARC ne peut pas les distinguer d'un faux.",
                    f"Publiez le TXT « v=DKIM1; k=rsa; p=… » de votre messagerie sur {name}.",
                )
            )
    return findings


def check_dnssec(res: dns.resolver.Resolver, domain: str) -> list[Finding]:
    """A DS record at the parent (the zone is signed and its chain of trust published),
    and the chain from it to the domain's records validates."""
    try:
        parent = res.resolve(domain, "DS")
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return [
            Finding(
                "DNSSEC_MISSING",
                "moyenne",
                f"Le domaine {domain} n'est pas signé (DNSSEC).",
                "Un attaquant peut falsifier les réponses DNS du domaine (adresse du site, "
                "serveurs de messagerie) auprès des résolveurs des usagers.",
                "Activez DNSSEC chez l'hébergeur DNS du domaine et publiez l'enregistrement "
                "DS auprès du bureau d'enregistrement (registrar).",
            )
        ]
    broken = dnssec.problem(res, domain, list(parent))
    if broken:
        return [
            Finding(
                "DNSSEC_INVALID",
                "critique",
                f"Signature DNSSEC invalide pour le domaine {domain} : {broken}.",
                "Les résolveurs qui vérifient DNSSEC (ceux de la plupart des fournisseurs "
                "d'accès, 1.1.1.1, 8.8.8.8…) rejettent alors toutes les réponses du domaine : "
                "le site et la messagerie de la commune deviennent injoignables pour une "
                "grande partie des usagers.",
                "Faites re-signer la zone par l'hébergeur DNS (une signature expirée : "
                "vérifiez sa re-signature automatique) et vérifiez que le DS publié chez le "
                "bureau d'enregistrement correspond à la clé (KSK) du domaine ; en attendant, "
                "retirez le DS pour que le domaine redevienne joignable.",
            )
        ]
    return []


def check_domain(
    res: dns.resolver.Resolver,
    domain: str,
    dkim_selectors: list[str] | None = None,
    cafile: str = "",
) -> list[Finding]:
    """Every mail check; a DNS that does not answer is a finding, not a crash."""
    try:
        return [
            *check_spf(res, domain),
            *check_dmarc(res, domain),
            *check_dkim(res, domain, dkim_selectors or []),
            *check_mta_sts(res, domain, cafile),
            *check_tls_rpt(res, domain),
            *check_dnssec(res, domain),
        ]
    except dns.exception.DNSException as exc:
        return [
            Finding(
                "DNS_UNREACHABLE",
                "info",
                f"Le DNS de {domain} n'a pas répondu ({exc.__class__.__name__}).",
                "La messagerie du domaine n'a pas pu être vérifiée cette fois.",
                "Vérifiez que les serveurs DNS du domaine répondent ; l'audit réessaiera.",
            )
        ]
