"""Operator-console tiles: one per service, each showing only real figures.

A service registers a function returning its Tile; a service not yet built has no
function, and the console shows it as "pas encore en service" — never invented numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Figure:
    label: str
    value: str


@dataclass
class Tile:
    service: str
    title: str
    figures: list[Figure] = field(default_factory=list)
    url: str = ""
    available: bool = True
    note: str = ""


# The services the platform promises, in console order.
SERVICES = [
    ("communes", "Communes"),
    ("onboarding", "Adhésions"),
    ("mail", "Messagerie"),
    ("vault", "Coffre-fort"),
    ("shield", "Boîtiers de sécurité"),
    ("archive", "Archivage probant"),
    ("energy", "Énergie des bâtiments"),
    ("forecast", "Prévisions"),
    ("finance", "Dette des communes"),
    ("awareness", "Sensibilisation"),
    ("operations", "Sauvegardes et reprise"),
    ("governance", "Gouvernance des données"),
]

TileProvider = Callable[[], Tile]
_providers: dict[str, TileProvider] = {}


def register(service: str) -> Callable[[TileProvider], TileProvider]:
    def decorator(provider: TileProvider) -> TileProvider:
        _providers[service] = provider
        return provider

    return decorator


def all_tiles() -> list[Tile]:
    tiles = []
    for service, title in SERVICES:
        provider = _providers.get(service)
        if provider is None:
            tiles.append(Tile(service, title, available=False, note="Pas encore en service."))
        else:
            tiles.append(provider())
    return tiles
