"""The webmail's address books, read by Roundcube's `clocher_addressbook` plugin with the
person's access token (`GET /oauth/carnet`): Debian 12 packages no CardDAV plugin for
Roundcube, so Clocher hands it the contacts that its CardDAV server already holds.

Three books, all of the commune of the mailbox the webmail opened (the grant's), never
another commune's, for a person who may still open that mailbox (`sso.active_grant`):
- `annuaire`: the commune's directory (members, titles, function and shared mailboxes),
  from Clocher's data as the CardDAV `annuaire-<insee>` book is;
- `commune`: the commune's shared CardDAV address book (`commune-<insee>`), readable by
  every member;
- `personnel`: the person's own CardDAV address book (`contacts`).
Read-only in the webmail: CardDAV clients (phones, Thunderbird) edit the last two.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from clocher.groupware import directory, layout
from clocher.groupware.models import WebmailGrant

BOOKS = ("annuaire", "commune", "personnel")


@dataclass(frozen=True)
class Contact:
    id: str
    nom: str
    emails: list[str] = field(default_factory=list)
    organisation: str = ""
    fonction: str = ""


def _unescape(value: str) -> str:
    """A vCard text value (RFC 6350 §3.4): `\\n`, `\\,`, `\\;` and `\\\\`."""
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) in "nN" else m.group(1), value)


def _from_vcard(href: str, text: str) -> Contact | None:
    """The four properties the webmail shows, read from the stored text: parsing the
    whole card (vobject) cost 4x the CPU of Radicale's own REPORT on 1,000 contacts
    (docs/performance.md)."""
    found: dict[str, list[str]] = {}
    for line in re.sub(r"\r?\n[ \t]", "", text).splitlines():  # unfolded
        head, sep, value = line.partition(":")
        name = head.split(";", 1)[0].rsplit(".", 1)[-1].upper()  # item1.EMAIL;TYPE=…
        if sep and name in ("FN", "EMAIL", "ORG", "TITLE"):
            found.setdefault(name, []).append(value.strip())
    emails = [_unescape(e) for e in found.get("EMAIL", []) if e]
    if not emails:
        return None  # nothing to write to: not an address for the compose window
    org = re.split(r"(?<!\\);", found.get("ORG", [""])[0])  # organisation;unit;…
    return Contact(
        href,
        _unescape(found.get("FN", [""])[0]) or emails[0],
        emails,
        " ".join(_unescape(part) for part in org if part),
        _unescape(found.get("TITLE", [""])[0]),
    )


def _carddav(path: str) -> list[Contact]:
    """The contacts of one collection of the CardDAV store (none if it was never made:
    a person who has not used CardDAV yet has no home, and reading makes none)."""
    from clocher.groupware import dav, services

    storage = services._storage(dav.application().apps[dav.CARDDAV_PREFIX])
    found = []
    with storage.acquire_lock("r"):
        collection = next(iter(storage.discover(path)), None)
        if collection is None or getattr(collection, "tag", "") != "VADDRESSBOOK":
            return []
        for item in collection.get_all():
            contact = _from_vcard(item.href, item.serialize())
            if contact is not None:
                found.append(contact)
    return sorted(found, key=lambda c: c.nom.casefold())


def address_books(grant: WebmailGrant) -> dict[str, Any]:
    """What `GET /oauth/carnet` answers for a live grant."""
    commune = grant.commune
    email = grant.user.email
    books = {
        "annuaire": (
            f"Annuaire de la mairie — {commune.name}",
            [Contact(e.uid, e.name, [e.email], e.org, e.title) for e in directory.entries(commune)],
        ),
        "commune": (
            f"Contacts de la commune — {commune.name}",
            _carddav(f"/{layout.SHARED}/{commune.insee}/contacts/"),
        ),
        "personnel": (
            "Contacts personnels",
            _carddav(f"/{email}/{layout.PERSONAL_ADDRESSBOOK}/"),
        ),
    }
    return {
        "commune": commune.insee,
        "carnets": [
            {"id": key, "nom": name, "contacts": [vars(c) for c in contacts]}
            for key, (name, contacts) in books.items()
        ],
    }
