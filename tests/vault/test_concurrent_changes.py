"""Changes of one tree at the same moment, as several workers make them: on PostgreSQL
each takes its rows in the vault's lock order (`clocher.vault.services`), or two of them
wait on each other until one is killed (« deadlock detected », a 500 for its client)."""

from __future__ import annotations

import io

import pytest

from clocher.vault import chunked_uploads, services
from clocher.vault.models import CommuneUsage, Node
from tests.concurrency import at_once, raised
from tests.vault.conftest import ACTOR

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def root_a(commune_a):
    return services.root_of(services.ensure_commune_space(ACTOR, commune_a))


def _upload(parent: Node, name: str, data: bytes) -> Node:
    """A new version of `name` in `parent`, as an overwriting PUT makes it."""
    return services.write_bytes(ACTOR, parent, name, data)


def test_a_folder_trashed_and_restored_while_files_arrive_in_it(root_a):
    """The folder's own row was locked before the folders above it; an upload into it
    locks the whole chain from the root."""
    folder = services.create_folder(ACTOR, root_a, "Conseil")

    def trash_or_restore(round_: int) -> None:
        node = Node.objects.get(pk=folder.pk)
        (services.restore if round_ % 2 else services.trash)(ACTOR, node)

    def upload(round_: int) -> int:
        return _upload(Node.objects.get(pk=folder.pk), f"pv-{round_ % 3}.txt", b"x" * round_).size

    results = at_once([trash_or_restore, upload], rounds=40)
    assert raised(results) == []
    assert results[1] == list(range(40))


def test_a_file_renamed_while_an_older_version_is_restored(root_a):
    """A rename locked the folders, then the file; a new version locks the file, then
    its folders."""
    first = _upload(root_a, "budget.ods", b"v1")
    node = _upload(root_a, "budget.ods", b"version 2")
    oldest = next(v for v in services.versions(node) if v.size == 2)

    def rename(round_: int) -> str:
        moved = services.move(ACTOR, Node.objects.get(pk=node.pk), root_a, f"budget-{round_}.ods")
        return moved.name

    def restore(_round: int) -> int:
        return services.restore_version(ACTOR, Node.objects.get(pk=node.pk), oldest).size

    names, sizes = at_once([rename, restore], rounds=40)
    assert names == [f"budget-{r}.ods" for r in range(40)] and sizes == [2] * 40
    assert first.pk == node.pk and len(services.versions(node)) == 42


def test_a_chunked_upload_assembled_while_small_files_arrive_in_the_same_space(
    root_a, agent_a, settings
):
    """Assembling released the parts' bytes (the space's and the commune's counters)
    before it locked the file's folders; an upload locks the folders, then the counters.
    The file is now counted net of its parts, after its folders."""
    space = root_a.space

    def chunked(round_: int) -> int:
        session = chunked_uploads.open_session(agent_a, f"transfert-{round_}", space)
        for number, part in enumerate((b"a" * 3000, b"b" * 2000), start=1):
            chunked_uploads.write_part(session, f"{number:05d}", io.BytesIO(part), len(part))
        node, _ = chunked_uploads.assemble(ACTOR, session, root_a, f"plan-{round_}.pdf")
        return node.size

    def small(round_: int) -> int:
        return _upload(root_a, f"note-{round_}.txt", b"n" * 100).size

    assert at_once([chunked, small], rounds=30) == [[5000] * 30, [100] * 30]
    space.refresh_from_db()
    usage = CommuneUsage.objects.get(commune=space.commune)
    assert space.used_bytes == usage.used_bytes == 30 * (5000 + 100)  # parts counted once
