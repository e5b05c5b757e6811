"""A person's WebDAV root is their own space, as in Nextcloud (issue 13): a folder or a
file made at the top goes into their personal space, the commune's space and the group
folders are folders in it, and the former paths (`/<login>/Mes documents/…`) still
lead to the same files. Over real HTTP, with the Nextcloud mobile app's automatic
upload (folders made at the root, then a chunked upload), nextcloudcmd syncing the
root and a davfs2 mount."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import quote, unquote

import pytest
import requests

from clocher.accounts.models import User
from clocher.core.models import Membership, Role
from clocher.vault import services
from clocher.vault.models import Space, SpaceKind
from tests.vault.conftest import ACTOR
from tests.vault.test_nextcloudcmd import sync

pytestmark = pytest.mark.django_db(transaction=True)


def dav(dav_user, method: str, path: str = "", **kwargs) -> requests.Response:
    auth = (dav_user.user.email, dav_user.password)
    return requests.request(method, dav_user.root + path, auth=auth, timeout=60, **kwargs)


def listing(dav_user, path: str = "") -> list[str]:
    """Names of the members of a folder (Depth 1), without the folder itself."""
    answer = dav(dav_user, "PROPFIND", path, headers={"Depth": "1"})
    assert answer.status_code == 207, answer.text
    hrefs = [unquote(h.text or "") for h in ET.fromstring(answer.content).iter("{DAV:}href")]
    own = unquote(f"/remote.php/dav/files/{dav_user.user.email}/{path}")
    return sorted(
        h.rstrip("/").rpartition("/")[2] for h in hrefs if h.rstrip("/") != own.rstrip("/")
    )


def personal(user: User, commune) -> Space:
    return Space.objects.get(commune=commune, kind=SpaceKind.PERSONAL, owner=user)


def content(space: Space, *names: str) -> bytes:
    node = services.lookup(space, list(names))
    assert node is not None, names
    return b"".join(services.iter_content(node))


def test_the_root_is_the_personal_space_with_the_shared_ones_inside(dav_user, commune_a):
    commune_space = Space.objects.get(commune=commune_a, kind=SpaceKind.COMMUNE)
    services.write_bytes(ACTOR, services.root_of(commune_space), "partagé.txt", b"commun")
    etag_before = dav(dav_user, "PROPFIND", headers={"Depth": "0"}).text

    assert dav(dav_user, "MKCOL", "Photos").status_code == 201
    assert dav(dav_user, "PUT", "note.txt", data=b"a moi").status_code == 201
    assert dav(dav_user, "GET", "note.txt").content == b"a moi"
    home = personal(dav_user.user, commune_a)
    assert content(home, "note.txt") == b"a moi"
    assert services.lookup(home, ["Photos"]).is_folder

    # The commune's space is a folder of the root; "Mes documents" is the root itself,
    # not listed again (a sync client would fetch it twice), but its former path works.
    assert listing(dav_user) == sorted([commune_a.name, "Photos", "note.txt"])
    assert listing(dav_user, quote(commune_a.name)) == ["partagé.txt"]
    assert dav(dav_user, "GET", "Mes%20documents/note.txt").content == b"a moi"
    assert dav(dav_user, "PUT", "Mes%20documents/ancien.txt", data=b"b").status_code == 201
    assert dav(dav_user, "GET", "ancien.txt").content == b"b"
    assert sorted(listing(dav_user, "Mes%20documents")) == ["Photos", "ancien.txt", "note.txt"]

    # A space's name cannot be taken at the top, whatever its case.
    refused = dav(dav_user, "MKCOL", quote(commune_a.name.upper()))
    assert refused.status_code in (403, 409, 412), refused.text
    assert "est le nom d" in refused.text  # (the page escapes the apostrophe)
    assert dav(dav_user, "PUT", "mes%20DOCUMENTS", data=b"x").status_code in (403, 409, 412)
    moved = dav(
        dav_user,
        "MOVE",
        "note.txt",
        headers={"Destination": dav_user.root + quote(commune_a.name.lower())},
    )
    assert moved.status_code in (403, 409, 412), moved.text
    assert content(home, "note.txt") == b"a moi"
    # The root itself stays.
    assert dav(dav_user, "DELETE").status_code == 403

    # Files move between the root and the shared space; the root's ETag follows both.
    moved = dav(
        dav_user,
        "MOVE",
        "note.txt",
        headers={"Destination": dav_user.root + quote(commune_a.name) + "/note.txt"},
    )
    assert moved.status_code == 201, moved.text
    assert content(commune_space, "note.txt") == b"a moi"
    assert dav(dav_user, "PROPFIND", headers={"Depth": "0"}).text != etag_before


def test_a_member_of_two_communes_keeps_the_same_root(dav_user, commune_a, commune_b):
    """The home is the personal space of the commune joined first: joining another does
    not swap the content of the root; the other's personal space is a folder."""
    assert dav(dav_user, "PUT", "premier.txt", data=b"1").status_code == 201
    Membership.objects.create(user=dav_user.user, commune=commune_b, role=Role.AGENT)
    services.ensure_commune_space(ACTOR, commune_b)
    names = listing(dav_user)
    assert "premier.txt" in names
    assert {commune_a.name, commune_b.name, f"{commune_b.name} - Mes documents"} <= set(names)
    assert f"{commune_a.name} - Mes documents" not in names
    assert dav(dav_user, "PUT", "second.txt", data=b"2").status_code == 201
    assert content(personal(dav_user.user, commune_a), "second.txt") == b"2"
    path = quote(f"{commune_a.name} - Mes documents") + "/second.txt"
    assert dav(dav_user, "GET", path).content == b"2"


