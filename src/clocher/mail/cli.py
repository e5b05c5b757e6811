"""Mail commands: mailboxes, aliases, app passwords, server configuration."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from django.core.exceptions import ValidationError
from rich.table import Table

from clocher.core.cli import cli_actor, console, fail, find_commune, validation_message
from clocher.core.terminal import json_option, note, show


@click.group()
def mail() -> None:
    """Messagerie : boîtes, alias, mots de passe, configuration des serveurs."""


@mail.group()
def mailbox() -> None:
    """Boîtes aux lettres."""


@mailbox.command("add")
@click.argument("address", metavar="ADRESSE")
@click.option("--commune", "insee", required=True, help="Code INSEE de la commune.")
@click.option("--quota", default="2G", show_default=True, help="Quota (ex. 2G, 500M).")
@click.option(
    "--user",
    "user_email",
    default=None,
    help="Compte qui ouvre la boîte (par défaut : l'adresse elle-même, ajoutée comme agent "
    "de la commune et invitée par courriel si la boîte est personnelle).",
)
@click.option(
    "--kind",
    type=click.Choice(["personal", "shared", "function"]),
    default="personal",
    show_default=True,
)
@click.option(
    "--invite-to",
    default=None,
    help="Adresse actuelle de la personne, où envoyer son invitation (la nouvelle boîte ne "
    "peut pas être lue avant que son compte ait un mot de passe).",
)
def mailbox_add(
    address: str, insee: str, quota: str, user_email: str | None, kind: str, invite_to: str | None
) -> None:
    """Crée la boîte ADRESSE pour une commune."""
    from clocher.mail import services

    commune = find_commune(insee)
    try:
        created = services.open_mailbox(
            cli_actor(),
            commune,
            address,
            owner_email=user_email,
            kind=kind,
            quota_bytes=services.parse_size(quota),
            invite_to=invite_to,
        )
    except ValidationError as exc:
        fail(validation_message(exc))
        return
    console.print(
        f"Boîte {created.address} créée ({created.quota_bytes // 1024**2} Mio), "
        f"ouverte par {created.user.email if created.user else '—'}. "
        f"Mot de passe : `clocher mail app-password {created.address}`."
    )


@mailbox.command("list")
@click.option("--commune", "insee", default=None, help="Code INSEE.")
@json_option
def mailbox_list(insee: str | None, as_json: bool) -> None:
    """Liste les boîtes."""
    from clocher.mail.models import Mailbox

    qs = Mailbox.objects.select_related("commune", "user")
    if insee:
        qs = qs.filter(commune=find_commune(insee))
    table = Table(title="Boîtes aux lettres")
    for column in ("adresse", "commune", "type", "compte", "quota", "active"):
        table.add_column(column)
    for m in qs:
        table.add_row(
            m.address,
            m.commune.name,
            m.get_kind_display(),
            m.user.email if m.user else "—",
            f"{m.quota_bytes // 1024**2} Mio",
            "oui" if m.is_active else "non",
        )
    show(table, as_json)


@mailbox.command("disable")
@click.argument("address", metavar="ADRESSE")
def mailbox_disable(address: str) -> None:
    """Désactive une boîte (connexion refusée aussitôt, courrier refusé)."""
    _toggle(address, False)


@mailbox.command("enable")
@click.argument("address", metavar="ADRESSE")
def mailbox_enable(address: str) -> None:
    """Réactive une boîte."""
    _toggle(address, True)


def _toggle(address: str, active: bool) -> None:
    from clocher.mail import services
    from clocher.mail.models import Mailbox

    found = Mailbox.objects.filter(address=address.strip().lower()).first()
    if found is None:
        fail(f"Boîte {address} inconnue.")
        return
    services.set_mailbox_active(cli_actor(), found, active)
    console.print(f"{found.address} {'activée' if active else 'désactivée'}.")


@mail.command("app-password")
@click.argument("address", metavar="ADRESSE")
@click.option("--name", default="Messagerie", show_default=True, help="Nom de l'appareil.")
def app_password(address: str, name: str) -> None:
    """Crée un mot de passe d'application pour ouvrir ADRESSE (affiché une fois)."""
    from clocher.accounts.services import create_app_password
    from clocher.core.scoping import protocol_communes
    from clocher.mail.models import Mailbox

    found = (
        Mailbox.objects.select_related("user", "commune").filter(address=address.lower()).first()
    )
    if found is None or found.user is None:
        fail(f"Boîte {address} inconnue ou sans compte associé.")
        return
    created = create_app_password(cli_actor(), found.user, name)
    if not protocol_communes(found.user).filter(pk=found.commune_id).exists():
        console.print(
            f"Attention : {found.user.email} n'est pas membre actif de {found.commune.name} "
            "(ou la commune n'est pas active) : ce mot de passe n'ouvrira la boîte qu'une fois "
            f"le compte membre (`clocher member add {found.commune.insee} {found.user.email} "
            "--role agent`)."
        )
    console.print(f"Identifiant : {found.address} — mot de passe (affiché une seule fois) :")
    click.echo(created.clear)


