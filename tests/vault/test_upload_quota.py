"""Nextcloud chunked uploads against the quotas, over real HTTP: parts count in the
space as they arrive and are released on assembly, abandon or expiry (never counted
twice), a part past the quota is refused before it is stored, and an account has a
bounded number of sessions open."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

import pytest
import requests
from click.testing import CliRunner
from django.utils import timezone

from clocher.cli import main
from clocher.vault import services
from clocher.vault.models import CommuneUsage, Space, UploadSession

pytestmark = pytest.mark.django_db(transaction=True)


def _session(dav_user, transfer: str) -> str:
    return f"{dav_user.base}/remote.php/dav/uploads/{dav_user.user.email}/{transfer}"


def _used(space: Space) -> tuple[int, int]:
    """(space counter, commune counter)."""
    space.refresh_from_db()
    return space.used_bytes, CommuneUsage.objects.get(commune=space.commune).used_bytes


@pytest.fixture
def upload(dav_user, commune_a):
    """(auth, commune space, its URL in the person's tree, a DAV request helper)."""
    auth = (dav_user.user.email, dav_user.password)
    space = Space.objects.get(commune=commune_a, kind="commune")
    target = f"{dav_user.root}{quote(commune_a.name)}"

    def dav(method: str, url: str, data: bytes | None = None, **headers: str):
        return requests.request(method, url, data=data, auth=auth, headers=headers, timeout=30)

    return space, target, dav


def test_parts_count_as_they_arrive_and_once_after_assembly(dav_user, upload):
    space, target, dav = upload
    session = _session(dav_user, "t1")
    assert dav("MKCOL", session, Destination=f"{target}/plan.bin").status_code == 201
    for name, size in (("00001", 100), ("00002", 200), ("00003", 300)):
        assert dav("PUT", f"{session}/{name}", b"p" * size).status_code == 201
    assert _used(space) == (600, 600)
    assert dav("PUT", f"{session}/00002", b"q" * 50).status_code == 201  # sent again
    assert _used(space) == (450, 450)
    moved = dav("MOVE", f"{session}/.file", Destination=f"{target}/plan.bin")
    assert moved.status_code == 201, moved.text
    assert _used(space) == (450, 450)  # the file now, not the parts as well
    node = services.child(services.root_of(space), "plan.bin")
    assert b"".join(services.iter_content(node)) == b"p" * 100 + b"q" * 50 + b"p" * 300
    assert UploadSession.objects.count() == 0


def test_part_past_the_quota_is_refused_and_abandon_releases(dav_user, upload):
    space, target, dav = upload
    Space.objects.filter(pk=space.pk).update(quota_bytes=1000)
    session = _session(dav_user, "t2")
    assert dav("MKCOL", session, Destination=f"{target}/gros.bin").status_code == 201
    assert dav("PUT", f"{session}/1", b"x" * 800).status_code == 201
    full = dav("PUT", f"{session}/2", b"y" * 300)
    assert full.status_code == 507 and "quota" in full.text.lower()
    assert [p.name for p in UploadSession.objects.get().parts.all()] == ["1"]
    assert _used(space) == (800, 800)
    assert dav("DELETE", session).status_code == 204
    assert _used(space) == (0, 0)


def test_session_naming_no_destination_counts_in_the_personal_space(dav_user, upload, commune_a):
    space, target, dav = upload
    session = _session(dav_user, "t3")
    assert dav("MKCOL", session).status_code == 201
    assert dav("PUT", f"{session}/1", b"z" * 120).status_code == 201
    personal = Space.objects.get(commune=commune_a, kind="personal", owner=dav_user.user)
    assert _used(personal) == (120, 120)
    moved = dav("MOVE", f"{session}/.file", Destination=f"{target}/sans-destination.bin")
    assert moved.status_code == 201, moved.text
    assert _used(personal) == (0, 120) and _used(space) == (120, 120)


def test_an_unknown_announced_destination_is_refused(dav_user, upload):
    _, _, dav = upload
    refused = dav("MKCOL", _session(dav_user, "t4"), Destination="/remote.php/dav/files/x/y/z")
    assert refused.status_code == 409
    assert UploadSession.objects.count() == 0


def test_open_sessions_are_capped_per_account(dav_user, upload, settings):
    _, target, dav = upload
    settings.VAULT_MAX_UPLOAD_SESSIONS = 3
    for n in range(3):
        assert dav("MKCOL", _session(dav_user, f"s{n}")).status_code == 201
    refused = dav("MKCOL", _session(dav_user, "s3"))
    assert refused.status_code == 429 and refused.headers["Retry-After"]
    assert "3 au plus" in refused.text
    assert dav("DELETE", _session(dav_user, "s0")).status_code == 204
    assert dav("MKCOL", _session(dav_user, "s3")).status_code == 201


def test_housekeeping_reclaims_expired_sessions_and_their_hold(dav_user, upload, settings):
    space, target, dav = upload
    old, fresh = _session(dav_user, "vieux"), _session(dav_user, "recent")
    for url, size in ((old, 700), (fresh, 40)):
        assert dav("MKCOL", url, Destination=f"{target}/f.bin").status_code == 201
        assert dav("PUT", f"{url}/1", b"o" * size).status_code == 201
    assert _used(space) == (740, 740)
    expired = UploadSession.objects.get(name="vieux")
    UploadSession.objects.filter(pk=expired.pk).update(
        created_at=timezone.now() - timedelta(hours=settings.VAULT_UPLOAD_EXPIRY_HOURS + 1)
    )
    result = CliRunner().invoke(main, ["vault", "housekeeping"])
    assert result.exit_code == 0, result.output
    assert "envois abandonnés : 1" in result.output
    assert list(UploadSession.objects.values_list("name", flat=True)) == ["recent"]
    assert not (settings.VAULT_DIR / "uploads" / str(expired.pk)).exists()
    assert _used(space) == (40, 40)
