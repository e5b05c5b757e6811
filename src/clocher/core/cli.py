"""Platform commands: init, serve, worker, check, commune, operator, member, audit."""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click
from django.conf import settings
from django.core.exceptions import ValidationError
from rich.progress import Progress
from rich.table import Table

from clocher.core.audit import Actor
from clocher.core.terminal import console, json_option, show

if TYPE_CHECKING:
    from clocher.core.models import Commune
    from clocher.core.services import MemberAdded


def cli_actor() -> Actor:
    user = os.environ.get("SUDO_USER") or os.environ.get("USER") or "root"
    return Actor(label=f"cli:{user}")


def fail(message: str, code: int = 1) -> NoReturn:
    console.print(f"[bold red]Erreur :[/] {message}")
    sys.exit(code)


def find_commune(insee: str, hint: str = "") -> Commune:
    """The commune every app's commands name by INSEE code, or the French error that says
    the code is unknown (HINT, e.g. " (code INSEE, ou …)", says what else is accepted)."""
    from clocher.core.models import Commune

    found = Commune.objects.filter(insee=insee.strip().upper()).first()
    if found is None:
        fail(f"Commune {insee} inconnue{hint}.")
    return found


def validation_message(exc: ValidationError) -> str:
    return " ; ".join(exc.messages)


