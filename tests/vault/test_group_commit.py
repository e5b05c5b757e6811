"""Small new files sent together over HTTP are committed in one transaction
(`vault/dav/flush.py`'s GroupCommit, `services.save_each`, issue 14): each request still
gets its own answer (its node, ETag and content), and a refusal or a conflict of one
file does not sink the others."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

import pytest
import requests

from clocher.core import audit
from clocher.core.models import AuditEntry
from clocher.vault import services
from clocher.vault.dav import flush
from clocher.vault.models import Node, Space
from tests.vault.test_fast import _auth, _space, _warm
from tests.vault.test_flush import _wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def groups(monkeypatch) -> list[list[str]]:
    """The names of each group committed. The first group holds its commit until
    `behind` (set by the test) files wait after it: they then make the next group."""
    seen: list[list[str]] = []
    real = services.save_each
    entered = threading.Event()

    def spy(files):
        if not seen:
            entered.set()
            space = files[0].parent.space.pk
            _wait_for(lambda: flush.COMMITS.waiting(space) >= spy.behind)  # type: ignore[attr-defined]
        seen.append([f.name for f in files])
        return real(files)

    spy.behind = 0  # type: ignore[attr-defined]
    spy.entered = entered  # type: ignore[attr-defined]
    monkeypatch.setattr(services, "save_each", spy)
    groups.spy = spy  # type: ignore[attr-defined]
    return seen


def _put_together(dav_user, commune, first: tuple[str, bytes], rest: list[tuple[str, bytes]]):
    """PUT `first`, then, once its group holds its commit, the `rest` at once; the
    answers in the order given."""
    url, auth = _space(dav_user, commune), _auth(dav_user)

    def put(item: tuple[str, bytes]) -> requests.Response:
        return requests.put(url + quote(item[0]), data=item[1], auth=auth, timeout=60)

    spy = services.save_each
    spy.behind = len(rest)  # type: ignore[attr-defined]
    with ThreadPoolExecutor(len(rest) + 1) as pool:
        leading = pool.submit(put, first)
        assert spy.entered.wait(60)  # type: ignore[attr-defined]
        others = [pool.submit(put, item) for item in rest]
        return [leading.result(60), *(one.result(60) for one in others)]


def _node(name: str) -> Node:
    return Node.objects.get(name=name, deleted_at__isnull=True)


def test_small_puts_waiting_together_are_one_commit_each_with_its_answer(
    dav_user, commune_a, groups
):
    _warm(dav_user, commune_a)
    files = [(f"f{n}.txt", f"contenu {n}".encode() * (n + 1)) for n in range(4)]
    used = Space.objects.get(commune=commune_a, kind="commune").used_bytes
    answers = _put_together(dav_user, commune_a, files[0], files[1:])
    assert [a.status_code for a in answers] == [201] * 4
    assert groups[0] == ["f0.txt"] and sorted(groups[1]) == ["f1.txt", "f2.txt", "f3.txt"]
    url, auth = _space(dav_user, commune_a), _auth(dav_user)
    for (name, content), answer in zip(files, answers, strict=True):
        node = _node(name)
        assert answer.headers["OC-FileId"] == str(node.pk)
        assert answer.headers["ETag"] == answer.headers["OC-ETag"] == f'"{node.etag}"'
        got = requests.get(url + name, auth=auth, timeout=30)
        assert got.content == content and got.headers["ETag"] == f'"{node.etag}"'
        assert node.versions.count() == 1
    assert len({a.headers["ETag"] for a in answers}) == 4
    space = Space.objects.get(commune=commune_a, kind="commune")
    assert space.used_bytes == used + sum(len(c) for _, c in files)
    created = AuditEntry.objects.filter(action="vault.file_created").order_by("seq")
    assert sorted(e.target for e in created) == [f"/f{n}.txt" for n in range(4)]
    assert {e.actor_id for e in created} == {dav_user.user.pk}
    assert audit.verify().ok


def test_one_file_over_quota_in_a_group_is_refused_and_the_others_stored(
    dav_user, commune_a, groups
):
    _warm(dav_user, commune_a)
    used = Space.objects.get(commune=commune_a, kind="commune").used_bytes
    commune_a.quota_storage_bytes = used + 3 * 10 + 50  # the big one never fits
    commune_a.save(update_fields=["quota_storage_bytes"])
    first, small, big, other = (("a.bin", b"a" * 10), ("b.bin", b"b" * 10),
                                ("gros.bin", b"g" * 100), ("d.bin", b"d" * 10))  # fmt: skip
    answers = _put_together(dav_user, commune_a, first, [small, big, other])
    assert [a.status_code for a in answers] == [201, 201, 507, 201]
    assert "Quota de stockage de la commune atteint" in answers[2].text
    assert sorted(groups[1]) == ["b.bin", "d.bin", "gros.bin"]
    assert not Node.objects.filter(name="gros.bin").exists()
    url, auth = _space(dav_user, commune_a), _auth(dav_user)
    for name, content in (first, small, other):
        assert requests.get(url + name, auth=auth, timeout=30).content == content
    space = Space.objects.get(commune=commune_a, kind="commune")
    assert space.used_bytes == used + 30
    targets = set(AuditEntry.objects.values_list("target", flat=True))
    assert {"/a.bin", "/b.bin", "/d.bin"} <= targets and "/gros.bin" not in targets
    assert audit.verify().ok


def test_the_same_new_name_twice_in_a_group_makes_two_versions(dav_user, commune_a, groups):
    _warm(dav_user, commune_a)
    answers = _put_together(
        dav_user,
        commune_a,
        ("premier.txt", b"1"),
        [("meme.txt", b"version A"), ("meme.txt", b"version B"), ("autre.txt", b"autre")],
    )
    assert [a.status_code for a in answers] == [201] * 4
    assert sorted(groups[1]) == ["autre.txt", "meme.txt", "meme.txt"]
    node = _node("meme.txt")
    assert node.versions.count() == 2
    url, auth = _space(dav_user, commune_a), _auth(dav_user)
    got = requests.get(url + "meme.txt", auth=auth, timeout=30)
    # The last committed is the current version: its request got the current ETag.
    latest = next(a for a in answers[1:3] if a.headers["ETag"] == f'"{node.etag}"')
    assert got.content == (b"version A" if latest is answers[1] else b"version B")
    assert answers[1].headers["OC-FileId"] == answers[2].headers["OC-FileId"] == str(node.pk)
    assert requests.get(url + "autre.txt", auth=auth, timeout=30).content == b"autre"
    actions = list(
        AuditEntry.objects.filter(target="/meme.txt")
        .order_by("seq")
        .values_list("action", flat=True)
    )
    assert actions == ["vault.file_created", "vault.file_updated"]
    assert audit.verify().ok
