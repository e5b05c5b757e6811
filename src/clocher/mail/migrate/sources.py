"""Where old mail comes from: a remote IMAP account, or files (mbox, Maildir, a zip of
.eml, an Outlook PST). Every source answers the same three questions — which folders,
which messages in a folder (by UID), and the messages of a list of UIDs — so the copy
engine does not care where the bytes come from.

File sources have no UIDs: a message's UID is its position in the folder (from 1), and
the folder's "UIDVALIDITY" is a digest of what the folder holds, so a file that changed
between two runs is recognised and matched by fingerprint instead of by position.
"""

from __future__ import annotations

import contextlib
import email.policy
import functools
import hashlib
import logging
import mailbox
import re
import shutil
import ssl
import subprocess
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from imapclient import IMAPClient, imap_utf7
from imapclient.exceptions import IMAPClientError, LoginError

from clocher.mail.migrate import network

# System flags IMAP lets an APPEND set (\Recent is the server's own).
SYSTEM_FLAGS = {"\\seen", "\\answered", "\\flagged", "\\draft", "\\deleted"}
SPECIAL_USES = ("\\Sent", "\\Drafts", "\\Trash", "\\Junk")
# Virtual folders that only show messages living elsewhere (Gmail's "All Mail", starred):
# copying them would duplicate every message.
VIRTUAL_USES = {"\\all", "\\flagged"}
MAX_MESSAGE_BYTES = 200 * 1024 * 1024
LINE_END_RE = re.compile(rb"\r?\n")
log = logging.getLogger(__name__)


class SourceError(Exception):
    """The source cannot be read at all (wrong password, not an mbox, unreadable zip):
    the message says what is wrong, in French, for the person who started the import."""


def crlf(raw: bytes) -> bytes:
    """The bytes as any IMAP server serves them: every line ended by CRLF."""
    return LINE_END_RE.sub(b"\r\n", raw)


def fingerprint(raw: bytes) -> str:
    """SHA-256 of the bytes as the target will serve them: CRLF line ends, and NUL (not
    allowed in IMAP) as the 0x80 Dovecot stores in its place."""
    return hashlib.sha256(crlf(raw).replace(b"\0", b"\x80")).hexdigest()


@dataclass(frozen=True)
class SourceFolder:
    name: str  # the path shown to people, parts joined with "/"
    parts: tuple[str, ...]
    special: str | None = None  # "\\Sent", … when the source says so
    skip_reason: str = ""


@dataclass
class SourceMessage:
    uid: int
    raw: bytes
    flags: tuple[str, ...] = ()
    internal_date: datetime | None = None

    @property
    def subject(self) -> str:
        match = re.search(rb"^Subject:[ \t]*(.*)$", self.raw[:16384], re.MULTILINE | re.IGNORECASE)
        return match.group(1).decode("utf-8", "replace").strip()[:300] if match else ""


@dataclass
class BrokenMessage:
    """A message the source holds but cannot give whole: reported, never copied."""

    uid: int
    reason: str
    subject: str = ""


@dataclass
class FolderListing:
    uidvalidity: str
    uids: list[int]
    sizes: dict[int, int] = field(default_factory=dict)


class SourceReader(Protocol):
    """One connection to the source: not shared between threads."""

    def listing(self, folder: SourceFolder) -> FolderListing: ...

    def fetch(
        self, folder: SourceFolder, uids: list[int]
    ) -> list[SourceMessage | BrokenMessage]: ...

    def close(self) -> None: ...


class Source(Protocol):
    kind: str
    key: str  # identifies the source across runs
    server: str  # host:port of a remote source, "" for files

    def open(self) -> SourceReader: ...

    def folders(self) -> list[SourceFolder]: ...

    def cleanup(self) -> None: ...


def _clean_flags(flags: Iterable[Any]) -> tuple[str, ...]:
    kept = []
    for flag in flags:
        text = flag.decode() if isinstance(flag, bytes) else str(flag)
        if text.lower() in SYSTEM_FLAGS:
            kept.append("\\" + text[1:].capitalize())
        elif not text.startswith("\\") and re.fullmatch(r"[!#-'*+\-./0-9:<=>?@A-Z^-z|~$]+", text):
            kept.append(text)  # keywords ($Forwarded, $Label1…) pass through
    return tuple(kept)