ENV_TEMPLATE = """\
# Clocher — configuration (variables CLOCHER_*). Les valeurs commentées sont les défauts
# intégrés ; l'environnement réel l'emporte toujours sur ce fichier.

# Répertoire des données (base SQLite, blobs, clés, journaux).
# CLOCHER_DATA_DIR={data_dir}

# Base de données : SQLite (WAL) par défaut ; en production :
# CLOCHER_DATABASE_URL=postgres://clocher:MOT_DE_PASSE@db.example/clocher
# CLOCHER_DATABASE_URL=sqlite:///{data_dir}/clocher.sqlite3

# Adresse publique du portail (liens d'invitation) et adresse d'écoute.
# CLOCHER_BASE_URL=http://localhost:8000
# CLOCHER_BIND=127.0.0.1:8000
# CLOCHER_ALLOWED_HOSTS=localhost,127.0.0.1,[::1]
# Derrière HAProxy (PROXY protocol) : l'adresse du mandataire dont la ligne PROXY est crue.
# CLOCHER_PROXY_FROM=
# CLOCHER_WEB_WORKERS=2
# Fils par processus web (gunicorn --threads).
# CLOCHER_WEB_THREADS=4
# Serveur de fichiers (WebDAV des clients de synchronisation, granian) : vide = port web + 1.
# CLOCHER_FILES_BIND=
# CLOCHER_FILES_WORKERS=2
# CLOCHER_FILES_THREADS=8
# Processus de tâches de fond (reprises de messagerie et de documents en parallèle).
# CLOCHER_TASK_WORKERS=2
# Ce que lance ce nœud, parmi web, tasks, daemons (vide : les trois ; nœud de plus : web,tasks).
# CLOCHER_ROLES=
# File des tâches de fond (base de données ; « immediate » : tout de suite, en tests).
# CLOCHER_TASK_BACKEND=django_tasks_db.DatabaseBackend
# Fuseau horaire des dates affichées et des calendriers (sauvegarde de nuit…).
# CLOCHER_TIME_ZONE=Europe/Paris

# Clé secrète : générée dans {data_dir}/secret_key si absente.
# CLOCHER_SECRET_KEY=

# Connexion : échecs tolérés avant blocage, durée du blocage, validité des invitations.
# CLOCHER_LOGIN_MAX_FAILURES=5
# CLOCHER_LOGIN_LOCKOUT_MINUTES=15
# CLOCHER_INVITATION_VALID_DAYS=7
# CLOCHER_SESSION_HOURS=10
# CLOCHER_SECURE_COOKIES=0

# Courriels envoyés par la plateforme (invitations, avis, alertes) : par son propre Postfix
# (écoute locale 127.0.0.1:CLOCHER_MAIL_REINJECT_PORT) si CLOCHER_SMTP_HOST est vide, sinon
# par ce relais SMTP ; « file » : seulement des fichiers dans {data_dir}/outbox, rien n'est
# envoyé (machine qui ne doit pas écrire). Un courriel qui ne part pas attend dans
# {data_dir}/outbox/pending/ ; `clocher serve` le renvoie chaque minute.
# CLOCHER_SMTP_HOST=
# CLOCHER_SMTP_PORT=25
# CLOCHER_SMTP_USER=
# CLOCHER_SMTP_PASSWORD=
# CLOCHER_SMTP_STARTTLS=0
# CLOCHER_SMTP_TIMEOUT=30
# CLOCHER_OUTBOX_DIR={data_dir}/outbox
# Expéditeur : par défaut ne-pas-repondre@<domaine partagé de l'opérateur> (le courrier
# qui lui arrive, retours et réponses automatiques, est détruit par Postfix).
# CLOCHER_FROM_EMAIL=Clocher <ne-pas-repondre@communes.example.fr>

# Coffre-fort : blocs chiffrés dans {data_dir}/vault (clé maîtresse master.key à côté,
# ou CLOCHER_VAULT_MASTER_KEY en base64), ou dans un seau S3 hébergé localement.
# CLOCHER_VAULT_DIR={data_dir}/vault
# CLOCHER_VAULT_MASTER_KEY=
# CLOCHER_VAULT_TRASH_DAYS=30
# Taille des blocs (octets) ; délai de grâce avant le ramassage d'un bloc orphelin (s).
# CLOCHER_VAULT_CHUNK_BYTES=4194304
# CLOCHER_VAULT_GC_GRACE_SECONDS=3600
# Envoi par morceaux (clients Nextcloud) : taille au plus, abandon après tant d'heures,
# envois ouverts à la fois par compte.
# CLOCHER_VAULT_UPLOAD_MAX_BYTES=68719476736
# CLOCHER_VAULT_UPLOAD_EXPIRY_HOURS=24
# CLOCHER_VAULT_MAX_UPLOAD_SESSIONS=20
# CLOCHER_VAULT_BACKEND=local
# CLOCHER_VAULT_S3_ENDPOINT=https://s3.departement.example
# CLOCHER_VAULT_S3_REGION=default
# CLOCHER_VAULT_S3_BUCKET=clocher-coffre
# CLOCHER_VAULT_S3_ACCESS_KEY=
# CLOCHER_VAULT_S3_SECRET_KEY=
# Reprise de documents : taille décompressée et nombre d'éléments au plus par import.
# CLOCHER_VAULT_IMPORT_MAX_BYTES=21474836480
# CLOCHER_VAULT_IMPORT_MAX_ENTRIES=100000

# Plusieurs nœuds : fichiers reçus par un nœud et traités ou servis par un autre (imports
# téléversés, exports de commune) : un seau de transit quand le coffre est sur S3 (défaut
# <seau du coffre>-transit), sinon un répertoire que chaque nœud monte (vide : le
# répertoire de données, un seul nœud). Clé de signature du central du bouclier : un
# chemin monté par chaque nœud web (la même clé partout ; vide : une clé dans les données).
# CLOCHER_SHARED_DIR=
# CLOCHER_STAGING_S3_BUCKET=clocher-coffre-transit
# CLOCHER_SHIELD_CENTRAL_KEY_FILE=

# Agendas et carnets d'adresses (stockage de Radicale, sauvegardé avec les données) ;
# invitations iMIP par courriel quand un événement a des participants.
# CLOCHER_GROUPWARE_DIR={data_dir}/groupware
# CLOCHER_GROUPWARE_IMIP=1
# Webmail : Roundcube (Debian) lancé par `clocher serve` quand il est installé, relayé
# sur /webmail/ ; sa configuration, sa base et ses secrets dans CLOCHER_WEBMAIL_DIR.
# CLOCHER_WEBMAIL_ENABLED=1
# CLOCHER_WEBMAIL_DIR={data_dir}/webmail
# Où le webmail joint IMAP, soumission et ManageSieve : cette machine, ou depuis un nœud
# sans le rôle daemons (`--roles web`), le nœud qui fait tourner Dovecot et Postfix.
# CLOCHER_WEBMAIL_MAIL_HOST=127.0.0.1

# Messagerie (Postfix et Dovecot lancés par `clocher serve`, ports non privilégiés par
# défaut ; 0 : pas de messagerie sur cette machine). Files, configurations et boîtes
# dans CLOCHER_MAIL_DIR.
# CLOCHER_MAIL_ENABLED=1
# CLOCHER_MAIL_DIR={data_dir}/mail
# CLOCHER_MAIL_HOSTNAME=
# CLOCHER_MAIL_BIND=127.0.0.1
# CLOCHER_MAIL_SMTP_PORT=2525
# CLOCHER_MAIL_SUBMISSION_PORT=5587
# CLOCHER_MAIL_IMAP_PORT=1143
# CLOCHER_MAIL_IMAPS_PORT=1993
# CLOCHER_MAIL_SIEVE_PORT=14190
# CLOCHER_MAIL_LMTP_PORT=24024
# CLOCHER_MAIL_AUTH_PORT=12345
# CLOCHER_MAIL_QUOTA_STATUS_PORT=12340
# CLOCHER_MAIL_REINJECT_PORT=10027
# CLOCHER_MAIL_MAX_MESSAGE_BYTES=26214400
# CLOCHER_MAIL_RELAYHOST=
# CLOCHER_MAIL_TLS_CERT={data_dir}/tls/mail.crt
# CLOCHER_MAIL_TLS_KEY={data_dir}/tls/mail.key
# Résolveur DNS de la vérification des zones (vide : celui du système).
# CLOCHER_DNS_RESOLVER=
# Audit des e-services : autorités de confiance des certificats des sites (vide : celles
# du système) ; adresses privées acceptées comme cibles si 1.
# CLOCHER_ESERVICES_CA_FILE=
# CLOCHER_ESERVICES_ALLOW_PRIVATE=0
# Cibles auditées en même temps (le travail attend surtout le réseau).
# CLOCHER_ESERVICES_PARALLEL=8
# Jours entre deux audits d'une cible par le planificateur de `clocher serve`.
# CLOCHER_ESERVICES_SCAN_DAYS=7

# Reprise de messagerie (clocher mail import) : connexions d'un import, et au plus
# pour l'ensemble des imports vers un même serveur source.
# CLOCHER_MAIL_IMPORT_CONNECTIONS=3
# CLOCHER_MAIL_IMPORT_SERVER_CONNECTIONS=6
# Serveurs internes (boucle locale, réseaux privés) et ports autres que 993/143 : refusés
# aux reprises IMAP sauf si 1 (ancien serveur du réseau de l'opérateur).
# CLOCHER_MAIL_IMPORT_ALLOW_PRIVATE=0

# Bouclier : préfixes que nul boîtier ne bloque jamais (adresses du central, liaisons
# d'administration ; séparés par des virgules), durée d'un blocage collectif, seuil de
# force brute sur les connexions (échecs depuis une adresse dans la fenêtre).
# CLOCHER_SHIELD_ALLOWLIST=
# CLOCHER_SHIELD_COLLECTIVE_HOURS=24
# CLOCHER_SHIELD_BRUTEFORCE_FAILURES=20
# CLOCHER_SHIELD_BRUTEFORCE_WINDOW_MINUTES=10

# Archivage probant : copies scellées (ou seau S3 propre à l'archive quand le coffre est
# sur S3) ; autorité d'horodatage RFC 3161 — vide : celle intégrée à Clocher, NON
# qualifiée ; pour un horodatage qualifié eIDAS, l'URL de l'autorité et sa chaîne.
# CLOCHER_ARCHIVE_DIR={data_dir}/archive
# CLOCHER_ARCHIVE_S3_BUCKET=clocher-archives
# CLOCHER_ARCHIVE_TSA_URL=
# CLOCHER_ARCHIVE_TSA_NAME=
# CLOCHER_ARCHIVE_TSA_QUALIFIED=0
# CLOCHER_ARCHIVE_TSA_CA_FILE=

# Connexion OpenID Connect (compatible ProConnect), activée si le client est défini.
# CLOCHER_OIDC_CLIENT_ID=
# CLOCHER_OIDC_CLIENT_SECRET=
# CLOCHER_OIDC_AUTHORIZATION_ENDPOINT=
# CLOCHER_OIDC_TOKEN_ENDPOINT=
# CLOCHER_OIDC_USERINFO_ENDPOINT=
# CLOCHER_OIDC_JWKS_ENDPOINT=
# CLOCHER_OIDC_SIGN_ALGO=RS256
# CLOCHER_OIDC_SCOPES=openid email given_name usual_name

# Sauvegardes (restic) : dépôt sur un autre disque ou un seau S3 d'un second site
# (s3:https://s3.site2.example/clocher-sauvegardes ; vide : pas de sauvegarde), mot de
# passe du dépôt (aussi sur le kit de secours, jamais dans le dépôt), heure de la
# sauvegarde de nuit, part relue chaque semaine (%), port web de l'exercice de reprise.
# CLOCHER_BACKUP_REPOSITORY=
# CLOCHER_BACKUP_PASSWORD_FILE={data_dir}/backup.key
# CLOCHER_BACKUP_S3_ACCESS_KEY=
# CLOCHER_BACKUP_S3_SECRET_KEY=
# CLOCHER_BACKUP_HOUR=2
# CLOCHER_BACKUP_CHECK_PERCENT=5
# CLOCHER_DRILL_WEB_PORT=8099

# Supervision : qui lit /metrics (adresses ou réseaux séparés par des virgules, ou un
# jeton porteur ; ni l'un ni l'autre : personne), fréquence de la vérification de la
# chaîne d'audit (s), courriels en file au-delà desquels l'alerte part.
# CLOCHER_METRICS_ALLOW=
# CLOCHER_METRICS_TOKEN=
# CLOCHER_METRICS_CHAIN_TTL=300
# CLOCHER_ALERT_MAIL_QUEUE_MAX=100
# Crise : le délégué à la protection des données nommé dans le projet de notification CNIL.
# CLOCHER_DPO_NAME=
# CLOCHER_DPO_EMAIL=
# CLOCHER_DPO_PHONE=

# Finances : seuil d'alerte de la capacité de désendettement (années).
# CLOCHER_FINANCE_ALERT_YEARS=12
# Énergie : prix (€/kWh TTC) et facteurs d'émission (kgCO2e/kWh) des simulations de
# travaux ; mettez ceux de vos contrats (sources des défauts : docs/energy.md).
# CLOCHER_ENERGY_PRICE_ELEC_EUR_KWH=0.25
# CLOCHER_ENERGY_PRICE_GAS_EUR_KWH=0.11
# CLOCHER_ENERGY_PRICE_HEAT_EUR_KWH=0.10
# CLOCHER_ENERGY_PRICE_OIL_EUR_KWH=0.12
# CLOCHER_ENERGY_PRICE_WOOD_EUR_KWH=0.07
# CLOCHER_ENERGY_CO2_ELEC_KG_KWH=0.079
# CLOCHER_ENERGY_CO2_GAS_KG_KWH=0.227
# CLOCHER_ENERGY_CO2_HEAT_KG_KWH=0.110
# CLOCHER_ENERGY_CO2_OIL_KG_KWH=0.324
# CLOCHER_ENERGY_CO2_WOOD_KG_KWH=0.030

# Gouvernance des données : durées de conservation (jours), appliquées par l'entretien
# horaire de `clocher serve` ; facteurs de l'estimation d'énergie (docs/governance.md).
# CLOCHER_RETENTION_LOGS_DAYS=365
# CLOCHER_RETENTION_SHIELD_EVENTS_DAYS=365
# CLOCHER_RETENTION_AWARENESS_DAYS=365
# CLOCHER_RETENTION_DEPARTED_MAIL_DAYS=90
# CLOCHER_RETENTION_ESERVICES_DAYS=730
# CLOCHER_RETENTION_AUDIT_DAYS=3650
# CLOCHER_SOBRIETY_WATTS_PER_CPU=15
# CLOCHER_SOBRIETY_WATTS_PER_TB=12

# Journalisation et débogage (jamais DEBUG en production).
# CLOCHER_LOG_LEVEL=INFO
# CLOCHER_DEBUG=0
"""


