"""Shield commands: the fleet, enrolment tokens, feeds, the allowlist, the monthly report."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from django.core.exceptions import ValidationError
from rich.table import Table

from clocher.core.cli import cli_actor, console, fail, find_commune, validation_message
from clocher.core.terminal import json_option, note, report_json_option, show, show_report

if TYPE_CHECKING:
    from clocher.shield.report import Report


@click.group()
def shield() -> None:
    """Bouclier : boîtiers, listes de blocage, rapport mensuel."""


@shield.command("boxes")
@json_option
def boxes_command(as_json: bool) -> None:
    """La flotte : boîtiers, en ligne ou non, dernier contact, flux bloqués aujourd'hui."""
    from clocher.shield import services
    from clocher.shield.models import Box

    rows, alerts = services.fleet(Box.objects.all())
    table = Table(title="Boîtiers")
    for column in ("boîtier", "commune", "état", "dernier contact", "version", "flux aujourd'hui"):
        table.add_column(column)
    for row in rows:
        state = "révoqué" if row.box.revoked else ("en ligne" if row.online else "hors ligne")
        seen = f"{row.box.last_seen:%d/%m/%Y %H:%M}" if row.box.last_seen else "jamais"
        table.add_row(
            f"{row.box.hostname}\n{row.box.pk}",
            row.box.commune.name,
            state,
            seen,
            row.box.version,
            str(row.flows_today),
        )
    show(table, as_json)
    for alert in [] if as_json else alerts:
        console.print(
            f"[red]Alerte[/red] {alert.box.hostname} ({alert.box.commune.name}) : {alert.message}"
        )


@shield.command("token")
@click.argument("insee")
def token_command(insee: str) -> None:
    """Émet le jeton d'enrôlement (7 jours, usage unique) d'un boîtier de la commune INSEE.

    Le jeton n'est affiché qu'une fois ; les jetons précédents non utilisés sont annulés.
    """
    from clocher.shield import services

    issued = services.issue_token(cli_actor(), find_commune(insee))
    until = f"{issued.record.expires_at:%d/%m/%Y %H:%M}"
    console.print(f"Jeton pour {issued.record.commune.name}, valable jusqu'au {until} :")
    click.echo(issued.token)
    console.print("Sur le boîtier : clocher-box enroll --server URL --token JETON")


@shield.command("revoke")
@click.argument("box_id", metavar="ID")
def revoke_command(box_id: str) -> None:
    """Révoque un boîtier : sa clé n'ouvre plus rien (vol, remplacement)."""
    from clocher.shield import services
    from clocher.shield.models import Box

    try:
        box = Box.objects.get(pk=box_id)
        services.revoke_box(cli_actor(), box)
    except (Box.DoesNotExist, ValidationError) as exc:
        fail(
            validation_message(exc)
            if isinstance(exc, ValidationError)
            else f"Boîtier {box_id} inconnu."
        )
    console.print(f"Boîtier {box.hostname} révoqué.")


@shield.group("feed")
def feed_group() -> None:
    """Listes de menaces (fichier ou adresse web)."""


@feed_group.command("import")
@click.argument("name", metavar="NOM")
@click.argument("location", metavar="FICHIER|URL")
@click.option(
    "--c2", is_flag=True, help="Liste de serveurs de commande : bloque les connexions sortantes."
)
def feed_import_command(name: str, location: str, c2: bool) -> None:
    """Importe la liste NOM depuis un fichier ou une URL (IP/CIDR, FireHOL, Spamhaus DROP).

    Remplace les entrées précédentes de la liste ; les lignes mal formées sont signalées
    avec leur numéro, les préfixes de la liste d'autorisation refusés.
    """
    from clocher.shield import feeds

    try:
        with console.status(f"Import de {location}…"):
            report = feeds.import_feed(cli_actor(), name, location, "c2" if c2 else "blocklist")
    except ValidationError as exc:
        fail(validation_message(exc))
    console.print(report.summary())
    for problem in report.problems():
        console.print(f"[yellow]⚠[/yellow] {problem}")
    hidden = len(report.malformed) + len(report.refused) - len(report.problems())
    if hidden > 0:
        console.print(f"… et {hidden} autre(s).")


