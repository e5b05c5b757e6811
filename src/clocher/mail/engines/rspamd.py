"""rspamd as Postfix's milter: spam scoring and DKIM signing of outgoing mail.

Clocher writes rspamd's `local.d` overrides and, from the DKIM keys in its database, the
key files and the domain → selector / key maps; rspamd reloads changed maps by itself, so
a key rotation needs no restart.
"""

from __future__ import annotations

import grp
import os
import pwd
from pathlib import Path

from clocher.mail.engines.config import MailConfig

RSPAMD = "/usr/bin/rspamd"


def rspamd_dir(config: MailConfig) -> Path:
    return config.mail_dir / "rspamd"


def _nameserver() -> str:
    """CLOCHER_DNS_RESOLVER (host[:port], e.g. a local unbound) for rspamd's lookups too:
    a slow or lossy resolver stalls messages for the DNS timeout."""
    from django.conf import settings

    resolver = getattr(settings, "DNS_RESOLVER", "")
    return f'  nameserver = ["{resolver}"];\n' if resolver else ""


def local_d(config: MailConfig) -> dict[str, str]:
    base = rspamd_dir(config)
    return {
        "worker-proxy.inc": (
            f'bind_socket = "{config.milter_socket} mode=0660 owner=_rspamd group=postfix";\n'
            "milter = yes;\ntimeout = 120s;\nself_scan = yes;\n"
            'upstream "local" {\n  default = yes;\n  self_scan = yes;\n}\n'
        ),
        "worker-normal.inc": "enabled = false;\n",
        "worker-controller.inc": "enabled = false;\n",
        "worker-fuzzy.inc": "count = -1;\n",
        "logging.inc": f'type = "file";\nfilename = "{config.log_dir}/rspamd.log";\n'
        'level = "notice";\n',
        # Maps (DKIM selectors and keys) are re-read within seconds of a rotation.
        "options.inc": 'local_addrs = "127.0.0.0/8, ::1";\nmap_watch_interval = 5s;\n'
        f"dns {{\n  timeout = 1s;\n  retransmits = 1;\n{_nameserver()}}}\n",
        # Sovereignty: no digest of our messages goes to rspamd.com's fuzzy storage.
        "fuzzy_check.conf": "enabled = false;\n",
        # No greylisting (it needs Redis, and delays town halls' mail); reject only clear spam.
        "actions.conf": "reject = 15;\nadd_header = 6;\ngreylist = null;\n",
        "dkim_signing.conf": (
            "enabled = true;\nsign_authenticated = true;\nsign_local = false;\n"
            'use_domain = "header";\nuse_esld = false;\nallow_hdrfrom_mismatch = false;\n'
            "allow_username_mismatch = true;\n"
            f'selector_map = "{base}/dkim/selectors.map";\n'
            f'path_map = "{base}/dkim/paths.map";\n'
        ),
        "arc.conf": "enabled = false;\n",
    }


def write_dkim_keys(config: MailConfig) -> None:
    """Key files (0640 root:_rspamd) and the two maps, from the signing keys in the DB."""
    from clocher.mail.models import DkimKey

    directory = rspamd_dir(config) / "dkim"
    directory.mkdir(parents=True, exist_ok=True)
    gid = grp.getgrnam("_rspamd").gr_gid
    os.chown(directory, 0, gid)
    directory.chmod(0o750)
    selectors, paths = [], []
    for key in DkimKey.objects.filter(retired_at__isnull=True).select_related("domain"):
        path = directory / f"{key.domain.name}.{key.selector}.key"
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
        with os.fdopen(fd, "w") as fh:
            fh.write(key.private_key)
        os.chown(tmp, 0, gid)
        os.replace(tmp, path)
        selectors.append(f"{key.domain.name} {key.selector}\n")
        paths.append(f"{key.domain.name} {path}\n")
    for name, lines in (("selectors.map", selectors), ("paths.map", paths)):
        tmp = directory / f"{name}.tmp"
        tmp.write_text("".join(sorted(lines)))
        os.chown(tmp, 0, gid)
        tmp.chmod(0o640)
        os.replace(tmp, directory / name)


def prepare(config: MailConfig) -> None:
    base = rspamd_dir(config)
    for sub in ("local.d", "db", "run", "dkim"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    rspamd_gid = grp.getgrnam("_rspamd").gr_gid
    for sub in ("db", "run"):
        os.chown(base / sub, 0, rspamd_gid)
        (base / sub).chmod(0o770)
    base.chmod(0o755)
    # The milter socket's directory: rspamd creates the socket, Postfix (group) uses it.
    milter_dir = config.milter_socket.parent
    milter_dir.mkdir(exist_ok=True)
    os.chown(milter_dir, pwd.getpwnam("_rspamd").pw_uid, grp.getgrnam("postfix").gr_gid)
    milter_dir.chmod(0o750)
    config.milter_socket.unlink(missing_ok=True)
    for name, content in local_d(config).items():
        tmp = base / "local.d" / f"{name}.tmp"
        tmp.write_text(content)
        os.replace(tmp, base / "local.d" / name)
    write_dkim_keys(config)


def argv(config: MailConfig) -> list[str]:
    base = rspamd_dir(config)
    return [
        RSPAMD,
        "-f",
        "-u",
        "_rspamd",
        "-g",
        "_rspamd",
        "-c",
        "/etc/rspamd/rspamd.conf",
        "--var",
        f"LOCAL_CONFDIR={base}",
        "--var",
        f"DBDIR={base}/db",
        "--var",
        f"RUNDIR={base}/run",
        "--var",
        f"LOGDIR={config.log_dir}",
    ]