def write_env_file(path: Path) -> bool:
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(ENV_TEMPLATE.format(data_dir=settings.DATA_DIR), encoding="utf-8")
    os.replace(tmp, path)
    return True


# Steps the services add to `clocher init` (e.g. the mail TLS certificate).
INIT_STEPS: list = []
# Checks the services add before a web node starts (e.g. the shield's key is the one
# recorded); each raises supervisor.CannotStart with a message naming what is wrong.
WEB_START_CHECKS: list = []


@click.command()
@click.option("--demo", is_flag=True, help="Crée l'opérateur et les communes de démonstration.")
def init(demo: bool) -> None:
    """Prépare le répertoire de données, la configuration et la base (idempotent)."""
    from django.core.management import call_command

    data_dir = Path(settings.DATA_DIR)
    for sub in ("run", "outbox", "cache"):
        (data_dir / sub).mkdir(parents=True, exist_ok=True)
    if write_env_file(Path(settings.ENV_FILE)):
        console.print(f"Configuration écrite : {settings.ENV_FILE}")
    call_command("migrate", interactive=False, verbosity=0)
    engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    console.print(f"Base de données à jour ({engine}).")
    for step in INIT_STEPS:
        message = step()
        if message:
            console.print(message)
    if demo:
        from clocher.core import demo as demo_module

        logins = demo_module.seed(cli_actor())
        console.print("[bold]Comptes de démonstration[/]")
        for login in logins:
            console.print(
                f"  {login.role:<14} {login.email:<36} {login.password}  ({login.where})",
                soft_wrap=True,
            )
        operator_login = logins[0]
        console.print(
            f"TOTP de l'opérateur (à ajouter dans une application d'authentification) : "
            f"[bold]{operator_login.totp_secret}[/]  — ou : oathtool --totp -b "
            f"{operator_login.totp_secret}"
        )
        console.print(f"Identifiants conservés dans {demo_module.logins_file()} (lecture root).")
    else:
        _print_next_steps()