def test_each_person_writes_into_their_own_root_only(dav_user, dav_user_b, commune_b):
    """Isolation: commune B's admin writes at their root into their own space; neither
    sees the other's top, and A's credentials on B's root are refused as before."""
    assert dav(dav_user_b, "PUT", "de-b.txt", data=b"b").status_code == 201
    assert content(personal(dav_user_b.user, commune_b), "de-b.txt") == b"b"
    assert "de-b.txt" not in listing(dav_user)
    assert commune_b.name not in listing(dav_user)
    crossed = requests.get(
        dav_user_b.root + "de-b.txt", auth=(dav_user.user.email, dav_user.password), timeout=60
    )
    assert crossed.status_code == 404
    put = requests.put(
        dav_user_b.root + "intrus.txt",
        data=b"x",
        auth=(dav_user.user.email, dav_user.password),
        timeout=60,
    )
    assert put.status_code in (403, 404, 409)
    assert services.lookup(personal(dav_user_b.user, commune_b), ["intrus.txt"]) is None


def test_automatic_upload_of_the_nextcloud_app_makes_its_folders_at_the_root(dav_user, commune_a):
    """What the Android/iOS app does for its "auto upload": the folder at the root (and
    below it), then each photo through a chunked upload (v2) naming its destination."""
    auth = (dav_user.user.email, dav_user.password)
    assert dav(dav_user, "PROPFIND", "InstantUpload", headers={"Depth": "0"}).status_code == 404
    assert dav(dav_user, "MKCOL", "InstantUpload").status_code == 201
    assert dav(dav_user, "MKCOL", "InstantUpload/Camera").status_code == 201
    destination = dav_user.root + "InstantUpload/Camera/IMG_0001.jpg"
    session = f"{dav_user.base}/remote.php/dav/uploads/{dav_user.user.email}/photo-1"
    made = requests.request(
        "MKCOL", session, auth=auth, headers={"Destination": destination}, timeout=60
    )
    assert made.status_code == 201, made.text
    photo = os.urandom(300_000)
    for number, start in enumerate(range(0, len(photo), 100_000), start=1):
        part = photo[start : start + 100_000]
        put = requests.put(f"{session}/{number:05d}", data=part, auth=auth, timeout=60)
        assert put.status_code == 201, put.text
    done = requests.request(
        "MOVE",
        f"{session}/.file",
        auth=auth,
        headers={"Destination": destination, "OC-Total-Length": str(len(photo))},
        timeout=60,
    )
    assert done.status_code == 201, done.text
    home = personal(dav_user.user, commune_a)
    assert content(home, "InstantUpload", "Camera", "IMG_0001.jpg") == photo
    assert dav(dav_user, "GET", "InstantUpload/Camera/IMG_0001.jpg").content == photo
    assert home.refresh_from_db() is None and home.used_bytes == len(photo)