# --------------------------------------------------------------------------- IMAP


@dataclass(frozen=True)
class ImapAccount:
    host: str
    port: int
    user: str
    password: str = field(repr=False)
    implicit_tls: bool = True
    ca_file: str | None = None
    # Internal addresses and any port (network.py); off, the server must be public.
    allow_private: bool = False

    @classmethod
    def from_url(
        cls, url: str, password: str, ca_file: str | None = None, *, allow_private: bool = False
    ) -> ImapAccount:
        """imaps://user@host[:993] (TLS) or imap://user@host[:143] (STARTTLS required)."""
        parts = urlsplit(url)
        if parts.scheme not in ("imaps", "imap") or not parts.hostname or not parts.username:
            raise SourceError(
                f"Adresse IMAP illisible « {url} » : attendu imaps://identifiant@serveur[:port] "
                "ou imap://identifiant@serveur[:port] (STARTTLS)."
            )
        implicit = parts.scheme == "imaps"
        return cls(
            host=parts.hostname,
            port=parts.port or (993 if implicit else 143),
            user=unquote(parts.username),
            password=password,
            implicit_tls=implicit,
            ca_file=ca_file,
            allow_private=allow_private,
        )

    def check_server(self) -> None:
        """Refuse now, before anything is queued, a server the import may not reach (the
        connection checks again, and connects to what it checked)."""
        if self.allow_private:
            return
        try:
            network.public_addresses(self.host, self.port)
        except network.ServerRefused as exc:
            raise SourceError(str(exc)) from exc

    @property
    def server(self) -> str:
        return network.hostport(self.host, self.port)

    @property
    def key(self) -> str:
        """The account, whatever the transport: imaps and STARTTLS share one state."""
        return f"imap://{self.user}@{self.server}"

    @property
    def url(self) -> str:
        return f"{'imaps' if self.implicit_tls else 'imap'}://{self.user}@{self.server}"

    def tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca_file)


def connect_imap(  # noqa: PLR0913 - the account's parts, as imapclient takes them
    host: str,
    port: int,
    user: str,
    password: str,
    *,
    implicit_tls: bool,
    context: ssl.SSLContext,
    allow_private: bool = True,
) -> IMAPClient:
    """A logged-in client; every failure becomes a SourceError naming the cause in the
    importer's own words. The server's text goes to the log only: the server may be
    anything the form was given, and its banner or errors are not for the page."""
    where = network.hostport(host, port)
    try:
        client = network.open_client(
            host, port, implicit_tls=implicit_tls, context=context, allow_private=allow_private
        )
        if not implicit_tls:
            client.starttls(context)
        client.normalise_times = False  # keep INTERNALDATE's own offset
        client.login(user, password)
    except network.ServerRefused as exc:
        raise SourceError(str(exc)) from exc
    except LoginError as exc:
        log.info("mail import: login to %s as %s refused: %s", where, user, _text(exc))
        raise SourceError(
            f"Connexion refusée par {where} pour « {user} » : identifiant ou mot de passe "
            "incorrect."
        ) from exc
    except ssl.SSLCertVerificationError as exc:
        log.info("mail import: certificate of %s refused: %s", where, exc)
        raise SourceError(
            f"Échec TLS avec {where} : certificat du serveur non reconnu (autorité inconnue, "
            "expiré, ou établi pour un autre nom)."
        ) from exc
    except ssl.SSLError as exc:
        log.info("mail import: TLS with %s failed: %s", where, exc)
        raise SourceError(f"Échec de la négociation TLS avec {where}.") from exc
    except OSError as exc:
        log.info("mail import: %s unreachable: %s", where, exc)
        raise SourceError(
            f"Impossible de joindre {where} : serveur injoignable, port fermé ou délai dépassé."
        ) from exc
    except IMAPClientError as exc:
        log.info("mail import: %s refused the connection: %s", where, _text(exc))
        raise SourceError(
            f"Le serveur {where} a refusé la connexion ou ne répond pas en IMAP."
        ) from exc
    return client


