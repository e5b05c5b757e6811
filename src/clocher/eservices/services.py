"""List a commune's public targets, confirm they are its own, audit them, report.

A target is never contacted by a scan before the operator has confirmed ownership:
auditing a server that is not the commune's would be an attack on someone else."""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import secrets
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import dns.exception
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from clocher.core import audit, charts
from clocher.core.audit import Actor
from clocher.core.models import Commune
from clocher.core.scoping import is_commune_admin, is_operator, scoped
from clocher.eservices.checks import Finding, ciphers, mail, ports, reach, score, tls, web
from clocher.eservices.models import CommuneScore, Kind, Scan, Severity, Target
from clocher.eservices.models import Finding as StoredFinding
from clocher.governance import cputime
from clocher.governance.models import Analytic
from clocher.mail.dns import resolver

PROOF_PREFIX = "clocher-verification="
WELL_KNOWN = "/.well-known/clocher-verification.txt"
SEVERITY_ORDER = {s: i for i, s in enumerate(reversed(Severity.values))}  # critique first
SCHEDULER = Actor(label="planificateur des e-services")
_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def parse_target(text: str) -> tuple[str, str]:
    """(kind, normalised value) of what the commune admin typed: an http(s) URL, a mail
    domain or an IP address; anything else is refused by name."""
    text = text.strip()
    if re.match(r"^https?://", text, re.I):
        parts = urlsplit(text)
        if not parts.hostname:
            raise ValidationError(f"Adresse de site invalide : {text}.")
        if _is_ip(parts.hostname):
            _public(parts.hostname)
        return Kind.URL, f"{parts.scheme.lower()}://{parts.netloc.lower()}{parts.path or '/'}"
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        pass
    else:
        _public(text)
        return Kind.IP, str(address)
    domain = text.lower().rstrip(".")
    if _DOMAIN.match(domain):
        return Kind.DOMAIN, domain
    raise ValidationError(
        f"« {text} » n'est ni une adresse de site (https://…), ni un domaine, ni une adresse IP."
    )


def _public(address: str) -> None:
    """Only the commune's public face is audited, not the operator's own network."""
    if not ipaddress.ip_address(address).is_global and not settings.ESERVICES_ALLOW_PRIVATE:
        raise ValidationError(f"{address} n'est pas une adresse publique.")


def _may_administer(actor: Actor, commune: Commune) -> None:
    if actor.user is not None and not is_commune_admin(actor.user, commune):
        raise PermissionDenied("Seul un administrateur de la commune peut gérer ses e-services.")


_SELECTOR = re.compile(r"^[a-z0-9]([a-z0-9_-]{0,62})(\.[a-z0-9_-]{1,63})*$")


def parse_selectors(text: str) -> str:
    """DKIM selectors typed as 'sel1, sel2': each a DNS label (or dotted labels)."""
    names = [n.strip().lower() for n in text.replace(";", ",").split(",") if n.strip()]
    for name in names:
        if not _SELECTOR.match(name):
            raise ValidationError(f"« {name} » n'est pas un sélecteur DKIM valide.")
    return ",".join(dict.fromkeys(names))


def selectors(target: Target) -> list[str]:
    return [n for n in target.dkim_selectors.split(",") if n]


def add_target(actor: Actor, commune: Commune, text: str, dkim_selectors: str = "") -> Target:
    """Record a target with its verification token; it waits for the operator."""
    _may_administer(actor, commune)
    kind, value = parse_target(text)
    declared = parse_selectors(dkim_selectors)
    if declared and kind != Kind.DOMAIN:
        raise ValidationError("Les sélecteurs DKIM ne concernent qu'un domaine de messagerie.")
    if Target.objects.filter(commune=commune, kind=kind, value=value).exists():
        raise ValidationError(f"{value} est déjà dans la liste de la commune {commune.insee}.")
    with transaction.atomic():
        target = Target.objects.create(
            commune=commune, kind=kind, value=value, token=secrets.token_hex(16),
            dkim_selectors=declared,
        )  # fmt: skip
        audit.record(
            actor, "eservices.add", commune=commune, target=str(target),
            data={"type": kind, "cible": value, "dkim": declared},
        )  # fmt: skip
    return target


