"""Groupware services: homes made at first use, the commune directory, resources.

A home is prepared on every authenticated CalDAV/CardDAV request (`prepare_home`): the
check is a few `stat` calls when nothing changed; only a new member, a new resource or a
lost membership takes the store's write lock to add or remove links.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from django.db import transaction
from django.utils.text import slugify

from clocher.accounts.models import User
from clocher.core import audit
from clocher.core.audit import Actor
from clocher.core.models import Commune
from clocher.groupware import directory, imip, layout
from clocher.groupware.models import Resource

log = logging.getLogger(__name__)

# How old a commune's directory may be before a request regenerates it (per process).
DIRECTORY_MAX_AGE = 60.0
_directory_synced: dict[tuple[str, int], float] = {}


class GroupwareError(ValueError):
    """A request the groupware refuses, with a message naming what is wrong."""


def _storage(app: Any) -> Any:
    return app._storage


def _root(app: Any) -> Path:
    return Path(_storage(app)._get_collection_root_folder())


def prepare_home(app: Any, prefix: str, user: User, communes: list[Commune]) -> layout.Grants:
    """The grants of this request, after making sure the home holds the personal
    collection and one link per shared collection of each commune served, and nothing
    else of the platform's."""
    from clocher.groupware.dav import CALDAV_PREFIX, member_roles

    calendars = prefix == CALDAV_PREFIX
    wanted: list[layout.SharedCollection] = []
    roles = member_roles(user, communes)
    resources: dict[int, list[tuple[str, str]]] = {}
    if calendars:
        for r in Resource.objects.filter(commune__in=[c for c, _ in roles]).order_by("slug"):
            resources.setdefault(r.commune_id, []).append((r.slug, r.name))
    for commune, role in roles:
        if calendars:
            wanted += layout.shared_calendars(
                commune.insee, commune.name, role, resources.get(commune.pk, [])
            )
        else:
            wanted += layout.shared_addressbooks(commune.insee, commune.name, role)
    personal = layout.PERSONAL_CALENDAR if calendars else layout.PERSONAL_ADDRESSBOOK
    root = _root(app)
    if not layout.home_is_ready(root, user.email, personal, wanted):
        _make_home(app, root, user, personal, calendars, wanted)
    if not calendars:
        for commune, _ in roles:
            sync_directory_if_stale(app, commune)
    return layout.Grants(user.email, {s.name: s for s in wanted})


def _make_home(
    app: Any,
    root: Path,
    user: User,
    personal: str,
    calendars: bool,
    wanted: list[layout.SharedCollection],
) -> None:
    storage = _storage(app)
    with storage.acquire_lock("w", user.email):
        if not (root / user.email / personal / ".Radicale.props").exists():
            props = (
                layout.calendar_props("Agenda personnel")
                if calendars
                else layout.addressbook_props("Contacts personnels")
            )
            storage.create_collection(f"/{user.email}/{personal}/", props=props)
        for shared in wanted:
            if not (root / layout.SHARED / shared.target / ".Radicale.props").exists():
                storage.create_collection(f"/{layout.SHARED}/{shared.target}/", props=shared.props)
        layout.arrange_links(root, user.email, wanted)


def sync_directory_if_stale(app: Any, commune: Commune) -> None:
    key = (str(_root(app)), commune.pk)
    if time.monotonic() - _directory_synced.get(key, float("-inf")) < DIRECTORY_MAX_AGE:
        return
    try:
        sync_directory(app, commune)
    except Exception:  # noqa: BLE001 - a stale directory never closes the address books
        log.exception("annuaire de %s non régénéré", commune.insee)
        return
    _directory_synced[key] = time.monotonic()


def sync_directory(app: Any, commune: Commune) -> int:
    """Write the commune's directory address book from Clocher's data: one vCard per
    active member and per function mailbox; cards that no longer match anyone are
    removed, unchanged ones are not rewritten (their ETag stays, clients fetch nothing).
    Returns how many cards changed."""
    from radicale import item as radicale_item

    storage = _storage(app)
    href = f"/{layout.SHARED}/{commune.insee}/annuaire/"
    cards = directory.cards(commune)
    changed = 0
    with storage.acquire_lock("w"):
        root = _root(app)
        if not (root / layout.SHARED / commune.insee / "annuaire" / ".Radicale.props").exists():
            storage.create_collection(
                href,
                props=layout.addressbook_props(f"Annuaire de la mairie — {commune.name}"),
            )
        collection = next(iter(storage.discover(href)))
        existing = {item.href: item.serialize() for item in collection.get_all()}
        for name, text in cards.items():
            if _same_card(existing.get(name), text):
                continue
            vobject_item = directory.parse(text)
            collection.upload(
                name,
                radicale_item.Item(collection_path=href.strip("/"), vobject_item=vobject_item),
            )
            changed += 1
        for name in set(existing) - set(cards):
            collection.delete(name)
            changed += 1
    return changed


def _same_card(stored: str | None, generated: str) -> bool:
    if stored is None:
        return False
    return directory.normalise(stored) == directory.normalise(generated)


def apply_local_reply(app: Any, reply: imip.LocalReply) -> bool:
    """Write an attendee's answer into every copy of the event the organiser's home
    holds (their own calendars and the shared ones they reach). Returns whether any
    copy changed."""
    from radicale import item as radicale_item

    storage = _storage(app)
    home = _root(app) / reply.organizer
    changed = False
    with storage.acquire_lock("w", reply.organizer):
        if not home.is_dir():
            return False
        for entry in sorted(home.iterdir()):
            href = f"/{reply.organizer}/{entry.name}/"
            if entry.name.startswith(".") or not (entry / ".Radicale.props").exists():
                continue
            collection = next(iter(storage.discover(href)), None)
            if collection is None or collection.tag != "VCALENDAR":
                continue
            for item in collection.get_all():
                if item.uid != reply.uid:
                    continue
                text = imip.apply_reply(item.serialize(), reply)
                if text is None:
                    continue
                collection.upload(
                    item.href,
                    radicale_item.Item(
                        collection_path=href.strip("/"), vobject_item=directory.parse(text)
                    ),
                )
                changed = True
    return changed


def add_resource(actor: Actor, commune: Commune, name: str) -> Resource:
    """A bookable room or vehicle: its calendar appears in every member's home at their
    next request."""
    name = name.strip()
    slug = slugify(name)[:60]
    if not slug:
        raise GroupwareError("Le nom de la ressource est vide ou sans lettre ni chiffre.")
    if Resource.objects.filter(commune=commune, slug=slug).exists():
        raise GroupwareError(f"La commune a déjà une ressource nommée « {name} ».")
    with transaction.atomic():
        resource = Resource.objects.create(commune=commune, slug=slug, name=name)
        audit.record(
            actor, "groupware.resource_added", commune=commune, target=slug, data={"name": name}
        )
    return resource