def _text(exc: BaseException) -> str:
    value = exc.args[0] if exc.args else exc
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return re.sub(r"^b(['\"])(.*)\1$", r"\2", text)


class ImapReader:
    def __init__(self, account: ImapAccount) -> None:
        self.client = connect_imap(
            account.host,
            account.port,
            account.user,
            account.password,
            implicit_tls=account.implicit_tls,
            context=account.tls_context(),
            allow_private=account.allow_private,
        )
        self.selected: str | None = None

    def _select(self, folder: SourceFolder) -> dict[bytes, Any]:
        info = self.client.select_folder(folder.name_on_server, readonly=True)  # type: ignore[attr-defined]
        self.selected = folder.name
        return info

    def listing(self, folder: SourceFolder) -> FolderListing:
        info = self._select(folder)
        uids = sorted(self.client.search("ALL")) if info.get(b"EXISTS", 1) else []
        sizes: dict[int, int] = {}
        for start in range(0, len(uids), 5000):
            chunk = uids[start : start + 5000]
            for uid, data in self.client.fetch(chunk, ["RFC822.SIZE"]).items():
                sizes[uid] = int(data.get(b"RFC822.SIZE", 0))
        return FolderListing(str(info.get(b"UIDVALIDITY", 0)), uids, sizes)

    def fetch(self, folder: SourceFolder, uids: list[int]) -> list[SourceMessage | BrokenMessage]:
        if self.selected != folder.name:
            self._select(folder)
        found = self.client.fetch(uids, ["BODY.PEEK[]", "FLAGS", "INTERNALDATE"])
        result: list[SourceMessage | BrokenMessage] = []
        for uid in uids:
            data = found.get(uid)
            if data is None:
                continue  # expunged at the source since the listing: nothing to copy
            raw = data.get(b"BODY[]")
            if raw is None:
                result.append(BrokenMessage(uid, "le serveur source n'a pas rendu le message"))
                continue
            result.append(
                SourceMessage(
                    uid, crlf(raw), _clean_flags(data.get(b"FLAGS", ())), data.get(b"INTERNALDATE")
                )
            )
        return result

    def close(self) -> None:
        with contextlib.suppress(IMAPClientError, OSError):
            self.client.logout()


@dataclass(frozen=True)
class ImapFolder(SourceFolder):
    name_on_server: str = ""


class ImapSource:
    kind = "imap"

    def __init__(self, account: ImapAccount) -> None:
        self.account = account
        self.key = account.key
        self.url = account.url
        self.server = account.server

    def open(self) -> ImapReader:
        return ImapReader(self.account)

    def cleanup(self) -> None:
        pass

    def folders(self) -> list[SourceFolder]:
        reader = self.open()
        try:
            client = reader.client
            listed = client.list_folders()
            # LIST carries the special-use flags on servers that have them (RFC 6154).
            special = _special_folders(client)
            prefix = _personal_prefix(client)
        finally:
            reader.close()
        folders: list[SourceFolder] = []
        for flags, delimiter, name in listed:
            names = _flag_names(flags) | special.get(name, set())
            lowered = {f.lower() for f in names}
            if "\\noselect" in lowered or "\\nonexistent" in lowered:
                continue
            sep = delimiter.decode() if isinstance(delimiter, bytes) else (delimiter or "/")
            # Courier-style servers put every folder under "INBOX.": that prefix is not
            # part of the folder's name ("INBOX.Sent" is the Sent folder).
            local = name[len(prefix) :] if prefix and name.startswith(prefix) else name
            parts = tuple(local.split(sep)) if sep else (local,)
            use = next((u for u in SPECIAL_USES if u.lower() in lowered), None)
            skip = ""
            if lowered & VIRTUAL_USES:
                skip = "dossier virtuel (ses messages sont déjà dans les autres dossiers)"
            folders.append(
                ImapFolder("/".join(parts), parts, use, skip_reason=skip, name_on_server=name)
            )
        return folders


def _personal_prefix(client: IMAPClient) -> str:
    if not client.has_capability("NAMESPACE"):
        return ""
    personal = client.namespace().personal or ()
    return str(personal[0][0]) if personal else ""


