"""CSV import of agents: hostile and broken files get a clear report, nothing half-made."""

from __future__ import annotations

import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from clocher.core.models import AuditEntry, Membership

HEADER = "email;nom;role;fonction\n"


def _upload(client, commune, content: bytes, name: str = "agents.csv"):
    url = reverse("core:commune_members_import", kwargs={"insee": commune.insee})
    return client.post(url, {"file": SimpleUploadedFile(name, content, "text/csv")})


def _confirm(client, commune):
    url = reverse("core:commune_members_import", kwargs={"insee": commune.insee})
    return client.post(url, {"action": "confirm"})


def _members(commune) -> int:
    return Membership.objects.filter(commune=commune).count()


@pytest.mark.django_db
def test_good_file_with_bom_previews_then_creates_all(client_admin_a, commune_a, admin_a):
    content = (
        "\ufeff" + HEADER + "marie.dupont@flavigny.test;Marie Dupont;agent;Accueil\n"
        "jean.maire@flavigny.test;Jean Maire;élu;Maire\n"
    ).encode("utf-8")
    before = _members(commune_a)
    preview = _upload(client_admin_a, commune_a, content).content.decode()
    assert "UTF-8 (avec BOM)" in preview and "2 ligne(s) correcte(s)" in preview
    assert _members(commune_a) == before  # nothing yet
    done = _confirm(client_admin_a, commune_a)
    assert done.status_code == 302
    assert _members(commune_a) == before + 2
    assert Membership.objects.get(user__email="jean.maire@flavigny.test").role == "elected"
    assert AuditEntry.objects.filter(action="member.imported").count() == 1


@pytest.mark.django_db
def test_windows_1252_file_with_commas(client_admin_a, commune_a):
    content = ("email,nom,role\nelodie@flavigny.test,Élodie Bérénice,agent\n").encode("cp1252")
    preview = _upload(client_admin_a, commune_a, content).content.decode()
    assert "Windows-1252" in preview and "Élodie Bérénice" in preview
    _confirm(client_admin_a, commune_a)
    assert (
        Membership.objects.get(user__email="elodie@flavigny.test").user.full_name
        == "Élodie Bérénice"
    )


@pytest.mark.django_db
def test_bad_lines_are_reported_and_block_the_import(client_admin_a, commune_a, agent_a):
    content = (
        HEADER
        + "ok@flavigny.test;OK;agent;\n"
        + "=cmd|' /C calc'!A0;Pirate;agent;\n"
        + "ok2@flavigny.test;@SUM(A1);agent;\n"
        + "pas-une-adresse;X;agent;\n"
        + "ok@flavigny.test;Double;agent;\n"
        + "chef@flavigny.test;Chef;boss;\n"
        + f"{agent_a.email};Déjà;agent;\n"
    ).encode()
    before = _members(commune_a)
    body = _upload(client_admin_a, commune_a, content).content.decode()
    assert "formule interdite" in body
    assert "adresse électronique invalide" in body
    assert "en double dans le fichier (ligne 2)" in body
    assert "rôle inconnu « boss »" in body
    assert "déjà membre" in body
    assert "Confirmer l&#x27;import" not in body
    _confirm(client_admin_a, commune_a)
    assert _members(commune_a) == before


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "vide"),
        (b"\x00\x01\x02binary\x00", "binaire"),
        (b"nom;role\nX;agent\n", "Colonne « email » absente"),
        (HEADER.encode() + b'"non@ferme.test;X;agent\n', "CSV mal formé"),
    ],
)
def test_broken_files_are_refused(client_admin_a, commune_a, content, message):
    before = _members(commune_a)
    body = _upload(client_admin_a, commune_a, content).content.decode()
    assert message in body
    assert _members(commune_a) == before


@pytest.mark.django_db
def test_huge_file_is_refused_quickly(client_admin_a, commune_a):
    lines = "".join(f"agent{i}@flavigny.test;Agent {i};agent;\n" for i in range(100_000))
    start = time.monotonic()
    body = _upload(client_admin_a, commune_a, (HEADER + lines).encode()).content.decode()
    assert time.monotonic() - start < 10
    assert "trop volumineux" in body.lower() or "Trop de lignes" in body
    assert _members(commune_a) == 1


@pytest.mark.django_db
def test_quota_exceeded_creates_nothing(client_admin_a, commune_a):
    commune_a.quota_members = 3
    commune_a.save()
    content = (HEADER + "".join(f"a{i}@flavigny.test;A;agent;\n" for i in range(5))).encode()
    body = _upload(client_admin_a, commune_a, content).content.decode()
    assert "Quota de membres dépassé" in body
    assert _members(commune_a) == 1


@pytest.mark.django_db
def test_confirm_without_preview(client_admin_a, commune_a):
    response = _confirm(client_admin_a, commune_a)
    assert response.status_code == 302
    assert _members(commune_a) == 1