def _print_next_steps() -> None:
    """Without --demo nobody can sign in yet: say which commands make the first account."""
    from clocher.core.models import Membership, Operator, Role

    if Membership.objects.filter(
        commune__isnull=True, role=Role.OPERATOR_ADMIN, is_active=True
    ).exists():
        return
    console.print("[bold]Étape suivante[/]")
    if not Operator.objects.exists():
        console.print(
            '  enregistrez l\'opérateur : clocher operator setup "Département …" '
            "--mail-domain communes.departement.example --department NN",
            soft_wrap=True,
        )
    console.print(
        "  créez le premier compte opérateur : clocher operator add "
        'prenom.nom@departement.example --role operator_admin --name "Prénom Nom"',
        soft_wrap=True,
    )


@click.command()
@click.option("--bind", default=None, help="Adresse d'écoute du web (défaut CLOCHER_BIND).")
@click.option("--web-workers", default=None, type=int, help="Processus web (défaut 2).")
@click.option(
    "--task-workers", default=None, type=int, help="Processus de tâches de fond (défaut 2)."
)
@click.option(
    "--roles",
    default=None,
    help="Ce que lance ce nœud, parmi web, tasks, daemons (défaut CLOCHER_ROLES, sinon "
    "les trois). Un nœud de plus : --roles web,tasks ; daemons (Postfix, Dovecot, "
    "rspamd, travaux périodiques) sur un seul nœud.",
)
def serve(
    bind: str | None, web_workers: int | None, task_workers: int | None, roles: str | None
) -> None:
    """Démarre la plateforme au premier plan : web, tâches de fond, démons."""
    from clocher.core import supervisor

    try:
        chosen = supervisor.parse_roles(roles or os.environ.get("CLOCHER_ROLES", "") or "all")
        if "web" in chosen:
            for start_check in WEB_START_CHECKS:
                start_check()
    except supervisor.CannotStart as exc:
        fail(str(exc))
        return
    bind = bind or settings.BIND
    workers = web_workers or int(os.environ.get("CLOCHER_WEB_WORKERS", "2"))
    console.print(
        f"Clocher sur [bold]{settings.BASE_URL}[/] (écoute {bind}, rôles "
        f"{', '.join(r for r in supervisor.ROLES if r in chosen)}). Ctrl-C pour arrêter."
    )
    tasks = task_workers or int(os.environ.get("CLOCHER_TASK_WORKERS", "2"))
    children = supervisor.core_children(bind, workers, tasks, chosen)
    sys.exit(supervisor.run(children, daemons="daemons" in chosen, web="web" in chosen))