def _special_folders(client: IMAPClient) -> dict[str, set[str]]:
    """Folder → special-use flags, asked with LIST … RETURN (SPECIAL-USE) when the
    server says it knows them (some send them only when asked)."""
    if not client.has_capability("SPECIAL-USE"):
        return {}
    typ, data = client._imap._simple_command("LIST", '""', '"*"', "RETURN", "(SPECIAL-USE)")
    _typ, lines = client._imap._untagged_response(typ, data, "LIST")
    found: dict[str, set[str]] = {}
    for flags, _delimiter, name in client._proc_folder_list(lines):
        found.setdefault(name, set()).update(_flag_names(flags))
    return found


def _flag_names(flags: Iterable[Any]) -> set[str]:
    return {f.decode() if isinstance(f, bytes) else str(f) for f in flags}


# --------------------------------------------------------------------------- files


@dataclass
class FileEntry:
    """A message of a file source, read on demand."""

    load: Callable[[], bytes]
    flags: tuple[str, ...] = ()
    internal_date: datetime | None = None
    size: int = 0
    broken: str = ""


class FileReader:
    def __init__(self, source: FileSource) -> None:
        self.source = source

    def listing(self, folder: SourceFolder) -> FolderListing:
        entries = self.source.index[folder.name]
        sizes = {uid: entry.size for uid, entry in enumerate(entries, start=1)}
        return FolderListing(self.source.generations[folder.name], list(sizes), sizes)

    def fetch(self, folder: SourceFolder, uids: list[int]) -> list[SourceMessage | BrokenMessage]:
        entries = self.source.index[folder.name]
        result: list[SourceMessage | BrokenMessage] = []
        for uid in uids:
            entry = entries[uid - 1]
            if entry.broken:
                result.append(BrokenMessage(uid, entry.broken))
                continue
            try:
                raw = entry.load()
            except (OSError, zipfile.BadZipFile, ValueError) as exc:
                result.append(BrokenMessage(uid, f"lecture impossible : {exc}"))
                continue
            message = SourceMessage(uid, crlf(raw), entry.flags, entry.internal_date)
            if self.source.require_headers and not looks_like_mail(message.raw):
                result.append(BrokenMessage(uid, "pas un message (aucun en-tête)", ""))
                continue
            result.append(message)
        return result

    def close(self) -> None:
        pass


HEADER_RE = re.compile(rb"^[!-9;-~]+:")


def looks_like_mail(raw: bytes) -> bool:
    """At least one header line first, and one of the headers every message has."""
    head = raw[:65536].split(b"\r\n\r\n", 1)[0]
    return bool(HEADER_RE.match(head)) and bool(
        re.search(rb"^(from|date|subject|message-id|received|to):", head, re.I | re.M)
    )


class FileSource:
    """Folders of messages indexed from files: subclasses fill `index`."""

    kind = ""
    server = ""
    # A file in a Maildir or an mbox is a message whatever it holds; a file in a zip must
    # show it is one.
    require_headers = False

    def __init__(self, path: Path) -> None:
        self.path = path.resolve()
        self.key = f"{self.kind}:{self.path}"
        self.index: dict[str, list[FileEntry]] = {}
        self.parts: dict[str, tuple[str, ...]] = {}
        self.generations: dict[str, str] = {}
        self.problems: list[str] = []  # entries that are not mail at all (zip)

    def add_folder(self, parts: tuple[str, ...], entries: list[FileEntry], identity: str) -> None:
        name = "/".join(parts)
        self.index[name] = entries
        self.parts[name] = parts
        self.generations[name] = hashlib.sha256(identity.encode()).hexdigest()[:32]

    def open(self) -> FileReader:
        return FileReader(self)

    def folders(self) -> list[SourceFolder]:
        return [SourceFolder(name, self.parts[name]) for name in sorted(self.index)]

    def cleanup(self) -> None:
        pass


MBOX_FLAGS = {"R": "\\Seen", "A": "\\Answered", "F": "\\Flagged", "T": "\\Draft", "D": "\\Deleted"}


