"""How the vault plugs into the platform: the onboarding step, the operator tile, the
demo, departure export and purge."""

from __future__ import annotations

import json
import sys
import zipfile

from django.db.models import Sum
from django.template.defaultfilters import filesizeformat

from clocher.accounts.models import User
from clocher.core import health, supervisor, tiles
from clocher.core.audit import Actor
from clocher.core.demo import DEMO_HOOKS
from clocher.core.models import Commune
from clocher.onboarding.models import ProvisioningRun
from clocher.onboarding.services import register_exporter, register_purger
from clocher.onboarding.steps import register_step
from clocher.vault import services
from clocher.vault.models import CommuneUsage, Node, Space


@register_step("vault", "Espace du coffre-fort", position=40, service="vault")
def provision_space(run: ProvisioningRun, actor: Actor) -> str:
    space = services.ensure_commune_space(actor, run.commune)
    quota = filesizeformat(run.commune.quota_storage_bytes)
    return f"Espace « {space.name} » prêt ({quota})."


def demo_space(actor: Actor, commune: Commune, admin: User) -> None:
    """Demo: the commune's space with a first folder and a file in it."""
    space = services.ensure_commune_space(actor, commune)
    root = services.root_of(space)
    if services.child(root, "Délibérations") is None:
        folder = services.create_folder(actor, root, "Délibérations")
        services.write_bytes(
            actor,
            folder,
            "Lisez-moi.txt",
            "Les délibérations du conseil municipal, synchronisées sur vos postes.\n".encode(),
            "text/plain",
        )


DEMO_HOOKS.append(demo_space)


@health.register
def blob_store() -> health.Health:
    """Where the vault's sealed chunks go, and whether a test write/read/delete works."""
    from django.conf import settings

    from clocher.storage.blobstore import store

    if settings.VAULT_BACKEND == "s3":
        address = f"{settings.VAULT_S3_ENDPOINT}/{settings.VAULT_S3_BUCKET}"
    else:
        address = str(settings.VAULT_DIR)
    try:
        blobs = store()
        probe = f"0/{'f' * 64}"
        blobs.put(probe, b"sonde")
        ok = blobs.get(probe) == b"sonde"
        blobs.delete(probe)
        detail = f"{settings.VAULT_BACKEND} : écriture et lecture correctes"
    except Exception as exc:  # noqa: BLE001 - the check reports any failure
        ok, detail = False, f"{settings.VAULT_BACKEND} : {exc}"[:200]
    return health.Health("coffre (stockage des blocs)", address, ok, detail)


@supervisor.register
def vault_housekeeping() -> list[supervisor.Child]:
    """Trash past its delay, abandoned chunked uploads and orphan chunks, and every data
    class past its retention duration (clocher.governance.retention), hourly."""
    argv = [sys.executable, "-m", "clocher.cli", "vault", "housekeeping", "--every", "3600"]
    return [supervisor.Child("entretien du coffre", argv)]


@tiles.register("vault")
def vault_tile() -> tiles.Tile:
    used = CommuneUsage.objects.aggregate(total=Sum("used_bytes"))["total"] or 0
    return tiles.Tile(
        "vault",
        "Coffre-fort",
        [
            tiles.Figure("Espaces", str(Space.objects.count())),
            tiles.Figure(
                "Fichiers",
                str(Node.objects.filter(is_folder=False, deleted_at__isnull=True).count()),
            ),
            tiles.Figure("Stockage utilisé", filesizeformat(used)),
        ],
    )


@register_exporter("coffre")
def export_vault(commune: Commune, archive: zipfile.ZipFile) -> None:
    """Every live file, decrypted, under `coffre/<space>/<path>`, and an index."""
    index = []
    for space in Space.objects.filter(commune=commune):
        label = space.name if space.owner is None else f"{space.name} - {space.owner.email}"
        for node in Node.objects.filter(space=space, is_folder=False, deleted_at__isnull=True):
            if any(a.deleted_at for a in services.ancestors(node)):
                continue
            path = f"coffre/{label}{services.path_of(node)}"
            with archive.open(path, "w", force_zip64=True) as target:
                for block in services.iter_content(node):
                    target.write(block)
            index.append(
                {
                    "path": path,
                    "size": node.size,
                    "sha256": node.current.sha256 if node.current else "",
                }
            )
    archive.writestr("coffre.json", json.dumps(index, ensure_ascii=False, indent=1))


@register_purger("coffre")
def purge_vault(commune: Commune) -> None:
    """Spaces and tree go; the chunks are removed by `clocher vault fsck --gc`."""
    spaces = Space.objects.filter(commune=commune)
    Node.objects.filter(space__in=spaces).update(current=None)
    spaces.delete()


@supervisor.register_web
def file_server() -> list[supervisor.Child]:
    """The sync clients' server beside gunicorn, on every node of the web role, and the
    process that commits their new small files (`dav.writer`)."""
    from clocher.vault.dav.server import files_bind, files_server, files_workers
    from clocher.vault.dav.writer import writer_child

    return [writer_child(), files_server(files_bind(), files_workers())]


@health.register
def file_server_answers() -> health.Health:
    from clocher.vault.dav.server import files_bind

    return health.http_probe("fichiers (WebDAV)", f"http://{files_bind()}/healthz")


@health.register
def writer_answers() -> health.Health:
    """The small files' writer: without it the file server still works, slower (a
    warning, not an outage: `ok` stays true)."""
    from clocher.vault.dav import writer

    path = writer.socket_path()
    listening = writer.listening(path)
    detail = "à l'écoute" if listening else "absent : le serveur de fichiers écrit lui-même"
    return health.Health("coffre (écritures)", str(path), True, detail)