@click.command()
@click.option("--once", is_flag=True, help="Traite les tâches en attente puis s'arrête.")
def worker(once: bool) -> None:
    """Exécute les tâches de fond (provisionnement, imports, rapports)."""
    from django.core.management import call_command

    from clocher.core.health import worker_heartbeat_file

    beat = worker_heartbeat_file()
    beat.parent.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()

    def heartbeat() -> None:
        while not stop.is_set():
            beat.write_text(str(os.getpid()))
            stop.wait(5)

    threading.Thread(target=heartbeat, daemon=True).start()
    try:
        args = ["--batch"] if once else []
        call_command("db_worker", *args, "--interval", "0.5")
    finally:
        stop.set()


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Sortie JSON pour les scripts.")
def check(as_json: bool) -> None:
    """Vérifie chaque composant (adresse, état) ; code de sortie non nul si l'un est en panne."""
    from clocher.core import health

    results = health.run_all()
    if as_json:
        click.echo(json.dumps([r.as_dict() for r in results], ensure_ascii=False, indent=1))
    else:
        table = Table(title="État de la plateforme")
        for column in ("composant", "adresse", "état", "détail"):
            table.add_column(column)
        for r in results:
            table.add_row(
                r.component, r.address, "[green]OK[/]" if r.ok else "[red]EN PANNE[/]", r.detail
            )
        console.print(table)
    sys.exit(0 if all(r.ok for r in results) else 1)


