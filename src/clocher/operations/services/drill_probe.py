"""The drill's proof that the restored platform serves people, not only that its files are
there: one message read over IMAP from the copy's own Dovecot, one file read over WebDAV
from the copy's web server, each compared with the source's content hash.

Split in three: the live platform chooses what to read (`choose`: objects the snapshot
holds and the source still has unchanged, with their hashes); the copy, in its own process
and database, gives a drill-only app password to their owners and writes its Dovecot
configuration on free ports (`prepare_copy`, run by `COPY_MAIN` under the copy's
environment: no real user's secret is ever read or used); then the live side reads both
over the protocols (`read_message`, `read_file`). The app passwords exist only in the
scratch copy, which the drill deletes."""

from __future__ import annotations

import email
import hashlib
import imaplib
import json
import socket
import ssl
import sys
import urllib.request
from base64 import b64encode
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from django.conf import settings

from clocher.core.audit import Actor

ACTOR = Actor(label="exercice de reprise")
DEVICE = "Exercice de reprise"
COPY_MAIN = (
    "import django; django.setup()\n"
    "from clocher.operations.services.drill_probe import main; main()"
)
# Enough to find a message in a large platform without walking every mailbox.
MAX_MAILBOXES = 50
MAX_FILES = 500


def body_hash(data: bytes) -> str:
    """A message's hash whatever its line endings: Dovecot stores LF and IMAP sends CRLF."""
    return hashlib.sha256(data.replace(b"\r\n", b"\n")).hexdigest()


@dataclass
class Choice:
    """What the drill reads in the copy, and what the source says it must find."""

    mailbox: str = ""
    message_id: str = ""
    message_sha256: str = ""
    # The message's IMAP flags as the source's Maildir name says them (sorted, spaced).
    message_flags: str = ""
    node_id: int = 0
    file_sha256: str = ""


# Maildir's info letters (after ":2,") and the IMAP system flags Dovecot shows for them.
MAILDIR_FLAGS = {
    "D": "\\Draft",
    "F": "\\Flagged",
    "R": "\\Answered",
    "S": "\\Seen",
    "T": "\\Deleted",
}


def maildir_flags(name: str) -> str:
    info = name.split(":2,", 1)[1] if ":2," in name else ""
    return " ".join(sorted(MAILDIR_FLAGS[c] for c in info if c in MAILDIR_FLAGS))


def _imap_flags(response_head: bytes) -> str:
    """The system flags of one FETCH answer, as `maildir_flags` writes them."""
    flags = {f.decode() for f in imaplib.ParseFlags(response_head)}
    return " ".join(sorted(flags & set(MAILDIR_FLAGS.values())))


def _maildir_files(home: Path) -> list[Path]:
    found: list[Path] = []
    for sub in ("cur", "new"):
        folder = home / "Maildir" / sub
        if folder.is_dir():
            found.extend(sorted(folder.iterdir())[:MAX_FILES])
    return found


def _message_id(path: Path) -> str:
    with path.open("rb") as fh:
        head = fh.read(64 * 1024).split(b"\n\n", 1)[0]
    value = email.message_from_bytes(head + b"\n\n").get("Message-ID", "")
    return str(value).strip()


def choose(cutoff: datetime) -> Choice:
    """A message of some owner's INBOX and a file of a commune space that existed before
    `cutoff` (the snapshot's time) and are unchanged since. A Maildir file's ctime moves
    with every rename (a flag change), its mtime may be an old imported date: ctime says
    the name the snapshot saw is the name it still has."""
    from django.db.models import F

    from clocher.core.models import CommuneStatus
    from clocher.mail.models import Mailbox
    from clocher.vault.models import Node, SpaceKind

    choice = Choice()
    limit = cutoff.timestamp()
    vmail = Path(settings.MAIL_DIR) / "vmail"
    mailboxes = (
        Mailbox.objects.filter(
            is_active=True,
            user__is_active=True,
            commune__status=CommuneStatus.ACTIVE,
            commune__memberships__user=F("user"),
            commune__memberships__is_active=True,
            created_at__lt=cutoff,
        )
        .select_related("domain")
        .distinct()
        .order_by("pk")[:MAX_MAILBOXES]
    )
    for mailbox in mailboxes:
        home = vmail / mailbox.domain.name / mailbox.storage_key
        for path in _maildir_files(home):
            try:
                if path.stat().st_ctime >= limit:
                    continue
                message_id = _message_id(path)
                if message_id:
                    choice.mailbox = mailbox.address
                    choice.message_id = message_id
                    choice.message_sha256 = body_hash(path.read_bytes())
                    choice.message_flags = maildir_flags(path.name)
                    break
            except OSError:  # renamed by Dovecot meanwhile (a flag set): the next one
                continue
        if choice.mailbox:
            break
    node = (
        Node.objects.filter(
            is_folder=False,
            deleted_at__isnull=True,
            space__kind=SpaceKind.COMMUNE,
            space__commune__status=CommuneStatus.ACTIVE,
            # Someone must be able to open it over WebDAV (with a drill-only password).
            space__commune__memberships__is_active=True,
            space__commune__memberships__user__is_active=True,
            current__isnull=False,
            current__created_at__lt=cutoff,
        )
        .select_related("current")
        .distinct()
        .order_by("size", "pk")
        .first()
    )
    if node is not None and node.current is not None:
        choice.node_id = node.pk
        choice.file_sha256 = node.current.sha256
    return choice


