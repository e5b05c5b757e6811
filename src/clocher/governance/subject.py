"""Subject rights (GDPR art. 15, 17, 20): everything Clocher holds about one person in one
zip, and the erasure of what the law does not keep. Both are journalled.

What erasure keeps, and why: the archive's sealed acts (code du patrimoine: public
archives are not the person's to erase, and a seal cannot be reopened), the audit
journal (hash-chained proof of who did what; RGPD art. 17-3-b and e), and the documents
the person wrote into the commune's shared spaces (they are the commune's; their name
is taken off the versions)."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q

from clocher.accounts.models import User
from clocher.core import audit
from clocher.core.audit import Actor
from clocher.core.models import AuditEntry, Commune, Membership
from clocher.governance.retention import remove_after_commit

ERASED_AUTHOR = "personne effacée"
KEPT = (
    "archives scellées (code du patrimoine)",
    "journal d'audit (preuve, RGPD art. 17-3)",
    "documents des espaces partagés de la commune (auteur retiré)",
)


def _json(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, indent=1, default=str)


def _account(user: User) -> dict[str, Any]:
    return {
        "adresse": user.email,
        "nom": user.full_name,
        "actif": user.is_active,
        "inscrit_le": user.date_joined,
        "derniere_connexion": user.last_login,
        "double_facteur": bool(user.totp_confirmed_at),
        "adhesions": [
            {
                "commune": m.commune.insee if m.commune else "opérateur",
                "nom": m.commune.name if m.commune else "",
                "role": m.get_role_display(),
                "fonction": m.title,
                "active": m.is_active,
                "depuis": m.created_at,
                "desactivee_le": m.deactivated_at,
            }
            for m in Membership.objects.filter(user=user).select_related("commune")
        ],
        "mots_de_passe_application": list(user.app_passwords.values("name", "created_at")),
    }


def _files_under(home: Path) -> Iterator[Path]:
    """Regular files below `home`, never through a link (shared collections are links)."""
    for folder, dirs, files in os.walk(home, followlinks=False):
        dirs[:] = [d for d in dirs if not (Path(folder) / d).is_symlink()]
        for name in sorted(files):
            path = Path(folder) / name
            if path.is_file() and not path.is_symlink():
                yield path


def _mailboxes(user: User) -> list[Any]:
    from clocher.mail.models import Mailbox, MailboxKind

    return list(
        Mailbox.objects.filter(user=user, kind=MailboxKind.PERSONAL).select_related("domain")
    )


def _export_mail(user: User, archive: zipfile.ZipFile) -> int:
    from clocher.mail import services

    count = 0
    vmail = services.default_vmail_dir()
    for mailbox in _mailboxes(user):
        home = services.mailbox_home(mailbox, vmail)
        for path in _files_under(home) if home.is_dir() else []:
            if not path.name.startswith("dovecot"):  # indexes, rebuilt by any client
                archive.write(path, f"messagerie/{mailbox.address}/{path.relative_to(home)}")
                count += 1
    return count


def _export_vault(user: User, archive: zipfile.ZipFile) -> int:
    from clocher.vault import services
    from clocher.vault.models import Node

    count = 0
    live = Node.objects.filter(
        space__owner=user, is_folder=False, deleted_at__isnull=True
    ).select_related("space__commune", "current")
    for node in live:
        if any(a.deleted_at for a in services.ancestors(node)):
            continue
        name = f"coffre/{node.space.commune.insee}{services.path_of(node)}"
        with archive.open(name, "w", force_zip64=True) as target:
            for block in services.iter_content(node):
                target.write(block)
        count += 1
    return count


def _groupware_homes(user: User) -> list[tuple[str, Path]]:
    from clocher.groupware import layout

    homes = []
    for kind in ("calendars", "addressbooks"):
        root = layout.store_dir(kind)
        homes += [(kind, home) for home in root.glob(f"*/{user.email}") if home.is_dir()]
    return homes


def _awareness(user: User) -> list[dict[str, Any]]:
    from clocher.awareness.models import Event, Participant, Recipient

    out = []
    for participant in Participant.objects.filter(user=user).select_related("commune"):
        recipients = Recipient.objects.filter(participant=participant).select_related("template")
        out.append(
            {
                "commune": participant.commune.insee,
                "inscrit": participant.opted_in,
                "niveau": participant.rating,
                "points": participant.points,
                "exercices": [
                    {
                        "modele": r.template.name,
                        "envoye_le": r.sent_at,
                        "resultat": r.outcome,
                        "evenements": list(Event.objects.filter(recipient=r).values("kind", "at")),
                    }
                    for r in recipients
                ],
            }
        )
    return out


def _about(user: User) -> Q:
    return Q(actor=user) | Q(target=user.email) | Q(actor_label=user.email)


def _audit(user: User) -> list[Any]:
    return list(
        AuditEntry.objects.filter(_about(user))
        .order_by("seq")
        .values("seq", "at", "actor_label", "commune_insee", "action", "target", "data", "ip")
    )


def export_user(actor: Actor, user: User, path: Path) -> dict[str, int]:
    """Write the person's data to `path` (temp file + rename: never half a zip) and
    journal its fingerprint; returns how much of each kind it holds."""
    path = Path(path)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".export-", suffix=".zip")
    os.close(fd)
    try:
        with zipfile.ZipFile(temp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("compte.json", _json(_account(user)))
            counts = {
                "messages": _export_mail(user, archive),
                "fichiers": _export_vault(user, archive),
            }
            agendas = 0
            for kind, home in _groupware_homes(user):
                for item in _files_under(home):
                    archive.write(item, f"agendas/{kind}/{item.relative_to(home)}")
                    agendas += 1
            counts["agendas"] = agendas
            exercises = _awareness(user)
            archive.writestr("sensibilisation.json", _json(exercises))
            counts["exercices"] = sum(len(p["exercices"]) for p in exercises)
            entries = _audit(user)
            archive.writestr("journal.json", _json(entries))
            counts["journal"] = len(entries)
        digest = hashlib.sha256(Path(temp).read_bytes()).hexdigest()
        os.chmod(temp, 0o600)
        with transaction.atomic():
            audit.record(
                actor,
                "governance.subject_exported",
                target=user.email,
                data={"sha256": digest, **counts},
            )
            os.replace(temp, path)
    finally:
        Path(temp).unlink(missing_ok=True)
    return counts


@dataclass
class ErasurePreview:
    """What erasing `user` would remove and what the law keeps: shown before the typed
    confirmation, so that nobody confirms blind."""

    user: User
    communes: list[str]  # « Nom (INSEE) » of every membership
    mailboxes: list[str]
    spaces: int
    calendars: int
    versions: int  # versions in shared spaces whose author's name is taken off
    logins: int
    journal: int  # audit entries about them, kept
    blocker: str  # why erasure is refused now ('' if it is not)
    kept: tuple[str, ...] = KEPT


def erasure_preview(user: User) -> ErasurePreview:
    from clocher.accounts.models import LoginAttempt
    from clocher.core.services import _guard_last_admin
    from clocher.vault.models import Space, Version

    memberships = list(Membership.objects.filter(user=user).select_related("commune"))
    blocker = ""
    for m in memberships:
        if m.commune is None:
            blocker = (
                f"{user.email} est membre de l'équipe de l'opérateur : retirez d'abord ce rôle."
            )
            continue
        try:
            _guard_last_admin(m)  # the very rule erase_user will meet
        except ValidationError as exc:
            blocker = f"{m.commune.name} : {' '.join(exc.messages)}"
    return ErasurePreview(
        user=user,
        communes=[f"{m.commune.name} ({m.commune.insee})" for m in memberships if m.commune],
        mailboxes=[m.address for m in _mailboxes(user)],
        spaces=Space.objects.filter(owner=user).count(),
        calendars=len(_groupware_homes(user)),
        versions=Version.objects.filter(author=user.email).count(),
        logins=LoginAttempt.objects.filter(email=user.email).count(),
        journal=AuditEntry.objects.filter(_about(user)).count(),
        blocker=blocker,
    )


def erase_member(
    actor: Actor, commune: Commune | None, user: User, typed: str, request: str = ""
) -> dict[str, int]:
    """The erasure page's request: `typed` must be the person's address (no erasure by a
    slip of the mouse); a commune admin (`commune` given) erases only a person who belongs
    to no other commune — one who does is the operator's to erase, for both communes."""
    if typed.strip().lower() != user.email.lower():
        raise ValidationError(
            f"Confirmation incorrecte : tapez exactement l'adresse {user.email} pour effacer."
        )
    if commune is not None:
        elsewhere = sorted(
            m.commune.name if m.commune else "l'opérateur"
            for m in Membership.objects.filter(user=user).select_related("commune")
            if m.commune_id != commune.pk
        )
        if elsewhere:
            raise ValidationError(
                f"{user.email} est aussi membre de {', '.join(elsewhere)} : seul l'opérateur "
                "peut effacer ce compte."
            )
    return erase_user(actor, user, commune=commune, request=request)