@click.group()
def outbox() -> None:
    """Courriels de la plateforme en attente d'envoi (invitations, avis, alertes)."""


@outbox.command("flush")
@click.option(
    "--every",
    type=int,
    default=0,
    help="Recommencer toutes les N secondes (0 : une seule fois). `clocher serve` le lance "
    "chaque minute.",
)
def outbox_flush(every: int) -> None:
    """Renvoie les courriels en attente dont l'heure est venue."""
    import time

    from clocher.core import mailer

    while True:
        report = mailer.flush()
        if report.sent or report.failed or not every:
            console.print(
                f"Courriels envoyés : {report.sent} ; en attente : {report.waiting} ; "
                f"mis de côté : {report.failed}."
            )
        if not every:
            return
        time.sleep(every)


# --- commune ----------------------------------------------------------------------------


@click.group()
def commune() -> None:
    """Gère les communes (adhérentes et prospects)."""


@commune.command("add")
@click.option("--insee", required=True, help="Code INSEE (5 caractères, 2A/2B en Corse).")
@click.option("--name", default="", help="Nom (défaut : celui du référentiel officiel).")
@click.option("--siren", default=None, help="SIREN (9 chiffres).")
@click.option("--active", is_flag=True, help="Active directement (sinon : demande d'adhésion).")
def commune_add(insee: str, name: str, siren: str | None, active: bool) -> None:
    """Enregistre une commune, préremplie depuis le référentiel officiel."""
    from clocher.core import services
    from clocher.core.models import CommuneStatus

    try:
        created = services.create_commune(
            cli_actor(),
            insee,
            name,
            siren=siren,
            status=CommuneStatus.ACTIVE if active else CommuneStatus.APPLIED,
        )
    except ValidationError as exc:
        fail(validation_message(exc))
        return
    console.print(
        f"Commune créée : {created.name} ({created.insee}), statut "
        f"{created.get_status_display().lower()}."
    )


@commune.command("list")
@click.option("--status", default=None, help="Filtre : prospect, applied, active, suspended, left.")
@json_option
def commune_list(status: str | None, as_json: bool) -> None:
    """Liste les communes."""
    from clocher.core.models import Commune, CommuneStatus

    qs = Commune.objects.all().order_by("insee")
    if status:
        qs = qs.filter(status=status)
    rows = list(qs.values("insee", "name", "status", "population", "siren"))
    table = Table(title=f"Communes ({len(rows)})")
    for column in ("INSEE", "nom", "statut", "population", "SIREN"):
        table.add_column(column)
    for r in rows:
        table.add_row(
            r["insee"],
            r["name"],
            CommuneStatus(r["status"]).label,
            str(r["population"] or ""),
            r["siren"] or "",
        )
    show(table, as_json, rows)


