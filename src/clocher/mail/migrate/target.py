"""The Clocher mailbox being filled: our own Dovecot, over IMAPS, logged in as the mailbox.

Writing through IMAP (not into the Maildir) lets Dovecot keep its indexes, quota and
UIDs right, works when the import runs on another host than the mail store, and needs
no privilege. The login is a temporary app password of the mailbox's owner, made for
the run and revoked when it ends: the same authentication as any mail client, so a
disabled mailbox or account stops the import too. MULTIAPPEND (RFC 3502) sends a whole
batch in one command and Dovecot saves it in one transaction: all of it or none.
"""

from __future__ import annotations

import contextlib
import re
import ssl
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

from clocher.mail.migrate.sources import (
    SPECIAL_USES,
    SourceFolder,
    SourceMessage,
    connect_imap,
    internal_date_of,
)

# Names old providers and clients give the special folders (compared lower-cased).
LOCALISED_SPECIAL = {
    "\\Sent": {
        "sent", "sent items", "sent messages", "sent mail", "éléments envoyés",
        "elements envoyes", "envoyés", "envoyes", "messages envoyés", "courrier envoyé",
        "gesendet", "gesendete elemente", "enviados", "posta inviata",
    },
    "\\Drafts": {"drafts", "draft", "brouillons", "brouillon", "entwürfe", "borradores"},
    "\\Trash": {
        "trash", "deleted items", "deleted messages", "bin", "corbeille",
        "éléments supprimés", "elements supprimes", "papierkorb", "papelera",
    },
    "\\Junk": {
        "junk", "junk e-mail", "junk email", "spam", "bulk mail", "courrier indésirable",
        "courriers indésirables", "courrier indesirable", "indésirables", "pourriel",
        "pourriels", "spams",
    },
}  # fmt: skip
# Names an inbox has in sources that have no INBOX of their own (an Outlook PST, a zip
# of folders exported by a client).
LOCALISED_INBOX = {
    "inbox", "boîte de réception", "boite de reception", "courrier entrant",
    "posteingang", "bandeja de entrada", "posta in arrivo",
}  # fmt: skip


class AppendRefused(Exception):
    """The target said NO to an APPEND (the reason is the server's text)."""


class QuotaFull(AppendRefused):
    """The mailbox is full: no later message can go either."""


def target_address() -> tuple[str, int]:
    wildcard = settings.MAIL_BIND in ("0.0.0.0", "::", "")  # noqa: S104 - compared, not bound
    host = "127.0.0.1" if wildcard else settings.MAIL_BIND
    return host, settings.MAIL_IMAPS_PORT


def pinned_context() -> ssl.SSLContext:
    """Trust exactly our own mail certificate (self-signed in the demo, a CA's in
    production): the import never sends a password to anything else."""
    context = ssl.create_default_context(cafile=str(settings.MAIL_TLS_CERT))
    context.check_hostname = False
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    return context


@dataclass
class TargetFolders:
    separator: str
    existing: set[str]
    specials: dict[str, str]  # "\\Sent" → "Sent"