@feed_group.command("refresh")
@click.option(
    "--every", type=int, default=0, help="Recommencer toutes les N secondes (0 : une fois)."
)
def feed_refresh_command(every: int) -> None:
    """Réimporte chaque liste tirée d'une adresse web (`clocher serve` : toutes les 6 h),
    puis élague le journal des changements dont aucun boîtier n'a plus besoin."""
    import time

    from django.db import close_old_connections

    from clocher.shield import feeds
    from clocher.shield.models import Feed, FeedKind

    while True:
        for feed in Feed.objects.filter(kind=FeedKind.URL):
            try:
                report = feeds.import_feed(cli_actor(), feed.name, feed.location, feed.purpose)
                console.print(report.summary())
            except ValidationError as exc:  # one unreachable list does not stop the others
                console.print(f"[red]✗[/red] {feed.name} : {validation_message(exc)}")
        pruned = feeds.prune_journal()
        if pruned:
            console.print(f"Journal des listes : {pruned} changement(s) périmé(s) retiré(s).")
        if not every:
            return
        time.sleep(every)
        close_old_connections()  # a long-running loop must not keep a dead connection


@feed_group.command("list")
@json_option
def feed_list_command(as_json: bool) -> None:
    """Les listes importées."""
    from clocher.shield.models import Feed

    feeds = list(Feed.objects.all())
    if not feeds and not as_json:
        console.print("Aucune liste importée (clocher shield feed import NOM FICHIER|URL).")
        return
    table = Table(title="Listes importées")
    for column in ("liste", "usage", "préfixes", "importée le", "source"):
        table.add_column(column)
    for feed in feeds:
        when = f"{feed.last_import_at:%d/%m/%Y %H:%M}" if feed.last_import_at else "jamais"
        table.add_row(
            feed.name, feed.get_purpose_display(), str(feed.entries_count), when, feed.location
        )
    show(table, as_json)


@shield.group("allow")
def allow_group() -> None:
    """Liste d'autorisation : ce que rien ne peut bloquer."""


@allow_group.command("add")
@click.argument("prefix", metavar="PRÉFIXE")
@click.option("--reason", required=True, help="Pourquoi ce préfixe ne doit jamais être bloqué.")
@click.option("--commune", "insee", help="Pour les boîtiers de cette commune seulement.")
def allow_add_command(prefix: str, reason: str, insee: str | None) -> None:
    """Ajoute PRÉFIXE (adresse ou CIDR) à la liste d'autorisation."""
    from clocher.shield import services

    try:
        entry = services.add_allow(
            cli_actor(), prefix, reason, find_commune(insee) if insee else None
        )
    except ValidationError as exc:
        fail(validation_message(exc))
    console.print(f"{entry.prefix} ne sera jamais bloqué.")


@allow_group.command("list")
@json_option
def allow_list_command(as_json: bool) -> None:
    """La liste d'autorisation (département et communes)."""
    from django.conf import settings

    from clocher.shield.models import AllowEntry

    rows = [
        {"prefix": prefix, "scope": "département", "reason": "fixé par CLOCHER_SHIELD_ALLOWLIST"}
        for prefix in settings.SHIELD_ALLOWLIST
    ]
    for entry in AllowEntry.objects.select_related("commune"):
        where = entry.commune.name if entry.commune else "département"
        rows.append({"prefix": str(entry.prefix), "scope": where, "reason": entry.reason})
    if as_json:
        show(Table(), True, rows)
        return
    for row in rows:
        console.print(f"{row['prefix']} — {row['scope']} — {row['reason']}")
    if not rows:
        console.print("Liste d'autorisation vide.")


@allow_group.command("remove")
@click.argument("prefix", metavar="PRÉFIXE")
@click.option("--commune", "insee", help="L'entrée de cette commune.")
def allow_remove_command(prefix: str, insee: str | None) -> None:
    """Retire PRÉFIXE de la liste d'autorisation."""
    from clocher.shield import services
    from clocher.shield.models import AllowEntry

    entry = AllowEntry.objects.filter(
        prefix=prefix, commune=find_commune(insee) if insee else None
    ).first()
    if entry is None:
        fail(f"{prefix} n'est pas dans la liste d'autorisation.")
        return
    services.remove_allow(cli_actor(), entry)
    console.print(f"{prefix} retiré.")


