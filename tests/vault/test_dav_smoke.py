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


BROKEN = "rapport%FF%C3%28.txt"  # not UTF-8 once percent-decoded


def test_a_name_that_is_not_utf8_is_refused_clearly_and_changes_nothing(dav_user, commune_a):
    """A client with a legacy encoding (a Latin-1 `é` sent as %E9) got a 500 from WsgiDAV
    for its path, and a MOVE to such a name renamed the file to replacement characters."""
    from clocher.vault import services
    from clocher.vault.models import Node, Space, UploadSession

    auth = (dav_user.user.email, dav_user.password)
    space = dav_user.root + quote(commune_a.name) + "/"
    assert (
        requests.put(space + "garde.txt", data=b"reste", auth=auth, timeout=10).status_code == 201
    )
    before = set(Node.objects.values_list("name", flat=True))
    for method in ("PUT", "GET", "MKCOL", "PROPFIND", "DELETE", "LOCK", "PROPPATCH"):
        answer = requests.request(method, space + BROKEN, data=b"x", auth=auth, timeout=10)
        assert answer.status_code == 400, (method, answer.status_code)
        assert "UTF-8" in answer.text, method
    for method in ("MOVE", "COPY"):
        answer = requests.request(
            method, space + "garde.txt", auth=auth, headers={"Destination": space + BROKEN},
            timeout=10,
        )  # fmt: skip
        assert answer.status_code == 400 and "UTF-8" in answer.text, method
    # A chunked upload's assembly (Nextcloud) to such a name: refused, its parts kept.
    session = f"{dav_user.base}/remote.php/dav/uploads/{dav_user.user.email}/77"
    assert requests.request("MKCOL", session, auth=auth, timeout=10).status_code == 201
    assert requests.put(f"{session}/00001", data=b"part", auth=auth, timeout=10).status_code == 201
    assembled = requests.request(
        "MOVE", f"{session}/.file", auth=auth, headers={"Destination": space + BROKEN}, timeout=10
    )
    assert assembled.status_code == 400 and "UTF-8" in assembled.text
    assert UploadSession.objects.count() == 1
    assert set(Node.objects.values_list("name", flat=True)) == before
    root = services.root_of(Space.objects.get(commune=commune_a, kind="commune"))
    assert b"".join(services.iter_content(services.child(root, "garde.txt"))) == b"reste"
    # The same name, properly encoded, is an ordinary name.
    fine = space + quote("rapport\u00e9.txt")
    assert requests.put(fine, data=b"ok", auth=auth, timeout=10).status_code == 201
    assert requests.get(fine, auth=auth, timeout=10).content == b"ok"


def test_a_body_over_1_mib_is_refused_unless_it_is_a_files_content(dav_user, commune_a):
    """PROPFIND, PROPPATCH and LOCK bodies are read whole into memory: bounded, with 413."""
    auth = (dav_user.user.email, dav_user.password)
    space = dav_user.root + quote(commune_a.name) + "/"
    big = b"<?xml version='1.0'?><D:propfind xmlns:D='DAV:'><D:allprop/></D:propfind>"
    big += b" " * (1024 * 1024)
    for method in ("PROPFIND", "PROPPATCH", "LOCK", "REPORT"):
        answer = requests.request(method, space, data=big, auth=auth, timeout=30)
        assert answer.status_code == 413, (method, answer.status_code)
        assert "1 Mio" in answer.text
    small = requests.request(
        "PROPFIND", space, data=big.strip(), auth=auth, headers={"Depth": "1"}, timeout=10
    )
    assert small.status_code == 207
    content = b"z" * (3 * 1024 * 1024)
    assert requests.put(space + "gros.bin", data=content, auth=auth, timeout=30).status_code == 201
    assert requests.get(space + "gros.bin", auth=auth, timeout=30).content == content