def _from_line_date(from_line: str) -> datetime | None:
    """'MAILER-DAEMON Thu Nov 17 10:00:00 2011' → that time (UTC, as mbox writers mean)."""
    match = re.search(r"(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})", from_line)
    if not match:
        return None
    try:
        return datetime.strptime(" ".join(match.group(1).split()), "%a %b %d %H:%M:%S %Y").replace(
            tzinfo=UTC
        )
    except ValueError:
        return None


def _header_date(raw: bytes) -> datetime | None:
    match = re.search(rb"^Date:[ \t]*(.+)$", raw[:65536], re.I | re.M)
    if not match:
        return None
    try:
        value = parsedate_to_datetime(match.group(1).decode("ascii", "replace").strip())
    except (TypeError, ValueError, IndexError):
        return None
    return value if value and value.tzinfo else None


def _truncated(raw: bytes, at_end: bool) -> str:
    """Why a message looks cut short, or ''. Only the file's last message can be: a
    multipart without its closing boundary, or no end of line at the end of the file."""
    if not at_end:
        return ""
    boundary = re.search(rb'boundary="?([^";\r\n]+)"?', raw[:65536], re.I)
    if boundary and b"--" + boundary.group(1) + b"--" not in raw:
        return "message tronqué : la fin du fichier coupe le message (dernière partie absente)"
    if raw and not raw.endswith(b"\n"):
        return "message tronqué : la fin du fichier coupe le message (ligne inachevée)"
    return ""


class MboxSource(FileSource):
    """One mbox file, or a directory of them (Thunderbird's "Local Folders": `Sent`,
    `Archives.sbd/2019`…)."""

    kind = "mbox"

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        if not self.path.exists():
            raise SourceError(f"Fichier introuvable : {path}.")
        files: list[tuple[tuple[str, ...], Path]] = []
        if self.path.is_file():
            files.append((("INBOX",), self.path))
        else:
            for candidate in sorted(self.path.rglob("*")):
                if (
                    candidate.is_file()
                    and candidate.suffix.lower() not in (".msf", ".dat", ".json")
                    and _starts_like_mbox(candidate)
                ):
                    relative = candidate.relative_to(self.path).parts
                    parts = mbox_folder_parts(relative, self.path.name)
                    # `Notes` beside `Notes.mbox`: the second keeps its file name.
                    if any(taken == parts for taken, _file in files):
                        parts = relative
                    files.append((parts, candidate))
        for parts, file in files:
            if not _starts_like_mbox(file):
                raise SourceError(
                    f"« {file.name} » n'est pas un fichier mbox : il doit commencer par une "
                    "ligne « From »."
                )
            self._index_file(parts, file)
        if not self.index:
            raise SourceError(f"Aucun fichier mbox dans {path}.")

    def _index_file(self, parts: tuple[str, ...], file: Path) -> None:
        box = mailbox.mbox(str(file), create=False)
        keys = list(box.keys())
        entries = []
        for position, key in enumerate(keys):
            message = box.get_message(key)
            raw = box.get_bytes(key)
            flags = tuple(sorted({MBOX_FLAGS[c] for c in message.get_flags() if c in MBOX_FLAGS}))
            entries.append(
                FileEntry(
                    load=functools.partial(box.get_bytes, key),
                    flags=flags,
                    internal_date=_from_line_date(message.get_from()) or _header_date(raw),
                    size=len(raw),
                    broken=_truncated(raw, position == len(keys) - 1),
                )
            )
        stat = file.stat()
        self.add_folder(parts, entries, f"{stat.st_size}:{stat.st_mtime_ns}")


MBOX_SUFFIXES = (".mbox", ".mbx")


