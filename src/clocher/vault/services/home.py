"""A person's WebDAV root is their own space, as in Nextcloud: files and folders made at
the top go into their personal space ("home"), and the commune's space and the group
folders appear beside them as folders.

The home is the personal space they have had longest (the first commune they joined
that is still active), so it does not change when they join another commune; the
personal spaces of their other communes are folders like the shared ones. The home's
own folder name ("Mes documents") still leads to it, so links and clients set up
before keep working, but it is not listed at the top (its content would be listed
twice, and a sync client would download it twice). At the top, a space's folder name
wins over an item of the home with the same name, and such names are refused there.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from clocher.vault.models import Space, SpaceKind
from clocher.vault.services.names import NameConflict, clean_name


def home_space(spaces: Iterable[Space]) -> Space | None:
    """The person's home among the spaces they reach (`spaces_for`): their oldest
    personal space. None only for a person without an active commune."""
    personal = [s for s in spaces if s.kind == SpaceKind.PERSONAL]
    return min(personal, key=lambda s: s.pk) if personal else None


def place(spaces: Mapping[str, Space], names: list[str]) -> tuple[Space, list[str]] | None:
    """The space a path below the person's root is in, and the path inside it: a space's
    folder name first (the home's own name included, see above), else the home."""
    if names and names[0] in spaces:
        return spaces[names[0]], names[1:]
    home = home_space(spaces.values())
    return None if home is None else (home, names)


def top_folders(spaces: Mapping[str, Space]) -> dict[str, Space]:
    """The spaces listed as folders at the top of the person's root: all but the home."""
    home = home_space(spaces.values())
    return {label: space for label, space in spaces.items() if space != home}


def check_top_name(spaces: Mapping[str, Space], name: str) -> str:
    """`name` cleaned, if a file or folder of the home may have it at the top."""
    name = clean_name(name)
    taken = {label.casefold() for label in spaces}
    if name.casefold() in taken:
        raise NameConflict(f"« {name} » est le nom d'un espace : choisissez un autre nom.")
    return name
