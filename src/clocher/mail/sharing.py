"""Shared mailboxes as folders of the delegate's own IMAP session (Dovecot's ACLs).

A delegated mailbox shows up in the session of each delegate's own mailbox in the same
commune: its INBOX as `shared/<owner address>` (also reachable as `…/INBOX`), its other
folders below it (`shared/<owner address>/Sent`). Three pieces:

- each folder's ACL file (`dovecot-acl`, Dovecot's `vfile` backend) never names
  a person: it grants rights to two groups proper to the mailbox, `lecture-<key>` and
  `ecriture-<key>` (`<key>` its private storage key). The owner's own rights leave out
  `a` (administer), there and in every folder of every mailbox (the global ACL file):
  nobody may change ACLs over IMAP, Clocher's page is the one place where sharing is
  decided, and nothing can be shared with another commune;
- who is in those groups is the `acl_groups` field of Dovecot's SQL userdb
  (`engines.config.ACL_GROUPS`), read from Clocher's tables at every login — a grant
  or a revocation is seen by the delegate's next connection, with no file to rewrite,
  and only for their mailboxes in the shared mailbox's commune;
- Dovecot finds the mailboxes to LIST under `shared/` in its "shared mailboxes"
  dictionary: `shared-boxes/group/<group>/<owner>` keys in a file written here.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet

from clocher.mail.models import Mailbox

# What the page offers. `s` (seen) is kept per delegate (INDEXPVT in dovecot.conf): a
# reader opening a message does not mark it read for the others.
READ_RIGHTS = "lrs"
WRITE_RIGHTS = "lrswipte"
# The owner (and whoever logs in as the mailbox): everything but `a`.
OWNER_RIGHTS = "lrwstipekx"
ACL_FILE = "dovecot-acl"
# Every folder of every mailbox, shared or not (Dovecot's global ACL file): the owner has
# every right but `a`, otherwise theirs by default on a folder without an ACL file.
GLOBAL_ACL_FILE = "global-acl"
GLOBAL_ACL = f"* owner {OWNER_RIGHTS}\n"
ACL_LIST_FILE = "dovecot-acl-list"
DICT_FILE = "shared-mailboxes.dict"
SUBSCRIPTIONS_FILE = "subscriptions"
V2_HEADER = "V\t2\n\n"
LOCK_SECONDS = 10


def read_group(mailbox: Mailbox) -> str:
    return f"lecture-{mailbox.storage_key}"


def write_group(mailbox: Mailbox) -> str:
    return f"ecriture-{mailbox.storage_key}"


def acl_text(mailbox: Mailbox) -> str:
    """The INBOX's ACLs; `acl_defaults_from_inbox` makes them the other folders' too."""
    return (
        f"owner {OWNER_RIGHTS}\n"
        f"group={read_group(mailbox)} {READ_RIGHTS}\n"
        f"group={write_group(mailbox)} {WRITE_RIGHTS}\n"
    )


def _write_as_vmail(path: Path, text: str, uid: int, gid: int) -> None:
    """Atomically (temp file + rename), owned by vmail, readable by it only."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.chown(tmp, uid, gid)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def write_acl(mailbox: Mailbox, vmail_dir: Path) -> None:
    """Install the mailbox's ACL file, making its home if Dovecot has not yet."""
    from clocher.mail.engines.config import vmail_ids
    from clocher.mail.services import mailbox_home

    uid, gid = vmail_ids()
    home = mailbox_home(mailbox, vmail_dir)
    vmail_dir.mkdir(parents=True, exist_ok=True)
    for directory in (home.parent, home, home / "Maildir"):
        directory.mkdir(mode=0o700, exist_ok=True)
        os.chown(directory, uid, gid)
    maildir = home / "Maildir"
    # INBOX is the Maildir++ root, other folders its `.Name` subdirectories. Dovecot copies
    # the file into folders made later; folders made before get theirs here, for LIST
    # only shows a delegate the folders that have one.
    folders = [path for path in maildir.glob(".*") if (path / "maildirfolder").exists()]
    for folder in (maildir, *folders):
        _write_as_vmail(folder / ACL_FILE, acl_text(mailbox), uid, gid)
    # Dovecot's list of the folders that have ACLs, made without these files: removed,
    # it is rebuilt at the next LIST of a delegate.
    (maildir / ACL_LIST_FILE).unlink(missing_ok=True)


def _shared_mailboxes() -> QuerySet[Mailbox]:
    return (
        Mailbox.objects.filter(is_active=True)
        .filter(Q(delegates__isnull=False) | Q(readers__isnull=False))
        .distinct()
        .order_by("address")
    )


