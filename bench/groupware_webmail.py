"""Webmail: the first message list of a 10,000-message INBOX in Roundcube (php-fpm behind
Clocher's `/webmail/`, IMAP login by XOAUTH2 with Clocher's introspection at every
request) vs the peer, a plain IMAP client doing the same work straight against the same
Dovecot (logged in once, then SELECT and FETCH of the newest 50 messages' list headers,
as Roundcube asks them). Goal: the webmail's list in < 1 s. Prints both medians, their
ratio, and the CPU seconds of each side.

Usage: python bench/groupware_webmail.py [MESSAGES] [ROUNDS]
"""

from __future__ import annotations

import imaplib
import os
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _mail import free_ports, start, stop, wait_port, wait_socket, without_policy  # noqa: E402
from _setup import django_with_fresh_db  # noqa: E402

MESSAGES = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 10
PAGE = 50
TICKS = os.sysconf("SC_CLK_TCK")


def fill_inbox(maildir: Path, count: int) -> None:
    """`count` messages written straight into the Maildir, as Dovecot's own files."""
    from clocher.mail.engines.config import vmail_ids

    uid, gid = vmail_ids()
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    now = int(time.time())
    for i in range(count):
        body = (
            f"From: expediteur{i % 97}@exemple.fr\r\nTo: lecture@communes.cotedor.fr\r\n"
            f"Subject: Message {i}\r\nDate: {time.strftime('%a, %d %b %Y %H:%M:%S +0000', time.gmtime(now - i * 60))}\r\n"  # noqa: E501
            f"Message-ID: <{i}@bench>\r\n\r\nCorps du message {i}.\r\n"
        )
        path = maildir / "cur" / f"{now - i}.M{i}P1.bench,S={len(body)}:2,S"
        path.write_text(body)
    for path in [maildir, *maildir.rglob("*")]:
        os.chown(path, uid, gid)


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / TICKS


def fpm_pids(master: int) -> list[int]:
    """php-fpm's master and its workers (from /proc)."""
    pids = [master]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == master:
                pids.append(int(entry.name))
    return pids


def main() -> None:
    django_with_fresh_db()
    from cheroot import wsgi
    from django.conf import settings
    from django.core.handlers.wsgi import WSGIHandler
    from django.test import Client

    from clocher.accounts.services import create_app_password, get_or_create_user
    from clocher.core import services as core
    from clocher.core.audit import Actor
    from clocher.core.models import Membership, Role
    from clocher.groupware.webmail import roundcube
    from clocher.mail import services as mail
    from clocher.mail.engines import loopback, runtime
    from clocher.vault.dav.app import Dispatcher

    settings.ALLOWED_HOSTS = ["*"]
    actor = Actor(label="bench")
    core.ensure_operator(actor, "Bench", "communes.cotedor.fr", "", "21")
    commune = core.create_commune(actor, "21231", status="active")
    user, _ = get_or_create_user("lecture@bench.test")
    Membership.objects.create(user=user, commune=commune, role=Role.AGENT)
    box = mail.create_mailbox(actor, commune, "lecture@communes.cotedor.fr", user=user)
    password = create_app_password(actor, user, "bench").clear

    (web_port,) = free_ports(1)
    web = f"http://127.0.0.1:{web_port}"
    base = Path(tempfile.mkdtemp(prefix="clocher-bench-webmail-"))
    base.chmod(0o711)
    config = loopback.config_on_free_ports(base, policy_url=f"{web}/interne/dovecot/politique")
    settings.WEBMAIL_DIR = base / "webmail"  # before Dovecot's config: it holds a secret
    runtime.prepare(config)
    without_policy(config)
    began = time.perf_counter()
    fill_inbox(config.vmail_dir / "communes.cotedor.fr" / box.storage_key / "Maildir", MESSAGES)
    print(f"{MESSAGES} messages written in {time.perf_counter() - began:.0f} s")

    server = wsgi.Server(("127.0.0.1", web_port), Dispatcher(WSGIHandler()), numthreads=8)
    server.prepare()
    threading.Thread(target=server.serve, daemon=True).start()
    roundcube.prepare(config, web)
    processes = start([runtime.dovecot_argv(config), roundcube.fpm_argv()])
    try:
        wait_port(config.imap_port)
        wait_socket(roundcube.socket_path())
        peer, peer_cpu = imap_rounds(config.imap_port, box.address, password)
        webmail, first, webmail_cpu = webmail_rounds(web, Client, user, commune, box, processes)
    except Exception:
        for log in sorted(config.log_dir.glob("*.log")):  # why a server did not start
            print(log.name, log.read_text()[-2000:], file=sys.stderr)
        raise
    finally:
        stop(processes)
        server.stop()
        shutil.rmtree(base, ignore_errors=True)
    load = os.getloadavg()
    print(f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} (2 cores, shared)")
    print(f"direct IMAP (peer): median {peer:.3f} s, CPU {peer_cpu:.2f} s for {ROUNDS} lists")
    print(
        f"webmail list: first {first:.3f} s, median {webmail:.3f} s, "
        f"CPU {webmail_cpu:.2f} s for {ROUNDS} lists (php-fpm + Clocher)"
    )
    print(f"ratio webmail/IMAP: {webmail / peer:.2f}; goal: webmail list < 1 s")


