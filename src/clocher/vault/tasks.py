"""Background tasks of the vault (django-tasks, database backend)."""

from __future__ import annotations

from django_tasks import task

from clocher.core.audit import Actor


@task()
def import_zip(import_id: int, actor_label: str, ip: str | None = None) -> str:
    from clocher.vault import imports
    from clocher.vault.models import DocumentImport

    job = DocumentImport.objects.select_related("folder__space__commune").get(pk=import_id)
    return imports.run_web_import(job, Actor(label=actor_label, ip=ip)).status
