"""Mail pages: the commune's mailboxes and aliases, the operator's overview, and the
client autoconfiguration documents (Thunderbird, Outlook, Apple)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from clocher.accounts.models import User
from clocher.core import charts, scoping
from clocher.core.access import commune_required, operator_required
from clocher.core.models import Commune, Membership
from clocher.core.request import actor_of
from clocher.mail import dns, services, traffic
from clocher.mail.forms import (
    AliasForm,
    DelegatesForm,
    DomainForm,
    ForwardForm,
    MailboxForm,
    OutOfOfficeForm,
)
from clocher.mail.models import Alias, Mailbox, MailDomain


def client_settings() -> dict[str, object]:

    operator = scoping.get_operator()
    domain = operator.mail_domain if operator else "localhost"
    return {
        "hostname": settings.MAIL_HOSTNAME or f"mail.{domain}",
        "imaps_port": settings.MAIL_IMAPS_PORT,
        "imap_port": settings.MAIL_IMAP_PORT,
        "submission_port": settings.MAIL_SUBMISSION_PORT,
        "domain": domain,
    }


def member_choices(commune: Commune) -> list[tuple[str, str]]:
    return [
        (str(m.user_id), f"{m.user.full_name or m.user.email} <{m.user.email}>")
        for m in Membership.objects.filter(commune=commune, is_active=True).select_related("user")
    ]


def _forms(
    commune: Commune, data: QueryDict | None = None
) -> tuple[MailboxForm, AliasForm, DomainForm]:
    domains = services.domains_for(commune)
    action = data.get("action") if data is not None else None
    return (
        MailboxForm(
            data if action == "mailbox" else None, domains=domains, members=member_choices(commune)
        ),
        AliasForm(data if action == "alias" else None, domains=domains),
        DomainForm(data if action == "domain" else None),
    )


@commune_required(admin=True)
def commune_mail(request: HttpRequest, commune: Commune) -> HttpResponse:
    mailbox_form, alias_form, domain_form = _forms(commune, request.POST or None)
    actor = actor_of(request)
    if request.method == "POST" and mailbox_form.is_bound and mailbox_form.is_valid():
        data = mailbox_form.cleaned_data
        owner_email = None
        if data["member"]:
            membership = Membership.objects.filter(commune=commune, user_id=data["member"]).first()
            if membership is None:
                raise Http404
            owner_email = membership.user.email
        address = f"{data['local_part']}@{data['domain']}"
        # The link goes elsewhere only for an account this mailbox makes (add_member).
        invited_elsewhere = (
            data["invite_to"]
            and owner_email is None
            and not User.objects.filter(email__iexact=address).exists()
        )
        try:
            created = services.open_mailbox(
                actor,
                commune,
                address,
                owner_email=owner_email,
                kind=data["kind"],
                quota_bytes=data["quota_mb"] * 1024**2,
                invite_to=data["invite_to"] or None,
            )
        except ValidationError as exc:
            mailbox_form.add_error("local_part", exc)
        else:
            sent_to = f" Invitation envoyée à {data['invite_to']}." if invited_elsewhere else ""
            messages.success(request, f"Boîte {created.address} créée.{sent_to}")
            return redirect("mail:commune", insee=commune.insee)
    if request.method == "POST" and alias_form.is_bound and alias_form.is_valid():
        data = alias_form.cleaned_data
        try:
            created_alias = services.create_alias(
                actor,
                commune,
                f"{data['local_part']}@{data['domain']}",
                [d for d in data["destinations"].replace(";", ",").split(",") if d.strip()],
            )
        except ValidationError as exc:
            alias_form.add_error("destinations", exc)
        else:
            messages.success(request, f"Alias {created_alias.address} créé.")
            return redirect("mail:commune", insee=commune.insee)
    if request.method == "POST" and domain_form.is_bound and domain_form.is_valid():
        try:
            domain = services.add_commune_domain(actor, commune, domain_form.cleaned_data["name"])
        except ValidationError as exc:
            domain_form.add_error("name", exc)
        else:
            messages.success(
                request, f"Domaine {domain.name} ajouté : publiez ses enregistrements."
            )
            return redirect("mail:commune_dns", insee=commune.insee, domain=domain.name)
    return render(
        request,
        "mail/commune.html",
        {
            "commune": commune,
            "mailboxes": services.mailboxes_of(commune),
            "aliases": services.aliases_of(commune),
            "domains": MailDomain.objects.filter(commune=commune),
            "mailbox_form": mailbox_form,
            "alias_form": alias_form,
            "domain_form": domain_form,
            "client": client_settings(),
        },
    )


@commune_required(admin=True)
@require_POST
def mailbox_toggle(request: HttpRequest, commune: Commune, mailbox_id: int) -> HttpResponse:
    mailbox = get_object_or_404(Mailbox, pk=mailbox_id, commune=commune)
    services.set_mailbox_active(actor_of(request), mailbox, not mailbox.is_active)
    state = "activée" if mailbox.is_active else "désactivée : connexion refusée dès maintenant"
    messages.success(request, f"{mailbox.address} {state}.")
    return redirect("mail:commune", insee=commune.insee)


@commune_required(admin=True)
@require_POST
def alias_delete(request: HttpRequest, commune: Commune, alias_id: int) -> HttpResponse:
    alias = get_object_or_404(Alias, pk=alias_id, commune=commune)
    services.delete_alias(actor_of(request), alias)
    messages.success(request, f"Alias {alias.address} supprimé.")
    return redirect("mail:commune", insee=commune.insee)


@commune_required(admin=True)
def mobileconfig(request: HttpRequest, commune: Commune, mailbox_id: int) -> HttpResponse:
    mailbox = get_object_or_404(Mailbox, pk=mailbox_id, commune=commune)
    response = render(
        request,
        "mail/apple.mobileconfig",
        {
            "mailbox": mailbox,
            "client": client_settings(),
            "uuid1": uuid.uuid5(uuid.NAMESPACE_URL, f"clocher:{mailbox.storage_key}:payload"),
            "uuid2": uuid.uuid5(uuid.NAMESPACE_URL, f"clocher:{mailbox.storage_key}:profile"),
        },
        content_type="application/x-apple-aspen-config",
    )
    response["Content-Disposition"] = f'attachment; filename="{mailbox.address}.mobileconfig"'
    return response


@operator_required
def operator(request: HttpRequest) -> HttpResponse:
    communes = (
        Commune.objects.annotate(
            mailboxes_total=Count("mailboxes", distinct=True),
            mailboxes_active=Count("mailboxes", filter=Q(mailboxes__is_active=True), distinct=True),
        )
        .filter(mailboxes_total__gt=0)
        .order_by("name")
    )
    recent = traffic.recent(30)
    series = {
        "reçus": [d.received for d in recent.days],
        "envoyés": [d.sent for d in recent.days],
        "rejetés": [d.rejected_spam + d.rejected_policy for d in recent.days],
    }
    return render(
        request,
        "mail/operator.html",
        {
            "traffic": recent,
            "traffic_chart": charts.columns([d.day.strftime("%d/%m") for d in recent.days], series),
            "traffic_totals": {
                name: recent.total(name)
                for name in ("received", "sent", "rejected_spam", "rejected_policy")
            },
            "stats": services.stats(),
            "communes": communes,
            "client": client_settings(),
            "domains": MailDomain.objects.all(),
        },
    )


def thunderbird_autoconfig(request: HttpRequest) -> HttpResponse:
    """Mozilla autoconfig (config-v1.1), public by design: it holds no tenant data."""
    return render(
        request,
        "mail/autoconfig.xml",
        {"client": client_settings()},
        content_type="application/xml",
    )


@csrf_exempt
def outlook_autodiscover(request: HttpRequest) -> HttpResponse:
    """Outlook Autodiscover (POX). Answers with the servers only; no account data."""
    email = ""
    if request.method == "POST" and request.body:
        import re

        match = re.search(rb"<EMailAddress>([^<]{1,254})</EMailAddress>", request.body[:4096])
        email = match.group(1).decode(errors="replace") if match else ""
    return render(
        request,
        "mail/autodiscover.xml",
        {"client": client_settings(), "email": email},
        content_type="application/xml",
    )


@commune_required(admin=True)
def out_of_office(request: HttpRequest, commune: Commune, mailbox_id: int) -> HttpResponse:
    mailbox = get_object_or_404(Mailbox, pk=mailbox_id, commune=commune)
    form = OutOfOfficeForm(
        request.POST or None,
        initial={
            "enabled": mailbox.vacation_enabled,
            "subject": mailbox.vacation_subject or "Absence",
            "body": mailbox.vacation_body,
        },
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.set_out_of_office(
                actor_of(request),
                mailbox,
                form.cleaned_data["enabled"],
                form.cleaned_data["subject"],
                form.cleaned_data["body"],
            )
        except ValidationError as exc:
            form.add_error("body", exc)
        else:
            messages.success(request, f"Réponse d'absence de {mailbox.address} enregistrée.")
            return redirect("mail:commune", insee=commune.insee)
    return render(
        request, "mail/out_of_office.html", {"commune": commune, "mailbox": mailbox, "form": form}
    )


def _dns_page(
    request: HttpRequest, mail_domain: MailDomain, commune: Commune | None
) -> HttpResponse:
    """The records to publish for a domain, their live check, DKIM rotation and, for a
    commune's own domain, the verification that opens it to mail."""
    actor = actor_of(request)
    action = request.POST.get("action") if request.method == "POST" else None
    if action == "rotate":
        key = dns.rotate_dkim_key(actor, mail_domain)
        messages.success(request, f"Nouvelle clé DKIM « {key.selector} » : publiez-la.")
    elif action == "verify":
        mx = dns.verify_domain(actor, mail_domain)
        if mail_domain.dns_verified_at:
            messages.success(request, f"{mail_domain.name} est vérifié : il reçoit le courrier.")
        else:
            messages.error(
                request, f"MX de {mail_domain.name} : {mx.status} {mx.found}. Attendu : {mx.value}"
            )
    if action:
        return redirect(request.path)
    dns.ensure_dkim_key(actor, mail_domain)
    records = dns.expected_records(mail_domain)
    checked = request.GET.get("verifier") == "1"
    if checked:
        dns.check(records)
    return render(
        request,
        "mail/dns.html",
        {
            "domain": mail_domain,
            "commune": commune,
            "records": records,
            "checked": checked,
            "zone": "\n".join(r.zone_line() for r in records),
        },
    )


