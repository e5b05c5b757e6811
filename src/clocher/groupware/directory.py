"""The commune's directory as vCards: members (name, title, address) and function
mailboxes, generated from Clocher's data so that a new agent's phone knows every
colleague. Read-only for clients: the source of truth is the console."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import vobject

from clocher.core.models import Commune, Membership, Role
from clocher.mail.models import Mailbox, MailboxKind


def _card(uid: str, full_name: str, email: str, org: str, title: str = "") -> str:
    card = vobject.vCard()
    card.add("uid").value = uid
    card.add("fn").value = full_name
    given, _, family = full_name.rpartition(" ")
    card.add("n").value = vobject.vcard.Name(family=family, given=given)
    address = card.add("email")
    address.value = email
    address.type_param = "WORK"
    card.add("org").value = [org]
    if title:
        card.add("title").value = title
    return str(card.serialize())


@dataclass(frozen=True)
class Entry:
    """One person or mailbox of the directory, as every reader of it needs (the vCards
    of the CardDAV address book, the webmail's address book)."""

    uid: str
    name: str
    email: str
    org: str
    title: str = ""


def entries(commune: Commune) -> list[Entry]:
    """Active members (their personal address, else their login) then function and
    shared mailboxes, with stable UIDs (an entry keeps its identity while its person or
    mailbox stays)."""
    org = f"Mairie de {commune.name}"
    personal = dict(
        Mailbox.objects.filter(
            commune=commune, kind=MailboxKind.PERSONAL, is_active=True, user__isnull=False
        ).values_list("user_id", "address")
    )
    found: list[Entry] = []
    roles = dict(Role.choices)  # get_role_display() hashes the choices at every call
    members = (
        Membership.objects.filter(commune=commune, is_active=True, user__is_active=True)
        .select_related("user")
        .order_by("user_id")
    )
    for membership in members:
        user = membership.user
        found.append(
            Entry(
                f"clocher-{commune.insee}-membre-{user.pk}",
                user.full_name or user.email,
                personal.get(user.pk, user.email),
                org,
                membership.title or roles.get(membership.role, membership.role),
            )
        )
    boxes = Mailbox.objects.filter(
        commune=commune, kind__in=[MailboxKind.FUNCTION, MailboxKind.SHARED], is_active=True
    ).order_by("pk")
    for box in boxes:
        name = org if box.kind == MailboxKind.FUNCTION else f"{box.local_part} — {org}"
        found.append(Entry(f"clocher-{commune.insee}-boite-{box.pk}", name, box.address, org))
    return found


def cards(commune: Commune) -> dict[str, str]:
    """href → vCard text, one per directory entry (href and UID stable)."""
    return {f"{e.uid}.vcf": _card(e.uid, e.name, e.email, e.org, e.title) for e in entries(commune)}


def parse(text: str) -> Any:
    return vobject.readOne(text)


def normalise(text: str) -> list[str]:
    """Lines of a vCard, unfolded and sorted: equal for equal content."""
    unfolded = text.replace("\r\n ", "").replace("\n ", "")
    return sorted(line.strip() for line in unfolded.splitlines() if line.strip())
