"""Lay out the mail servers' directories and configs, and run them in the foreground."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from django.conf import settings

from clocher.awareness import reporting
from clocher.core.supervisor import CannotStart
from clocher.mail import sharing
from clocher.mail.engines import rspamd
from clocher.mail.engines.config import MailConfig, render, vmail_ids
from clocher.mail.engines.tls import ensure_self_signed

POSTFIX = "/usr/sbin/postfix"
POSTCONF = "/usr/sbin/postconf"
DOVECOT = "/usr/sbin/dovecot"
# In the mail dir: the data dir of the installation it belongs to.
OWNER_FILE = "installation"


def available() -> bool:
    return all(Path(p).exists() for p in (POSTFIX, DOVECOT, rspamd.RSPAMD))


def write_configs(config: MailConfig, target: Path | None = None) -> list[Path]:
    """Write every file atomically under `target` (default: the mail dir)."""
    root = target or config.mail_dir
    written = []
    for relative, content in render(config).items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        # The map files may hold the database password: not world-readable.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
        with os.fdopen(fd, "w") as fh:
            fh.write(content)
        os.replace(tmp, path)
        written.append(path)
    return written


def claim(mail_dir: Path, data_dir: Path) -> None:
    """One mail dir per installation: two installations sharing one would share Postfix's
    queue and lock and the mailboxes, and each would stop the other's daemons as leftovers
    of a crash. The first to start writes its data dir there; another one is refused."""
    owner_file = mail_dir / OWNER_FILE
    data_dir = data_dir.resolve()
    try:
        owner = owner_file.read_text().strip()
    except FileNotFoundError:
        owner = ""
    if owner and owner != str(data_dir):
        raise CannotStart(
            f"Le répertoire de messagerie {mail_dir} appartient à l'installation {owner} "
            f"(sa file Postfix, ses boîtes) : donnez à celle de {data_dir} son propre "
            "CLOCHER_MAIL_DIR, ou laissez le défaut <répertoire de données>/mail."
        )
    if not owner:
        tmp = owner_file.with_suffix(".tmp")
        tmp.write_text(f"{data_dir}\n")
        os.replace(tmp, owner_file)


def _check_traversable(directory: Path) -> None:
    """Postfix and Dovecot drop privileges: each directory above the mail dir must let
    others through (a home directory usually does not)."""
    for ancestor in directory.parents:
        if ancestor.exists() and not ancestor.stat().st_mode & 0o001:
            raise CannotStart(
                f"Postfix et Dovecot ne peuvent pas traverser {ancestor} (droits "
                f"{ancestor.stat().st_mode & 0o777:o}) pour atteindre {directory} : "
                "choisissez un CLOCHER_DATA_DIR hors d'un répertoire privé "
                "(p. ex. /var/lib/clocher) ou un CLOCHER_MAIL_DIR."
            )


def prepare(config: MailConfig) -> None:
    """Directories with the owners each daemon needs, TLS, configs, Postfix queue."""
    uid, gid = vmail_ids()
    _check_traversable(config.mail_dir.parent)
    # Daemons running as postfix, dovecot or vmail must traverse (not list) the data dir.
    for directory in (config.mail_dir.parent, config.mail_dir):
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(directory.stat().st_mode | 0o111)
    claim(config.mail_dir, Path(settings.DATA_DIR))
    for sub in (
        "postfix/conf",
        "postfix/queue",
        "postfix/data",
        "dovecot/run",
        "dovecot/state",
        "log",
    ):
        (config.mail_dir / sub).mkdir(parents=True, exist_ok=True)
    config.vmail_dir.mkdir(mode=0o700, exist_ok=True)
    os.chown(config.vmail_dir, uid, gid)
    shutil.chown(config.postfix_dir / "data", "postfix")
    ensure_self_signed(config.tls_cert, config.tls_key, [config.hostname, "localhost"])
    write_configs(config)
    # What the configs point at for the awareness reports (relay, secret, Sieve rule).
    reporting.install(config)
    # Shared mailboxes' ACLs and list, as the database says (delegations made before an
    # upgrade, or a restored data dir).
    sharing.publish_all(config.vmail_dir)
    rspamd.prepare(config)
    # Creates the queue directories with Postfix's own owners and modes.
    subprocess.run(  # noqa: S603
        [POSTFIX, "-c", str(config.postfix_dir / "conf"), "set-permissions"],
        check=True,
        capture_output=True,
    )
    subprocess.run(  # noqa: S603
        [POSTFIX, "-c", str(config.postfix_dir / "conf"), "check"],
        check=True,
        capture_output=True,
    )


def postfix_argv(config: MailConfig) -> list[str]:
    """The master daemon itself in the foreground (what `postfix start-fg` runs when it is
    not PID 1), so that SIGTERM from the supervisor stops it and all its children."""
    daemon_directory = subprocess.run(  # noqa: S603
        [POSTCONF, "-h", "daemon_directory"], check=True, capture_output=True, text=True
    ).stdout.strip()
    return [f"{daemon_directory}/master", "-c", str(config.postfix_dir / "conf"), "-s"]


def dovecot_argv(config: MailConfig) -> list[str]:
    return [DOVECOT, "-F", "-c", str(config.dovecot_dir / "dovecot.conf")]


def postfix_pidfiles(config: MailConfig) -> tuple[Path, ...]:
    """Where a running master of this mail dir says its pid (`clocher serve` stops one
    left by a crashed run: it holds the queue's lock and the ports)."""
    return (config.postfix_dir / "queue" / "pid" / "master.pid",)


def dovecot_pidfiles(config: MailConfig) -> tuple[Path, ...]:
    return (config.dovecot_dir / "run" / "master.pid",)


def stop_postfix(config: MailConfig) -> None:
    subprocess.run(  # noqa: S603
        [POSTFIX, "-c", str(config.postfix_dir / "conf"), "stop"],
        check=False,
        capture_output=True,
    )


def reload_postfix(config: MailConfig) -> None:
    """Graceful reload (no message lost): needed only when a domain opens or closes, since
    smtpd keeps its address-class answers for the life of its processes."""
    if (config.postfix_dir / "data" / "master.lock").exists():
        subprocess.run(  # noqa: S603
            [POSTFIX, "-c", str(config.postfix_dir / "conf"), "reload"],
            check=False,
            capture_output=True,
        )
