"""Postfix's queue in the backup: mail accepted but not yet delivered (a remote server that
answers « try later », a mailbox store that failed) is the platform's responsibility
once Postfix said 250, so a restore must not lose it.

The queue manager moves deferred files between directories at any moment, so they are
not copied in place: they are put on hold first (`postsuper -h`, the queue manager never
touches held mail), copied into the backup's staging dir, then released (`postsuper -H`,
only those held here: mail an operator held stays held). The restore puts them back in
the new queue and `postsuper -s` renames them after their new inodes (a queue id is the
file's inode, which a copy changes), as Postfix's documentation asks after a restore."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from django.conf import settings

STAGE = "file-postfix"
POSTSUPER = "/usr/sbin/postsuper"
KINDS = ("deferred", "hold")


def _conf() -> Path:
    return Path(settings.MAIL_DIR) / "postfix" / "conf"


def _queue() -> Path:
    return Path(settings.MAIL_DIR) / "postfix" / "queue"


def _postsuper(*args: str, ids: list[str] | None = None) -> None:
    proc = subprocess.run(  # noqa: S603 - Debian's postsuper, arguments built here
        [POSTSUPER, "-c", str(_conf()), *args],
        input="".join(f"{i}\n" for i in ids or []),
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise OSError(f"postsuper {' '.join(args)} a échoué : {proc.stderr.strip()[-300:]}")


def _files(folder: Path) -> dict[str, Path]:
    """Queue id → file (deferred/ is hashed into subdirectories, hold/ is not)."""
    if not folder.is_dir():
        return {}
    return {p.name: p for p in folder.rglob("*") if p.is_file()}


def save(stage: Path) -> dict[str, int | str]:
    """Deferred and held mail copied into `stage`/file-postfix; nothing when this machine
    runs no Postfix (its queue was never made). A queue that cannot be held (postsuper
    refused) is said in the manifest and the backup goes on without it; mail held here
    that cannot be released again fails the backup, loudly: held mail is never sent."""
    queue = _queue()
    if not (_conf() / "main.cf").exists() or not (queue / "hold").is_dir():
        return {}
    held_before = set(_files(queue / "hold"))
    try:
        _postsuper("-h", "ALL", "deferred")
    except OSError as exc:
        return {"erreur": str(exc)}
    held = _files(queue / "hold")
    ours = sorted(set(held) - held_before)
    counts: dict[str, int | str] = dict.fromkeys(KINDS, 0)
    try:
        for kind, ids in (("deferred", ours), ("hold", sorted(held_before & set(held)))):
            target = stage / STAGE / kind
            target.mkdir(parents=True, exist_ok=True)
            for queue_id in ids:
                try:
                    shutil.copy2(held[queue_id], target / queue_id)
                except FileNotFoundError:  # released or deleted by an operator meanwhile
                    continue
                counts[kind] = int(counts[kind]) + 1
    finally:
        if ours:
            _postsuper("-H", "-", ids=ours)
    return counts


def put_back(saved: Path) -> int:
    """The saved queue files into this platform's Postfix queue (its directories made by
    `clocher serve`'s own preparation if this is a fresh machine), renamed by
    `postsuper -s`; deferred mail leaves at Postfix's next queue run."""
    if not saved.is_dir():
        return 0
    from clocher.mail.engines import runtime
    from clocher.mail.engines.config import MailConfig

    if not (_conf() / "main.cf").exists() or not (_queue() / "hold").is_dir():
        runtime.prepare(MailConfig.from_settings())
    count = 0
    for kind in KINDS:
        if not (saved / kind).is_dir():
            continue
        for file in sorted((saved / kind).iterdir()):
            target = _queue() / kind / file.name
            if target.exists():  # this very message is already queued here
                continue
            shutil.copy2(file, target)
            shutil.chown(target, "postfix")
            target.chmod(0o700)
            count += 1
    if count:
        _postsuper("-s")
    return count