def test_a_whole_tree_walk_is_refused_on_a_folder_and_a_file_is_answered(dav_user, commune_a):
    """PROPFIND Depth infinity (or without Depth, RFC 4918 §9.1) on a folder would walk
    the commune's whole tree in one request: 403 with `propfind-finite-depth`, as
    Apache's mod_dav answers. On a file it is Depth 0; elsewhere the 404 stays a 404."""
    auth = (dav_user.user.email, dav_user.password)
    space = dav_user.root + quote(commune_a.name) + "/"
    assert requests.request("MKCOL", space + "actes", auth=auth, timeout=10).status_code == 201
    put = requests.put(space + "actes/arrete.txt", data=b"vu", auth=auth, timeout=10)
    assert put.status_code == 201
    for folder in (dav_user.root, space, space + "actes/"):
        for headers in ({"Depth": "infinity"}, {"Depth": "Infinity"}, {}):
            answer = requests.request("PROPFIND", folder, auth=auth, headers=headers, timeout=10)
            assert answer.status_code == 403, (folder, headers, answer.status_code)
            assert "propfind-finite-depth" in answer.text and "Depth: 1" in answer.text
    whole = {"Depth": "infinity"}
    on_file = requests.request(
        "PROPFIND", space + "actes/arrete.txt", auth=auth, headers=whole, timeout=10
    )
    assert on_file.status_code == 207 and "arrete.txt" in on_file.text
    missing = requests.request("PROPFIND", space + "absent/", auth=auth, headers=whole, timeout=10)
    assert missing.status_code == 404
    listed = requests.request("PROPFIND", space, auth=auth, headers={"Depth": "1"}, timeout=10)
    assert listed.status_code == 207 and "actes" in listed.text
    assert requests.get(space + "actes/arrete.txt", auth=auth, timeout=10).content == b"vu"


def test_a_modification_time_past_year_9999_is_refused_and_changes_nothing(dav_user, commune_a):
    """X-OC-Mtime is seconds; one past datetime's range was a 500 (PUT and a chunked
    upload's assembly alike)."""
    from clocher.vault.models import Node, UploadSession

    auth = (dav_user.user.email, dav_user.password)
    space = dav_user.root + quote(commune_a.name) + "/"
    assert requests.put(space + "vu.txt", data=b"avant", auth=auth, timeout=10).status_code == 201
    far = {"X-OC-Mtime": "99999999999999999999"}
    for name in ("vu.txt", "nouveau.txt"):
        put = requests.put(space + name, data=b"apres", auth=auth, headers=far, timeout=10)
        assert put.status_code == 400 and "9999" in put.text, (name, put.status_code)
    folder = requests.request("MKCOL", space + "dossier", auth=auth, headers=far, timeout=10)
    moved = requests.request(
        "MOVE", space + "vu.txt", auth=auth,
        headers={"Destination": space + "deplace.txt", **far}, timeout=10,
    )  # fmt: skip
    assert folder.status_code == moved.status_code == 400
    assert requests.get(space + "vu.txt", auth=auth, timeout=10).content == b"avant"
    assert not Node.objects.filter(name__in=["nouveau.txt", "dossier", "deplace.txt"]).exists()
    session = f"{dav_user.base}/remote.php/dav/uploads/{dav_user.user.email}/78"
    assert requests.request("MKCOL", session, auth=auth, timeout=10).status_code == 201
    assert requests.put(f"{session}/00001", data=b"part", auth=auth, timeout=10).status_code == 201
    assembled = requests.request(
        "MOVE", f"{session}/.file", auth=auth,
        headers={"Destination": space + "morceaux.txt", **far}, timeout=10,
    )  # fmt: skip
    assert assembled.status_code == 400 and "9999" in assembled.text
    assert UploadSession.objects.count() == 1 and not Node.objects.filter(name="morceaux.txt")
    # The last second accepted (30 December 9999) is a date like any other.
    last = {"X-OC-Mtime": "253402214399"}
    assert requests.put(space + "vu.txt", data=b"fin", auth=auth, headers=last, timeout=10).ok