@shield.command("block")
@click.argument("prefix", metavar="PRÉFIXE")
@click.option("--reason", required=True, help="Motif, visible sur chaque boîtier.")
@click.option("--hours", type=int, default=0, help="Durée en heures (0 : jusqu'au retrait).")
def block_command(prefix: str, reason: str, hours: int) -> None:
    """Bloque PRÉFIXE sur tous les boîtiers du département (refusé s'il touche la liste
    d'autorisation)."""
    from clocher.shield import services

    try:
        entry = services.add_manual_block(cli_actor(), prefix, reason, hours or None)
    except ValidationError as exc:
        fail(validation_message(exc))
    until = f"{entry.expires_at:%d/%m/%Y %H:%M}" if entry.expires_at else "son retrait"
    console.print(f"{entry.source} bloqué sur tous les boîtiers jusqu'à {until}.")


@shield.command("countries")
@click.argument("insee")
@click.argument("codes", metavar="[PAYS]...", nargs=-1)
def countries_command(insee: str, codes: tuple[str, ...]) -> None:
    """Pays (codes ISO à deux lettres, ex. KP RU) dont les boîtiers de la commune INSEE
    bloquent le trafic entrant ; remplace la liste, sans PAYS la vide."""
    from clocher.shield import services

    try:
        kept = services.set_countries(cli_actor(), find_commune(insee), codes)
    except ValidationError as exc:
        fail(validation_message(exc))
    console.print(f"Pays bloqués : {', '.join(kept) or 'aucun'}.")


@shield.group("port")
def port_group() -> None:
    """Ports entrants fermés par les boîtiers d'une commune (ex. RDP 3389 exposé)."""


_proto_option = click.option(
    "--proto", type=click.Choice(["tcp", "udp"]), default="tcp", show_default=True
)


@port_group.command("block")
@click.argument("insee")
@click.argument("port", type=int)
@_proto_option
@click.option("--allow", "allow", multiple=True, metavar="PRÉFIXE", help="Source encore admise.")
@click.option("--reason", default="", help="Motif (par défaut : port exposé sur Internet).")
def port_block_command(
    insee: str, port: int, proto: str, allow: tuple[str, ...], reason: str
) -> None:
    """Ferme PORT en entrée sur les boîtiers de la commune INSEE (à leur prochain contact)."""
    from clocher.shield import services

    try:
        rule = services.block_port(
            cli_actor(), find_commune(insee), port, proto, allow, reason, origin="clocher CLI"
        )
    except ValidationError as exc:
        fail(validation_message(exc))
    console.print(f"Port {rule.port}/{rule.proto} fermé sur les boîtiers de {rule.commune.name}.")


@port_group.command("unblock")
@click.argument("insee")
@click.argument("port", type=int)
@_proto_option
def port_unblock_command(insee: str, port: int, proto: str) -> None:
    """Rouvre PORT sur les boîtiers de la commune INSEE."""
    from clocher.shield import services

    commune = find_commune(insee)
    try:
        services.unblock_port(cli_actor(), services.find_rule(commune, port, proto))
    except ValidationError as exc:
        fail(validation_message(exc))
    console.print(f"Port {port}/{proto} rouvert sur les boîtiers de {commune.name}.")


@port_group.command("list")
@click.argument("insee")
@json_option
def port_list_command(insee: str, as_json: bool) -> None:
    """Les ports fermés de la commune INSEE."""
    from clocher.shield import services

    commune = find_commune(insee)
    applied = services.applied_ports(commune)
    table = Table(title=f"Ports fermés — {commune.name}")
    rows = []
    for column in ("port", "sources admises", "motif", "origine", "appliqué"):
        table.add_column(column)
    for rule in services.port_rules(commune):
        done = rule.key in applied
        rows.append(
            {"port": rule.port, "proto": rule.proto, "allow": rule.allowed, "reason": rule.reason,
             "origin": rule.origin, "applied": done}
        )  # fmt: skip
        table.add_row(
            f"{rule.port}/{rule.proto}", " ".join(rule.allowed) or "aucune", rule.reason,
            rule.origin, "oui" if done else "en attente du boîtier",
        )  # fmt: skip
    show(table, as_json, rows)