def _strip_mbox_suffix(name: str) -> str:
    """'État civil.mbox' → 'État civil'; a name that is only '.mbox' stays as it is."""
    for suffix in MBOX_SUFFIXES:
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def mbox_folder_parts(relative: tuple[str, ...], root: str = "") -> tuple[str, ...]:
    """Folder path of an mbox file found under an export directory: the file extension is
    not part of the folder's name. Thunderbird writes `Archives.sbd/2019` (or `X.mbox`
    when exporting), Apple Mail `Name.mbox/mbox` (the folder is the directory); `root` is
    the exported directory's own name, the folder when the export is one Apple mailbox."""
    parts = [p.removesuffix(".sbd") for p in relative]
    if parts[-1] == "mbox" and len(parts) > 1:
        parts.pop()
    elif parts == ["mbox"] and root.lower().endswith(".mbox"):
        parts = [root]
    return tuple(_strip_mbox_suffix(p) for p in parts)


def _starts_like_mbox(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(5) == b"From "


MAILDIR_FLAGS = {
    "S": "\\Seen",
    "R": "\\Answered",
    "F": "\\Flagged",
    "D": "\\Draft",
    "T": "\\Deleted",
}


class MaildirSource(FileSource):
    """A Maildir++ tree (Dovecot, Courier): the root is INBOX, `.A.B` is folder A/B with
    modified UTF-7 names; flags from the `:2,` suffix, internal dates from mtimes."""

    kind = "maildir"

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        if not (self.path / "cur").is_dir() and not (self.path / "new").is_dir():
            raise SourceError(f"{path} n'est pas un Maildir (ni cur/ ni new/).")
        self._index_dir(("INBOX",), self.path)
        for sub in sorted(self.path.iterdir()):
            if sub.is_dir() and sub.name.startswith(".") and sub.name not in (".", ".."):
                parts = tuple(imap_utf7.decode(p.encode()) for p in sub.name[1:].split("."))
                self._index_dir(parts, sub)

    def _index_dir(self, parts: tuple[str, ...], directory: Path) -> None:
        files: list[Path] = []
        for sub in ("new", "cur"):
            if (directory / sub).is_dir():
                files.extend(p for p in (directory / sub).iterdir() if p.is_file())
        files.sort(key=lambda p: p.name.split(":")[0])
        entries = []
        for file in files:
            stat = file.stat()
            info = file.name.split(":2,", 1)[1] if ":2," in file.name else ""
            flags = tuple(sorted({MAILDIR_FLAGS[c] for c in info if c in MAILDIR_FLAGS}))
            entries.append(
                FileEntry(
                    load=file.read_bytes,
                    flags=flags,
                    internal_date=datetime.fromtimestamp(stat.st_mtime, UTC),
                    size=stat.st_size,
                )
            )
        identity = "\n".join(p.name.split(":")[0] for p in files)
        self.add_folder(parts, entries, identity)


@dataclass
class EmlItem:
    """One .eml file of a folder tree, and what is known of it besides its bytes."""

    parts: tuple[str, ...]  # its folder
    name: str
    load: Callable[[], bytes]
    size: int
    flags: tuple[str, ...] = ("\\Seen",)  # archived mail is read, as it was
    internal_date: datetime | None = None  # None: the Date header's


class EmlTreeSource(FileSource):
    """Messages as .eml files in folders: a zip, or what `readpst` makes of a PST."""

    require_headers = True

    def add_eml_entries(self, items: list[EmlItem]) -> None:
        by_folder: dict[tuple[str, ...], list[tuple[str, FileEntry]]] = {}
        for item in sorted(items, key=lambda item: (item.parts, item.name)):
            broken = ""
            if item.size > MAX_MESSAGE_BYTES:
                broken = f"message de {item.size // 2**20} Mio, au-delà de la limite"
            entry = FileEntry(item.load, item.flags, item.internal_date, item.size, broken)
            by_folder.setdefault(item.parts or ("INBOX",), []).append((item.name, entry))
        for parts, named in by_folder.items():
            entries = [entry for _name, entry in named]
            identity = "\n".join(f"{name}:{entry.size}" for name, entry in named)
            self.add_folder(parts, entries, identity)


class EmlZipSource(EmlTreeSource):
    kind = "eml_zip"

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        try:
            self.archive = zipfile.ZipFile(self.path)
        except FileNotFoundError as exc:
            raise SourceError(f"Fichier introuvable : {path}.") from exc
        except (zipfile.BadZipFile, OSError) as exc:
            raise SourceError(
                f"« {path.name} » n'est pas une archive zip lisible ({exc})."
            ) from exc
        items: list[EmlItem] = []
        for info in self.archive.infolist():
            if info.is_dir():
                continue
            pieces = tuple(p for p in info.filename.replace("\\", "/").split("/") if p)
            if ".." in pieces or info.filename.startswith("/"):
                self.problems.append(f"{info.filename} : chemin refusé")
                continue
            if not pieces[-1].lower().endswith(".eml"):
                self.problems.append(f"{info.filename} : pas un fichier .eml, ignoré")
                continue
            load = functools.partial(self._read_entry, info)
            items.append(EmlItem(pieces[:-1], pieces[-1], load, info.file_size))
        if not items:
            detail = f" ({len(self.problems)} autres fichiers ignorés)" if self.problems else ""
            raise SourceError(f"Aucun message .eml dans « {path.name} »{detail}.")
        self.add_eml_entries(items)

    def _read_entry(self, info: zipfile.ZipInfo) -> bytes:
        """Never more than the limit, whatever the entry claims (zip bombs)."""
        with self.archive.open(info) as handle:
            data = handle.read(MAX_MESSAGE_BYTES + 1)
        if len(data) > MAX_MESSAGE_BYTES:
            raise ValueError("message plus grand que la limite")
        return data


# MAPI properties ([MS-OXPROPS]) the flags come from, and their values.
PR_MESSAGE_FLAGS, PR_ICON_INDEX = 0x0E07, 0x1080
PR_LAST_VERB_EXECUTED, PR_FLAG_STATUS = 0x1081, 0x1090
MSGFLAG_READ, MSGFLAG_UNSENT, FLAG_STATUS_FLAGGED = 0x01, 0x08, 2
ANSWER_VERBS = {102, 103, 104}  # replied to sender, to all, forwarded
ANSWER_ICONS = {0x105, 0x106}  # the replied and forwarded icons
READPST_BOUNDARY_RE = re.compile(rb"LibPST-iamunique-(\d+)_")
PstDetails = dict[tuple[str, ...], dict[str, list[tuple[tuple[str, ...], datetime | None]]]]


class PstSource(EmlTreeSource):
    """An Outlook PST. A PST holds no MIME message: `readpst` (Debian's pst-utils,
    libpst) rebuilds each one as an .eml file, one directory per folder. readpst keeps
    only "read" of the flags (a `Status: RO` header) and dates a message by its
    submit time, so libpff (pypff) reads each message's flags and delivery time from
    the PST itself; they are matched to readpst's files folder by folder, by subject,
    in the PST's order."""

    kind = "pst"
    READPST = "/usr/bin/readpst"

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        if not self.path.is_file():
            raise SourceError(f"Fichier introuvable : {path}.")
        if not Path(self.READPST).exists():
            raise SourceError("readpst (paquet pst-utils) n'est pas installé sur ce serveur.")
        self.workdir = Path(tempfile.mkdtemp(prefix="clocher-pst-"))
        done = subprocess.run(  # noqa: S603
            [self.READPST, "-e", "-8", "-b", "-q", "-o", str(self.workdir), str(self.path)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            self.cleanup()
            detail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["erreur inconnue"]
            raise SourceError(
                f"« {path.name} » n'est pas un fichier PST lisible (readpst : {detail[0]})."
            )
        self.index_export(self.workdir, self.read_details())

    def read_details(self) -> PstDetails:
        """Flags and internal dates as libpff reads them; none (readpst's `Status`
        header and the Date header then) if libpff cannot read the file."""
        import pypff

        pst = pypff.file()
        details: PstDetails = {}
        try:
            pst.open(str(self.path))
            try:
                # readpst writes the folders below the top of the personal folders.
                for top in pst.get_root_folder().sub_folders:
                    for folder in top.sub_folders:
                        _folder_details(folder, (_readpst_name(folder.name),), details)
            finally:
                pst.close()
        except OSError as exc:
            self.problems.append(f"drapeaux et dates illisibles ({exc}) : ceux de readpst")
            return {}
        return details

    def index_export(self, root: Path, details: PstDetails) -> None:
        """readpst -e: one directory per folder under one named after the store. Its
        MIME boundaries are random: they are made stable, so that a second run finds
        the same bytes."""
        tops = [p for p in root.iterdir() if p.is_dir()]
        base = tops[0] if len(tops) == 1 else root
        items: list[EmlItem] = []
        for file in sorted(base.rglob("*.eml"), key=lambda f: (f.parent, _number(f))):
            raw = file.read_bytes()
            stable = _stable_boundaries(raw)
            if stable != raw:
                file.write_bytes(stable)
                raw = stable
            parts = file.relative_to(base).parts
            head = re.split(rb"\r?\n\r?\n", raw, maxsplit=1)[0]
            same_subject = details.get(parts[:-1], {}).get(_readpst_subject(head))
            if same_subject:
                flags, when = same_subject.pop(0)
            else:
                flags, when = (("\\Seen",) if re.search(rb"^Status: RO", head, re.M) else ()), None
            items.append(EmlItem(parts[:-1], parts[-1], file.read_bytes, len(raw), flags, when))
        if not items:
            self.cleanup()
            raise SourceError(f"Aucun message dans « {self.path.name} ».")
        self.add_eml_entries(items)

    def cleanup(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)


def _folder_details(folder: Any, parts: tuple[str, ...], details: PstDetails) -> None:
    by_subject = details.setdefault(parts, {})
    for message in folder.sub_messages:
        subject = _plain(message.subject or "")
        by_subject.setdefault(subject, []).append(_pst_flags_and_date(message))
    for sub in folder.sub_folders:
        _folder_details(sub, (*parts, _readpst_name(sub.name)), details)


def _pst_flags_and_date(message: Any) -> tuple[tuple[str, ...], datetime | None]:
    """Outlook's read/unsent message flags, follow-up flag and last verb (reply, reply
    to all, forward) as IMAP flags; the delivery time, else the submit time, else the
    last change (a draft) as the internal date."""
    longs = {
        entry.entry_type: entry.data_as_integer
        for record_set in message.record_sets
        for entry in record_set.entries
        if entry.value_type == 0x0003  # PT_LONG
    }
    flags = longs.get(PR_MESSAGE_FLAGS, 0)
    found = []
    if flags & MSGFLAG_READ:
        found.append("\\Seen")
    if flags & MSGFLAG_UNSENT:
        found.append("\\Draft")
    if longs.get(PR_FLAG_STATUS) == FLAG_STATUS_FLAGGED:
        found.append("\\Flagged")
    if longs.get(PR_LAST_VERB_EXECUTED) in ANSWER_VERBS or longs.get(PR_ICON_INDEX) in ANSWER_ICONS:
        found.append("\\Answered")
    when = message.delivery_time or message.client_submit_time or message.modification_time
    return tuple(sorted(found)), when.replace(tzinfo=UTC) if when else None


def _readpst_name(name: str | None) -> str:
    """A folder's name as readpst names its directory."""
    return (name or "").translate(str.maketrans("/\\:", "___"))


def _plain(subject: str) -> str:
    """A subject without control characters (Outlook's prefix marks) nor folding."""
    return " ".join(re.sub(r"[\x00-\x1f]", " ", subject).split())


def _readpst_subject(head: bytes) -> str:
    headers = BytesHeaderParser(policy=email.policy.default).parsebytes(head)
    return _plain(str(headers.get("Subject", "")))


def _number(file: Path) -> int:
    """readpst numbers its files: 2.eml before 10.eml."""
    return int(file.stem) if file.stem.isdigit() else 0


def _stable_boundaries(raw: bytes) -> bytes:
    """readpst's MIME boundaries carry a random number: a digest of the message
    instead, the same on every run."""
    found = READPST_BOUNDARY_RE.search(raw)
    if not found:
        return raw
    digest = hashlib.sha256(raw.replace(found.group(1), b"")).hexdigest()[:16].encode()
    return raw.replace(found.group(0), b"LibPST-iamunique-" + digest + b"_")


def internal_date_of(message: SourceMessage) -> datetime | None:
    """The source's date, else the message's Date header (files without dates)."""
    return message.internal_date or _header_date(message.raw)
