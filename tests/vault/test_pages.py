"""The vault's pages: browse, upload (streamed), download, preview, rename/move, versions,
trash, favourites, search, and share links (read-only with password and expiry,
drop-box for citizens)."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from clocher.core import services as core_services
from clocher.core.models import CommuneStatus
from clocher.vault import services, sharing
from clocher.vault.models import CommuneUsage, ShareLink, Space
from tests.conftest import logged_in
from tests.vault.conftest import ACTOR

pytestmark = pytest.mark.django_db


@pytest.fixture
def root_a(commune_a):
    return services.root_of(services.ensure_commune_space(ACTOR, commune_a))


def _url(name: str, commune, **kwargs) -> str:
    return reverse(f"vault:{name}", kwargs={"insee": commune.insee, **kwargs})


def test_browse_upload_download_rename_move_trash(agent_a, commune_a, root_a):
    client = logged_in(agent_a)
    client.handler.enforce_csrf_checks = True  # the streamed upload still checks CSRF
    page = client.get(_url("folder", commune_a, node_id=root_a.pk))
    token = str(page.context["csrf_token"])
    refused = client.post(
        _url("upload", commune_a, node_id=root_a.pk),
        {"fichiers": [SimpleUploadedFile("sans-jeton.pdf", b"x")]},
    )
    assert refused.status_code == 403 and services.children(root_a) == []
    client.handler.enforce_csrf_checks = False
    home = client.get(_url("home", commune_a)).content.decode()
    assert commune_a.name in home and "Espace personnel" in home
    upload = client.post(
        _url("upload", commune_a, node_id=root_a.pk),
        {
            "csrfmiddlewaretoken": token,
            "fichiers": [SimpleUploadedFile("délibération n°1.pdf", b"%PDF-1.4 contenu")],
        },
        HTTP_ACCEPT="application/json",
    )
    assert upload.json() == {"ok": True, "message": "1 fichier(s) enregistré(s)."}
    node = services.child(root_a, "délibération n°1.pdf")
    assert node is not None
    page = client.get(_url("folder", commune_a, node_id=root_a.pk)).content.decode()
    assert "délibération n°1.pdf" in page
    download = client.get(_url("download", commune_a, node_id=node.pk))
    assert b"".join(download.streaming_content) == b"%PDF-1.4 contenu"
    assert "attachment" in download["Content-Disposition"]

    client.post(_url("create_folder", commune_a, node_id=root_a.pk), {"nom": "Conseil"})
    conseil = services.child(root_a, "Conseil")
    client.post(_url("action", commune_a, node_id=node.pk), {"action": "renommer", "nom": "D1.pdf"})
    client.post(
        _url("action", commune_a, node_id=node.pk), {"action": "deplacer", "dossier": conseil.pk}
    )
    node.refresh_from_db()
    assert node.name == "D1.pdf" and node.parent_id == conseil.pk
    client.post(_url("action", commune_a, node_id=node.pk), {"action": "corbeille"})
    trash = client.get(_url("trash", commune_a, space_id=root_a.space_id)).content.decode()
    assert "D1.pdf" in trash
    client.post(_url("trash_action", commune_a, node_id=node.pk), {"action": "restaurer"})
    assert services.child(conseil, "D1.pdf") is not None


def test_hostile_names_and_over_quota_uploads_are_refused_cleanly(agent_a, commune_a, root_a):
    client = logged_in(agent_a)
    hostile = client.post(
        _url("upload", commune_a, node_id=root_a.pk),
        {"fichiers": [SimpleUploadedFile("CON.txt", b"x")]},
        HTTP_ACCEPT="application/json",
    )
    assert hostile.status_code == 400 and "Refusé" in hostile.json()["message"]
    Space.objects.filter(pk=root_a.space_id).update(quota_bytes=100)
    big = client.post(
        _url("upload", commune_a, node_id=root_a.pk),
        {"fichiers": [SimpleUploadedFile("gros.bin", b"z" * 5000)]},
        HTTP_ACCEPT="application/json",
    )
    assert big.status_code == 400 and "quota" in big.json()["message"]
    assert services.children(root_a) == []
    usage = CommuneUsage.objects.filter(commune=commune_a).first()
    assert usage is None or usage.used_bytes == 0


def test_versions_favourites_search_and_previews(agent_a, commune_a, root_a):
    from PIL import Image

    client = logged_in(agent_a)
    node = services.write_bytes(ACTOR, root_a, "budget.txt", b"v1")
    services.write_bytes(ACTOR, root_a, "budget.txt", b"version 2")
    page = client.get(_url("file", commune_a, node_id=node.pk)).content.decode()
    old = services.versions(node)[1]
    assert page.count("Télécharger") >= 3 and "Restaurer" in page
    client.post(_url("version_restore", commune_a, node_id=node.pk, version_id=old.pk))
    assert b"".join(services.iter_content(services.child(root_a, "budget.txt"))) == b"v1"

    client.post(_url("action", commune_a, node_id=node.pk), {"action": "favori"})
    home = client.get(_url("home", commune_a), {"q": "budg"}).content.decode()
    assert "Favoris" in home and home.count("budget.txt") >= 2

    picture = io.BytesIO()
    Image.new("RGB", (2000, 1000), "navy").save(picture, "JPEG")
    photo = services.write_bytes(ACTOR, root_a, "mairie.jpg", picture.getvalue())
    preview = client.get(_url("preview", commune_a, node_id=photo.pk))
    assert preview["Content-Type"] == "image/png"
    assert Image.open(io.BytesIO(preview.content)).size == (480, 240)
    broken = services.write_bytes(ACTOR, root_a, "faux.png", b"pas une image")
    assert client.get(_url("preview", commune_a, node_id=broken.pk)).status_code == 404
    svg = services.write_bytes(ACTOR, root_a, "logo.svg", b"<svg onload='alert(1)'/>")
    assert client.get(_url("preview", commune_a, node_id=svg.pk)).status_code == 404


def test_pdf_preview_renders_the_first_page(agent_a, commune_a, root_a):
    import subprocess

    pdf = subprocess.run(  # a real one-page PDF, made by Chromium's sibling: poppler's own tool
        ["pdftoppm", "-v"],  # noqa: S607
        capture_output=True,
        check=False,
    )
    assert pdf.returncode == 0
    minimal = (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
        b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
        b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 100]>>endobj\n"
        b"trailer<</Root 1 0 R>>\n%%EOF\n"
    )
    node = services.write_bytes(ACTOR, root_a, "arrêté.pdf", minimal)
    preview = logged_in(agent_a).get(_url("preview", commune_a, node_id=node.pk))
    assert preview.status_code == 200 and preview.content.startswith(b"\x89PNG")


def test_read_only_share_link_with_password_and_expiry(agent_a, commune_a, root_a):
    folder = services.create_folder(ACTOR, root_a, "Publications")
    doc = services.write_bytes(ACTOR, folder, "compte rendu.txt", b"public")
    services.write_bytes(ACTOR, root_a, "interne.txt", b"secret")
    client = logged_in(agent_a)
    client.post(
        _url("action", commune_a, node_id=folder.pk),
        {"action": "partager", "mode": "read", "mot_de_passe": "ouvre-toi"},
    )
    link = ShareLink.objects.get(node=folder)
    assert link.password_hash.startswith("argon2")
    token = sharing.create_share(ACTOR, folder, password="ouvre-toi").token

    visitor = Client()
    url = reverse("vault:public_share", kwargs={"token": token})
    assert "Mot de passe" in visitor.get(url).content.decode()
    download = reverse("vault:public_download", kwargs={"token": token, "node_id": doc.pk})
    assert visitor.get(download).status_code == 404  # locked until the password is given
    wrong = visitor.post(url, {"mot_de_passe": "non"})
    assert "Mot de passe incorrect" in wrong.content.decode()
    visitor.post(url, {"mot_de_passe": "ouvre-toi"})
    page = visitor.get(url).content.decode()
    assert "compte rendu.txt" in page and "interne.txt" not in page
    assert b"".join(visitor.get(download).streaming_content) == b"public"
    outside = services.child(root_a, "interne.txt")
    escape = reverse("vault:public_download", kwargs={"token": token, "node_id": outside.pk})
    assert visitor.get(escape).status_code == 404  # nothing outside the shared folder

    ShareLink.objects.filter(token_hash=sharing._hash(token)).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    assert visitor.get(url).status_code == 404
    client.post(_url("share_revoke", commune_a, share_id=link.pk))
    link.refresh_from_db()
    assert link.revoked_at is not None


def test_share_links_close_while_the_commune_is_suspended_and_reopen_after(commune_a, root_a):
    doc = services.write_bytes(ACTOR, root_a, "délibération.txt", b"publique")
    token = sharing.create_share(ACTOR, doc).token
    url = reverse("vault:public_share", kwargs={"token": token})
    download = reverse("vault:public_download", kwargs={"token": token, "node_id": doc.pk})
    visitor = Client()
    assert visitor.get(url).status_code == 200
    core_services.set_commune_status(ACTOR, commune_a, CommuneStatus.SUSPENDED)
    assert visitor.get(url).status_code == 404
    assert visitor.get(download).status_code == 404
    core_services.set_commune_status(ACTOR, commune_a, CommuneStatus.ACTIVE)
    assert b"".join(visitor.get(download).streaming_content) == b"publique"


def test_drop_box_link_takes_files_without_showing_anything(commune_a, root_a):
    inbox = services.create_folder(ACTOR, root_a, "Dépôts des administrés")
    services.write_bytes(ACTOR, inbox, "demande de M. A.pdf", b"confidentiel")
    token = sharing.create_share(ACTOR, inbox, mode="drop").token
    citizen = Client()
    url = reverse("vault:public_share", kwargs={"token": token})
    page = citizen.get(url).content.decode()
    assert "Déposer" in page and "demande de M. A" not in page
    for _ in range(2):
        sent = citizen.post(
            url,
            {"fichiers": [SimpleUploadedFile("demande de M. A.pdf", b"autre contenu")]},
            HTTP_ACCEPT="application/json",
        )
        assert sent.json()["ok"] is True
    names = sorted(n.name for n in services.children(inbox))
    assert names == [
        "demande de M. A (dépôt 2).pdf",
        "demande de M. A (dépôt 3).pdf",
        "demande de M. A.pdf",
    ]
    original = services.child(inbox, "demande de M. A.pdf")
    assert b"".join(services.iter_content(original)) == b"confidentiel"  # never overwritten
    listing = reverse("vault:public_download", kwargs={"token": token, "node_id": original.pk})
    assert citizen.get(listing).status_code == 404


def test_a_colleague_never_opens_someone_elses_personal_space(agent_a, admin_a, commune_a):
    personal = services.root_of(services.ensure_personal_space(commune_a, admin_a))
    note = services.write_bytes(ACTOR, personal, "note perso.txt", "privé".encode())
    client = logged_in(agent_a)
    for name, kwargs in (
        ("folder", {"node_id": personal.pk}),
        ("file", {"node_id": note.pk}),
        ("download", {"node_id": note.pk}),
        ("preview", {"node_id": note.pk}),
        ("trash", {"space_id": personal.space_id}),
    ):
        assert client.get(_url(name, commune_a, **kwargs)).status_code == 404, name
    moved = client.post(_url("action", commune_a, node_id=note.pk), {"action": "corbeille"})
    assert moved.status_code == 404 and services.child(personal, "note perso.txt") is not None
    assert "note perso" not in client.get(_url("home", commune_a), {"q": "note"}).content.decode()


def test_commune_admin_manages_group_folders(admin_a, agent_a, commune_a, admin_b):
    from clocher.vault.models import SpaceKind

    services.ensure_commune_space(ACTOR, commune_a)
    admin = logged_in(admin_a)
    assert logged_in(agent_a).get(_url("groups", commune_a)).status_code == 404  # admins only
    admin.post(
        _url("groups", commune_a),
        {"nom": "Commission des finances", "membres": [admin_a.pk, admin_b.pk]},
    )
    group = Space.objects.get(commune=commune_a, kind=SpaceKind.GROUP)
    assert list(group.members.all()) == [admin_a]  # B's admin is not a member of A: ignored
    assert (
        "Commission des finances"
        not in logged_in(agent_a).get(_url("home", commune_a)).content.decode()
    )
    admin.post(_url("group_members", commune_a, space_id=group.pk), {"membres": [agent_a.pk]})
    assert (
        "Commission des finances"
        in logged_in(agent_a).get(_url("home", commune_a)).content.decode()
    )
    commune_space = Space.objects.get(commune=commune_a, kind=SpaceKind.COMMUNE)
    denied = admin.post(
        _url("group_members", commune_a, space_id=commune_space.pk), {"membres": []}
    )
    assert denied.status_code == 404


def test_commune_admin_renames_and_removes_group_folders(
    admin_a, agent_a, commune_a, admin_b, commune_b
):
    from clocher.core.models import AuditEntry
    from clocher.vault.models import SpaceKind

    services.ensure_commune_space(ACTOR, commune_a)
    group = services.create_group_space(ACTOR, commune_a, "Commission", [agent_a])
    other = services.create_group_space(ACTOR, commune_a, "Urbanisme", [agent_a])
    admin = logged_in(admin_a)
    rename = _url("group_rename", commune_a, group_id=group.pk)
    assert logged_in(agent_a).post(rename, {"nom": "X"}).status_code == 404  # admins only
    taken = admin.post(rename, {"nom": "urbanisme"}, follow=True)
    assert "Un espace s&#x27;appelle déjà « urbanisme »" in taken.content.decode()
    admin.post(rename, {"nom": "Commission des finances"})
    group.refresh_from_db()
    assert group.name == "Commission des finances"
    assert AuditEntry.objects.filter(action="vault.group_renamed", target=group.name).exists()
    spaces = services.spaces_by_label(agent_a)
    assert "Commission des finances" in spaces and "Commission" not in spaces

    root = services.root_of(group)
    kept = services.write_bytes(ACTOR, root, "budget.ods", b"confidentiel" * 100)
    old = services.create_folder(ACTOR, root, "ancien")
    services.write_bytes(ACTOR, old, "brouillon.txt", b"b" * 50)
    remove = _url("group_remove", commune_a, group_id=group.pk)
    page = admin.get(_url("groups", commune_a)).content.decode()
    assert "Contient 2 éléments" in page
    refused = admin.post(remove, {"confirmer": "oui"}, follow=True)
    assert "contient encore 2 élément" in refused.content.decode()
    assert Space.objects.filter(pk=group.pk).exists()
    services.trash(ACTOR, kept)
    services.trash(ACTOR, old)  # what is under it goes with it
    unconfirmed = admin.post(remove, {}, follow=True)
    assert "confirmation" in unconfirmed.content.decode()
    assert Space.objects.filter(pk=group.pk).exists()
    used_before = services.usage(commune_a).used_bytes
    admin.post(remove, {"confirmer": "oui"})
    assert not Space.objects.filter(pk=group.pk).exists()
    assert services.usage(commune_a).used_bytes == used_before - 1250
    entry = AuditEntry.objects.get(action="vault.group_removed")
    assert entry.data == {"purged_from_trash": 2, "size": 1250}
    assert services.fsck(gc=True, grace_seconds=0).ok  # its chunks are orphans, collected
    # Another commune's admin, on their own commune's pages, cannot reach A's groups.
    foreign = _url("group_remove", commune_b, group_id=other.pk)
    assert logged_in(admin_b).post(foreign, {"confirmer": "oui"}).status_code == 404
    assert Space.objects.filter(pk=other.pk, kind=SpaceKind.GROUP).exists()
