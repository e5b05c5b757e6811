"""MOVE and COPY between two communes' spaces over real WebDAV, by a secretary who serves
both: the content is re-encrypted under the destination commune's key (each commune has
its own data key and its own chunks), quotas follow, and fsck stays clean."""

from __future__ import annotations

from urllib.parse import quote

import pytest
import requests

from clocher.core.models import Membership, Role
from clocher.vault import services
from clocher.vault.models import Chunk, CommuneUsage, Node, Space, VersionChunk
from tests.vault.conftest import ACTOR

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def small_chunks(settings):
    settings.VAULT_CHUNK_BYTES = 1024


@pytest.fixture
def root_a(commune_a):
    return services.root_of(services.ensure_commune_space(ACTOR, commune_a))


@pytest.fixture
def two_communes(dav_user, commune_a, commune_b):
    """`dav_user` (secretary of 21271) serves 21716 too."""
    Membership.objects.create(user=dav_user.user, commune=commune_b, role=Role.AGENT)
    services.ensure_commune_space(ACTOR, commune_b)
    auth = (dav_user.user.email, dav_user.password)
    a = dav_user.root + quote(commune_a.name)
    b = dav_user.root + quote(commune_b.name)
    return auth, a, b


def _space(commune) -> Space:
    return Space.objects.get(commune=commune, kind="commune")


def _used(commune) -> tuple[int, int]:
    """(space counter, commune counter)."""
    return _space(commune).used_bytes, CommuneUsage.objects.get(commune=commune).used_bytes


def _dav(method: str, url: str, auth, destination: str = "", **headers: str):
    if destination:
        headers["Destination"] = destination
    return requests.request(method, url, auth=auth, headers=headers, timeout=30)


def _fsck_clean() -> None:
    report = services.fsck()
    assert report.ok, report.problems


def test_move_to_another_commune_reencrypts_and_moves_the_quota(
    two_communes, commune_a, commune_b, small_chunks
):
    auth, a, b = two_communes
    content = bytes(range(256)) * 40  # several chunks of small_chunks
    assert requests.put(f"{a}/mv.txt", data=b"ancienne", auth=auth, timeout=10).ok
    assert requests.put(f"{a}/mv.txt", data=content, auth=auth, timeout=10).ok
    moved = _dav("MOVE", f"{a}/mv.txt", auth, f"{b}/mv.txt")
    assert moved.status_code == 201, moved.text
    got = requests.get(f"{b}/mv.txt", auth=auth, timeout=10)
    assert got.status_code == 200 and got.content == content
    assert requests.get(f"{a}/mv.txt", auth=auth, timeout=10).status_code == 404
    assert not Node.objects.filter(space__commune=commune_a, name="mv.txt").exists()
    # History goes along, re-encrypted too: both versions count in B, nothing in A.
    history = len(content) + len(b"ancienne")
    assert _used(commune_a) == (0, 0)
    assert _used(commune_b) == (history, history)
    node = Node.objects.get(space__commune=commune_b, name="mv.txt")
    assert [v.size for v in services.versions(node)] == [len(content), len(b"ancienne")]
    assert not VersionChunk.objects.exclude(chunk__commune=commune_b).exists()
    _fsck_clean()
    # Once A's chunks are collected (as after A leaves), B's file is intact.
    services.collect_garbage(remove=True, grace_seconds=0)
    assert not Chunk.objects.filter(commune=commune_a).exists()
    assert requests.get(f"{b}/mv.txt", auth=auth, timeout=10).content == content


def test_copy_to_another_commune_leaves_both_readable(two_communes, commune_a, commune_b):
    auth, a, b = two_communes
    assert requests.put(f"{a}/cp.txt", data=b"copie" * 100, auth=auth, timeout=10).ok
    copied = _dav("COPY", f"{a}/cp.txt", auth, f"{b}/cp.txt")
    assert copied.status_code == 201, copied.text
    for url in (f"{a}/cp.txt", f"{b}/cp.txt"):
        got = requests.get(url, auth=auth, timeout=10)
        assert got.status_code == 200 and got.content == b"copie" * 100
    assert _used(commune_a) == (500, 500) and _used(commune_b) == (500, 500)
    _fsck_clean()


def test_folder_moves_and_copies_between_communes(two_communes, commune_a, commune_b):
    auth, a, b = two_communes
    assert _dav("MKCOL", f"{a}/Dossier", auth).status_code == 201
    assert _dav("MKCOL", f"{a}/Dossier/Sous", auth).status_code == 201
    files = {"Dossier/un.txt": b"un" * 50, "Dossier/Sous/deux.txt": b"deux" * 25}
    for path, data in files.items():
        assert requests.put(f"{a}/{path}", data=data, auth=auth, timeout=10).ok
    copied = _dav("COPY", f"{a}/Dossier", auth, f"{b}/Copie")
    assert copied.status_code == 201, copied.text
    moved = _dav("MOVE", f"{a}/Dossier", auth, f"{b}/Dossier")
    assert moved.status_code == 201, moved.text
    for path, data in files.items():
        for target in (path, path.replace("Dossier", "Copie", 1)):
            got = requests.get(f"{b}/{target}", auth=auth, timeout=10)
            assert got.status_code == 200 and got.content == data, target
    assert requests.get(f"{a}/Dossier/un.txt", auth=auth, timeout=10).status_code == 404
    assert _used(commune_a) == (0, 0)
    assert _used(commune_b) == (400, 400)
    _fsck_clean()


def test_over_quota_destination_refuses_and_changes_nothing(two_communes, commune_a, commune_b):
    auth, a, b = two_communes
    assert _dav("MKCOL", f"{a}/Dossier", auth).status_code == 201
    assert requests.put(f"{a}/Dossier/gros.bin", data=b"x" * 800, auth=auth, timeout=10).ok
    assert requests.put(f"{a}/seul.bin", data=b"y" * 800, auth=auth, timeout=10).ok
    Space.objects.filter(pk=_space(commune_b).pk).update(quota_bytes=500)
    for method in ("MOVE", "COPY"):
        for source in ("Dossier", "seul.bin"):
            refused = _dav(method, f"{a}/{source}", auth, f"{b}/{source}")
            assert refused.status_code == 507, (method, source, refused.status_code)
    assert requests.get(f"{a}/Dossier/gros.bin", auth=auth, timeout=10).content == b"x" * 800
    assert requests.get(f"{a}/seul.bin", auth=auth, timeout=10).content == b"y" * 800
    assert not Node.objects.filter(space__commune=commune_b, parent__isnull=False).exists()
    assert _used(commune_a) == (1600, 1600) and _used(commune_b) == (0, 0)
    _fsck_clean()


def test_fsck_finds_a_file_whose_chunks_belong_to_another_commune(root_a, commune_a, commune_b):
    """What a cross-commune move did before it re-encrypted: the node in B, its chunks
    A's. Each chunk opens under A's key, so only this check sees the file is lost."""
    services.ensure_commune_space(ACTOR, commune_b)
    node = services.write_bytes(ACTOR, root_a, "egare.txt", b"contenu de A")
    root_b = services.root_of(_space(commune_b))
    Node.objects.filter(pk=node.pk).update(space=root_b.space, parent=root_b)
    report = services.fsck()
    assert not report.ok
    assert any(
        "/egare.txt" in problem and commune_b.name in problem for problem in report.problems
    ), report.problems
