"""The commune's directory as vCards: members (name, title, address) and function
mailboxes, generated from Clocher's data so that a new agent's phone knows every
colleague. Read-only for clients: the source of truth is the console."""

from __future__ import annotations

from typing import Any

import vobject

from clocher.core.models import Commune, Membership
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


def cards(commune: Commune) -> dict[str, str]:
    """href → vCard text, with stable hrefs and UIDs (a card keeps its identity while
    its person or mailbox stays)."""
    org = f"Mairie de {commune.name}"
    personal = dict(
        Mailbox.objects.filter(
            commune=commune, kind=MailboxKind.PERSONAL, is_active=True, user__isnull=False
        ).values_list("user_id", "address")
    )
    found: dict[str, str] = {}
    members = (
        Membership.objects.filter(commune=commune, is_active=True, user__is_active=True)
        .select_related("user")
        .order_by("user_id")
    )
    for membership in members:
        user = membership.user
        uid = f"clocher-{commune.insee}-membre-{user.pk}"
        found[f"{uid}.vcf"] = _card(
            uid,
            user.full_name or user.email,
            personal.get(user.pk, user.email),
            org,
            membership.title or membership.get_role_display(),
        )
    boxes = Mailbox.objects.filter(
        commune=commune, kind__in=[MailboxKind.FUNCTION, MailboxKind.SHARED], is_active=True
    ).order_by("pk")
    for box in boxes:
        uid = f"clocher-{commune.insee}-boite-{box.pk}"
        name = org if box.kind == MailboxKind.FUNCTION else f"{box.local_part} — {org}"
        found[f"{uid}.vcf"] = _card(uid, name, box.address, org)
    return found


def parse(text: str) -> Any:
    return vobject.readOne(text)


def normalise(text: str) -> list[str]:
    """Lines of a vCard, unfolded and sorted: equal for equal content."""
    unfolded = text.replace("\r\n ", "").replace("\n ", "")
    return sorted(line.strip() for line in unfolded.splitlines() if line.strip())
