"""Mail import throughput: Clocher's import (batched FETCH, MULTIAPPEND, folders in
parallel, fetch and append pipelined) against a naive sequential copy with imaplib (FETCH
one message, APPEND it, next), same source, same target, same run.

The source is a second Dovecot serving a 10,000-message mailbox over 10 folders (the
tests' corpus at scale 5: INBOX 4,000, Sent 2,000, archives by year…); the target is
Clocher's own Dovecot, configured by the project, each copy into its own mailbox.

    .venv/bin/python bench/mail_import.py [--scale 5]
"""

from __future__ import annotations

import argparse
import imaplib
import os
import ssl
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _mail import free_ports, mail_config, start, stop, wait_port, without_policy  # noqa: E402
from _setup import django_with_fresh_db  # noqa: E402


def naive_copy(source, target_port: int, address: str, password: str) -> int:
    """What a quick script does: one FETCH then one APPEND per message."""
    context = ssl.create_default_context(cafile=str(source.ca_file))
    src = imaplib.IMAP4_SSL("localhost", source.imaps_port, ssl_context=context)
    src.login(source.user, source.password)
    dst = imaplib.IMAP4_SSL("127.0.0.1", target_port, ssl_context=ssl._create_unverified_context())  # noqa: S323
    dst.login(address, password)
    copied = 0
    for parts in source.folders:
        name = "/".join(parts)
        encoded = '"' + imap_utf7(name) + '"'
        src.select(encoded, readonly=True)
        if name != "INBOX":
            dst.create(encoded)
        _typ, data = src.uid("SEARCH", "ALL")
        for uid in data[0].split():
            _typ, fetched = src.uid("FETCH", uid, "(BODY.PEEK[] FLAGS INTERNALDATE)")
            meta, raw = fetched[0]
            flags = " ".join(f.decode() for f in imaplib.ParseFlags(meta) if f != b"\\Recent")
            when = imaplib.Internaldate2tuple(meta)
            typ, _ = dst.append(encoded, f"({flags})", when, raw)
            assert typ == "OK"
            copied += 1
    src.logout()
    dst.logout()
    return copied


def imap_utf7(name: str) -> str:
    from imapclient import imap_utf7 as codec

    return codec.encode(name).decode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=5.0, help="5 = 10,000 messages")
    args = parser.parse_args()
    os.environ["CLOCHER_MAIL_IMPORT_ALLOW_PRIVATE"] = "1"  # the source is on 127.0.0.1
    django_with_fresh_db()

    from django.conf import settings
    from tests.mail_migrate.source_server import corpus, start_source

    from clocher.accounts.services import create_app_password
    from clocher.core import services as core
    from clocher.core.audit import SYSTEM
    from clocher.core.models import Role
    from clocher.mail import services as mail
    from clocher.mail.engines import runtime
    from clocher.mail.migrate import services as migrate

    core.ensure_operator(SYSTEM, "Bench", "communes.cotedor.fr", "bench@cotedor.fr", "21")
    commune = core.create_commune(SYSTEM, "21231", status="active")
    boxes = {}
    for local in ("clocher", "naif"):
        # An active member of the commune: Dovecot's passdb opens a mailbox to them only.
        user = core.add_member(
            SYSTEM, commune, f"{local}@bench.test", Role.AGENT, invite=False
        ).membership.user
        mailbox = mail.create_mailbox(
            SYSTEM, commune, f"{local}@communes.cotedor.fr", user=user, quota_bytes=8 * 1024**3
        )
        boxes[local] = (mailbox, create_app_password(SYSTEM, user, "bench").clear)
    config = mail_config("import")
    without_policy(config)
    settings.MAIL_IMAPS_PORT = config.imaps_port
    settings.MAIL_TLS_CERT = str(config.tls_cert)
    settings.MAIL_BIND = "127.0.0.1"
    folders = corpus(args.scale)
    count = sum(len(s) for s in folders.values())
    source = start_source(
        Path(tempfile.mkdtemp(prefix="clocher-bench-source-")), tuple(free_ports(2)), folders
    )
    processes = start([runtime.dovecot_argv(config)])
    try:
        wait_port(config.imaps_port)
        began = time.perf_counter()
        copied = naive_copy(source, config.imaps_port, *_login(boxes["naif"]))
        naive = time.perf_counter() - began
        assert copied == count

        imap = migrate.imap_source(source.url(), source.password, str(source.ca_file))
        job = migrate.job_for(SYSTEM, boxes["clocher"][0], imap)
        began = time.perf_counter()
        job = migrate.run(SYSTEM, job, imap)
        ours = time.perf_counter() - began
        assert job.copied == count, (job.status, job.error, job.copied)
    finally:
        stop(processes)
        source.stop()
    print(f"messages: {count} in {len(folders)} folders")
    print(f"naive imaplib (FETCH one, APPEND one): {naive:6.1f} s  {count / naive:7.0f} msg/s")
    print(
        f"clocher mail import ({settings.MAIL_IMPORT_CONNECTIONS} connections): "
        f"{ours:6.1f} s  {count / ours:7.0f} msg/s"
    )
    print(f"ratio: {naive / ours:.1f}x")


def _login(box: tuple) -> tuple[str, str]:
    mailbox, password = box
    return mailbox.address, password


if __name__ == "__main__":
    main()