# ------------------------------------------------------------ inside the scratch copy


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _dovecot(ports: list[int]) -> dict[str, Any]:
    """The copy's Dovecot alone (no Postfix: the drill reads, it never receives), every
    port a free one, on loopback."""
    from clocher.mail.engines import runtime
    from clocher.mail.engines.config import MailConfig
    from clocher.mail.engines.tls import ensure_self_signed

    names = ["smtp", "submission", "imap", "imaps", "sieve", "lmtp", "auth", "quota_status"]
    config = MailConfig.from_settings(
        bind="127.0.0.1", **{f"{n}_port": p for n, p in zip(names, ports, strict=False)}
    )
    for directory in (config.mail_dir.parent, config.mail_dir):
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(directory.stat().st_mode | 0o111)
    for sub in ("dovecot/run", "dovecot/state", "log"):
        (config.mail_dir / sub).mkdir(parents=True, exist_ok=True)
    ensure_self_signed(config.tls_cert, config.tls_key, [config.hostname, "localhost"])
    runtime.write_configs(config)
    return {"imap_port": config.imap_port, "argv": runtime.dovecot_argv(config)}


def prepare_copy(choice: Choice) -> dict[str, Any]:
    """In the copy: a drill-only app password for the mailbox's owner and for a member of
    the file's commune, the file's WebDAV path as that member sees it, Dovecot's config."""
    from clocher.accounts.services import create_app_password
    from clocher.core.scoping import protocol_communes
    from clocher.mail.models import Mailbox
    from clocher.vault import services as vault
    from clocher.vault.models import Node

    out: dict[str, Any] = {}
    if choice.mailbox:
        mailbox = Mailbox.objects.select_related("user").get(address=choice.mailbox)
        assert mailbox.user is not None
        secret = create_app_password(ACTOR, mailbox.user, DEVICE).clear
        out["mail"] = {"login": mailbox.address, "password": secret, **_dovecot(_free_ports(8))}
    if choice.node_id:
        node = Node.objects.select_related("space__commune").get(pk=choice.node_id)
        commune = node.space.commune
        member = next(
            m.user
            for m in commune.memberships.filter(is_active=True, user__is_active=True)
            .select_related("user")
            .order_by("pk")
            if commune in protocol_communes(m.user)
        )
        labels = {s.pk: label for label, s in vault.spaces_by_label(member).items()}
        secret = create_app_password(ACTOR, member, DEVICE).clear
        path = f"{member.email}/{labels[node.space_id]}{vault.path_of(node)}"
        out["file"] = {
            "login": member.email,
            "password": secret,
            "url": f"http://{settings.BIND}/remote.php/dav/files/{quote(path)}",
        }
    return out


def main() -> None:
    """Run under the copy's environment (`COPY_MAIN`): the choice on stdin (JSON), what
    the drill needs on stdout (JSON, one line)."""
    choice = Choice(**json.loads(sys.stdin.read()))
    sys.stdout.write(json.dumps(prepare_copy(choice)) + "\n")


# ------------------------------------------------------------ read over the protocols


def _unverified_tls() -> ssl.SSLContext:
    """The copy's certificate names the public host, the drill dials 127.0.0.1 on the
    same machine: the check is of the content, not of the certificate."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def read_message(access: dict[str, Any], choice: Choice) -> tuple[bool, str]:
    """Log in as the mailbox (its drill-only password), find the message by Message-ID in
    INBOX, FETCH it whole with its flags, compare its hash and its flags."""
    client = imaplib.IMAP4("127.0.0.1", access["imap_port"], timeout=60)
    try:
        client.starttls(ssl_context=_unverified_tls())
        client.login(access["login"], access["password"])
        client.select("INBOX", readonly=True)
        quoted = choice.message_id.replace("\\", "\\\\").replace('"', '\\"')
        _, found = client.uid("SEARCH", f'HEADER Message-ID "{quoted}"')
        uids = found[0].split() if found and found[0] else []
        if not uids:
            return False, f"{choice.mailbox} : message {choice.message_id} introuvable en IMAP"
        # Several messages may share a Message-ID (a copy, a resend): one must match.
        _, data = client.uid("FETCH", b",".join(uids).decode(), "(FLAGS BODY.PEEK[])")
        flags_by_hash = {
            body_hash(part[1]): _imap_flags(part[0]) for part in data if isinstance(part, tuple)
        }
        client.logout()
    except (OSError, imaplib.IMAP4.error) as exc:
        return False, f"{access['login']} : IMAP en échec ({exc})"
    if choice.message_sha256 not in flags_by_hash:
        return False, f"{choice.mailbox} : message {choice.message_id} différent de la source"
    flags = flags_by_hash[choice.message_sha256]
    if flags != choice.message_flags:
        return False, (
            f"{choice.mailbox} : message {choice.message_id} lu avec les drapeaux "
            f"« {flags or 'aucun'} », la source dit « {choice.message_flags or 'aucun'} »"
        )
    return True, (
        f"{choice.mailbox} : message lu en IMAP, identique à la source "
        f"(drapeaux : {flags or 'aucun'})"
    )


def read_file(access: dict[str, Any], choice: Choice) -> tuple[bool, str]:
    """GET the file with the member's drill-only password, hash it as it streams."""
    token = b64encode(f"{access['login']}:{access['password']}".encode()).decode()
    request = urllib.request.Request(  # noqa: S310 - http://127.0.0.1, built here
        access["url"], headers={"Authorization": f"Basic {token}"}
    )
    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(request, timeout=120) as answer:  # noqa: S310
            while block := answer.read(1 << 20):
                digest.update(block)
    except OSError as exc:
        return False, f"fichier {choice.node_id} : WebDAV en échec ({exc})"
    if digest.hexdigest() != choice.file_sha256:
        return False, f"fichier {choice.node_id} : contenu différent de la source"
    return True, f"fichier {choice.node_id} lu en WebDAV, identique à la source"


def as_json(choice: Choice) -> str:
    return json.dumps(asdict(choice))
