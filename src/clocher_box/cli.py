"""`clocher-box`: enrol the box, run it, see what it blocks, unblock an address."""

from __future__ import annotations

import ipaddress
import json
import logging
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from clocher_box import __version__, nft
from clocher_box.clickfr import FrenchGroup, speak_french

STATE_DIR = "/var/lib/clocher-box"


def _state_option(function: Any) -> Any:
    return click.option(
        "--state-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=STATE_DIR,
        show_default=True,
        envvar="CLOCHER_BOX_STATE_DIR",
        help="Répertoire d'état du boîtier (clé, décisions, file d'attente d'événements).",
    )(function)


def _layout(mode: str, wan: str, lan: str, management: tuple[str, ...]) -> nft.Layout:
    try:
        networks = [nft.parse_network(m) for m in management]
    except ValueError as exc:
        raise click.BadParameter(f"réseau de gestion invalide : {exc}") from exc
    if mode == "gateway" and not (wan and lan):
        raise click.BadParameter("le mode passerelle demande --wan et --lan")
    return nft.Layout(mode=mode, wan=wan, lan=lan, management=networks)


def _agent(
    state_dir: Path,
    mode: str = "host",
    wan: str = "",
    lan: str = "",
    management: tuple[str, ...] = (),
    enforce: bool = True,
) -> Any:
    from clocher_box.agent import Agent

    return Agent(state_dir, _layout(mode, wan, lan, management), enforce=enforce)


@click.group(cls=FrenchGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(
    __version__, message="clocher-box %(version)s", help="Affiche la version et quitte."
)
@click.option("-v", "--verbose", is_flag=True, help="Journal détaillé.")
def main(verbose: bool) -> None:
    """Boîtier de sécurité Clocher : bloque les intrusions en bordure du réseau de la
    mairie (nftables), fonctionne hors ligne et rend compte au central du département."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@main.command()
@click.option(
    "--server",
    required=True,
    envvar="CLOCHER_BOX_SERVER",
    help="Adresse du central, par exemple https://clocher.cotedor.fr",
)
@click.option(
    "--token",
    required=True,
    envvar="CLOCHER_BOX_TOKEN",
    help="Jeton d'enrôlement à usage unique remis par l'opérateur.",
)
@click.option(
    "--ca-file",
    default="",
    envvar="CLOCHER_BOX_CA_FILE",
    help="Certificat d'autorité pour vérifier le central (sinon le magasin système).",
)
@_state_option
def enroll(server: str, token: str, ca_file: str, state_dir: Path) -> None:
    """Enrôle le boîtier : crée sa paire de clés Ed25519 et l'enregistre auprès du central."""
    from clocher_box.client import CentralError
    from clocher_box.client import enroll as do_enroll

    if (state_dir / "box.json").exists():
        raise click.ClickException(
            f"déjà enrôlé ({state_dir / 'box.json'}) ; effacez-le pour recommencer"
        )
    try:
        identity = do_enroll(state_dir, server, token, ca_file)
    except CentralError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"Boîtier {identity.box_id} enrôlé pour {identity.commune_name} "
        f"({identity.commune_insee}). Service (paquet Debian) : systemctl start clocher-box"
    )


