"""Mail: 1,000 messages (4 SMTP connections at once) through Postfix → rspamd → LMTP →
Dovecot, with Clocher's live database lookups vs the same servers reading static maps
(Postfix hash: maps, Dovecot passwd-file), in the same run. Prints both rates and their
ratio (target ≥ 0.9), and the servers' CPU per message on each side: every process of the
Postfix, Dovecot and rspamd trees (the children they reaped included) and, on
PostgreSQL (`CLOCHER_DATABASE_URL`), the database's backends.
"""

from __future__ import annotations

import os
import random
import smtplib
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _mail import (  # noqa: E402
    mail_config,
    make_static,
    start,
    start_quiet_resolver,
    stop,
    wait_port,
    wait_socket,
)
from _setup import django_with_fresh_db  # noqa: E402

MESSAGES = 1000
MAILBOXES = 50
CONNECTIONS = 4  # like several sending servers at once
ROUNDS = 2  # alternated (Clocher, static, Clocher, static); the best of each is kept


def _backends() -> set[int]:
    """PostgreSQL's backends serving the bench's database, but this process's own (none
    on SQLite): the servers' lookups. A backend that ends during a run is not counted."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return set()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return {row[0] for row in cursor.fetchall()}


def _tree_cpu(roots: list[int]) -> list[float]:
    """CPU seconds of the processes under each of `roots` (a live one: its own time and
    that of the children it reaped), then of the database backends serving them."""
    tick = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    backends = _backends()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        pid = int(entry.name)
        parents[pid] = int(fields[1])
        times[pid] = sum(int(v) for v in fields[11:15]) / tick
    totals = [0.0] * (len(roots) + 1)
    for pid in times:
        ancestor = pid
        while ancestor > 1 and ancestor not in roots:
            ancestor = parents.get(ancestor, 1)
        if ancestor in roots:
            totals[roots.index(ancestor)] += times[pid]
        elif pid in backends:
            totals[-1] += times[pid]
    return totals


def delivered(config) -> int:  # noqa: ANN001
    return sum(1 for _ in config.vmail_dir.glob("*/*/Maildir/new/*"))


# The servers in the order `run` starts them, then the database's backends.
PARTS = ("rspamd", "postfix", "dovecot", "database")


def run(label: str, static: bool, addresses: list[str]) -> tuple[float, list[float]]:
    """Messages per second and the CPU seconds per message of each of PARTS."""
    from clocher.mail.engines import rspamd, runtime

    config = mail_config(label)
    if static:
        make_static(config, addresses, {})
    processes = start(
        [rspamd.argv(config), runtime.postfix_argv(config), runtime.dovecot_argv(config)]
    )
    try:
        wait_socket(config.milter_socket)
        for port in (config.smtp_port, config.lmtp_port):
            wait_port(port)
        time.sleep(2)
        body = "Objet de la délibération.\r\n" * 20

        def sender(first: int) -> None:
            with smtplib.SMTP("127.0.0.1", config.smtp_port, timeout=60) as smtp:
                smtp.ehlo("mx.example.org")
                for i in range(first, MESSAGES, CONNECTIONS):
                    to = random.choice(addresses)
                    smtp.sendmail(
                        "expediteur@example.org",
                        [to],
                        f"From: expediteur@example.org\r\nTo: {to}\r\nSubject: n{i}\r\n"
                        f"Message-ID: <{i}.{label}@bench>\r\n\r\n{body}".encode(),
                    )

        roots = [process.pid for process in processes]
        cpu = _tree_cpu(roots)
        began = time.perf_counter()
        with ThreadPoolExecutor(CONNECTIONS) as pool:
            list(pool.map(sender, range(CONNECTIONS)))
        deadline = time.monotonic() + 300
        while delivered(config) < MESSAGES and time.monotonic() < deadline:
            time.sleep(0.2)
        elapsed = time.perf_counter() - began
        cpu = [
            (after - before) / MESSAGES for before, after in zip(cpu, _tree_cpu(roots), strict=True)
        ]
        count = delivered(config)
        if count < MESSAGES:
            raise SystemExit(f"{label}: only {count}/{MESSAGES} delivered")
        return MESSAGES / elapsed, cpu
    finally:
        stop(processes)


def main() -> None:
    os.environ["CLOCHER_DNS_RESOLVER"] = start_quiet_resolver()
    django_with_fresh_db()
    from clocher.core import services as core
    from clocher.core.audit import Actor
    from clocher.mail import services

    actor = Actor(label="bench")
    core.ensure_operator(actor, "Bench", "communes.cotedor.fr", "", "21")
    commune = core.create_commune(actor, "21231", status="active")
    addresses = [
        services.create_mailbox(actor, commune, f"agent{i}@communes.cotedor.fr").address
        for i in range(MAILBOXES)
    ]
    from django.db import connection

    rates: dict[str, list[float]] = {"clocher": [], "static": []}
    cpus: dict[str, list[float]] = {"clocher": [], "static": []}
    parts: dict[str, list[list[float]]] = {"clocher": [], "static": []}
    for _ in range(ROUNDS):
        for label in ("clocher", "static"):
            rate, cpu = run(label, label == "static", addresses)
            rates[label].append(round(rate, 1))
            cpus[label].append(round(sum(cpu) * 1000, 2))
            parts[label].append(cpu)
    clocher, static = max(rates["clocher"]), max(rates["static"])
    print(f"database: {connection.vendor}; load average {os.getloadavg()[0]:.1f}")
    print(f"rounds (messages/s): {rates}")
    print(f"rounds (server CPU ms/message): {cpus}")
    for label in ("clocher", "static"):
        least = [min(r[i] for r in parts[label]) * 1000 for i in range(len(PARTS))]
        shown = ", ".join(f"{name} {ms:.2f}" for name, ms in zip(PARTS, least, strict=True))
        print(f"  {label}, least CPU ms/message of the rounds by server: {shown}")
    print(f"{MESSAGES} messages, Clocher lookups: {clocher:,.1f} messages/s")
    print(f"{MESSAGES} messages, static maps (peer): {static:,.1f} messages/s")
    print(f"ratio Clocher/static: {clocher / static:.2f} (target ≥ 0.9)")
    print(
        "ratio of server CPU per message, static/Clocher: "
        f"{min(cpus['static']) / min(cpus['clocher']):.2f}"
    )


if __name__ == "__main__":
    main()
