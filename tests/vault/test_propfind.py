"""The fast PROPFIND path answers like WsgiDAV's own machinery (the same properties,
values and statuses per member), and steps aside where it does not know how."""

from __future__ import annotations

from urllib.parse import quote, unquote

import pytest
import requests
from lxml import etree

from clocher.vault import services
from clocher.vault.dav import propfind
from tests.vault.conftest import ACTOR

pytestmark = pytest.mark.django_db(transaction=True)

NEXTCLOUD_BODY = b"""<?xml version="1.0"?>
<d:propfind xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns" xmlns:nc="http://nextcloud.org/ns">
<d:prop><d:resourcetype/><d:getlastmodified/><d:getcontentlength/><d:getetag/>
<oc:id/><oc:fileid/><oc:downloadURL/><oc:dDC/><oc:permissions/><oc:size/>
<nc:is-encrypted/><oc:share-types/><nc:has-preview/><d:quota-available-bytes/>
<d:quota-used-bytes/><d:displayname/><d:getcontenttype/><d:creationdate/>
<t:couleur xmlns:t="urn:test"/><unqualified xmlns=""/></d:prop></d:propfind>"""
ALLPROP_BODY = b'<?xml version="1.0"?><propfind xmlns="DAV:"><allprop/></propfind>'
PROPPATCH = b"""<?xml version="1.0"?>
<d:propertyupdate xmlns:d="DAV:" xmlns:t="urn:test"><d:set><d:prop>
<t:couleur>rouge &amp; <t:nuance>vif</t:nuance></t:couleur></d:prop></d:set></d:propertyupdate>"""
# WsgiDAV answers 200 with an empty value for the RFC 4331 quota properties of a file;
# they are defined for collections only, so the fast path says 404.
QUOTA = {"{DAV:}quota-available-bytes", "{DAV:}quota-used-bytes"}


def _shape(element: etree._Element) -> tuple:
    """An element by namespace URIs, whatever its prefixes."""
    return (
        element.tag,
        (element.text or "").strip(),
        tuple(_shape(child) for child in element),
        (element.tail or "").strip(),
    )


def _canonical(xml: bytes) -> dict[str, dict[str, tuple]]:
    """href → property → (status, its content)."""
    answer: dict[str, dict[str, tuple]] = {}
    for response in etree.fromstring(xml).iter("{DAV:}response"):
        href = response.findtext("{DAV:}href")
        props = answer.setdefault(href, {})
        for propstat in response.iter("{DAV:}propstat"):
            status = propstat.findtext("{DAV:}status").split()[1]
            for prop in propstat.find("{DAV:}prop"):
                props[prop.tag] = (status, _shape(prop))
    return answer


def _without_file_quota(listing: dict[str, dict[str, tuple]]) -> None:
    for href, props in listing.items():
        if not href.endswith("/"):
            for name in QUOTA & set(props):
                assert props[name][1] == (name, "", (), ""), (href, name, props[name])
                del props[name]


@pytest.fixture
def folder_url(dav_user, commune_a):
    space = services.ensure_commune_space(ACTOR, commune_a)
    root = services.root_of(space)
    folder = services.create_folder(ACTOR, root, "Délibérations")
    for index in range(30):
        services.write_bytes(ACTOR, folder, f"arrêté {index:02d} & <co>.pdf", b"x" * index)
    services.write_bytes(ACTOR, folder, "notes", b"sans extension")
    sub = services.create_folder(ACTOR, folder, "Annexes (2026)")
    services.write_bytes(ACTOR, sub, "dedans.txt", "pas listé en Depth 1".encode())
    url = dav_user.root + quote(commune_a.name) + "/" + quote("Délibérations") + "/"
    auth = (dav_user.user.email, dav_user.password)
    for target in (url, url + quote("arrêté 03 & <co>.pdf"), url + quote("Annexes (2026)") + "/"):
        patched = requests.request("PROPPATCH", target, data=PROPPATCH, auth=auth, timeout=10)
        assert patched.status_code == 207, patched.text
    return url, auth


def _propfind(url: str, auth: tuple[str, str], depth: str, body: bytes | None) -> bytes:
    answer = requests.request(
        "PROPFIND", url, auth=auth, headers={"Depth": depth}, data=body, timeout=30
    )
    assert answer.status_code == 207, answer.text
    assert answer.headers["Content-Type"].startswith("application/xml")
    assert int(answer.headers["Content-Length"]) == len(answer.content)
    return answer.content


@pytest.mark.parametrize("depth", ["0", "1"])
@pytest.mark.parametrize(
    "body", [None, ALLPROP_BODY, NEXTCLOUD_BODY], ids=["vide", "allprop", "nc"]
)
@pytest.mark.parametrize(
    "target", ["", quote("arrêté 03 & <co>.pdf"), "notes"], ids=["dossier", "fichier", "notes"]
)
def test_fast_path_answers_like_wsgidav(folder_url, monkeypatch, depth, body, target):
    url, auth = folder_url
    url += target
    calls = []
    original = propfind.multistatus
    monkeypatch.setattr(propfind, "multistatus", lambda *a: calls.append(1) or original(*a))
    fast = _canonical(_propfind(url, auth, depth, body))
    assert calls == [1]  # the fast path answered
    monkeypatch.setattr(propfind, "ENABLED", False)
    slow = _canonical(_propfind(url, auth, depth, body))
    _without_file_quota(fast)
    _without_file_quota(slow)
    for href in slow:
        for name in set(fast[href]) | set(slow[href]):
            assert fast[href].get(name) == slow[href].get(name), (href, name)
    assert fast == slow
    assert len(fast) == (33 if depth == "1" and not target else 1)
    dead = [p["{urn:test}couleur"] for p in fast.values() if "{urn:test}couleur" in p]
    expected = (
        "200",
        ("{urn:test}couleur", "rouge &", (("{urn:test}nuance", "vif", (), ""),), ""),
    )
    assert dead.count(expected) == (3 if depth == "1" and not target else int(target != "notes"))


