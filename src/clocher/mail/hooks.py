"""How the mail service plugs into the platform: daemons under `clocher serve`, probes for
`clocher check`, the onboarding step, the operator tile, departure export and purge."""

from __future__ import annotations

import json
import shutil
import socket
import zipfile

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.template.defaultfilters import filesizeformat
from django.urls import NoReverseMatch, reverse

from clocher.accounts.models import User
from clocher.core import health, supervisor, tiles
from clocher.core.audit import Actor
from clocher.core.cli import INIT_STEPS
from clocher.core.demo import DEMO_HOOKS
from clocher.core.models import Commune, Operator
from clocher.core.services import ACCOUNT_TIES
from clocher.mail import dns, services, traffic
from clocher.mail.engines import rspamd, runtime
from clocher.mail.engines.config import MailConfig
from clocher.mail.models import Alias, Mailbox, MailDomain
from clocher.onboarding.models import ProvisioningRun
from clocher.onboarding.services import register_exporter, register_purger
from clocher.onboarding.steps import register_step


@supervisor.register
def mail_daemons() -> list[supervisor.Child]:
    if not settings.MAIL_ENABLED:
        return []
    if not runtime.available():
        raise supervisor.CannotStart("Postfix/Dovecot absents : lancez `make install`.")
    if Operator.objects.exists():  # outgoing mail is signed from the first start
        dns.ensure_dkim_key(Actor(label="système"), services.shared_domain())
    config = MailConfig.from_settings()
    runtime.prepare(config)
    return [
        supervisor.Child("rspamd", rspamd.argv(config)),
        supervisor.Child("postfix", runtime.postfix_argv(config), runtime.postfix_pidfiles(config)),
        supervisor.Child("dovecot", runtime.dovecot_argv(config), runtime.dovecot_pidfiles(config)),
    ]


def _greeting(host: str, port: int, expect: bytes) -> tuple[bool, str]:
    try:
        with socket.create_connection((host, port), timeout=3) as sock:
            banner = sock.recv(200)
    except OSError as exc:
        return False, f"injoignable ({exc.__class__.__name__})"
    first = banner.decode(errors="replace").strip().splitlines()[0] if banner else ""
    return banner.startswith(expect), first[:80]


def init_tls() -> str:
    """`clocher init`: the demo's self-signed certificate, unless one is configured."""
    from pathlib import Path

    from clocher.mail.engines.tls import ensure_self_signed

    hostname = settings.MAIL_HOSTNAME or "localhost"
    if ensure_self_signed(
        Path(settings.MAIL_TLS_CERT), Path(settings.MAIL_TLS_KEY), [hostname, "localhost"]
    ):
        return f"Certificat TLS autosigné créé : {settings.MAIL_TLS_CERT}"
    return ""


INIT_STEPS.append(init_tls)


@health.register
def smtp() -> health.Health:
    address = f"{settings.MAIL_BIND}:{settings.MAIL_SMTP_PORT}"
    if not settings.MAIL_ENABLED:
        return health.Health("smtp (postfix)", address, True, "désactivé (CLOCHER_MAIL_ENABLED=0)")
    ok, detail = _greeting(settings.MAIL_BIND, settings.MAIL_SMTP_PORT, b"220")
    if trouble := health.child_trouble("postfix"):  # the port may answer for an orphan
        ok, detail = False, trouble
    return health.Health("smtp (postfix)", address, ok, detail)


@health.register
def imap() -> health.Health:
    address = f"{settings.MAIL_BIND}:{settings.MAIL_IMAP_PORT}"
    if not settings.MAIL_ENABLED:
        return health.Health("imap (dovecot)", address, True, "désactivé (CLOCHER_MAIL_ENABLED=0)")
    ok, detail = _greeting(settings.MAIL_BIND, settings.MAIL_IMAP_PORT, b"* OK")
    if trouble := health.child_trouble("dovecot"):
        ok, detail = False, trouble
    return health.Health("imap (dovecot)", address, ok, detail)


@register_step("mail", "Boîte fonctionnelle de la mairie", position=30, service="mail")
def provision_function_mailbox(run: ProvisioningRun, actor: Actor) -> str:
    mailbox = services.ensure_function_mailbox(actor, run.commune)
    return f"{mailbox.address} est prête."