@commune.command("load-department")
@click.argument("department", metavar="DÉPARTEMENT")
def commune_load_department(department: str) -> None:
    """Charge toutes les communes d'un département comme prospects (ex. 21)."""
    from clocher.core import reference, services

    total = len(reference.department_communes(department))
    if total == 0:
        fail(f"Aucune commune connue pour le département « {department} ».")
    with Progress(console=console) as progress:
        bar = progress.add_task(f"Département {department}", total=total)
        result = services.load_department_prospects(
            cli_actor(), department, progress=lambda n: progress.advance(bar, n)
        )
        progress.update(bar, completed=total)
    console.print(f"{result.created} prospect(s) ajouté(s), {result.already_known} déjà connu(s).")


@commune.command("status")
@click.argument("insee")
@click.argument("status", type=click.Choice(["applied", "active", "suspended", "left"]))
@click.option("--reason", default="", help="Motif, consigné au journal.")
def commune_status(insee: str, status: str, reason: str) -> None:
    """Change le statut d'une commune (suspendre garde les données)."""
    from clocher.core import services

    target = find_commune(insee)
    try:
        services.set_commune_status(cli_actor(), target, status, reason)
    except ValidationError as exc:
        fail(validation_message(exc))
    console.print(f"{target.name} : {target.get_status_display().lower()}.")


# --- operator ---------------------------------------------------------------------------


@click.group()
def operator() -> None:
    """L'opérateur de la plateforme (le département) et ses comptes."""


@operator.command("setup")
@click.argument("name", metavar="NOM")
@click.option("--mail-domain", required=True, help="Domaine partagé (communes.exemple.fr).")
@click.option("--contact", default="", help="Adresse de contact de l'opérateur.")
@click.option("--department", default="", help="Code du département (ex. 21).")
def operator_setup(name: str, mail_domain: str, contact: str, department: str) -> None:
    """Enregistre (ou met à jour) l'opérateur : nom et domaine de messagerie partagé."""
    from clocher.core import services

    done = services.ensure_operator(cli_actor(), name, mail_domain, contact, department)
    console.print(f"Opérateur : {done.name} (domaine {done.mail_domain}).")


@operator.command("add")
@click.argument("email")
@click.option(
    "--role",
    required=True,
    type=click.Choice(["operator_admin", "operator_support", "operator_archivist"]),
    help="Rôle dans l'équipe de l'opérateur.",
)
@click.option("--name", "full_name", default="", help="Nom complet.")
def operator_add(email: str, role: str, full_name: str) -> None:
    """Donne à EMAIL un rôle d'opérateur et lui envoie son invitation par courriel.

    Le lien (à usage unique) d'un compte créé ici est aussi affiché ; à la première
    connexion, la double authentification (TOTP) est exigée avant toute page.
    """
    from clocher.core import services

    try:
        added = services.invite_operator_member(cli_actor(), email, role, full_name)
    except ValidationError as exc:
        fail(validation_message(exc))
        return
    _report_invitation(added, f"{added.membership.user.email} : {role} de l'opérateur.")


@operator.command("list")
@json_option
def operator_list(as_json: bool) -> None:
    """Liste les comptes de l'équipe de l'opérateur."""
    from clocher.core.models import Membership

    table = Table(title="Équipe de l'opérateur")
    for column in ("adresse", "nom", "rôle", "actif", "TOTP", "mot de passe"):
        table.add_column(column)
    rows = Membership.objects.filter(commune__isnull=True).select_related("user")
    for m in rows.order_by("user__email"):
        table.add_row(
            m.user.email,
            m.user.full_name,
            m.get_role_display(),
            "oui" if m.is_active and m.user.is_active else "non",
            "oui" if m.user.has_totp else "à configurer",
            "oui" if m.user.has_usable_password() else "invitation en attente",
        )
    show(table, as_json)


def _report_invitation(added: MemberAdded, done: str) -> None:
    """Print what was mailed; the link only for an account this command just created."""
    from clocher.accounts.services import invitation_url

    email = added.membership.user.email
    console.print(done)
    # The operator, on the server, may see the link of an account it has just created
    # (it could set that password anyway); never the link of an existing account.
    if added.invitation_token and added.created_user:
        console.print(f"Invitation envoyée par courriel à {email}.")
        console.print(
            f"Lien d'invitation (à usage unique) : {invitation_url(added.invitation_token)}"
        )
    elif added.invitation_token:
        console.print(
            f"Invitation envoyée par courriel à {email} (lien non affiché : compte existant)."
        )
    else:
        console.print(
            f"{email} avait déjà un compte : un avis lui a été envoyé par courriel, sans lien."
        )