@operator_required
def dns_helper(request: HttpRequest, domain: str) -> HttpResponse:
    mail_domain = services.find_domain(domain)
    if mail_domain is None:
        raise Http404
    return _dns_page(request, mail_domain, None)


@commune_required(admin=True)
def commune_dns(request: HttpRequest, commune: Commune, domain: str) -> HttpResponse:
    mail_domain = get_object_or_404(MailDomain, name=domain, commune=commune)
    return _dns_page(request, mail_domain, commune)


@commune_required(admin=True)
@require_POST
def domain_delete(request: HttpRequest, commune: Commune, domain: str) -> HttpResponse:
    mail_domain = get_object_or_404(MailDomain, name=domain, commune=commune)
    try:
        services.remove_commune_domain(actor_of(request), mail_domain)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Domaine {domain} retiré.")
    return redirect("mail:commune", insee=commune.insee)


@commune_required(admin=True)
def mailbox_settings(request: HttpRequest, commune: Commune, mailbox_id: int) -> HttpResponse:
    """Forwarding and delegates (who else opens a shared mailbox) of one mailbox."""
    mailbox = get_object_or_404(Mailbox, pk=mailbox_id, commune=commune)
    members = member_choices(commune)
    action = request.POST.get("action") if request.method == "POST" else None
    forward_form = ForwardForm(
        request.POST if action == "forward" else None,
        initial={"forward_to": mailbox.forward_to, "keep_copy": mailbox.forward_keep_copy},
    )
    delegates_form = DelegatesForm(
        request.POST if action == "delegates" else None,
        members=members,
        initial={
            "delegates": [str(pk) for pk in mailbox.delegates.values_list("pk", flat=True)],
            "readers": [str(pk) for pk in mailbox.readers.values_list("pk", flat=True)],
        },
    )
    actor = actor_of(request)
    try:
        if action == "forward" and forward_form.is_valid():
            services.set_forwarding(
                actor,
                mailbox,
                forward_form.cleaned_data["forward_to"],
                forward_form.cleaned_data["keep_copy"],
            )
            messages.success(request, f"Transfert de {mailbox.address} enregistré.")
            return redirect("mail:mailbox_settings", insee=commune.insee, mailbox_id=mailbox.pk)
        if action == "delegates" and delegates_form.is_valid():
            data = delegates_form.cleaned_data
            users = list(User.objects.filter(pk__in=data["delegates"]))
            readers = list(User.objects.filter(pk__in=data["readers"]))
            services.set_delegates(actor, mailbox, users, readers)
            messages.success(request, f"Accès partagés à {mailbox.address} enregistrés.")
            return redirect("mail:mailbox_settings", insee=commune.insee, mailbox_id=mailbox.pk)
    except ValidationError as exc:
        (forward_form if action == "forward" else delegates_form).add_error(None, exc)
    return render(
        request,
        "mail/mailbox.html",
        {
            "commune": commune,
            "mailbox": mailbox,
            "usage": services.mailbox_usage(mailbox),
            "forward_form": forward_form,
            "delegates_form": delegates_form,
        },
    )