def shared_dict_text() -> str:
    """Dovecot's file dict (a key line, then its value line) of every mailbox shared with
    someone: a mailbox listed here is still shown only to the members of its groups."""
    lines: list[str] = []
    for mailbox in _shared_mailboxes():
        for group in (read_group(mailbox), write_group(mailbox)):
            lines += [f"shared/shared-boxes/group/{group}/{mailbox.address}", "1"]
    return "".join(f"{line}\n" for line in lines)


def write_shared_dict(vmail_dir: Path) -> None:
    from clocher.mail.engines.config import vmail_ids

    uid, gid = vmail_ids()
    vmail_dir.mkdir(parents=True, exist_ok=True)
    _write_as_vmail(vmail_dir / DICT_FILE, shared_dict_text(), uid, gid)


def shared_name(mailbox: Mailbox) -> str:
    """How Dovecot lists the mailbox's INBOX in a delegate's session."""
    return f"shared/{mailbox.address}"


def _lock(path: Path) -> int:
    """Dovecot's dotlock on `path` (`<path>.lock`, made with O_EXCL; stale after 30 s,
    as Dovecot judges it): the open lock file, where the new content is written."""
    lock = path.with_name(f"{path.name}.lock")
    deadline = time.monotonic() + LOCK_SECONDS
    while True:
        try:
            return os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            try:
                if time.time() - lock.stat().st_mtime > 30:
                    lock.unlink(missing_ok=True)
                    continue
            except FileNotFoundError:
                continue
            if time.monotonic() > deadline:
                raise ValidationError(
                    f"Les abonnements de {path.parent.parent.name} sont occupés : réessayez."
                ) from None
            time.sleep(0.05)


def set_subscribed(member_box: Mailbox, name: str, subscribed: bool, vmail_dir: Path) -> None:
    """Subscribe `member_box` to the folder `name` (or not), in Dovecot's own file and
    under its lock, the way its IMAP SUBSCRIBE does: most clients (Roundcube, Thunderbird)
    show only subscribed folders, so a shared mailbox shows up with no step of the person.
    Version 2 files separate levels with a tab, older ones keep `/`."""
    from clocher.mail.engines.config import vmail_ids
    from clocher.mail.services import mailbox_home

    uid, gid = vmail_ids()
    home = mailbox_home(member_box, vmail_dir)
    maildir = home / "Maildir"
    vmail_dir.mkdir(parents=True, exist_ok=True)
    for directory in (home.parent, home, maildir):
        directory.mkdir(mode=0o700, exist_ok=True)
        os.chown(directory, uid, gid)
    path = maildir / SUBSCRIPTIONS_FILE
    fd = _lock(path)
    lock = path.with_name(f"{path.name}.lock")
    try:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            text = ""
        header = V2_HEADER if text.startswith(V2_HEADER) else ""
        entry = name.replace("/", "\t") if header else name
        entries = [line for line in text[len(header) :].split("\n") if line and line != entry]
        if subscribed:
            entries.append(entry)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(header + "".join(f"{line}\n" for line in entries))
            os.fchown(out.fileno(), uid, gid)
        os.replace(lock, path)
    except BaseException:
        lock.unlink(missing_ok=True)
        raise


def publish(mailbox: Mailbox, vmail_dir: Path, before: set[int] | None = None) -> None:
    """After a change of the mailbox's delegates or readers (`before`: the user ids that
    had access): ACLs and list of shared mailboxes, then the subscriptions of the
    mailboxes, in the same commune, of the people who gained or lost access."""
    write_acl(mailbox, vmail_dir)
    write_shared_dict(vmail_dir)
    now = set(mailbox.delegates.values_list("pk", flat=True)) | set(
        mailbox.readers.values_list("pk", flat=True)
    )
    before = before or set()
    changed = (now - before) | (before - now)
    member_boxes = Mailbox.objects.filter(
        commune=mailbox.commune, is_active=True, user_id__in=changed
    ).exclude(pk=mailbox.pk)
    for member_box in member_boxes.select_related("domain"):
        set_subscribed(member_box, shared_name(mailbox), member_box.user_id in now, vmail_dir)


def publish_all(vmail_dir: Path) -> None:
    """At start-up: the global ACL file, every shared mailbox's ACLs and the list of
    shared mailboxes."""
    from clocher.mail.engines.config import vmail_ids

    uid, gid = vmail_ids()
    vmail_dir.mkdir(parents=True, exist_ok=True)
    _write_as_vmail(vmail_dir / GLOBAL_ACL_FILE, GLOBAL_ACL, uid, gid)
    for mailbox in _shared_mailboxes().select_related("domain"):
        write_acl(mailbox, vmail_dir)
    write_shared_dict(vmail_dir)