def _run_options(function: Any) -> Any:
    options = [
        click.option(
            "--mode",
            type=click.Choice(["host", "gateway"]),
            default="host",
            envvar="CLOCHER_BOX_MODE",
            show_default=True,
            help="host : protège la machine elle-même ; gateway : routeur entre WAN et LAN.",
        ),
        click.option(
            "--wan",
            default="",
            envvar="CLOCHER_BOX_WAN",
            help="Interface côté Internet (mode gateway).",
        ),
        click.option(
            "--lan",
            default="",
            envvar="CLOCHER_BOX_LAN",
            help="Interface côté mairie (mode gateway).",
        ),
        click.option(
            "--management",
            multiple=True,
            envvar="CLOCHER_BOX_MANAGEMENT",
            help="Réseau de gestion jamais bloqué (répétable).",
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return function


@main.command()
@_state_option
@_run_options
@click.option(
    "--internal",
    multiple=True,
    envvar="CLOCHER_BOX_INTERNAL",
    help="Réseau interne (LAN) dont les flux ne comptent pas comme balayage (répétable).",
)
@click.option(
    "--auth-log",
    default="",
    envvar="CLOCHER_BOX_AUTH_LOG",
    help="Journal d'authentification sshd à surveiller (ex. /var/log/auth.log).",
)
@click.option("--no-conntrack", is_flag=True, help="Sans détection de balayage de ports.")
@click.option(
    "--dns-listen",
    default="",
    envvar="CLOCHER_BOX_DNS_LISTEN",
    help="Adresse:port du résolveur DNS local (vide : pas de résolveur).",
)
@click.option(
    "--dns-upstream",
    default="",
    envvar="CLOCHER_BOX_DNS_UPSTREAM",
    help="Résolveur amont pour les noms non bloqués (défaut : celui de /etc/resolv.conf).",
)
@click.option(
    "--sinkhole",
    default="0.0.0.0",  # noqa: S104 — an answer, not a bind
    envvar="CLOCHER_BOX_SINKHOLE",
    show_default=True,
    help="Adresse renvoyée pour un domaine bloqué.",
)
@click.option(
    "--interval",
    default=5.0,
    envvar="CLOCHER_BOX_INTERVAL",
    show_default=True,
    help="Secondes entre deux relevés des compteurs et envois au central.",
)
@click.option(
    "--heartbeat",
    default=60.0,
    envvar="CLOCHER_BOX_HEARTBEAT",
    show_default=True,
    help="Secondes entre deux battements de cœur (et vérifications de politique).",
)
@click.option("--offline", is_flag=True, help="Sans central (boîtier non enrôlé, essais).")
def run(
    state_dir: Path,
    mode: str,
    wan: str,
    lan: str,
    management: tuple[str, ...],
    internal: tuple[str, ...],
    auth_log: str,
    no_conntrack: bool,
    dns_listen: str,
    dns_upstream: str,
    sinkhole: str,
    interval: float,
    heartbeat: float,
    offline: bool,
) -> None:
    """Lance le boîtier : détecteurs, DNS, envoi des événements, battement de cœur et
    politique ; s'arrête proprement sur SIGTERM."""
    from clocher_box.client import Central, CentralError
    from clocher_box.runner import Daemon, RunConfig

    central = None
    if not offline:
        try:
            central = Central(state_dir)
        except CentralError as exc:
            raise click.ClickException(str(exc)) from exc
    agent = _agent(state_dir, mode, wan, lan, management)
    config = RunConfig(
        internal=list(internal),
        auth_log=auth_log,
        conntrack=not no_conntrack,
        dns_listen=dns_listen,
        dns_upstream=dns_upstream,
        sinkhole_v4=sinkhole,
        interval=interval,
        heartbeat_every=heartbeat,
    )
    daemon = Daemon(agent, central, config)
    signal.signal(signal.SIGTERM, lambda *_: daemon.stop.set())
    signal.signal(signal.SIGINT, lambda *_: daemon.stop.set())
    try:
        daemon.run()
    finally:
        agent.close()


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return "jusqu'au déblocage"
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


@main.command()
@_state_option
@click.option("--json", "as_json", is_flag=True, help="Sortie JSON.")
def status(state_dir: Path, as_json: bool) -> None:
    """Ce qui est bloqué et pourquoi, compteurs de paquets rejetés."""
    if not (state_dir / "box.json").exists():
        # Before enrolment there is nothing to report, and nothing may be created here.
        if as_json:
            click.echo(json.dumps({"enrolled": False, "state_dir": str(state_dir)}))
        else:
            click.echo(
                f"Boîtier non enrôlé (aucune identité dans {state_dir}) : lancez "
                "`clocher-box enroll --server https://… --token clb_…` avec le jeton remis "
                "par l'opérateur, puis `systemctl start clocher-box`."
            )
        sys.exit(3)
    agent = _agent(state_dir)
    try:
        decisions = agent.state.decisions()
        health = agent.health()
        counters: dict[str, int] = {}
        if health["nft"] == "ok":
            counters = agent.table.rule_counters()
        if as_json:
            click.echo(
                json.dumps(
                    {
                        "health": health,
                        "policy_version": agent.state.get("policy_version", 0),
                        "decisions": [d.__dict__ for d in decisions],
                        "counters": counters,
                    },
                    indent=2,
                )
            )
            return
        click.echo(
            f"Table nftables : {health['nft']} ; politique v{agent.state.get('policy_version', 0)}"
        )
        click.echo(
            f"Liste de blocage : {health['feed_prefixes']} préfixes ; "
            f"événements en attente : {health['spool_backlog']}"
        )
        click.echo(f"{len(decisions)} décision(s) en cours :")
        for d in decisions:
            click.echo(
                f"  {d.source:<40} {d.scenario:<16} jusqu'à {_when(d.expires_at)}  {d.reason}"
            )
        if counters:
            click.echo("Paquets rejetés par règle :")
            for name, packets in sorted(counters.items()):
                if packets:
                    click.echo(f"  {name:<16} {packets}")
    finally:
        agent.close()


@main.command()
@_state_option
@click.argument("address", metavar="ADRESSE")
def unblock(state_dir: Path, address: str) -> None:
    """Débloque une adresse (ou un préfixe) bloquée par une décision."""
    try:
        ipaddress.ip_network(address, strict=False)
    except ValueError as exc:
        raise click.BadParameter(f"adresse invalide : {address}") from exc
    agent = _agent(state_dir)
    try:
        if not agent.unblock(address):
            raise click.ClickException(f"{address} n'est pas bloquée par une décision")
        click.echo(f"{address} débloquée.")
    finally:
        agent.close()


@main.command("blocklist")
@_state_option
@click.argument("path", metavar="FICHIER", type=click.File("r"))
def blocklist(state_dir: Path, path: Any) -> None:
    """Charge la liste de blocage locale FICHIER (IP/CIDR, FireHOL netset ou Spamhaus DROP)
    en remplacement de la précédente ; les lignes mal formées sont comptées et ignorées."""
    from clocher_box.detectors.blocklist import parse_blocklist

    agent = _agent(state_dir)
    try:
        if agent.health()["nft"] != "ok":
            agent.start()
        started = time.monotonic()
        report = agent.load_feed(parse_blocklist(path))
        click.echo(
            f"{report.entries} entrées lues, {report.prefixes} préfixes chargés "
            f"(+{report.added} −{report.removed}) en {time.monotonic() - started:.1f} s ; "
            f"{report.malformed} lignes mal formées, {len(report.refused)} refusées (protégées)."
        )
        for example in report.examples:
            click.echo(f"  mal formée : {example}", err=True)
    finally:
        agent.close()


speak_french(main)

if __name__ == "__main__":
    sys.exit(main())