def targets_for(user: Any, commune: Commune | None = None) -> QuerySet[Target]:
    """The targets `user` may see (their communes', or all for the operator)."""
    targets = scoped(Target.objects.select_related("commune"), user)
    return targets if commune is None else targets.filter(commune=commune)


def proof_text(target: Target) -> str:
    return f"{PROOF_PREFIX}{target.token}"


def _host(target: Target) -> str:
    if target.kind == Kind.URL:
        return urlsplit(target.value).hostname or ""
    return target.value


def find_proof(target: Target) -> str:
    """Where the token was found ('' if nowhere): a TXT record on the domain (or the
    site's host), or the well-known file on the site (or on the address over HTTP)."""
    wanted = proof_text(target)
    if target.kind in (Kind.DOMAIN, Kind.URL) and not _is_ip(_host(target)):
        try:
            if wanted in mail.txt_records(resolver(), _host(target)):
                return f"DNS TXT sur {_host(target)}"
        except dns.exception.DNSException:
            pass
    if target.kind in (Kind.URL, Kind.IP):
        base = target.value if target.kind == Kind.URL else f"http://{target.value}/"
        parts = urlsplit(base)
        url = f"{parts.scheme}://{parts.netloc}{WELL_KNOWN}"
        try:
            page = web.fetch(url)
        except web.FETCH_ERRORS:
            return ""
        if page.status == 200 and wanted in page.body.split():
            return f"fichier {url}"
    return ""


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def confirm_target(actor: Actor, target: Target, attestation: str = "") -> Target:
    """The operator confirms ownership: the token must be published, unless the operator
    attests it in words (e.g. the town hall's address, known from its box)."""
    if actor.user is not None and not is_operator(actor.user):
        raise PermissionDenied("Seul l'opérateur confirme la propriété d'une cible.")
    if target.is_confirmed:
        raise ValidationError(f"La {target} est déjà confirmée.")
    proof = f"attestation de l'opérateur : {attestation.strip()}" if attestation.strip() else ""
    proof = proof or find_proof(target)
    if not proof:
        raise ValidationError(
            f"Preuve introuvable pour la {target} : publiez le TXT « {proof_text(target)} » "
            f"sur {_host(target)} ou le fichier {WELL_KNOWN} contenant ce texte."
        )
    with transaction.atomic():
        target.confirmed_at = timezone.now()
        target.confirmed_by = actor.display[:254]
        target.confirmed_how = proof[:200]
        target.save(update_fields=["confirmed_at", "confirmed_by", "confirmed_how"])
        audit.record(
            actor, "eservices.confirm", commune=target.commune, target=str(target),
            data={"preuve": target.confirmed_how},
        )  # fmt: skip
    return target


def unreachable(what: str, exc: Exception) -> Finding:
    if isinstance(exc, reach.AddressRefused):
        return Finding(
            "ADDRESS_REFUSED",
            "info",
            str(exc),
            "L'audit ne se connecte qu'à des adresses publiques : rien n'a été vérifié.",
            "Vérifiez l'adresse publiée pour ce service (enregistrement DNS, redirection).",
        )
    return Finding(
        "UNREACHABLE",
        "info",
        f"{what} n'a pas répondu ({exc.__class__.__name__}).",
        "Cette partie de l'audit n'a pas pu être faite.",
        "Vérifiez que le service est en ligne ; l'audit suivant réessaiera.",
    )


