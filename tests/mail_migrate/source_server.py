"""A second, real Dovecot playing the old provider: a Maildir written straight to disk
(fast, with flags in the file names and internal dates as mtimes), served over IMAPS and
STARTTLS with a password. Used by the tests and by bench/mail_import.py."""

from __future__ import annotations

import base64
import hashlib
import os
import random
import subprocess
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from imapclient import imap_utf7

from clocher.mail.engines.config import vmail_ids
from clocher.mail.engines.runtime import DOVECOT
from clocher.mail.engines.tls import ensure_self_signed

USER = "secretariat@ancien-fournisseur.fr"


@dataclass
class Seed:
    raw: bytes
    flags: str = ""  # Maildir letters: S seen, R answered, F flagged, D draft
    when: datetime = datetime(2015, 3, 2, 9, 30, tzinfo=UTC)


@dataclass
class SourceServer:
    base: Path
    imap_port: int
    imaps_port: int
    password: str
    process: subprocess.Popen[bytes] | None = None
    user: str = USER
    folders: dict[tuple[str, ...], list[Seed]] = field(default_factory=dict)

    @property
    def ca_file(self) -> Path:
        return self.base / "tls" / "source.crt"

    @property
    def maildir(self) -> Path:
        return self.base / "home" / "Maildir"

    def url(self, tls: bool = True) -> str:
        if tls:
            return f"imaps://{self.user}@localhost:{self.imaps_port}"
        return f"imap://{self.user}@localhost:{self.imap_port}"

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
            self.process = None


def folder_dir(maildir: Path, parts: tuple[str, ...]) -> Path:
    if parts == ("INBOX",):
        return maildir
    return maildir / ("." + ".".join(imap_utf7.encode(p).decode() for p in parts))


def write_maildir(maildir: Path, folders: dict[tuple[str, ...], list[Seed]]) -> None:
    for parts, seeds in folders.items():
        directory = folder_dir(maildir, parts)
        for sub in ("cur", "new", "tmp"):
            (directory / sub).mkdir(parents=True, exist_ok=True)
        if parts != ("INBOX",):
            (directory / "maildirfolder").touch()
        for number, seed in enumerate(seeds):
            path = directory / "cur" / f"{1400000000 + number}.M{number}P1.source:2,{seed.flags}"
            path.write_bytes(seed.raw)
            stamp = seed.when.timestamp()
            os.utime(path, (stamp, stamp))


CONFIG = """
protocols = imap
listen = 127.0.0.1
base_dir = {base}/run
state_dir = {base}/state
instance_name = clocher-source-{imaps_port}
log_path = {base}/dovecot.log
ssl = yes
ssl_cert = <{base}/tls/source.crt
ssl_key = <{base}/tls/source.key
disable_plaintext_auth = yes
auth_mechanisms = plain login
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {base}/users
}}
userdb {{
  driver = passwd-file
  args = {base}/users
}}
first_valid_uid = {uid}
mail_location = maildir:~/Maildir
mail_max_userip_connections = 50
namespace inbox {{
  inbox = yes
  separator = /
  mailbox "Éléments envoyés" {{
    special_use = \\Sent
  }}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps_port}
    ssl = yes
  }}
}}
service stats {{
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
"""


