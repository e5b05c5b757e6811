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


def test_a_remembered_app_password_skips_the_lockout_reads_and_one_login_checks_it(dav_user):
    """Issue 14: sync clients send the same pair on every request and open several
    connections at once: the pair is verified once, and then the failed-attempt counts
    (which only stop guessing) are not read again; the membership still is."""
    from concurrent.futures import ThreadPoolExecutor
    from unittest import mock

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from clocher.accounts import services as accounts
    from clocher.vault.dav import auth

    login, password = dav_user.user.email, dav_user.password
    auth._verified.clear()

    def log_in(_: int) -> object:
        try:
            return auth.authenticate(login, password, "10.0.0.1")
        finally:
            connection.close()  # this thread's own

    with (
        mock.patch.object(
            accounts, "check_app_password", wraps=accounts.check_app_password
        ) as checked,
        ThreadPoolExecutor(4) as pool,
    ):
        found = list(pool.map(log_in, range(4)))
    assert all(f is not None and f[0] == dav_user.user for f in found)
    assert checked.call_count == 1
    with CaptureQueriesContext(connection) as queries:
        assert auth.authenticate(login, password, "10.0.0.1") is not None
    sql = " ".join(q["sql"] for q in queries.captured_queries)
    assert "loginattempt" not in sql.lower()
    assert "core_membership" in sql
