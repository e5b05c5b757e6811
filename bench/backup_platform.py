"""Backup of a platform with 10,000 vault files and 10,000 messages: `clocher backup` vs
`restic backup` of the same data dir by hand, the incremental backup after 1 % change,
and the RTO of a drill.

    .venv/bin/python bench/backup_platform.py [--files 10000] [--messages 10000]

The vault files go through the vault's own service (encrypted chunks, version rows);
the messages are written straight into Maildirs (as Dovecot's LMTP leaves them: one
file per message under cur/, flags in the name). The peer is `restic init` then `restic
backup DATA_DIR` into a second repository with the same password (both sides make their
repository on a first backup; the ratio is also printed without it on both sides), right after
(same disk, same page cache state for both: each side runs on a warm cache). Goals:
clocher ≤ 1.2 × restic by hand; the second backup adds ≤ 10 % of the first.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _setup import django_with_fresh_db  # noqa: E402


def size_of(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def write_messages(
    vmail: Path, homes: list[str], start: int, count: int, rng: random.Random
) -> None:
    """Into the 20 mailboxes' homes, owned by vmail as Dovecot leaves them (the drill's
    IMAP read goes through the copy's Dovecot, which runs as vmail)."""
    import pwd

    vmail_user = pwd.getpwnam("vmail")
    for n in range(start, start + count):
        box = vmail / "communes.example" / homes[n % len(homes)] / "Maildir" / "cur"
        box.mkdir(parents=True, exist_ok=True)
        body = "".join(rng.choice("abcdefghij klmnop\n") for _ in range(rng.randint(800, 4000)))
        text = (
            f"From: a@example.org\r\nSubject: message {n}\r\n"
            f"Message-ID: <{n}@bench.example>\r\n\r\n{body}\r\n"
        )
        (box / f"{1733390000 + n}.M{n}P1.bench:2,S").write_text(text)
    for path in [vmail, *vmail.rglob("*")]:
        os.chown(path, vmail_user.pw_uid, vmail_user.pw_gid)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--messages", type=int, default=10_000)
    args = parser.parse_args()
    os.environ.setdefault("CLOCHER_SMTP_HOST", "file")
    data_dir = Path(django_with_fresh_db())
    # The copy's Dovecot (vmail) traverses the data dir down to the drill's scratch copy.
    data_dir.chmod(0o711)
    os.environ["CLOCHER_MAIL_DIR"] = str(data_dir / "mail")
    from django.conf import settings

    from clocher.accounts.services import get_or_create_user
    from clocher.core import services as core
    from clocher.core.audit import Actor
    from clocher.core.models import CommuneStatus, Membership, Operator, Role
    from clocher.mail import services as mail
    from clocher.operations import restic
    from clocher.operations.services import drill, keys, snapshot
    from clocher.vault import services as vault

    settings.MAIL_DIR = data_dir / "mail"
    work = Path(tempfile.mkdtemp(prefix="clocher-bench-depots-"))
    actor = Actor(label="bench")
    rng = random.Random(18)
    Operator.objects.get_or_create(name="Bench", defaults={"mail_domain": "communes.example"})
    communes = [
        core.create_commune(actor, insee, "", status=CommuneStatus.ACTIVE)
        for insee in ("21271", "21716", "21603", "21231")
    ]
    roots = [vault.root_of(vault.ensure_commune_space(actor, c)) for c in communes]
    # 20 mailboxes, each its owner's, a member of its commune (the drill logs in as one).
    homes = []
    for n in range(20):
        commune = communes[n % len(communes)]
        user, _ = get_or_create_user(f"agent{n:02d}@bench.example")
        Membership.objects.create(user=user, commune=commune, role=Role.AGENT)
        box = mail.create_mailbox(actor, commune, f"boite{n:02d}@communes.example", user=user)
        homes.append(box.storage_key)
    started = time.monotonic()
    for n in range(args.files):
        data = rng.randbytes(rng.randint(1_000, 16_000))
        vault.write_bytes(actor, roots[n % len(roots)], f"fichier-{n:05d}.bin", data)
    write_messages(settings.MAIL_DIR / "vmail", homes, 0, args.messages, rng)
    print(
        f"plateforme : {args.files} fichiers, {args.messages} messages, "
        f"{size_of(data_dir) / 1e6:.0f} Mo, générée en {time.monotonic() - started:.0f} s"
    )

    ours = work / "clocher"
    first = snapshot.take(actor, str(ours))
    peer = restic.Repository(str(work / "restic"), keys.backup_password())
    t = time.monotonic()
    restic.run(peer, ["init"])
    peer_init = time.monotonic() - t
    restic.backup(peer, [str(data_dir)], ["main"])
    by_hand = time.monotonic() - t
    # Both sides make their repository on the first backup (a key derived with scrypt,
    # about a second): compared with it, and without it on both sides.
    ours_init = first.steps.get("dépôt", 0.0)
    print(
        f"1re sauvegarde : clocher {first.seconds:.1f} s, {size_of(ours) / 1e6:.0f} Mo ; "
        f"restic à la main (init + backup) {by_hand:.1f} s, "
        f"{size_of(work / 'restic') / 1e6:.0f} Mo ; rapport {first.seconds / by_hand:.2f} "
        f"(objectif ≤ 1,2) ; sans la création du dépôt : {first.seconds - ours_init:.1f} s "
        f"contre {by_hand - peer_init:.1f} s, rapport "
        f"{(first.seconds - ours_init) / (by_hand - peer_init):.2f}"
    )
    print("  étapes de clocher : " + ", ".join(f"{k} {v:.2f} s" for k, v in first.steps.items()))

    changed = max(1, args.files // 100)
    for n in range(changed):
        data = rng.randbytes(rng.randint(1_000, 16_000))
        vault.write_bytes(actor, roots[n % len(roots)], f"nouveau-{n:05d}.bin", data)
    write_messages(
        settings.MAIL_DIR / "vmail", homes, args.messages, max(1, args.messages // 100), rng
    )
    second = snapshot.take(actor, str(ours))
    print("  étapes : " + ", ".join(f"{k} {v:.2f} s" for k, v in second.steps.items()))
    print(
        f"2e sauvegarde (1 % de changements) : {second.seconds:.1f} s, "
        f"{second.bytes_added / 1e6:.1f} Mo ajoutés = "
        f"{100 * second.bytes_added / max(1, first.bytes_added):.1f} % de la 1re "
        "(objectif ≤ 10 %)"
    )

    settings.BACKUP_REPOSITORY = str(ours)
    result = drill.run_drill(actor, str(ours))
    failed = [f"{c['name']} : {c['detail']}" for c in result.checks if not c["ok"]]
    print(
        f"exercice : RTO {result.rto_seconds or float('nan'):.1f} s (restauration, web et "
        "IMAP répondent), "
        f"RPO {result.rpo_seconds:.0f} s, {'réussi' if result.ok else 'ÉCHEC : ' + str(failed)}"
    )
    for check in result.checks:
        print(f"  {'ok' if check['ok'] else 'ÉCHEC'} {check['name']} : {check['detail']}")
    shutil.rmtree(work, ignore_errors=True)
    shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