class Target:
    def __init__(self, address: str, password: str) -> None:
        host, port = target_address()
        self.client: IMAPClient = connect_imap(
            host, port, address, password, implicit_tls=True, context=pinned_context()
        )

    def folders(self) -> TargetFolders:
        existing, specials, separator = set(), {}, "/"
        for flags, delimiter, name in self.client.list_folders():
            existing.add(name)
            separator = delimiter.decode() if isinstance(delimiter, bytes) else delimiter
            for flag in flags:
                text = flag.decode() if isinstance(flag, bytes) else str(flag)
                if text in SPECIAL_USES:
                    specials[text] = name
        return TargetFolders(separator or "/", existing, specials)

    def free_bytes(self) -> int | None:
        """Room left under the mailbox's quota (RFC 2087, Dovecot's imap_quota), or None."""
        if not self.client.has_capability("QUOTA"):
            return None
        _root, quotas = self.client.get_quota_root("INBOX")
        storage = [q for q in quotas if q.resource.upper() == "STORAGE"]
        if not storage:
            return None
        return max(0, (storage[0].limit - storage[0].usage) * 1024)  # KiB on the wire

    def ensure(self, name: str, known: set[str]) -> None:
        if name in known:
            return
        try:
            self.client.create_folder(name)
        except IMAPClientError as exc:
            if "exist" not in str(exc).lower():
                raise AppendRefused(f"création du dossier « {name} » refusée : {exc}") from exc
        self.client.subscribe_folder(name)
        known.add(name)

    def uidnext(self, name: str) -> int:
        return int(self.client.folder_status(name, ["UIDNEXT"])[b"UIDNEXT"])

    def append_many(self, name: str, messages: list[SourceMessage]) -> None:
        """One MULTIAPPEND for the batch (Dovecot saves it atomically)."""
        items: list[dict[str, Any]] = []
        for message in messages:
            item: dict[str, Any] = {"msg": message.raw, "flags": message.flags}
            when = internal_date_of(message)
            if when is not None:
                item["date"] = when
            items.append(item)
        try:
            typ, data = self.client.multiappend(name, items)
        except IMAPClientError as exc:
            raise _refusal(str(exc)) from exc
        if typ != "OK":
            raise _refusal(b" ".join(d for d in data if isinstance(d, bytes)).decode())

    def append_one(self, name: str, message: SourceMessage) -> None:
        when: datetime | None = internal_date_of(message)
        try:
            self.client.append(name, message.raw, message.flags, when)
        except IMAPClientError as exc:
            raise _refusal(str(exc)) from exc

    def fetch_from(self, name: str, first_uid: int) -> list[bytes]:
        """Raw messages of `name` with UID ≥ first_uid (what a killed run appended)."""
        self.client.select_folder(name, readonly=True)
        uids = [uid for uid in self.client.search(["UID", f"{first_uid}:*"]) if uid >= first_uid]
        if not uids:
            return []
        found = self.client.fetch(uids, ["BODY.PEEK[]"])
        return [data[b"BODY[]"] for _uid, data in sorted(found.items())]

    def close(self) -> None:
        with contextlib.suppress(IMAPClientError, OSError):
            self.client.logout()


def _refusal(text: str) -> AppendRefused:
    cleaned = re.sub(r"^.*?(NO|BAD)\s*", "", text).strip() or text
    if "OVERQUOTA" in text.upper() or "quota" in text.lower():
        return QuotaFull(f"boîte pleine (quota atteint) : {cleaned}")
    return AppendRefused(f"refusé par le serveur : {cleaned}")


# Clocher's Dovecot stores Maildir++, where "." separates levels on disk: it refuses a
# "." inside a name. The one-dot leader looks the same ("Factures 2019․2020").
DOT_LOOKALIKE = "\u2024"


def _part(name: str, separator: str) -> str:
    cleaned = name.replace(separator, "-")
    if separator != ".":
        cleaned = cleaned.replace(".", DOT_LOOKALIKE)
    return cleaned.strip() or "_"


def special_of(parts: tuple[str, ...], flagged: dict[tuple[str, ...], str]) -> tuple[int, str]:
    """Where in `parts` a special folder sits (its index) and its use, or (-1, "").

    The source's own special-use flag wins; else a top-level folder (or one right
    under INBOX) with a localised special name."""
    for depth in range(len(parts)):
        prefix = parts[: depth + 1]
        if prefix in flagged:
            return depth, flagged[prefix]
        top_level = depth == 0 or (depth == 1 and parts[0].upper() == "INBOX")
        if top_level:
            for use, names in LOCALISED_SPECIAL.items():
                if parts[depth].strip().lower() in names:
                    return depth, use
    return -1, ""


def target_names(folders: list[SourceFolder], target: TargetFolders) -> dict[str, str]:
    """Source folder name → target folder name: INBOX stays INBOX, special folders land
    on the target's special-use folders (and their subfolders under them), the rest
    keeps its hierarchy. In a source without an INBOX, a top-level « Boîte de
    réception » (Outlook's) is the inbox."""
    flagged = {f.parts: f.special for f in folders if f.special}
    has_inbox = any(f.parts[0].upper() == "INBOX" for f in folders)
    sep = target.separator
    mapping = {}
    for folder in folders:
        parts = tuple(_part(p, sep) for p in folder.parts)
        depth, use = special_of(parts, flagged)
        if depth >= 0 and use in target.specials:
            parts = (target.specials[use], *parts[depth + 1 :])
        elif parts[0].upper() == "INBOX" or (
            not has_inbox and parts[0].strip().lower() in LOCALISED_INBOX
        ):
            parts = ("INBOX", *parts[1:])
        mapping[folder.name] = sep.join(parts)
    return mapping