# --- member -----------------------------------------------------------------------------


@click.group()
def member() -> None:
    """Gère les membres d'une commune."""


@member.command("add")
@click.argument("commune_code", metavar="COMMUNE")
@click.argument("email")
@click.option(
    "--role",
    required=True,
    type=click.Choice(["commune_admin", "agent", "elected"]),
    help="Rôle dans la commune.",
)
@click.option("--name", "full_name", default="", help="Nom complet.")
def member_add(commune_code: str, email: str, role: str, full_name: str) -> None:
    """Ajoute EMAIL à COMMUNE (code INSEE) et le prévient par courriel.

    Un nouveau compte reçoit son lien d'invitation, affiché aussi ici ; un compte qui
    existe déjà reçoit un simple avis, sans lien.
    """
    from clocher.core import services

    target = find_commune(commune_code)
    try:
        added = services.add_member(cli_actor(), target, email, role, full_name=full_name)
    except ValidationError as exc:
        fail(validation_message(exc))
        return
    _report_invitation(added, f"{added.membership.user.email} ajouté à {target.name} ({role}).")


@member.command("list")
@click.argument("commune_code", metavar="COMMUNE")
@json_option
def member_list(commune_code: str, as_json: bool) -> None:
    """Liste les membres de COMMUNE."""
    from clocher.core import services

    target = find_commune(commune_code)
    table = Table(title=f"Membres de {target.name}")
    for column in ("adresse", "nom", "rôle", "actif"):
        table.add_column(column)
    rows = []
    for m in services.members_of(target):
        table.add_row(
            m.user.email, m.user.full_name, m.get_role_display(), "oui" if m.is_active else "non"
        )
        rows.append(
            {"email": m.user.email, "name": m.user.full_name, "role": m.role, "active": m.is_active}
        )
    show(table, as_json, rows)


# --- audit ------------------------------------------------------------------------------


@click.group()
def audit() -> None:
    """Journal d'audit chaîné."""


@audit.command("verify")
def audit_verify() -> None:
    """Vérifie la chaîne d'empreintes ; nomme la première entrée altérée."""
    from clocher.core import audit as audit_service
    from clocher.core.models import AuditEntry

    total = AuditEntry.objects.count()
    with Progress(console=console, transient=True) as progress:
        bar = progress.add_task("Vérification du journal", total=total)
        result = audit_service.verify(progress=lambda n: progress.advance(bar, n))
    if result.ok:
        console.print(f"Journal intègre : {result.checked} entrée(s) vérifiée(s).")
        return
    assert result.first_break is not None
    fail(
        f"journal altéré — {result.first_break.reason} "
        f"({result.checked} entrée(s) intègres avant).",
        code=2,
    )


@audit.command("tail")
@click.option("-n", "count", default=20, help="Nombre d'entrées.")
@json_option
def audit_tail(count: int, as_json: bool) -> None:
    """Affiche les dernières entrées du journal."""
    from clocher.core.models import AuditEntry

    table = Table(title="Journal d'audit")
    for column in ("n°", "date", "qui", "action", "commune", "objet"):
        table.add_column(column)
    for e in AuditEntry.objects.order_by("-seq")[:count]:
        table.add_row(
            str(e.seq),
            e.at.strftime("%Y-%m-%d %H:%M:%S"),
            e.actor_label,
            e.action,
            e.commune_insee,
            e.target,
        )
    show(table, as_json)


@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("args", metavar="[ARGUMENTS]...", nargs=-1, type=click.UNPROCESSED)
def manage(args: tuple[str, ...]) -> None:
    """Commandes d'administration Django (migrate, shell…)."""
    from django.core.management import execute_from_command_line

    execute_from_command_line(["clocher manage", *args])


def register(group: click.Group) -> None:
    for command in (init, serve, worker, check, outbox, commune, operator, member, audit, manage):
        group.add_command(command)