def start_source(
    base: Path, ports: tuple[int, int], folders: dict[tuple[str, ...], list[Seed]]
) -> SourceServer:
    """Write the Maildir, then start Dovecot on it (returns once IMAPS answers)."""
    import socket

    uid, gid = vmail_ids()
    base.mkdir(parents=True, exist_ok=True)
    base.chmod(0o755)
    server = SourceServer(
        base, ports[0], ports[1], password="ancien-Mot-de-passe-7", folders=folders
    )
    for sub in ("run", "state", "home"):
        (base / sub).mkdir(exist_ok=True)
    ensure_self_signed(server.ca_file, base / "tls" / "source.key", ["localhost"])
    write_maildir(server.maildir, folders)
    subprocess.run(["chown", "-R", f"{uid}:{gid}", str(base / "home")], check=True)  # noqa: S607
    (base / "users").write_text(f"{USER}:{{PLAIN}}{server.password}:{uid}:{gid}::{base}/home::\n")
    conf = base / "dovecot.conf"
    conf.write_text(CONFIG.format(base=base, uid=uid, imap_port=ports[0], imaps_port=ports[1]))
    server.process = subprocess.Popen(  # noqa: S603
        [DOVECOT, "-F", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", ports[1]), timeout=1).close()
            return server
        except OSError:
            if time.monotonic() > deadline or server.process.poll() is not None:
                server.stop()
                raise RuntimeError(
                    f"source Dovecot did not start, see {base}/dovecot.log"
                ) from None
            time.sleep(0.1)


# --------------------------------------------------------------------------- corpus


def plain(number: int, subject: str, body: str = "", sender: str = "maire@ville.fr") -> bytes:
    return (
        f"From: {sender}\r\nTo: secretariat@ancien-fournisseur.fr\r\n"
        f"Subject: {subject}\r\nDate: Mon, 2 Mar 2015 09:30:00 +0100\r\n"
        f"Message-ID: <{number}.{hashlib.sha256(subject.encode()).hexdigest()[:8]}@ville.fr>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n"
        f"{body or 'Bonjour, compte rendu n° ' + str(number)}\r\n"
    ).encode()


def with_attachment(number: int, size: int) -> bytes:
    payload = base64.encodebytes(random.Random(number).randbytes(size)).replace(b"\n", b"\r\n")
    return (
        b"From: architecte@cabinet.fr\r\nTo: secretariat@ancien-fournisseur.fr\r\n"
        b"Subject: Plans de la salle des f\xc3\xaates\r\nMessage-ID: <plans@cabinet.fr>\r\n"
        b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="XX"\r\n\r\n'
        b"--XX\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nLes plans.\r\n"
        b'--XX\r\nContent-Type: application/pdf; name="plans.pdf"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n" + payload + b"--XX--\r\n"
    )


MALFORMED = [
    # No header at all.
    b"juste une ligne de texte, sans aucun en-tete\r\n",
    # Bare LF line ends and an unencoded Latin-1 subject.
    b"From: tresorier@ville.fr\nSubject: Budget \xe9t\xe9 2012\nDate: nonsense\n\nLignes en LF.\n",
    # A multipart whose closing boundary never comes and invalid base64.
    b'From: x@y.fr\r\nSubject: MIME cass\xc3\xa9\r\nContent-Type: multipart/mixed; boundary="b"\r\n'
    b"\r\n--b\r\nContent-Transfer-Encoding: base64\r\n\r\n%%%pas du base64%%%\r\n",
    # Header line without colon, then a very long line.
    b"From: z@y.fr\r\nCeci n'est pas un en-tete\r\nSubject: long\r\n\r\n" + b"x" * 5000 + b"\r\n",
]
FLAG_CYCLE = ["S", "RS", "FS", "", "DS", "S", "FRS", "S"]

LAYOUT: list[tuple[tuple[str, ...], int]] = [
    (("INBOX",), 800),
    (("Éléments envoyés",), 400),
    (("Éléments envoyés", "2018"), 50),
    (("Brouillons",), 20),
    (("Corbeille",), 100),
    (("Courrier indésirable",), 30),
    (("Archives",), 100),
    (("Archives", "Année 2019"), 300),
    (("Archives", "Année 2019", "Réunions d'été"), 150),
    (("Clients", "Société Générale & Fils"), 50),
]


def corpus(scale: float = 1.0, big_attachment: int = 0) -> dict[tuple[str, ...], list[Seed]]:
    """2,000 messages at scale 1 over nested accented folders, with old dates, flags,
    malformed messages in INBOX and, if asked, one big attachment in Archives/Année 2019."""
    folders: dict[tuple[str, ...], list[Seed]] = {}
    number = 0
    for parts, count in LAYOUT:
        seeds = []
        for index in range(max(1, int(count * scale))):
            number += 1
            when = datetime(
                2009 + number % 12, 1 + number % 12, 1 + number % 28, 8, number % 60, tzinfo=UTC
            )
            raw = plain(number, f"Dossier {'/'.join(parts)} — message {index}")
            seeds.append(Seed(raw, FLAG_CYCLE[number % len(FLAG_CYCLE)], when))
        folders[parts] = seeds
    inbox = folders[("INBOX",)]
    for index, raw in enumerate(MALFORMED):
        inbox[index] = Seed(raw, "S", datetime(2011, 6, 1 + index, tzinfo=UTC))
    if big_attachment:
        archive = folders[("Archives", "Année 2019")]
        archive[0] = Seed(with_attachment(0, big_attachment), "S", datetime(2019, 5, 4, tzinfo=UTC))
    return folders