def run_checks(target: Target) -> list[Finding]:
    """Every check that applies to the target's kind (network only, no database)."""
    if target.kind == Kind.DOMAIN:
        return mail.check_domain(
            resolver(), target.value, selectors(target), settings.ESERVICES_CA_FILE
        )
    if target.kind == Kind.IP:
        try:
            return ports.check_ports(target.value)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return [unreachable(f"L'adresse {target.value}", exc)]
    findings: list[Finding] = []
    parts = urlsplit(target.value)
    if parts.scheme == "https":
        host, port = parts.hostname or "", parts.port or 443
        try:
            findings += tls.check_certificate(host, port, settings.ESERVICES_CA_FILE)
            findings += tls.check_protocols(host, port)
        except OSError as exc:
            return [unreachable(f"Le site {target.value}", exc)]
        try:
            findings += ciphers.check_ciphers(host, port)
        except (OSError, ValueError, subprocess.TimeoutExpired) as exc:
            findings.append(unreachable(f"L'analyse des suites de chiffrement de {host}", exc))
    try:
        page = web.fetch(target.value)
    except web.FETCH_ERRORS as exc:
        return [*findings, unreachable(f"Le site {target.value}", exc)]
    try:
        readme = web.fetch(f"{parts.scheme}://{parts.netloc}/readme.html")
    except web.FETCH_ERRORS:
        readme = None
    findings += web.check_headers(page)
    findings += web.check_cookies(page)
    findings += web.check_mixed_content(page)
    findings += web.check_cms(page, readme.body if readme and readme.status == 200 else "")
    findings += web.check_third_parties(page)
    return findings


def _refuse_unconfirmed(target: Target) -> None:
    if not target.is_confirmed:
        raise ValidationError(
            f"La {target} n'est pas confirmée : elle ne sera pas auditée "
            f"(clocher eservices confirm {target.pk})."
        )


def checked(target: Target) -> tuple[list[Finding], float]:
    """run_checks and the CPU it took (this thread's and nmap's), for the sobriety figures."""
    meter = cputime.Meter()
    findings = run_checks(target)
    return findings, meter.seconds


def _store(
    actor: Actor, target: Target, started: dt.datetime, findings: list[Finding], cpu: float
) -> Scan:
    with transaction.atomic():
        cputime.record(target.commune, Analytic.ESERVICES, cpu)
        scan = Scan.objects.create(
            target=target, commune=target.commune, started_at=started,
            finished_at=timezone.now(), score=score(findings),
        )  # fmt: skip
        StoredFinding.objects.bulk_create(
            StoredFinding(scan=scan, commune=target.commune, **f.as_dict()) for f in findings
        )
        _record_score(target.commune, timezone.localdate(scan.finished_at))
        audit.record(
            actor, "eservices.scan", commune=target.commune, target=str(target),
            data={"score": scan.score, "constats": sorted({f.code for f in findings})},
        )  # fmt: skip
    return scan


def commune_score(commune: Commune) -> int | None:
    """The weakest confirmed target's latest score (None before any audit): the link an
    attacker goes for is the one that counts."""
    latest = [
        target.scans.values_list("score", flat=True).first()
        for target in Target.objects.filter(commune=commune, confirmed_at__isnull=False)
    ]
    scores = [s for s in latest if s is not None]
    return min(scores) if scores else None


def _record_score(commune: Commune, day: dt.date) -> None:
    """The day's point of the commune's trend (the last audit of the day wins)."""
    value = commune_score(commune)
    if value is not None:
        CommuneScore.objects.update_or_create(commune=commune, day=day, defaults={"score": value})


def trend(commune: Commune, days: int = 365) -> list[CommuneScore]:
    """The commune's score day by day over the last `days` days, oldest first."""
    since = timezone.localdate() - dt.timedelta(days=days)
    return list(CommuneScore.objects.filter(commune=commune, day__gte=since).order_by("day"))


def scan_target(actor: Actor, target: Target) -> Scan:
    """Audit one confirmed target and store its findings with the journal entry."""
    _refuse_unconfirmed(target)
    started = timezone.now()
    return _store(actor, target, started, *checked(target))


def scan_all(actor: Actor, commune: Commune | None = None) -> list[Scan]:
    """Audit the confirmed targets (of one commune, or all); the others are skipped."""
    targets = list(
        Target.objects.filter(confirmed_at__isnull=False).select_related("commune").order_by("pk")
    )
    if commune is not None:
        targets = [t for t in targets if t.commune_id == commune.pk]
    return scan_many(actor, targets)


