"""GET and PUT of a file answered before WsgiDAV (`vault/dav/fast.py`, issue 14): the
same answers as WsgiDAV's, the same refusals (revoked password, cut membership, lock,
quota), and everything else still WsgiDAV's."""

from __future__ import annotations

import unicodedata
from urllib.parse import quote

import pytest
import requests

from clocher.accounts.models import AppPassword
from clocher.accounts.services import create_app_password
from clocher.storage.blobstore.local import LocalStore
from clocher.vault import services
from clocher.vault.dav import fast, lookups
from clocher.vault.models import Node, Space
from tests.access_cuts import ACTOR, cuts
from tests.vault.conftest import DavUser

pytestmark = pytest.mark.django_db(transaction=True)
# Headers that differ between two answers for reasons of time or content only.
VOLATILE = {"date", "etag", "oc-etag", "oc-fileid", "last-modified", "content-length", "server"}


@pytest.fixture
def answered(monkeypatch) -> list[str]:
    """The methods the fast path answered (None from it means WsgiDAV answered)."""
    seen: list[str] = []
    real = fast.answer

    def spy(environ, start_response):
        found = real(environ, start_response)
        if found is not None:
            seen.append(environ["REQUEST_METHOD"])
        return found

    monkeypatch.setattr(fast, "answer", spy)
    return seen


def _space(dav_user: DavUser, commune) -> str:
    return dav_user.root + quote(commune.name) + "/"


def _auth(dav_user: DavUser) -> tuple[str, str]:
    return dav_user.user.email, dav_user.password


def _warm(dav_user: DavUser, commune) -> None:
    """The first request verifies the password through WsgiDAV: it is then remembered."""
    listing = requests.request(
        "PROPFIND", _space(dav_user, commune), auth=_auth(dav_user), headers={"Depth": "0"},
        timeout=30,
    )  # fmt: skip
    assert listing.status_code == 207


def _headers(answer: requests.Response) -> dict[str, str]:
    return {k.lower(): v for k, v in answer.headers.items() if k.lower() not in VOLATILE}


def _put_then_get(dav_user: DavUser, commune, name: str, content: bytes) -> list[requests.Response]:
    url = _space(dav_user, commune) + quote(name)
    auth = _auth(dav_user)
    made = requests.put(url, data=content, auth=auth, headers={"X-OC-Mtime": "1700000000"},
                        timeout=30)  # fmt: skip
    again = requests.put(url, data=content + b"!", auth=auth, timeout=30)
    got = requests.get(url, auth=auth, timeout=30)
    return [made, again, got]


def test_get_and_put_answer_as_webdav_does(dav_user, commune_a, answered, monkeypatch):
    _warm(dav_user, commune_a)
    ours = _put_then_get(dav_user, commune_a, "rapport d'été.txt", b"bonjour")
    assert answered == ["PUT", "PUT", "GET"]
    monkeypatch.setattr(fast, "ENABLED", False)
    theirs = _put_then_get(dav_user, commune_a, "rapport d'hiver.txt", b"bonjour")
    assert answered == ["PUT", "PUT", "GET"]  # nothing more: WsgiDAV answered
    assert [a.status_code for a in ours] == [a.status_code for a in theirs] == [201, 204, 200]
    for mine, its in zip(ours, theirs, strict=True):
        assert _headers(mine) == _headers(its)
        assert set(mine.headers) == set(its.headers)
    made, again, got = ours
    node = Node.objects.get(name="rapport d'été.txt", deleted_at__isnull=True)
    assert made.headers["OC-FileId"] == str(node.pk) == again.headers["OC-FileId"]
    assert made.headers["X-OC-MTime"] == "accepted"
    assert got.content == b"bonjour!" and got.headers["ETag"] == f'"{node.etag}"'
    assert again.headers["ETag"] == got.headers["ETag"]
    assert node.versions.count() == 2


def test_a_file_of_several_chunks_and_a_decomposed_name(
    dav_user, commune_a, answered, settings, vault_dir, monkeypatch
):
    settings.VAULT_CHUNK_BYTES = 1000
    _warm(dav_user, commune_a)
    flushes: list[int] = []
    real = LocalStore.put_many
    monkeypatch.setattr(
        LocalStore, "put_many", lambda self, items: flushes.append(len(items)) or real(self, items)
    )
    content = bytes(range(256)) * 20  # six chunks
    decomposed = unicodedata.normalize("NFD", "Délibération.bin")
    url = _space(dav_user, commune_a)
    put = requests.put(url + quote(decomposed), data=content, auth=_auth(dav_user), timeout=30)
    assert put.status_code == 201
    got = requests.get(url + quote("Délibération.bin"), auth=_auth(dav_user), timeout=30)
    assert got.status_code == 200 and got.content == content
    assert answered == ["PUT", "GET"]
    # Its six chunks were written with one flush, and nothing was left aside.
    assert flushes == [6]
    assert [p for p in vault_dir.rglob("*") if p.name.endswith(".tmp")] == []


