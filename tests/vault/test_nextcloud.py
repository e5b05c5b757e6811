"""Nextcloud's endpoints over real HTTP: status, OCS capabilities and user, and the
chunked-upload protocol step by step (out-of-order parts, resume listing, wrong total,
stale If-Match, quota, hostile names, another commune's credentials)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from urllib.parse import quote

import pytest
import requests

from clocher.vault import services
from clocher.vault.models import Space, UploadSession
from tests.vault.conftest import ACTOR

pytestmark = pytest.mark.django_db(transaction=True)


def test_status_and_ocs_tell_the_clients_what_they_need(dav_user):
    status = requests.get(f"{dav_user.base}/status.php", timeout=10).json()
    assert status["installed"] is True and status["productname"] == "Clocher"
    url = f"{dav_user.base}/ocs/v1.php/cloud/capabilities?format=json"
    assert requests.get(url, timeout=10).status_code == 401
    assert requests.get(url, auth=("x@y.fr", "faux"), timeout=10).status_code == 401
    auth = (dav_user.user.email, dav_user.password)
    caps = requests.get(url, auth=auth, timeout=10).json()["ocs"]
    assert caps["meta"]["statuscode"] == 100
    assert caps["data"]["capabilities"]["dav"]["chunking"] == "1.0"
    user = requests.get(
        f"{dav_user.base}/ocs/v2.php/cloud/user?format=json", auth=auth, timeout=10
    ).json()["ocs"]
    assert user["meta"]["statuscode"] == 200 and user["data"]["id"] == dav_user.user.email
    xml = requests.get(f"{dav_user.base}/ocs/v1.php/cloud/user", auth=auth, timeout=10)
    assert xml.headers["Content-Type"].startswith("application/xml")
    assert f"<id>{dav_user.user.email}</id>" in xml.text


def _session_url(dav_user, transfer: str) -> str:
    return f"{dav_user.base}/remote.php/dav/uploads/{dav_user.user.email}/{transfer}"


def test_chunked_upload_by_hand(dav_user, commune_a):
    auth = (dav_user.user.email, dav_user.password)
    session = _session_url(dav_user, "4242")
    target = f"{dav_user.root}{quote(commune_a.name)}/rapport.pdf"
    registry_before = ET.tostring(ET.Element("{DAV:}href"))
    assert requests.request("MKCOL", session, auth=auth, timeout=10).status_code == 201
    assert requests.request("MKCOL", session, auth=auth, timeout=10).status_code == 405
    parts = {"00003": b"C" * 300, "00001": b"A" * 100, "00002": b"B" * 200}
    for name, data in parts.items():  # out of order: assembled by number
        put = requests.put(f"{session}/{name}", data=data, auth=auth, timeout=10)
        assert put.status_code == 201
    listing = requests.request("PROPFIND", session, auth=auth, headers={"Depth": "1"}, timeout=10)
    assert listing.status_code == 207
    assert listing.text.count("<d:getcontentlength>") == 3 and ">300<" in listing.text
    sizes = ET.fromstring(listing.content).iter("{DAV:}getcontentlength")
    assert sorted(int(e.text or 0) for e in sizes) == [100, 200, 300]
    # The `d:` prefix is written locally: the process-wide ElementTree registry, which every
    # other XML answer of the worker uses (Radicale's too), is left as it was.
    assert ET.tostring(ET.Element("{DAV:}href")) == registry_before

    def move(**headers: str) -> requests.Response:
        return requests.request(
            "MOVE",
            f"{session}/.file",
            auth=auth,
            headers={"Destination": target, **headers},
            timeout=30,
        )

    wrong = move(**{"OC-Total-Length": "601"})
    assert wrong.status_code == 400
    message = ET.fromstring(wrong.content).find("{http://sabredav.org/ns}message")
    assert message is not None and "octets reçus" in (message.text or "")
    assert UploadSession.objects.count() == 1  # kept: the client can send what is missing
    done = move(**{"OC-Total-Length": "600", "X-OC-Mtime": "1700000000"})
    assert done.status_code == 201, done.text
    root = services.root_of(Space.objects.get(commune=commune_a, kind="commune"))
    node = services.child(root, "rapport.pdf")
    assert b"".join(services.iter_content(node)) == b"A" * 100 + b"B" * 200 + b"C" * 300
    assert done.headers["OC-FileId"] == str(node.pk)
    assert done.headers["ETag"] == f'"{node.etag}"'
    assert done.headers["X-OC-MTime"] == "accepted"
    assert int(node.modified_at.timestamp()) == 1700000000
    assert UploadSession.objects.count() == 0

    # A replacement prepared against an old ETag is refused, and changes nothing.
    services.write_bytes(ACTOR, root, "rapport.pdf", b"modifie ailleurs")
    assert requests.request("MKCOL", session, auth=auth, timeout=10).status_code == 201
    requests.put(f"{session}/00001", data=b"ancienne base", auth=auth, timeout=10)
    stale = move(**{"If-Match": f'"{node.etag}"'})
    assert stale.status_code == 412
    node.refresh_from_db()
    assert b"".join(services.iter_content(node)) == b"modifie ailleurs"


def test_chunked_upload_refuses_hostile_names_and_quota_overflow(dav_user, commune_a):
    auth = (dav_user.user.email, dav_user.password)
    base = f"{dav_user.base}/remote.php/dav/uploads/{dav_user.user.email}"
    assert requests.request("MKCOL", f"{base}/..%2F..", auth=auth, timeout=10).status_code in (
        400,
        404,
    )
    assert requests.request("MKCOL", f"{base}/.cache", auth=auth, timeout=10).status_code == 400
    session = f"{base}/77"
    requests.request("MKCOL", session, auth=auth, timeout=10)
    assert requests.put(f"{session}/.x", data=b"x", auth=auth, timeout=10).status_code == 400
    Space.objects.filter(commune=commune_a, kind="commune").update(quota_bytes=1000)
    assert requests.put(f"{session}/1", data=b"z" * 2000, auth=auth, timeout=10).status_code == 201
    full = requests.request(
        "MOVE",
        f"{session}/.file",
        auth=auth,
        headers={"Destination": f"{dav_user.root}{quote(commune_a.name)}/gros.bin"},
        timeout=30,
    )
    assert full.status_code == 507 and "quota" in full.text.lower()
    root = services.root_of(Space.objects.get(commune=commune_a, kind="commune"))
    assert services.child(root, "gros.bin") is None


def test_commune_b_cannot_touch_a_session_of_a(dav_user, dav_user_b, commune_a):
    auth_a = (dav_user.user.email, dav_user.password)
    auth_b = (dav_user_b.user.email, dav_user_b.password)
    session = _session_url(dav_user, "9001")
    requests.request("MKCOL", session, auth=auth_a, timeout=10)
    requests.put(f"{session}/1", data=b"secret de A", auth=auth_a, timeout=10)
    own_b = _session_url(dav_user_b, "9001")  # same transfer id under B's own login
    for url in (session, own_b):
        for method in ("PROPFIND", "DELETE"):
            answer = requests.request(method, url, auth=auth_b, timeout=10)
            assert answer.status_code == 404, (method, url, answer.status_code)
        assert requests.put(f"{url}/2", data=b"x", auth=auth_b, timeout=10).status_code == 404
        moved = requests.request(
            "MOVE",
            f"{url}/.file",
            auth=auth_b,
            headers={"Destination": f"{dav_user_b.root}vol.bin"},
            timeout=10,
        )
        assert moved.status_code == 404
    # A's destination through B's own session: not in B's tree.
    requests.request("MKCOL", own_b, auth=auth_b, timeout=10)
    stolen = requests.request(
        "MOVE",
        f"{own_b}/.file",
        auth=auth_b,
        headers={"Destination": f"{dav_user.root}{quote(commune_a.name)}/vol.bin"},
        timeout=10,
    )
    assert stolen.status_code == 409
    session_a = UploadSession.objects.get(user=dav_user.user)
    assert [p.name for p in session_a.parts.all()] == ["1"]


def test_login_flow_v2_hands_a_working_app_password_once(dav_server, admin_a, admin_b, commune_a):
    from tests.conftest import logged_in

    services.ensure_commune_space(ACTOR, commune_a)
    started = requests.post(
        f"{dav_server}/index.php/login/v2",
        headers={"User-Agent": "Mozilla/5.0 (Linux) mirall/3.7.3"},
        timeout=10,
    ).json()
    poll = started["poll"]
    assert poll["endpoint"].endswith("/index.php/login/v2/poll")
    waiting = requests.post(poll["endpoint"], data={"token": poll["token"]}, timeout=10)
    assert waiting.status_code == 404  # nobody has granted it yet
    login_path = started["login"].removeprefix(dav_server)

    browser = logged_in(admin_a)
    page = browser.get(login_path)
    assert page.status_code == 200
    assert "Nextcloud (poste de travail)" in page.content.decode()
    assert browser.post(login_path).status_code == 200
    assert logged_in(admin_b).get(login_path).status_code == 404  # used: gone for anyone

    granted = requests.post(poll["endpoint"], data={"token": poll["token"]}, timeout=10)
    assert granted.status_code == 200
    credentials = granted.json()
    assert credentials["loginName"] == admin_a.email and credentials["server"] == dav_server
    listing = requests.request(
        "PROPFIND",
        f"{dav_server}/remote.php/dav/files/{admin_a.email}/",
        auth=(credentials["loginName"], credentials["appPassword"]),
        headers={"Depth": "1"},
        timeout=10,
    )
    assert listing.status_code == 207 and commune_a.name in listing.text
    again = requests.post(poll["endpoint"], data={"token": poll["token"]}, timeout=10)
    assert again.status_code == 404  # handed over once
    forged = requests.post(poll["endpoint"], data={"token": "x" * 64}, timeout=10)
    assert forged.status_code == 404
    from clocher.accounts.models import AppPassword

    assert AppPassword.objects.filter(user=admin_a, name="Nextcloud (poste de travail)").exists()
