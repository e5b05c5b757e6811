"""Shared by the mail benches: real servers on free ports in a throw-away directory, and
the same servers switched to static files (Postfix hash: maps, Dovecot passwd-file) — the
peer Clocher's live database lookups are measured against."""

from __future__ import annotations

import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from clocher.mail.engines.loopback import free_ports  # noqa: F401 - the benches' import
from clocher.mail.engines.loopback import wait_for_port as wait_port  # noqa: F401
from clocher.mail.engines.loopback import wait_for_socket as wait_socket  # noqa: F401


def start_quiet_resolver() -> str:
    """A loopback DNS server that answers NXDOMAIN at once, for rspamd's lookups on both
    sides: the run then measures the mail path, not the sandbox's upstream resolver (a lost
    query stalls a message for rspamd's 1 s DNS timeout). Returns host:port."""
    from dnslib.server import BaseResolver, DNSLogger, DNSServer

    class NoSuchDomain(BaseResolver):
        def resolve(self, request, handler):  # noqa: ANN001, ANN201 - dnslib's interface
            reply = request.reply()
            reply.header.rcode = 3
            return reply

    quiet = DNSLogger(log="-request,-reply,-truncated,-error,-recv,-send,-data", prefix=False)
    server = DNSServer(NoSuchDomain(), port=0, address="127.0.0.1", logger=quiet)
    server.start_thread()
    return f"127.0.0.1:{server.server.server_address[1]}"


def mail_config(label: str) -> Any:
    """A MailConfig on free ports under a new temporary directory, prepared on disk."""
    from clocher.mail.engines import loopback, runtime

    base = Path(tempfile.mkdtemp(prefix=f"clocher-bench-{label}-"))
    base.chmod(0o711)
    config = loopback.config_on_free_ports(base)
    runtime.prepare(config)
    return config


def make_static(config: Any, addresses: list[str], passwords: dict[str, str]) -> None:
    """Rewrite the rendered configs to read static files instead of the database:
    `passwords` maps an address to the hash its passwd-file line carries."""
    from clocher.mail.engines.config import vmail_ids
    from clocher.mail.models import Mailbox

    conf = config.postfix_dir / "conf"
    (conf / "static-domains").write_text("communes.cotedor.fr OK\n")
    (conf / "static-mailboxes").write_text("".join(f"{a} OK\n" for a in addresses))
    (conf / "static-aliases").write_text("")
    (conf / "static-senders").write_text("".join(f"{a} {a}\n" for a in addresses))
    for name in ("domains", "mailboxes", "aliases", "senders"):
        subprocess.run(  # noqa: S603
            ["/usr/sbin/postmap", "-c", str(conf), f"hash:{conf}/static-{name}"], check=True
        )
    main_cf = (conf / "main.cf").read_text()
    main_cf = re.sub(r"proxy:(sqlite|pgsql):(\S+)/(\w+)\.cf", r"hash:\2/static-\3", main_cf)
    (conf / "main.cf").write_text(main_cf)
    uid, gid = vmail_ids()
    lines = []
    for mailbox in Mailbox.objects.select_related("domain"):
        home = config.vmail_dir / mailbox.domain.name / mailbox.storage_key
        lines.append(
            f"{mailbox.address}:{passwords.get(mailbox.address, '')}:{uid}:{gid}::{home}::"
            f"userdb_quota_rule=*:bytes={mailbox.quota_bytes}\n"
        )
    passwd = config.dovecot_dir / "users.passwd"
    passwd.write_text("".join(lines))
    dovecot_conf = (config.dovecot_dir / "dovecot.conf").read_text()
    dovecot_conf = dovecot_conf.replace("driver = sql", "driver = passwd-file")
    for conf_name in ("dovecot-sql.conf.ext", "dovecot-quota-sql.conf.ext"):
        dovecot_conf = dovecot_conf.replace(
            f"args = {config.dovecot_dir}/{conf_name}", f"args = {passwd}"
        )
    (config.dovecot_dir / "dovecot.conf").write_text(dovecot_conf)


def without_policy(config: Any) -> None:
    """No web runs in a bench: Dovecot's brute-force policy call is switched off (on
    both sides of a comparison)."""
    conf_path = config.dovecot_dir / "dovecot.conf"
    conf_path.write_text(
        "\n".join(
            line
            for line in conf_path.read_text().splitlines()
            if not line.startswith("auth_policy_server_url")
        )
    )


def start(argvs: list[list[str]]) -> list[subprocess.Popen[bytes]]:
    return [
        subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
        for argv in argvs
    ]


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        process.terminate()
    for process in processes:
        process.wait(timeout=30)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]
