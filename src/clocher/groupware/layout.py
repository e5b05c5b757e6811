"""Where calendars and address books live in Radicale's storage, and who may do what.

Two Radicale stores under `GROUPWARE_DIR`: `calendars/` (served at
`/remote.php/dav/calendars/`) and `addressbooks/` (at `/remote.php/dav/addressbooks/users/`),
so that each home set holds only its own kind of collection, as Nextcloud's does.

In each store, a person's home is `<email>/`: their own collections (`personnel`,
`contacts`, and any they create), plus one symbolic link per shared collection of each
commune they serve, pointing into `_communes/<insee>/`. Clients find the shared
collections in their home set without knowing anything of sharing (DAVx5, Thunderbird and
the Nextcloud apps list the home, nothing else); every member reaches the same files, so
a change by one is seen by all, with one sync token. Nobody reaches `_communes/` directly:
the rights below refuse every path whose first segment is not the user.

The links are a view, not the rule: `permissions` decides from the member's roles, read
from the database on every request, so a link left behind for a member who has just been
deactivated opens nothing (and is removed at their next request).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from clocher.core.models import Role

SHARED = "_communes"
PERSONAL_CALENDAR = "personnel"
PERSONAL_ADDRESSBOOK = "contacts"
# Names in a home that only the platform makes: a member's own MKCOL cannot take them.
RESERVED_PREFIXES = ("commune-", "ressource-", "annuaire-")
# Read and write the items, never delete or replace the collection itself.
SHARED_WRITE = "rwd"
SHARED_READ = "r"
WRITERS = (Role.COMMUNE_ADMIN, Role.AGENT)

CALENDAR_COMPONENTS = "VEVENT,VTODO,VJOURNAL"


def groupware_dir() -> Path:
    return Path(settings.GROUPWARE_DIR)


def store_dir(kind: str) -> Path:
    """`kind` is "calendars" or "addressbooks"."""
    return groupware_dir() / kind


def calendar_props(name: str, components: str = CALENDAR_COMPONENTS) -> dict[str, str]:
    return {
        "tag": "VCALENDAR",
        "D:displayname": name,
        "C:supported-calendar-component-set": components,
    }


def addressbook_props(name: str) -> dict[str, str]:
    return {"tag": "VADDRESSBOOK", "D:displayname": name}


@dataclass(frozen=True)
class SharedCollection:
    """One collection of a commune as it appears in a member's home."""

    name: str  # in the home: commune-21271, ressource-21271-salle-des-fetes…
    target: str  # under _communes/: 21271/agenda
    props: dict[str, str]
    permissions: str


@dataclass(frozen=True)
class Grants:
    """What one authenticated request may open, computed once per request."""

    email: str
    shared: dict[str, SharedCollection]

    def permissions(self, path: str) -> str:
        """Radicale's rights string for the collection `path` (already sanitised)."""
        parts = [p for p in path.strip("/").split("/") if p]
        if not parts:
            return "R"  # the root: lists the user's own principal only
        if parts[0] != self.email:
            return ""  # another person's home, or _communes/ reached directly
        if len(parts) == 1:
            return "RW"  # the principal: may create collections of its own
        if len(parts) > 2:
            return ""
        shared = self.shared.get(parts[1])
        if shared is not None:
            return shared.permissions
        if parts[1].startswith(RESERVED_PREFIXES):
            return ""
        return "rw"


def shared_calendars(insee: str, commune_name: str, role: str, resources) -> list[SharedCollection]:
    """The commune calendar (written by admins and agents, read by elected officials) and
    one calendar per resource (every member books: that is what it is for)."""
    found = [
        SharedCollection(
            f"commune-{insee}",
            f"{insee}/agenda",
            calendar_props(f"Agenda de la commune — {commune_name}"),
            SHARED_WRITE if role in WRITERS else SHARED_READ,
        )
    ]
    for slug, name in resources:
        found.append(
            SharedCollection(
                f"ressource-{insee}-{slug}",
                f"{insee}/ressource-{slug}",
                calendar_props(f"{name} — {commune_name}", "VEVENT"),
                SHARED_WRITE,
            )
        )
    return found


def shared_addressbooks(insee: str, commune_name: str, role: str) -> list[SharedCollection]:
    """The commune's address book (same rule as its calendar) and its directory, generated
    from Clocher's data and so read-only for everyone."""
    return [
        SharedCollection(
            f"commune-{insee}",
            f"{insee}/contacts",
            addressbook_props(f"Contacts de la commune — {commune_name}"),
            SHARED_WRITE if role in WRITERS else SHARED_READ,
        ),
        SharedCollection(
            f"annuaire-{insee}",
            f"{insee}/annuaire",
            addressbook_props(f"Annuaire de la mairie — {commune_name}"),
            SHARED_READ,
        ),
    ]


def link_target(shared: SharedCollection) -> str:
    """Relative, so that a restored backup works wherever it is put back."""
    return f"../{SHARED}/{shared.target}"


def home_is_ready(root: Path, email: str, personal: str, wanted: list[SharedCollection]) -> bool:
    """Whether the home already holds exactly what `wanted` says, without taking the
    storage lock (the common case: nothing to do)."""
    home = root / email
    if not (home / personal / ".Radicale.props").exists():
        return False
    for shared in wanted:
        link = home / shared.name
        if not link.is_symlink() or os.readlink(link) != link_target(shared):
            return False
        if not (link / ".Radicale.props").exists():
            return False
    names = {s.name for s in wanted}
    return not any(entry.name not in names for entry in _reserved_entries(home))


def _reserved_entries(home: Path) -> list[os.DirEntry[str]]:
    if not home.is_dir():
        return []
    with os.scandir(home) as entries:
        return [e for e in entries if e.name.startswith(RESERVED_PREFIXES)]


def arrange_links(root: Path, email: str, wanted: list[SharedCollection]) -> None:
    """Make the home's links exactly `wanted`; to be called under the storage's write
    lock, after the targets exist. A directory a member made under a reserved name
    (before the platform took it) is left alone but hidden by the rights."""
    home = root / email
    home.mkdir(parents=True, exist_ok=True)
    names = {s.name: s for s in wanted}
    for entry in _reserved_entries(home):
        if entry.is_symlink() and entry.name not in names:
            os.unlink(entry.path)
    for shared in wanted:
        link = home / shared.name
        target = link_target(shared)
        if link.is_symlink() and os.readlink(link) == target:
            continue
        if link.is_symlink():
            os.unlink(link)
        elif link.exists():
            continue
        tmp = home / f".Radicale.tmp-link-{shared.name}"
        if tmp.is_symlink():
            os.unlink(tmp)
        os.symlink(target, tmp)
        os.replace(tmp, link)