def due_targets(now: dt.datetime | None = None) -> list[Target]:
    """Confirmed targets never audited, or not since CLOCHER_ESERVICES_SCAN_DAYS days.

    Due-ness is read from the scans themselves, not from a timer: a platform that was
    down on the day audits its targets as soon as it is back."""
    limit = (now or timezone.now()) - dt.timedelta(days=settings.ESERVICES_SCAN_DAYS)
    recent = Scan.objects.filter(started_at__gt=limit).values("target_id")
    return list(
        Target.objects.filter(confirmed_at__isnull=False)
        .exclude(pk__in=recent)
        .select_related("commune")
        .order_by("pk")
    )


def scan_due(actor: Actor, now: dt.datetime | None = None) -> list[Scan]:
    """The scheduled audit (weekly by default) of the targets that are due."""
    return scan_many(actor, due_targets(now))


def scan_many(actor: Actor, targets: list[Target]) -> list[Scan]:
    """Audit `targets`, all confirmed (a target that is not is refused before any is
    contacted).

    The checks mostly wait on the network, so several targets are audited at once
    (CLOCHER_ESERVICES_PARALLEL); the results are stored from this thread, one
    transaction per target, in the targets' order."""
    for target in targets:
        _refuse_unconfirmed(target)
    started = timezone.now()
    workers = max(1, min(settings.ESERVICES_PARALLEL, len(targets)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(checked, targets))
    return [
        _store(actor, target, started, findings, cpu)
        for target, (findings, cpu) in zip(targets, results, strict=True)
    ]


@dataclass
class Report:
    commune: Commune
    score: int | None  # the weakest target's; None before any audit
    targets: list[dict[str, Any]]
    findings: list[dict[str, Any]]  # worst first
    trend: list[CommuneScore]  # day by day, oldest first

    def as_dict(self) -> dict[str, Any]:
        return {
            "commune": self.commune.insee,
            "score": self.score,
            "cibles": self.targets,
            "constats": self.findings,
            "tendance": [{"jour": p.day.isoformat(), "score": p.score} for p in self.trend],
        }

    def trend_columns(self) -> list[charts.Column]:
        return charts.columns(
            [f"{p.day:%d/%m}" for p in self.trend], {"score": [p.score for p in self.trend]}
        )


def report(commune: Commune) -> Report:
    """The latest audit of each target: the commune's score is its weakest target's."""
    targets, findings, scores = [], [], []
    for target in Target.objects.filter(commune=commune).order_by("pk"):
        latest = target.scans.prefetch_related("findings").first()
        targets.append(
            {
                "id": target.pk,
                "type": target.kind,
                "cible": target.value,
                "confirmee": target.is_confirmed,
                "score": latest.score if latest else None,
                "audit": latest.finished_at.isoformat() if latest else None,
            }
        )
        if latest is None:
            continue
        scores.append(latest.score)
        for finding in latest.findings.all():
            findings.append(
                {
                    "cible": target.value,
                    "code": finding.code,
                    "gravite": finding.severity,
                    "constat": finding.title,
                    "explication": finding.explanation,
                    "correction": finding.fix,
                }
            )
    findings.sort(key=lambda f: SEVERITY_ORDER[f["gravite"]])
    return Report(commune, min(scores) if scores else None, targets, findings, trend(commune))


def report_pdf(made: Report, operator_name: str = "") -> bytes:
    """The monthly PDF of a commune's audit, printed like the shield's report."""
    from clocher.core.pdf import render_pdf

    return render_pdf(
        "eservices/report_print.html",
        {"report": made, "operator_name": operator_name, "generated": timezone.localtime()},
    )


def worst_communes() -> list[tuple[Commune, int | None, int]]:
    """(commune, score, targets waiting for confirmation) of every commune that listed a
    target, the lowest score first, then those not yet audited: the operator's order."""
    communes = Commune.objects.filter(es_targets__isnull=False).distinct().order_by("insee")
    rows = []
    for commune in communes:
        waiting = Target.objects.filter(commune=commune, confirmed_at__isnull=True).count()
        rows.append((commune, commune_score(commune), waiting))
    return sorted(rows, key=lambda row: (row[1] is None, row[1] or 0, row[0].insee))