@mail.group()
def alias() -> None:
    """Alias et redirections."""


@alias.command("add")
@click.argument("address", metavar="ADRESSE")
@click.argument("destinations", nargs=-1, required=True)
@click.option("--commune", "insee", required=True, help="Code INSEE de la commune.")
def alias_add(address: str, destinations: tuple[str, ...], insee: str) -> None:
    """Crée l'alias ADRESSE vers une ou plusieurs DESTINATIONS."""
    from clocher.mail import services

    try:
        created = services.create_alias(
            cli_actor(), find_commune(insee), address, list(destinations)
        )
    except ValidationError as exc:
        fail(validation_message(exc))
        return
    console.print(f"Alias {created.address} → {created.destinations}")


@mail.command("configure")
@click.option(
    "--target",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Répertoire où écrire les configurations de Postfix et Dovecot.",
)
def configure(target: Path) -> None:
    """Écrit les configurations de production (services système)."""
    from clocher.mail.engines.config import MailConfig
    from clocher.mail.engines.runtime import write_configs

    for path in write_configs(MailConfig.from_settings(), target):
        console.print(f"écrit : {path}")


def register(group: click.Group) -> None:
    group.add_command(mail)


@mail.command("dns")
@click.argument("domain", metavar="DOMAINE")
@click.option("--check", "do_check", is_flag=True, help="Vérifie ce qui est publié.")
@click.option("--rotate", is_flag=True, help="Crée une nouvelle clé DKIM de signature.")
@json_option
def dns_command(domain: str, do_check: bool, rotate: bool, as_json: bool) -> None:
    """Enregistrements DNS à publier pour DOMAINE (zone BIND), et leur vérification."""
    from clocher.mail import dns, services

    found = services.find_domain(domain)
    if found is None:
        fail(f"Domaine {domain} inconnu.")
        return
    if rotate:
        key = dns.rotate_dkim_key(cli_actor(), found)
        note(f"Nouvelle clé DKIM : {key.selector}", as_json)
    dns.ensure_dkim_key(cli_actor(), found)
    records = dns.expected_records(found)
    if not do_check and not as_json:
        for record in records:
            click.echo(record.zone_line())
        return
    if not do_check:
        show(Table(), as_json, [_record_row(r) for r in records])
        return
    dns.check(records)
    if found.commune_id is not None and found.dns_verified_at is None:
        dns.verify_domain(cli_actor(), found)
        found.refresh_from_db()
        state = "ouvert au courrier" if found.dns_verified_at else "fermé (MX à publier)"
        note(f"Domaine de {found.commune}: {state}", as_json)
    table = Table(title=f"DNS de {found.name}")
    for column in ("nom", "type", "état", "trouvé"):
        table.add_column(column)
    for r in records:
        table.add_row(r.name, r.rtype, r.status, r.found)
    show(table, as_json, [_record_row(r) for r in records])
    if any(r.status != "publié" for r in records):
        sys.exit(1)


def _record_row(record: Any) -> dict[str, str]:
    """A DNS record as `--json` gives it: what to publish, and what was found."""
    return {
        "name": record.name,
        "type": record.rtype,
        "value": record.value,
        "purpose": record.purpose,
        "status": record.status,
        "found": record.found,
    }