def demo_mailbox(actor: Actor, commune: Commune, admin: User) -> None:
    """Demo: the town hall's function mailbox, opened by the commune's admin."""
    mailbox = services.ensure_function_mailbox(actor, commune)
    if mailbox.user_id is None:
        Mailbox.objects.filter(pk=mailbox.pk).update(user=admin)


DEMO_HOOKS.append(demo_mailbox)


def mailbox_communes(user: User) -> set[int]:
    """Communes whose mailboxes this account opens or is a delegate of: its password
    opens them, so only those communes' own people or the operator may set it."""
    return set(
        Mailbox.objects.filter(Q(user=user) | Q(delegates=user)).values_list(
            "commune_id", flat=True
        )
    )


ACCOUNT_TIES.append(mailbox_communes)


@tiles.register("mail")
def mail_tile() -> tiles.Tile:
    figures = services.stats()
    today = traffic.recent(1).days[-1]
    try:
        url = reverse("mail:operator")
    except NoReverseMatch:
        url = ""
    return tiles.Tile(
        "mail",
        "Messagerie",
        [
            tiles.Figure("Boîtes aux lettres", str(figures.mailboxes)),
            tiles.Figure("dont actives", str(figures.active_mailboxes)),
            tiles.Figure("Alias", str(figures.aliases)),
            tiles.Figure("Domaines", str(figures.domains)),
            tiles.Figure("Stockage utilisé", filesizeformat(figures.storage_bytes)),
            tiles.Figure("Reçus aujourd'hui", str(today.received)),
            tiles.Figure("Envoyés aujourd'hui", str(today.sent)),
            tiles.Figure(
                "Rejetés aujourd'hui (spam / règles)",
                f"{today.rejected_spam} / {today.rejected_policy}",
            ),
        ],
        url=url,
    )


@register_exporter("messagerie")
def export_mail(commune: Commune, archive: zipfile.ZipFile) -> None:
    """The settings as JSON, and every mailbox as a Maildir (the format any mail server or
    client imports) under `messagerie/<address>/`; Dovecot's index files are left out."""
    mailboxes = list(Mailbox.objects.filter(commune=commune).select_related("domain"))
    archive.writestr(
        "messagerie.json",
        json.dumps(
            {
                "domains": list(
                    MailDomain.objects.filter(commune=commune).values("name", "dns_verified_at")
                ),
                "mailboxes": [
                    {
                        "address": m.address,
                        "kind": m.kind,
                        "quota_bytes": m.quota_bytes,
                        "is_active": m.is_active,
                        "forward_to": m.forward_to,
                        "out_of_office": m.vacation_body if m.vacation_enabled else "",
                    }
                    for m in mailboxes
                ],
                "aliases": list(
                    Alias.objects.filter(commune=commune).values(
                        "address", "destinations", "is_active"
                    )
                ),
            },
            ensure_ascii=False,
            indent=1,
            default=str,
        ),
    )
    vmail_dir = services.default_vmail_dir()
    for mailbox in mailboxes:
        home = services.mailbox_home(mailbox, vmail_dir)
        if not home.is_dir():
            continue
        for path in sorted(home.rglob("*")):
            if path.is_file() and not path.name.startswith("dovecot"):
                archive.write(path, f"messagerie/{mailbox.address}/{path.relative_to(home)}")


@register_purger("messagerie")
def purge_mail(commune: Commune) -> None:
    """Delete the commune's addresses and domains; the messages themselves go once the
    deletion is committed (they are in the export made just before)."""
    vmail_dir = services.default_vmail_dir()
    homes = [
        services.mailbox_home(m, vmail_dir)
        for m in Mailbox.objects.filter(commune=commune).select_related("domain")
    ]
    Alias.objects.filter(commune=commune).delete()
    Mailbox.objects.filter(commune=commune).delete()
    MailDomain.objects.filter(commune=commune).delete()

    def remove_homes() -> None:
        for home in homes:
            shutil.rmtree(home, ignore_errors=True)

    transaction.on_commit(remove_homes)