def test_what_the_fast_path_leaves_to_webdav(dav_user, commune_a, answered):
    _warm(dav_user, commune_a)
    url, auth = _space(dav_user, commune_a), _auth(dav_user)
    assert requests.put(url + "a.txt", data=b"abc", auth=auth, timeout=30).status_code == 201
    assert requests.get(url + "absent.txt", auth=auth, timeout=30).status_code == 404
    assert requests.put(url + "nulle/part.txt", data=b"x", auth=auth, timeout=30).status_code == 409
    ranged = requests.get(url + "a.txt", auth=auth, headers={"Range": "bytes=1-"}, timeout=30)
    assert ranged.status_code == 206 and ranged.content == b"bc"
    etag = requests.get(url + "a.txt", auth=auth, timeout=30).headers["ETag"]
    unchanged = requests.get(url + "a.txt", auth=auth, headers={"If-None-Match": etag},
                             timeout=30)  # fmt: skip
    assert unchanged.status_code == 304
    wrong = requests.get(url + "a.txt", auth=(dav_user.user.email, "faux"), timeout=30)
    assert wrong.status_code == 401
    assert answered == ["PUT", "GET"]


def test_a_locked_file_is_refused_without_its_token(dav_user, commune_a, answered):
    _warm(dav_user, commune_a)
    url, auth = _space(dav_user, commune_a) + "verrou.txt", _auth(dav_user)
    assert requests.put(url, data=b"v1", auth=auth, timeout=30).status_code == 201
    body = (
        '<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/>'
        "</D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>"
    )
    lock = requests.request("LOCK", url, data=body, auth=auth, timeout=30)
    assert lock.status_code == 200
    assert requests.put(url, data=b"v2", auth=auth, timeout=30).status_code == 423
    token = lock.headers["Lock-Token"]
    unlocked = requests.put(url, data=b"v2", auth=auth, headers={"If": f"({token})"}, timeout=30)
    assert unlocked.status_code == 204
    assert requests.get(url, auth=auth, timeout=30).content == b"v2"
    assert answered == ["PUT", "GET"]  # the first PUT and the last GET only


def test_a_folder_holding_a_lock_is_kept_and_only_its_tree_is_read(
    dav_user, commune_a, django_assert_max_num_queries
):
    """A DELETE of a folder whose file is locked is refused without the token (the
    member's 423 in a 207) and done with it; the recursive check reads the locks below
    the folder only (WsgiDAV's read every lock of the platform, key by key)."""
    from clocher.vault.dav.store import DatabaseLockStorage
    from clocher.vault.models import DavEntry

    _warm(dav_user, commune_a)
    space, auth = _space(dav_user, commune_a), _auth(dav_user)
    body = (
        '<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/>'
        "</D:lockscope><D:locktype><D:write/></D:locktype></D:lockinfo>"
    )
    tokens = {}
    # The folder, a sibling whose name starts with the folder's, and other files: locked.
    for name in ["Dossier/verrou.txt", "Dossier bis/x.txt", *(f"autre{i}.txt" for i in range(20))]:
        folder = name.rpartition("/")[0]
        if folder:
            requests.request("MKCOL", space + quote(folder), auth=auth, timeout=30)
        url = space + quote(name)
        assert requests.put(url, data=b"v", auth=auth, timeout=30).status_code == 201
        lock = requests.request("LOCK", url, data=body, auth=auth, timeout=30)
        assert lock.status_code == 200
        tokens[name] = lock.headers["Lock-Token"]

    folder_url = space + quote("Dossier") + "/"
    refused = requests.delete(folder_url, auth=auth, timeout=30)
    assert refused.status_code == 207 and "423 Locked" in refused.text  # the member's status
    # Nothing deleted: neither the file nor its folder (which went to the trash with it).
    assert not Node.objects.filter(name__in=["Dossier", "verrou.txt"], deleted_at__isnull=False)

    storage = DatabaseLockStorage()
    storage.open()
    keys = list(DavEntry.objects.values_list("key", flat=True))
    matches = [k for k in keys if "/Dossier/verrou" in k and "URL2TOKEN" in k]
    assert len(matches) == 1, [k for k in keys if "Dossier" in k]  # the lock is kept
    (key,) = matches
    folder_path = key.removeprefix("lock:URL2TOKEN:").rpartition("/")[0]
    with django_assert_max_num_queries(6):
        below = storage.get_lock_list(
            folder_path, include_root=False, include_children=True, token_only=True
        )
    assert below == [tokens["Dossier/verrou.txt"].strip("<>")]

    # The token tagged with the locked file's URL (untagged, it would be the folder's: 412).
    held = {"If": f"<{space + quote('Dossier/verrou.txt')}> ({tokens['Dossier/verrou.txt']})"}
    assert requests.delete(folder_url, auth=auth, headers=held, timeout=30).status_code == 204
    assert Node.objects.get(name="Dossier", parent__parent__isnull=True).deleted_at is not None
    assert Node.objects.get(name="Dossier bis").deleted_at is None


