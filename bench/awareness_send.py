"""Awareness: a campaign to N agents (5,000 by default) sent through the platform's
Postfix — each message personalised (template at the agent's level, first name, tokens
in the link and image), its "Email Sent" event recorded — vs a plain smtplib loop handing
the same N messages, rendered beforehand, to the same Postfix. Both measure the time to
hand everything to Postfix (its queue drained between runs). Prints both rates and
their ratio (goal ≥ 1.0).

The tracking image is measured over HTTP by `bench/awareness_tracking.py`.

Usage: python bench/awareness_send.py [AGENTS]
"""

from __future__ import annotations

import os
import random
import smtplib
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _mail import (  # noqa: E402
    mail_config,
    start,
    start_quiet_resolver,
    stop,
    wait_port,
    wait_socket,
    without_policy,
)
from _setup import django_with_fresh_db  # noqa: E402

AGENTS = int(sys.argv[1]) if len(sys.argv) > 1 else 5000


def delivered(config) -> int:  # noqa: ANN001
    return sum(1 for _ in config.vmail_dir.glob("*/*/Maildir/new/*"))


def wait_delivered(config, count: int) -> None:  # noqa: ANN001
    deadline = time.monotonic() + 1800
    while delivered(config) < count and time.monotonic() < deadline:
        time.sleep(0.5)
    if delivered(config) < count:
        raise SystemExit(f"only {delivered(config)}/{count} delivered")


def populate(n: int):  # noqa: ANN201
    from django.db import transaction
    from django.utils import timezone

    from clocher.accounts.services import get_or_create_user
    from clocher.awareness import services as awareness
    from clocher.awareness.models import Enrolment, Participant
    from clocher.core import services as core
    from clocher.core.audit import Actor
    from clocher.core.models import Membership, Role
    from clocher.mail import services as mail

    actor = Actor(label="bench")
    core.ensure_operator(actor, "Bench", "communes.cotedor.fr", "", "21")
    commune = core.create_commune(actor, "21231", status="active")
    commune.quota_mailboxes = n + 10
    commune.save(update_fields=["quota_mailboxes"])
    awareness.set_programme(
        actor, commune, enabled=True, enrolment=Enrolment.OPT_IN, notice=awareness.DEFAULT_NOTICE
    )
    with transaction.atomic():
        for i in range(n):
            user, _ = get_or_create_user(f"agent{i}@bench.test")
            Membership.objects.create(user=user, commune=commune, role=Role.AGENT)
            mail.create_mailbox(actor, commune, f"agent{i}@communes.cotedor.fr", user=user)
            Participant.objects.create(
                commune=commune,
                user=user,
                notice_seen_at=timezone.now(),
                opted_in=True,
                rating=random.uniform(1, 5),  # noqa: S311 - spread of levels
            )
    return actor, commune


def main() -> None:
    os.environ["CLOCHER_DNS_RESOLVER"] = start_quiet_resolver()
    django_with_fresh_db()
    from django.conf import settings
    from django.utils import timezone

    from clocher.awareness import services as awareness
    from clocher.awareness.models import Recipient
    from clocher.core import mailer
    from clocher.mail.engines import rspamd, runtime

    began = time.perf_counter()
    actor, commune = populate(AGENTS)
    print(f"{AGENTS} agents with their mailbox in {time.perf_counter() - began:.0f} s")
    config = mail_config("awareness")
    without_policy(config)
    processes = start(
        [rspamd.argv(config), runtime.postfix_argv(config), runtime.dovecot_argv(config)]
    )
    try:
        wait_socket(config.milter_socket, 300)  # rspamd starts slowly on a busy machine
        for port in (config.smtp_port, config.reinject_port, config.lmtp_port):
            wait_port(port)
        time.sleep(2)
        settings.EMAIL_BACKEND = "clocher.core.mailer.SpoolingEmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_HOST_USER, settings.EMAIL_USE_TLS = "", "", False
        settings.DEFAULT_FROM_EMAIL = mailer.PLACEHOLDER_FROM
        settings.MAIL_REINJECT_PORT = config.reinject_port
        settings.BASE_URL = "https://clocher.cotedor.fr"

        # The peer: the same messages, rendered beforehand, one smtplib connection.
        rehearsal = awareness.create_campaign(actor, commune, "Peer", timezone.localdate())
        fixed = [
            (m.from_email, m.to, m.message().as_bytes())
            for m in map(
                awareness.render_message,
                Recipient.objects.filter(campaign=rehearsal).select_related(
                    "template", "participant__user", "commune"
                ),
            )
        ]
        rehearsal.delete()
        began = time.perf_counter()
        with smtplib.SMTP("127.0.0.1", config.reinject_port, timeout=120) as smtp:
            for sender, to, raw in fixed:
                smtp.sendmail(sender, to, raw)
        peer = AGENTS / (time.perf_counter() - began)
        wait_delivered(config, AGENTS)

        # Clocher: a campaign created and sent (rendering, events) through the mailer.
        began = time.perf_counter()
        campaign = awareness.create_campaign(actor, commune, "Bench", timezone.localdate())
        far = timezone.now() + timedelta(days=60)
        sent = 0
        while True:
            batch = awareness.send_due(far, campaign=campaign).sent
            if not batch:
                break
            sent += batch
        clocher = AGENTS / (time.perf_counter() - began)
        if sent != AGENTS or mailer.status().pending:
            raise SystemExit(f"sent {sent}/{AGENTS}, {mailer.status().pending} spooled")
        wait_delivered(config, 2 * AGENTS)
    finally:
        stop(processes)
    print(f"{AGENTS} messages, plain smtplib loop (peer): {peer:,.0f} messages/s")
    print(
        f"{AGENTS} messages, Clocher campaign (create + send + events): {clocher:,.0f} messages/s"
    )
    print(f"ratio Clocher/smtplib: {clocher / peer:.2f} (goal ≥ 1.0)")


if __name__ == "__main__":
    main()