def mta_sts(request: HttpRequest) -> HttpResponse:
    return HttpResponse(dns.mta_sts_policy(), content_type="text/plain")


@commune_required(admin=True)
def mail_import(request: HttpRequest, commune: Commune, mailbox_id: int) -> HttpResponse:
    """Bring an old IMAP account into this mailbox (background task) and follow it."""
    from clocher.mail.migrate import services as migrate
    from clocher.mail.migrate.forms import ImapImportForm
    from clocher.mail.migrate.sources import SourceError

    mailbox = get_object_or_404(Mailbox, pk=mailbox_id, commune=commune)
    form = ImapImportForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            migrate.start_imap_import(
                actor_of(request),
                mailbox,
                migrate.ImapRequest(
                    data["host"], data["port"], data["security"], data["user"], data["password"]
                ),
            )
        except (ValidationError, SourceError) as exc:
            form.add_error(None, exc.messages if isinstance(exc, ValidationError) else str(exc))
        else:
            messages.success(request, "Reprise lancée : suivez-la ci-dessous.")
            return redirect("mail:mail_import", insee=commune.insee, mailbox_id=mailbox.pk)
    return render(
        request,
        "mail/import.html",
        {
            "commune": commune,
            "mailbox": mailbox,
            "form": form,
            "jobs": [migrate.report(job, 50) for job in mailbox.imports.all()],
        },
    )


@commune_required(admin=True)
def mail_import_status(request: HttpRequest, commune: Commune, mail_import_id: int) -> HttpResponse:
    """The live progress line (htmx polls it while the import runs), or JSON."""
    from django.http import JsonResponse

    from clocher.mail.migrate import services as migrate
    from clocher.mail.models import MailImport

    job = get_object_or_404(MailImport, pk=mail_import_id, commune=commune)
    if request.GET.get("format") == "json":
        return JsonResponse(
            {
                "status": job.status,
                "total": job.total,
                "copied": job.copied,
                "skipped": job.skipped,
                "failed": job.failed,
                "percent": job.percent,
                "folder": job.current_folder,
                "error": job.error,
            }
        )
    return render(
        request, "mail/_import_progress.html", {"commune": commune, "r": migrate.report(job, 50)}
    )