def test_the_quota_still_refuses(dav_user, commune_a, answered):
    _warm(dav_user, commune_a)
    commune_a.quota_storage_bytes = 10
    commune_a.save(update_fields=["quota_storage_bytes"])
    put = requests.put(_space(dav_user, commune_a) + "gros.bin", data=b"x" * 11,
                       auth=_auth(dav_user), timeout=30)  # fmt: skip
    assert put.status_code == 507
    assert answered == ["PUT"]
    assert not Node.objects.filter(name="gros.bin").exists()


def test_a_revoked_app_password_is_refused_at_once(dav_user, commune_a, answered):
    _warm(dav_user, commune_a)
    url, auth = _space(dav_user, commune_a) + "a.txt", _auth(dav_user)
    assert requests.put(url, data=b"abc", auth=auth, timeout=30).status_code == 201
    AppPassword.objects.filter(user=dav_user.user).update(revoked_at="2026-01-01T00:00:00Z")
    assert requests.get(url, auth=auth, timeout=30).status_code == 401
    assert requests.put(url, data=b"new", auth=auth, timeout=30).status_code == 401
    assert answered == ["PUT"]


def test_requests_read_the_persons_spaces_once_and_check_access_in_their_own(
    dav_user, commune_a, answered, monkeypatch
):
    """Issue 14: GET and PUT read the person's spaces once every PERSON_SECONDS, not on
    every request; each request's own statement checks the access and the space's names
    again, so a rename or a revocation still bites at once."""
    monkeypatch.setattr(fast, "_PEOPLE", {})
    _warm(dav_user, commune_a)
    url, auth = _space(dav_user, commune_a) + "a.txt", _auth(dav_user)
    reads: list[int] = []
    real = fast._read_person
    monkeypatch.setattr(fast, "_read_person", lambda ids: reads.append(1) or real(ids))
    assert requests.put(url, data=b"abc", auth=auth, timeout=30).status_code == 201
    for _ in range(3):
        assert requests.get(url, auth=auth, timeout=30).content == b"abc"
    assert requests.put(url, data=b"abcd", auth=auth, timeout=30).status_code == 204
    assert requests.get(url, auth=auth, timeout=30).content == b"abcd"
    assert reads == [1]  # the first PUT's
    # A commune space's label is its commune's name: its own name is only checked.
    Space.objects.filter(commune=commune_a, kind="commune").update(name="Renommé")
    for _ in range(2):
        assert requests.get(url, auth=auth, timeout=30).content == b"abcd"
    assert reads == [1, 1]  # read again once, then kept
    old_url = url
    commune_a.name = "Autre nom"
    commune_a.save(update_fields=["name"])
    assert requests.get(old_url, auth=auth, timeout=30).status_code == 404
    assert len(reads) == 3
    url = _space(dav_user, commune_a) + "a.txt"
    assert requests.get(url, auth=auth, timeout=30).content == b"abcd"
    monkeypatch.setattr(fast, "PERSON_SECONDS", 0.0)
    assert requests.get(url, auth=auth, timeout=30).content == b"abcd"
    assert len(reads) == 4  # read again once old
    monkeypatch.setattr(fast, "PERSON_SECONDS", 3600.0)
    AppPassword.objects.filter(user=dav_user.user).update(revoked_at="2026-01-01T00:00:00Z")
    assert requests.get(url, auth=auth, timeout=30).status_code == 401
    assert requests.put(url, data=b"new", auth=auth, timeout=30).status_code == 401
    assert answered == ["PUT", "GET", "GET", "GET", "PUT", "GET", "GET", "GET", "GET", "GET"]


