"""Mail: provisioning 5,000 mailboxes through the service layer, then lookup latency
against Clocher's tables vs the same data in static files, in the same run:

- Postfix: `postmap -q` on the sqlite map vs a static hash: map;
- Dovecot: `doveadm user` (userdb) and `doveadm auth test` (passdb, argon2id verified)
  against the running server reading SQL vs the same server reading a passwd-file.

Both columns pay the same process start-up (and the same argon2id verification for
`auth test`); the ratio is what the live-database design costs per lookup.
"""

from __future__ import annotations

import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _mail import mail_config, make_static, percentile, start, stop, wait_port, without_policy  # noqa: E402
from _setup import django_with_fresh_db  # noqa: E402

MAILBOXES = 5000
LOOKUPS = 300


WITH_PASSWORDS = 30


def time_commands(commands: list[list[str]]) -> list[float]:
    """Milliseconds of each command, which must succeed."""
    timings = []
    for command in commands:
        began = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
        timings.append((time.perf_counter() - began) * 1000)
        if result.returncode != 0:
            raise SystemExit(f"{' '.join(command)} failed: {result.stdout}{result.stderr}")
    return timings


def postmap_commands(map_spec: str, addresses: list[str], config_dir: Path) -> list[list[str]]:
    return [["/usr/sbin/postmap", "-c", str(config_dir), "-q", a, map_spec] for a in addresses]


def dovecot_timings(
    config: Any, sample: list[str], passwords: dict[str, str]
) -> tuple[list[float], list[float]]:
    """(`doveadm user`, `doveadm auth test`) timings against a running Dovecot."""
    from clocher.mail.engines import runtime

    conf_path = config.dovecot_dir / "dovecot.conf"
    # Lookups only: the brute-force policy (a call to the web, not running here) is
    # switched off on both sides.
    without_policy(config)
    conf = str(conf_path)
    processes = start([runtime.dovecot_argv(config)])
    try:
        wait_port(config.auth_port)
        users = time_commands([["/usr/bin/doveadm", "-c", conf, "user", a] for a in sample])
        auth = time_commands(
            [
                ["/usr/bin/doveadm", "-c", conf, "auth", "test", "-x", "service=imap", a, p]
                for a, p in passwords.items()
            ]
        )
    finally:
        stop(processes)
    return users, auth


def report(label: str, clocher: list[float], peer: list[float]) -> None:
    print(
        f"{label}: Clocher p50 {statistics.median(clocher):.2f} ms / p99 "
        f"{percentile(clocher, 0.99):.2f} ms; static (peer) p50 {statistics.median(peer):.2f} "
        f"ms / p99 {percentile(peer, 0.99):.2f} ms; ratio p50 "
        f"{statistics.median(clocher) / statistics.median(peer):.2f}"
    )


def main() -> None:
    django_with_fresh_db()
    from clocher.accounts.services import create_app_password
    from clocher.core import services as core
    from clocher.core.audit import Actor
    from clocher.core.models import Role
    from clocher.mail import services
    from clocher.mail.models import Mailbox

    actor = Actor(label="bench")
    core.ensure_operator(actor, "Bench", "communes.cotedor.fr", "", "21")
    commune = core.create_commune(actor, "21231", status="active")
    core.update_quotas(actor, commune, mailboxes=MAILBOXES)
    began = time.perf_counter()
    for i in range(MAILBOXES):
        services.create_mailbox(actor, commune, f"agent{i}@communes.cotedor.fr")
    provisioning = time.perf_counter() - began

    config = mail_config("lookups")
    conf_dir = config.postfix_dir / "conf"
    static = config.mail_dir / "static-mailboxes"
    static.write_text("".join(f"agent{i}@communes.cotedor.fr OK\n" for i in range(MAILBOXES)))
    subprocess.run(["/usr/sbin/postmap", "-c", str(conf_dir), f"hash:{static}"], check=True)  # noqa: S603
    sample = [f"agent{random.randrange(MAILBOXES)}@communes.cotedor.fr" for _ in range(LOOKUPS)]
    postfix_clocher = time_commands(
        postmap_commands(f"sqlite:{conf_dir / 'mailboxes.cf'}", sample, conf_dir)
    )
    postfix_peer = time_commands(postmap_commands(f"hash:{static}", sample, conf_dir))

    # App passwords for some of the mailboxes (argon2id hashing is slow on purpose), held
    # by active members of the commune: Dovecot's passdb opens a mailbox to them only.
    passwords, hashes = {}, {}
    for mailbox in Mailbox.objects.order_by("?")[:WITH_PASSWORDS]:
        added = core.add_member(actor, commune, mailbox.address, Role.AGENT, invite=False)
        user = added.membership.user
        Mailbox.objects.filter(pk=mailbox.pk).update(user=user)
        created = create_app_password(actor, user, "bench")
        passwords[mailbox.address] = created.clear
        hashes[mailbox.address] = created.record.hash
    dovecot_sample = sample[:100]
    users_clocher, auth_clocher = dovecot_timings(config, dovecot_sample, passwords)
    make_static(config, [f"agent{i}@communes.cotedor.fr" for i in range(MAILBOXES)], hashes)
    users_peer, auth_peer = dovecot_timings(config, dovecot_sample, passwords)

    print(
        f"provisioning {MAILBOXES} mailboxes: {provisioning:.1f} s "
        f"({MAILBOXES / provisioning:,.0f} mailboxes/s, each with its audit entry)"
    )
    report("postmap -q (Postfix map)", postfix_clocher, postfix_peer)
    report("doveadm user (Dovecot userdb)", users_clocher, users_peer)
    report("doveadm auth test (Dovecot passdb + argon2id)", auth_clocher, auth_peer)


if __name__ == "__main__":
    main()