@mail.command("domain-add")
@click.argument("domain", metavar="DOMAINE")
@click.option("--commune", "insee", required=True, help="Code INSEE de la commune.")
def domain_add(domain: str, insee: str) -> None:
    """Déclare le domaine propre d'une commune (ouvert au courrier après vérification du MX)."""
    from clocher.mail import services

    try:
        created = services.add_commune_domain(cli_actor(), find_commune(insee), domain)
    except ValidationError as exc:
        fail(validation_message(exc))
        return
    console.print(f"Domaine {created.name} déclaré : `clocher mail dns {created.name}`.")


@mail.command("traffic")
@click.option("--days", default=14, show_default=True, help="Nombre de jours affichés.")
@json_option
def traffic_command(days: int, as_json: bool) -> None:
    """Trafic par jour lu dans le journal de Postfix : reçus, envoyés, rejetés."""
    from clocher.mail import traffic

    recent = traffic.recent(days)
    table = Table(title="Trafic de la messagerie")
    for column in ("jour", "reçus", "envoyés", "rejetés spam", "rejetés règles"):
        table.add_column(column, justify="right")
    for day in recent.days:
        table.add_row(
            day.day.strftime("%d/%m/%Y"),
            str(day.received),
            str(day.sent),
            str(day.rejected_spam),
            str(day.rejected_policy),
        )
    show(table, as_json)


@mail.command("import")
@click.argument("address", metavar="ADRESSE")
@click.option(
    "--imap",
    "imap_url",
    metavar="URL",
    help="imaps://identifiant@serveur[:port] "
    "(TLS) ou imap://identifiant@serveur[:port] (STARTTLS).",
)
@click.option(
    "--password-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Fichier contenant le mot de passe (ou mot de passe d'application) du compte.",
)
@click.option(
    "--ca-file",
    type=click.Path(exists=True, dir_okay=False),
    help="Autorité de certification du serveur source, s'il n'en a pas de publique.",
)
@click.option(
    "--mbox",
    type=click.Path(exists=True, path_type=Path),
    help="Fichier mbox, ou dossier de fichiers mbox (Thunderbird).",
)
@click.option(
    "--maildir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Dossier Maildir (Dovecot, Courier).",
)
@click.option(
    "--eml-zip",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Archive zip de fichiers .eml (les dossiers de l'archive deviennent des dossiers).",
)
@click.option(
    "--pst",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Fichier Outlook PST (lu avec readpst et libpff).",
)
@click.option(
    "--connections",
    type=click.IntRange(1, 10),
    default=None,
    help="Connexions parallèles (défaut : CLOCHER_MAIL_IMPORT_CONNECTIONS).",
)
def import_command(  # noqa: PLR0913 - one option per kind of source
    address: str,
    imap_url: str | None,
    password_file: Path | None,
    ca_file: str | None,
    mbox: Path | None,
    maildir: Path | None,
    eml_zip: Path | None,
    pst: Path | None,
    connections: int | None,
) -> None:
    """Importe l'ancienne messagerie dans la boîte ADRESSE : dossiers, drapeaux, dates.

    Relancer la même commande reprend où elle s'est arrêtée et ne copie jamais deux fois.
    """
    from clocher.mail.migrate import services as migrate
    from clocher.mail.migrate.progress import run_with_progress
    from clocher.mail.migrate.sources import Source, SourceError
    from clocher.mail.models import Mailbox

    files = {"mbox": mbox, "maildir": maildir, "eml_zip": eml_zip, "pst": pst}
    chosen = [kind for kind, value in files.items() if value] + (["imap"] if imap_url else [])
    if len(chosen) != 1:
        fail("Indiquez une source, et une seule : --imap, --mbox, --maildir, --eml-zip ou --pst.")
        return
    found = (
        Mailbox.objects.select_related("user", "commune")
        .filter(address=address.strip().lower())
        .first()
    )
    if found is None:
        fail(f"Boîte {address} inconnue.")
        return
    source: Source
    try:
        if imap_url:
            if password_file is None:
                fail("--imap demande --password-file (le mot de passe n'est jamais en argument).")
                return
            password = password_file.read_text(encoding="utf-8").strip()
            source = migrate.imap_source(imap_url, password, ca_file)
        else:
            kind = chosen[0]
            source = migrate.file_source(kind, files[kind])  # type: ignore[arg-type]
    except SourceError as exc:
        fail(str(exc))
        return
    job = run_with_progress(cli_actor(), found, source, connections)
    if job.status != "done":
        sys.exit(1)