def test_nextcloudcmd_syncs_the_whole_root(dav_user, commune_a, tmp_path):
    """The desktop client set on the root (its default): what it makes at the top lands
    in the personal space, the shared space comes down as a folder."""
    commune_space = Space.objects.get(commune=commune_a, kind=SpaceKind.COMMUNE)
    services.write_bytes(ACTOR, services.root_of(commune_space), "affiche.txt", b"commun")
    local = tmp_path / "sync"
    local.mkdir()
    (local / "Nouveau dossier").mkdir()
    (local / "Nouveau dossier" / "dedans.txt").write_bytes(b"dedans")
    (local / "en haut.txt").write_bytes(b"en haut")
    for _ in range(2):  # the second run finds nothing left to do
        sync(dav_user, local, "")  # --path /: the root
    home = personal(dav_user.user, commune_a)
    assert content(home, "en haut.txt") == b"en haut"
    assert content(home, "Nouveau dossier", "dedans.txt") == b"dedans"
    assert (local / commune_a.name / "affiche.txt").read_bytes() == b"commun"
    assert not (local / "Mes documents").exists()


DAVFS = shutil.which("mount.davfs")


def test_davfs2_mount_makes_folders_and_files_at_the_top(dav_user, commune_a, tmp_path):
    """A mapped drive (Debian's davfs2): a folder and a file made at the top of the mount
    land in the personal space; the commune's space is a folder there. (The mount is not
    listed: davfs2 1.6's FUSE readdir answers EINVAL under this kernel's FUSE 7.45, after
    it has read the root's PROPFIND whole; each name is reached directly.)"""
    conf, secrets, mount = tmp_path / "davfs2.conf", tmp_path / "secrets", tmp_path / "mnt"
    mount.mkdir()
    # The daemon runs as the davfs2 user: its cache must be open to it (the test's own
    # directory is root's only, and davfs2 refuses a cache only its owner may enter).
    cache = Path(tempfile.mkdtemp(prefix="clocher-davfs-"))
    cache.chmod(0o777)
    url = dav_user.root
    secrets.write_text(f'"{url}" "{dav_user.user.email}" "{dav_user.password}"\n')
    secrets.chmod(0o600)
    conf.write_text(
        f"secrets {secrets}\ncache_dir {cache}\nuse_locks 0\ndelay_upload 0\nask_auth 0\n"
    )
    mounted = subprocess.run(  # noqa: S603
        [str(DAVFS), url, str(mount), "-o", f"conf={conf}"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert mounted.returncode == 0, mounted.stdout + mounted.stderr
    try:
        assert (mount / commune_a.name).is_dir()
        (mount / "Dossier davfs").mkdir()
        (mount / "Dossier davfs" / "dedans.txt").write_bytes(b"dans le dossier")
        (mount / "à la racine.txt").write_bytes(b"racine")
    finally:
        # Unmounting waits for the files still to be sent.
        subprocess.run(["umount", str(mount)], timeout=300, check=False)  # noqa: S603, S607
        shutil.rmtree(cache, ignore_errors=True)
    home = personal(dav_user.user, commune_a)
    assert content(home, "à la racine.txt") == b"racine"
    assert content(home, "Dossier davfs", "dedans.txt") == b"dans le dossier"
