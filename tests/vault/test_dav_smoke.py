"""WebDAV through a real HTTP server with a plain HTTP client."""

from __future__ import annotations

from urllib.parse import quote

import pytest
import requests

pytestmark = pytest.mark.django_db(transaction=True)


def test_put_get_propfind_roundtrip(dav_user, commune_a):
    auth = (dav_user.user.email, dav_user.password)
    space = dav_user.root + quote(commune_a.name) + "/"
    listing = requests.request(
        "PROPFIND", dav_user.root, auth=auth, headers={"Depth": "1"}, timeout=10
    )
    assert listing.status_code == 207, listing.text
    assert commune_a.name in listing.text
    put = requests.put(space + "note.txt", data=b"bonjour", auth=auth, timeout=10)
    assert put.status_code in (201, 204), put.text
    got = requests.get(space + "note.txt", auth=auth, timeout=10)
    assert got.status_code == 200 and got.content == b"bonjour"
    ranged = requests.get(space + "note.txt", auth=auth, headers={"Range": "bytes=3-5"}, timeout=10)
    assert ranged.status_code == 206 and ranged.content == b"jou"
    wrong = requests.get(space + "note.txt", auth=(dav_user.user.email, "faux"), timeout=10)
    assert wrong.status_code == 401
