"""Mail: 2,000 messages (4 SMTP connections at once) through Postfix → rspamd → LMTP →
Dovecot, with Clocher's live database lookups vs the same servers reading static maps
(Postfix hash: maps, Dovecot passwd-file), in the same run. Prints both rates and their
ratio (target ≥ 0.9), and the servers' CPU per message on each side: every process of the
Postfix, Dovecot and rspamd trees (the children they reaped included) and, on
PostgreSQL (`CLOCHER_DATABASE_URL`), the database's backends.

On a shared machine one side's rate swings up to 2x between rounds, so the sides run in
pairs, the order alternated (Clocher then static, static then Clocher…), and the figure
is the median of the pairs' ratios (each pair's two runs meet about the same load), with
the median rates and CPU per message beside it.
    .venv/bin/python bench/mail_throughput.py [--messages 2000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import random
import smtplib
import statistics
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

MESSAGES = 2000
MAILBOXES = 50
CONNECTIONS = 4  # like several sending servers at once
ROUNDS = 5  # pairs of runs, the order alternated; medians are kept


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


def run(label: str, static: bool, addresses: list[str], messages: int) -> tuple[float, list[float]]:
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
                for i in range(first, messages, CONNECTIONS):
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
        while delivered(config) < messages and time.monotonic() < deadline:
            time.sleep(0.05)
        elapsed = time.perf_counter() - began
        cpu = [
            (after - before) / messages for before, after in zip(cpu, _tree_cpu(roots), strict=True)
        ]
        count = delivered(config)
        if count < messages:
            raise SystemExit(f"{label}: only {count}/{messages} delivered")
        return messages / elapsed, cpu
    finally:
        stop(processes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=MESSAGES)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    args = parser.parse_args()
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
    loads = []
    for number in range(args.rounds):
        for label in ("clocher", "static")[:: 1 if number % 2 == 0 else -1]:
            rate, cpu = run(label, label == "static", addresses, args.messages)
            rates[label].append(round(rate, 1))
            cpus[label].append(round(sum(cpu) * 1000, 2))
            parts[label].append(cpu)
        loads.append(os.getloadavg()[0])
    wall = [c / s for c, s in zip(rates["clocher"], rates["static"], strict=True)]
    cpu_ratio = [s / c for c, s in zip(cpus["clocher"], cpus["static"], strict=True)]
    median = statistics.median
    print(f"database: {connection.vendor}; load average by round: {[round(x, 1) for x in loads]}")
    print(f"rounds (messages/s): {rates}")
    print(f"rounds (server CPU ms/message): {cpus}")
    for label in ("clocher", "static"):
        least = [median(r[i] for r in parts[label]) * 1000 for i in range(len(PARTS))]
        shown = ", ".join(f"{name} {ms:.2f}" for name, ms in zip(PARTS, least, strict=True))
        print(f"  {label}, median CPU ms/message of the rounds by server: {shown}")
    print(
        f"{args.messages} messages × {args.rounds} rounds, Clocher lookups: median "
        f"{median(rates['clocher']):,.1f} messages/s, {median(cpus['clocher']):.2f} ms CPU/message"
    )
    print(
        f"static maps (peer): median {median(rates['static']):,.1f} messages/s, "
        f"{median(cpus['static']):.2f} ms CPU/message"
    )
    print(
        f"ratio Clocher/static, median of the {args.rounds} pairs: {median(wall):.2f} wall "
        f"(pairs {', '.join(f'{r:.2f}' for r in wall)}; target ≥ 0.9), "
        f"{median(cpu_ratio):.2f} in CPU per message "
        f"(pairs {', '.join(f'{r:.2f}' for r in cpu_ratio)})"
    )


if __name__ == "__main__":
    main()