def erase_user(
    actor: Actor, user: User, *, commune: Commune | None = None, request: str = ""
) -> dict[str, int]:
    """Erase the person: account, memberships, personal mailboxes and spaces, awareness
    results, login log; keep what the law keeps (`KEPT`). Refused while they are the
    last admin of a commune or a member of the operator's staff (named). `commune` (the
    erasing admin's) and `request` (the reference of the person's demand) go to the
    journal entry."""
    from clocher.accounts.models import LoginAttempt
    from clocher.core import services as core
    from clocher.mail import services as mail
    from clocher.vault.models import Node, Space, Version

    if Membership.objects.filter(user=user, commune__isnull=True).exists():
        raise ValidationError(
            f"{user.email} est membre de l'équipe de l'opérateur : retirez d'abord ce rôle."
        )
    email = user.email
    vmail = mail.default_vmail_dir()
    maildirs = [mail.mailbox_home(m, vmail) for m in _mailboxes(user)]
    calendars = [home for _, home in _groupware_homes(user)]
    with transaction.atomic():
        memberships = list(Membership.objects.filter(user=user).select_related("commune"))
        for membership in memberships:
            try:
                core.remove_member(actor, membership)  # refuses a commune's last admin
            except ValidationError as exc:
                where = membership.commune.name if membership.commune else "opérateur"
                raise ValidationError(f"{where} : {' '.join(exc.messages)}") from exc
        counts = {
            "adhesions": len(memberships),
            "boites": len(maildirs),
            "agendas": len(calendars),
        }
        for mailbox in _mailboxes(user):
            mailbox.delete()
        spaces = Space.objects.filter(owner=user)
        Node.objects.filter(space__in=spaces).update(current=None)
        counts["espaces"] = spaces.count()
        spaces.delete()
        counts["versions_anonymisees"] = Version.objects.filter(author=email).update(
            author=ERASED_AUTHOR
        )
        counts["connexions"] = LoginAttempt.objects.filter(email=email).delete()[0]
        user.delete()  # awareness results, app passwords, tokens go with the account
        audit.record(
            actor,
            "governance.subject_erased",
            commune=commune,
            target=email,
            data={**counts, "conserve": list(KEPT), **({"demande": request} if request else {})},
        )
        remove_after_commit(maildirs + calendars)
    return counts