def test_a_new_group_space_is_found_and_leaving_it_bites_at_once(dav_user, commune_a, answered):
    """A space added after the person's spaces were read is found (the label is missing:
    they are read again); a member taken out of a group space is refused at the next
    request, though the spaces read earlier still name it."""
    _warm(dav_user, commune_a)
    auth = _auth(dav_user)
    put = requests.put(_space(dav_user, commune_a) + "a.txt", data=b"abc", auth=auth, timeout=30)
    assert put.status_code == 201
    group = services.create_group_space(ACTOR, commune_a, "Conseil", [dav_user.user])
    url = dav_user.root + "Conseil/b.txt"
    assert requests.put(url, data=b"conseil", auth=auth, timeout=30).status_code == 201
    assert requests.get(url, auth=auth, timeout=30).content == b"conseil"
    services.set_group_members(ACTOR, group, [])
    assert requests.get(url, auth=auth, timeout=30).status_code == 404
    assert requests.put(url, data=b"encore", auth=auth, timeout=30).status_code in (404, 409)
    assert answered == ["PUT", "PUT", "GET"]
    assert Node.objects.get(name="b.txt").size == len(b"conseil")


def test_the_checked_statement_finds_only_the_persons_own_space_by_its_names(
    dav_user, dav_user_b, commune_a, commune_b
):
    """The check inside each request's statement, on its own (without the fresh read
    that follows an empty answer): another commune's space, another account's password,
    another address or a name that no longer matches finds nothing."""
    for user, commune in ((dav_user, commune_a), (dav_user_b, commune_b)):
        _warm(user, commune)
        put = requests.put(_space(user, commune) + "a.txt", data=b"abc", auth=_auth(user),
                           timeout=30)  # fmt: skip
        assert put.status_code == 201
    ids = [
        (AppPassword.objects.get(user=u.user).pk, u.user.pk, u.user.email)
        for u in (dav_user, dav_user_b)
    ]
    own = Space.objects.select_related("commune").get(commune=commune_a, kind="commune")
    other = Space.objects.select_related("commune").get(commune=commune_b, kind="commune")

    def rows(who, space, space_name=None, email=None):
        password_id, user_id, address = who
        return lookups.FILES.checked.rows(
            password_id, user_id, email or address, space_name or space.name,
            space.commune.name, space.pk, "a.txt",
        )  # fmt: skip

    assert len(rows(ids[0], own)) == 1
    assert len(rows(ids[1], other)) == 1
    assert rows(ids[0], other) == []  # not their commune's space
    assert rows((ids[1][0], *ids[0][1:]), own) == []  # another account's password
    assert rows(ids[0], own, email="autre@flavigny.test") == []
    assert rows(ids[0], own, space_name="Ancien nom") == []


@cuts
def test_a_cut_access_is_refused_at_once(dav_server, agent_a, commune_a, cut, restore, answered):
    services.ensure_commune_space(ACTOR, commune_a)
    user = DavUser(agent_a, create_app_password(ACTOR, agent_a, "tests").clear, dav_server)
    _warm(user, commune_a)
    url, auth = _space(user, commune_a) + "a.txt", _auth(user)
    assert requests.put(url, data=b"abc", auth=auth, timeout=30).status_code == 201
    assert requests.get(url, auth=auth, timeout=30).status_code == 200
    cut(agent_a, commune_a)
    assert requests.get(url, auth=auth, timeout=30).status_code in (401, 404)
    assert requests.put(url, data=b"new", auth=auth, timeout=30).status_code in (401, 404, 409)
    assert answered == ["PUT", "GET"]
    if restore is not None:
        restore(agent_a, commune_a)
        assert requests.get(url, auth=auth, timeout=30).content == b"abc"


@pytest.mark.django_db(transaction=False)
def test_header_dates_are_wsgidavs_formatted_once_per_second():
    from wsgidav import util

    for seconds in (-1, -0.5, 0, 1_700_000_000, 1_700_000_000.999, 1_800_000_001.25):
        assert fast._http_date(seconds) == util.get_rfc1123_time(seconds)
        assert fast._http_date(seconds) is fast._http_date(seconds)
    before, now, after = util.get_rfc1123_time(), fast._http_date(), util.get_rfc1123_time()
    assert now in (before, after)
