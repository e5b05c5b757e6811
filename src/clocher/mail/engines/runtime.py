"""Lay out the mail servers' directories and configs, and run them in the foreground."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from clocher.mail.engines import rspamd
from clocher.mail.engines.config import MailConfig, render, vmail_ids
from clocher.mail.engines.tls import ensure_self_signed

POSTFIX = "/usr/sbin/postfix"
POSTCONF = "/usr/sbin/postconf"
DOVECOT = "/usr/sbin/dovecot"


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


def prepare(config: MailConfig) -> None:
    """Directories with the owners each daemon needs, TLS, configs, Postfix queue."""
    uid, gid = vmail_ids()
    # Daemons running as postfix, dovecot or vmail must traverse (not list) the data dir.
    for directory in (config.mail_dir.parent, config.mail_dir):
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(directory.stat().st_mode | 0o111)
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