# What Roundcube 1.6 fetches for each row of its list (rcube_imap_generic::fetchHeaders).
FIELDS = (
    "(UID RFC822.SIZE FLAGS INTERNALDATE BODY.PEEK[HEADER.FIELDS (DATE FROM TO SUBJECT "
    "CONTENT-TYPE CC REPLY-TO LIST-POST DISPOSITION-NOTIFICATION-TO X-PRIORITY)])"
)


def imap_rounds(port: int, address: str, password: str) -> tuple[float, float]:
    """The IMAP work of one webmail list (SELECT, the newest page's list headers) from a
    plain client that stays logged in, as a desktop client does (its login, an argon2id
    app password, is paid once and not counted; Roundcube logs in at every request with
    its token and that is counted). A warm-up round first: Dovecot indexes a new Maildir
    on its first SELECT."""
    client = imaplib.IMAP4("127.0.0.1", port)
    client.login(address, password)
    times = []
    cpu = time.process_time()
    for _ in range(ROUNDS + 1):
        began = time.perf_counter()
        _, data = client.select("INBOX")
        count = int(data[0])
        client.fetch(f"{max(1, count - PAGE + 1)}:{count}", FIELDS)
        client.close()
        times.append(time.perf_counter() - began)
    client.logout()
    return statistics.median(times[1:]), time.process_time() - cpu


def webmail_rounds(web, client_class, user, commune, box, processes):  # noqa: ANN001, ANN201
    """Into Roundcube by the console's link (single sign-on), then its list request."""
    import requests

    django_client = client_class()
    django_client.force_login(user)
    session = django_client.session
    session["clocher_2fa_ok"] = True
    session.save()
    browser = requests.Session()
    browser.cookies.set("sessionid", django_client.cookies["sessionid"].value)
    page = browser.get(f"{web}/c/{commune.insee}/webmail/{box.pk}/", timeout=300)
    token = re.search(r'"request_token":"([^"]+)"', page.text)
    if page.status_code != 200 or token is None:
        raise SystemExit(f"webmail not opened: {page.status_code} {page.url}")
    headers = {"X-Roundcube-Request": token.group(1), "X-Requested-With": "XMLHttpRequest"}
    url = f"{web}/webmail/?_task=mail&_action=list&_mbox=INBOX&_page=1&_remote=1"
    fpm = fpm_pids(processes[1].pid)
    cpu = time.process_time() + cpu_seconds(fpm)
    times = []
    for _ in range(ROUNDS + 1):
        began = time.perf_counter()
        answer = browser.get(url, headers=headers, timeout=300)
        times.append(time.perf_counter() - began)
        if answer.status_code != 200 or "add_message_row" not in answer.text:
            raise SystemExit(f"list failed: {answer.status_code} {answer.text[:300]}")
    used = time.process_time() + cpu_seconds(fpm_pids(processes[1].pid)) - cpu
    return statistics.median(times[1:]), times[0], used * ROUNDS / (ROUNDS + 1)


if __name__ == "__main__":
    main()