@shield.command("sinkhole")
@click.argument("domain", metavar="DOMAINE")
@click.option("--reason", default="", help="Motif (hameçonnage, logiciel malveillant…).")
def sinkhole_command(domain: str, reason: str) -> None:
    """Ajoute DOMAINE (et ses sous-domaines) aux domaines détournés par les boîtiers."""
    from clocher.shield import services

    try:
        entry = services.add_sinkhole(cli_actor(), domain, reason)
    except ValidationError as exc:
        fail(validation_message(exc))
    console.print(f"{entry.domain} détourné par les résolveurs des boîtiers.")


@shield.command("detect")
@click.option(
    "--every", type=int, default=0, help="Recommencer toutes les N secondes (0 : une fois)."
)
def detect_command(every: int) -> None:
    """Force brute sur les services du département (web, IMAP, SMTP) → liste collective ;
    alertes de la flotte (boîtier silencieux, pic d'attaque) envoyées à l'opérateur."""
    import time

    from django.db import close_old_connections

    from clocher.shield import detect, services

    while True:
        found, spared = detect.detect_bruteforce()
        expired = services.purge_expired()
        for alert in services.send_alerts():
            console.print(f"alerte envoyée : {alert.box.hostname} — {alert.message}")
        for item in found:
            state = "nouveau" if item.new else "prolongé"
            console.print(
                f"{item.source} : {item.failures} échecs ({', '.join(item.services)}) — {state}"
            )
        for spared_source in spared:
            console.print(f"épargné (liste d'autorisation) : {spared_source}")
        if expired:
            console.print(f"{expired} blocage(s) expiré(s) retiré(s).")
        if not every:
            return
        time.sleep(every)
        close_old_connections()  # a long-running loop must not keep a dead connection


@shield.command("report")
@click.option("--month", help="Mois AAAA-MM (par défaut le dernier mois complet).")
@click.option("--commune", "insee", help="Le rapport d'une commune (code INSEE).")
@click.option("--pdf", "pdf_path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path))
@report_json_option
def report_command(
    month: str | None,
    insee: str | None,
    pdf_path: Path | None,
    csv_path: Path | None,
    as_json: bool,
) -> None:
    """Rapport mensuel des flux bloqués : par pays, par scénario, principales sources."""
    from clocher.core import scoping
    from clocher.shield import report as reports

    try:
        first_day = reports.parse_month(month)
    except ValueError as exc:
        fail(str(exc))
    built = reports.build(first_day, find_commune(insee) if insee else None)
    if as_json:
        show_report(_report_data(built))
    else:
        _print_report(built)
    if csv_path:
        _write_atomically(csv_path, reports.to_csv(built).encode())
        note(f"CSV écrit : {csv_path}", as_json)
    if pdf_path:
        operator = scoping.get_operator()
        _write_atomically(pdf_path, reports.to_pdf(built, operator.name if operator else ""))
        note(f"PDF écrit : {pdf_path}", as_json)


def _report_data(built: Report) -> dict[str, Any]:
    """The monthly report's figures, as `--json` gives them."""
    from dataclasses import asdict

    lines = ("by_country", "by_scenario", "by_port", "top_sources", "daily", "by_commune")
    return {
        "month": f"{built.month:%Y-%m}",
        "commune": built.commune.insee if built.commune else None,
        "scope": built.scope,
        "summary": built.summary(),
        "flows": built.flows,
        "blocks": built.blocks,
        "boxes": built.boxes,
        "collective_added": built.collective_added,
        "central_bruteforce": built.central_bruteforce,
        **{name: [asdict(line) for line in getattr(built, name)] for name in lines},
    }


def _print_report(built: Report) -> None:
    console.print(built.summary(), highlight=False)
    table = Table(title="Par pays d'origine")
    for column in ("pays", "flux bloqués", "blocages"):
        table.add_column(column)
    for line in built.by_country[:10]:
        table.add_row(line.label, str(line.flows), str(line.blocks))
    console.print(table)
    table = Table(title="Par scénario")
    for column in ("scénario", "flux bloqués", "blocages"):
        table.add_column(column)
    for line in built.by_scenario:
        table.add_row(line.label, str(line.flows), str(line.blocks))
    console.print(table)
    for line in built.by_port:
        console.print(line.label, highlight=False)


def _write_atomically(path: Path, data: bytes) -> None:
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_bytes(data)
    temp.replace(path)


def register(group: click.Group) -> None:
    group.add_command(shield)
