"""Hostile input on every route, from anyone and from the people entitled to it: a clear
refusal, never a server error.

The routes come from the resolver, filled with commune A's objects, as in the isolation
matrix (`tests/test_isolation.py`: a new route joins both by itself; a public route's
secret token is an unknown one). An anonymous visitor, A's admin, A's agent and an
operator admin each send: a GET with absurd query parameters (negative page, month 13,
30 February, 20-digit numbers, NUL, non-UTF-8); POSTs of form fields under the names the
project's forms use, each time with one kind of bad value (NUL byte, 400-digit number,
NaN, 30 February, 70,000 characters, a path out of the tree); files under the names
upload fields take (binary noise, a truncated zip, a zip of 200 MB of zeros, a Latin-1
CSV with a NUL byte, a line of 200,000 characters, carriage returns alone, an empty
file); a form body that is not UTF-8; and, for the API, malformed and mistyped JSON by
POST, PUT and PATCH. Every answer must be below 500. What a valid request does is each
domain's own tests; this one asks that none of these inputs reaches an unhandled error.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from functools import cache

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from clocher.accounts.models import User
from clocher.core import services
from clocher.core.models import Role
from tests.conftest import SYSTEM, logged_in

# The matrix's routes, A's objects and its `world` fixture (built once for this module).
from tests.test_isolation import PUBLIC, World, _reverse, all_routes, world  # noqa: F401

# The field names of the project's forms and serializers (and a few common ones).
FIELDS = (
    "name", "email", "file", "insee", "address", "amount", "date", "start", "end", "quota",
    "q", "label", "title", "value", "role", "password", "code", "text", "description", "url",
    "domain", "members", "kind", "year", "count", "ids", "action", "next", "page", "month",
    "rate", "principal", "duration", "meter", "building", "surface", "target", "horizon",
    "status", "reason", "comment", "level", "scope", "size", "limit", "offset", "sort",
    "order", "format", "from", "to", "since", "until", "id", "commune", "user", "mailbox",
    "alias", "days", "hours", "port", "protocol", "ip", "cidr", "prefix", "token", "otp",
    "full_name", "phone", "subject", "body", "message", "recipients", "template", "agents",
    "score", "index", "margin", "loan", "csv", "data",
)  # fmt: skip
BAD_VALUES = {
    "octet nul": "a\x00b",
    "nombre de 400 chiffres": "9" * 400,
    "NaN": "NaN",
    "30 février": "2026-02-30",
    "négatif de 20 chiffres": "-99999999999999999999",
    "70 000 caractères": "x" * 70_000,
    "chemin hors de l'arbre": "../../../etc/passwd",
}
BAD_QUERY = (
    "?page=-1&q=%00&year=99999&start=2026-02-30&end=x&sort=../&month=13&since=nan"
    "&limit=99999999999999999999&offset=-5&format=%FF&from=1e309&to=--"
)
BAD_JSON = (
    "{",
    "[]",
    '"x"',
    '{"name": null, "email": 5, "insee": [1], "amount": "NaN", "date": "2026-02-30"}',
    '{"amount": 1e999, "principal": -1, "rate": "x", "year": 99999999999999999999}',
)


# The names the project's upload fields take (forms, the finance index form's prefix,
# the vault's multiple upload and its import).
UPLOAD_FIELDS = ("file", "fichiers", "archive", "index-file", "csv")


@cache
def _zip_bomb() -> bytes:
    """200 MB of zeros in a 200 KB zip."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("donnees.csv", "w") as member,
    ):
        for _ in range(200):
            member.write(bytes(1 << 20))
    return out.getvalue()


def _bad_files() -> dict[str, tuple[str, Callable[[], bytes]]]:
    """Files a route may be sent: name and content, by kind."""
    return {
        "binaire": ("../../relevé.csv", lambda: bytes(range(256)) * 256),
        "zip tronqué": ("../../archive.zip", lambda: b"PK\x03\x04" + bytes(range(200))),
        "bombe zip": ("archive.zip", _zip_bomb),
        "CSV Latin-1 avec NUL": (
            "relevé.csv",
            lambda: "nom;date;montant\né\x00;30/02/2026;NaN\n;;\n".encode("latin-1"),
        ),
        "une ligne de 200 000 caractères": ("long.csv", lambda: b"annee;" + b"x" * 200_000),
        "retours chariot seuls": ("mac.csv", lambda: b"annee;montant\r2020;1\r\r;;\r"),
        "vide": ("vide.pdf", lambda: b""),
    }


def _requests(client: Client, url: str) -> list[tuple[str, Callable[[], object]]]:
    sent: list[tuple[str, Callable[[], object]]] = [
        ("GET " + BAD_QUERY, lambda: client.get(url + BAD_QUERY))
    ]
    for label, value in BAD_VALUES.items():
        form = dict.fromkeys(FIELDS, value)
        sent.append((f"POST ({label})", lambda form=form: client.post(url, form)))
    for label, (filename, content) in _bad_files().items():

        def upload(filename: str = filename, content: Callable[[], bytes] = content) -> object:
            files = {f: SimpleUploadedFile(filename, content()) for f in UPLOAD_FIELDS}
            return client.post(url, {"name": "essai", **files})

        sent.append((f"POST fichier ({label})", upload))
    raw = b"name=%FF&email=%FE%00"
    kind = "application/x-www-form-urlencoded"
    sent.append(("POST (pas de l'UTF-8)", lambda: client.post(url, raw, content_type=kind)))
    if url.startswith("/api/"):
        for body in BAD_JSON:
            for method in ("post", "put", "patch"):
                send = getattr(client, method)
                sent.append(
                    (f"{method.upper()} {body[:30]}",
                     lambda send=send, body=body: send(url, body, content_type="application/json"))
                )  # fmt: skip
    return sent


ROUTES = all_routes()


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "kwarg_names"), ROUTES, ids=[r[0] for r in ROUTES])
def test_hostile_input_gets_a_refusal_not_a_server_error(
    name: str,
    kwarg_names: list[str],
    world: World,  # noqa: F811 - the fixture imported above
) -> None:
    # A public route's secret token (an exercise's lure) is not among A's objects: an
    # unknown one is hostile input too.
    unknown = {k: "jeton-inconnu" for k in kwarg_names if name in PUBLIC}
    url = _reverse(name, kwarg_names, {**unknown, **world.victim})
    operator = services.add_operator_member(SYSTEM, "admin@cotedor.fr", Role.OPERATOR_ADMIN)
    people: dict[str, User | None] = {
        "anonyme": None,
        "admin de A": User.objects.get(email="secretaire@flavigny.test"),
        "agent de A": User.objects.get(email="agent@flavigny.test"),
        "administrateur opérateur": operator.user,
    }
    errors = []
    for who, user in people.items():
        client = Client() if user is None else logged_in(user)
        client.raise_request_exception = False  # a 500 is reported below, with the others
        for label, send in _requests(client, url):
            status = send().status_code  # type: ignore[attr-defined]
            if status >= 500:
                errors.append(f"{label} {url} par {who} : HTTP {status}")
    assert not errors, "\n".join(errors)
