"""Mail: 1,000 messages (4 SMTP connections at once) through Postfix → rspamd → LMTP →
Dovecot, with Clocher's live database lookups vs the same servers reading static maps
(Postfix hash: maps, Dovecot passwd-file), in the same run. Prints both rates and their
ratio (target ≥ 0.9).
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


def delivered(config) -> int:  # noqa: ANN001
    return sum(1 for _ in config.vmail_dir.glob("*/*/Maildir/new/*"))


def run(label: str, static: bool, addresses: list[str]) -> float:
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

        began = time.perf_counter()
        with ThreadPoolExecutor(CONNECTIONS) as pool:
            list(pool.map(sender, range(CONNECTIONS)))
        deadline = time.monotonic() + 300
        while delivered(config) < MESSAGES and time.monotonic() < deadline:
            time.sleep(0.2)
        elapsed = time.perf_counter() - began
        count = delivered(config)
        if count < MESSAGES:
            raise SystemExit(f"{label}: only {count}/{MESSAGES} delivered")
        return MESSAGES / elapsed
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
    rates: dict[str, list[float]] = {"clocher": [], "static": []}
    for _ in range(ROUNDS):
        rates["clocher"].append(run("clocher", False, addresses))
        rates["static"].append(run("static", True, addresses))
    clocher, static = max(rates["clocher"]), max(rates["static"])
    print(f"rounds (messages/s): {rates}")
    print(f"{MESSAGES} messages, Clocher lookups: {clocher:,.1f} messages/s")
    print(f"{MESSAGES} messages, static maps (peer): {static:,.1f} messages/s")
    print(f"ratio Clocher/static: {clocher / static:.2f} (target ≥ 0.9)")


if __name__ == "__main__":
    main()