def test_propname_lists_names_without_values(folder_url):
    url, auth = folder_url
    body = b'<propfind xmlns="DAV:"><propname/></propfind>'
    listing = _canonical(_propfind(url, auth, "1", body))
    patched = url[url.index("/remote.php") :] + quote("arrêté 03 & <co>.pdf")
    names = listing[patched]
    assert {"{DAV:}getetag", "{DAV:}getcontentlength", "{urn:test}couleur"} <= set(names)
    assert "{DAV:}quota-used-bytes" not in names  # a file has no quota
    assert all(value == ("200", (name, "", (), "")) for name, value in names.items())


def test_fast_path_steps_aside_for_locks(folder_url, monkeypatch):
    url, auth = folder_url
    calls = []
    original = propfind.multistatus
    monkeypatch.setattr(propfind, "multistatus", lambda *a: calls.append(1) or original(*a))
    _propfind(url, auth, "1", None)
    assert calls == [1]
    lock = requests.request(
        "LOCK",
        url + quote("notes"),
        auth=auth,
        timeout=10,
        data=b'<lockinfo xmlns="DAV:"><lockscope><exclusive/></lockscope>'
        b"<locktype><write/></locktype><owner>test</owner></lockinfo>",
    )
    assert lock.status_code == 200, lock.text
    locked = _propfind(url, auth, "1", None)
    assert calls == [1]  # WsgiDAV's path, which reports the lock
    assert b"activelock" in locked and b"test" in locked


def test_move_carries_dead_properties_and_reads_only_its_own(
    folder_url, django_assert_max_num_queries
):
    """A MOVE takes the dead properties of the folder and of everything in it to the new
    path, leaves the others alone, and reads only the keys under the moved path
    (WsgiDAV's own listed every dead property of the platform on each MOVE)."""
    from clocher.vault.dav.store import DatabasePropertyManager
    from clocher.vault.models import DavEntry

    url, auth = folder_url
    others = [f"prop:/remote.php/dav/files/autre{i}@x.fr/Commune/f{i}" for i in range(2000)]
    DavEntry.objects.bulk_create(DavEntry(key=key, value={"k": "v"}) for key in others)
    # The folder's name as a prefix of another's: not moved with it.
    sibling = url.rstrip("/") + quote(" bis") + "/"
    patched = requests.request("MKCOL", sibling, auth=auth, timeout=10)
    assert patched.status_code == 201
    patched = requests.request("PROPPATCH", sibling, data=PROPPATCH, auth=auth, timeout=10)
    assert patched.status_code == 207
    before = set(DavEntry.objects.values_list("key", flat=True))

    moved_url = url.rstrip("/") + quote(" 2026") + "/"
    answer = requests.request(
        "MOVE", url, auth=auth, headers={"Destination": moved_url}, timeout=30
    )
    assert answer.status_code == 201, answer.text

    listing = _canonical(_propfind(moved_url, auth, "1", NEXTCLOUD_BODY))
    colour = "{urn:test}couleur"
    coloured = {href for href, props in listing.items() if props[colour][0] == "200"}
    assert {unquote(h).rstrip("/").rsplit("/", 1)[-1] for h in coloured} == {
        "Annexes (2026)",
        "Délibérations 2026",
        "arrêté 03 & <co>.pdf",
    }
    after = set(DavEntry.objects.values_list("key", flat=True))
    gone, came = before - after, after - before
    assert len(gone) == len(came) == 3
    assert all(unquote(key).count("/Délibérations/") == 1 for key in gone)
    assert all(unquote(key).count("/Délibérations 2026/") == 1 for key in came)
    assert set(others) <= after and any(unquote(k).endswith("Délibérations bis/") for k in after)

    # In one process: a move reads the keys under its path, not the 2,000 others.
    manager = DatabasePropertyManager()
    moved_folder = min(came, key=len)[len("prop:") :]  # as WsgiDAV writes the URL
    back = moved_folder.removesuffix(quote(" 2026") + "/") + "/"
    with django_assert_max_num_queries(12):
        manager.move_properties(moved_folder, back, with_children=True)
    assert {k for k in DavEntry.objects.values_list("key", flat=True)} == before


@pytest.mark.django_db
def test_listing_dates_are_cut_to_the_second_as_wsgidav_writes_them(commune_a):
    """A date just under the next second stays in its second (SQLite rounded it to the
    millisecond first: 45.9996 was written :46 by the listing and :45 by WsgiDAV)."""
    from datetime import UTC, datetime

    from clocher.vault.models import Node

    space = services.ensure_commune_space(ACTOR, commune_a)
    folder = services.create_folder(ACTOR, services.root_of(space), "à la seconde")
    when = datetime(2026, 12, 6, 10, 1, 45, 999_600, tzinfo=UTC)
    Node.objects.filter(pk=folder.pk).update(created_at=when, modified_at=when)
    created, modified = (
        Node.objects.filter(pk=folder.pk)
        .annotate(c=propfind._Epoch("created_at"), m=propfind._Epoch("modified_at"))
        .values_list("c", "m")
        .get()
    )
    assert created == modified == float(int(when.timestamp()))
