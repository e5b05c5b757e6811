"""Background tasks of the energy app (django-tasks): thin entries into the services."""

from __future__ import annotations

from django_tasks import task

from clocher.core.audit import Actor

WEEKLY_ACTOR = Actor(label="tâche hebdomadaire de l'énergie")


@task()
def run_import(import_id: int, actor_label: str, ip: str | None = None) -> str:
    """A file uploaded on the import page (load curve, indexes, invoices)."""
    from clocher.energy import imports
    from clocher.energy.models import EnergyImport

    job = EnergyImport.objects.select_related("commune", "meter").get(pk=import_id)
    return imports.run_import(job, Actor(label=actor_label, ip=ip)).status


@task()
def weekly_drifts() -> str:
    """Detect the week's drifts on every meter, then mail each commune admin theirs."""
    from clocher.energy import services

    found, mailed = services.weekly_drift_round(WEEKLY_ACTOR)
    return f"{found} dérive(s) détectée(s) ; {mailed} courriel(s) envoyé(s)"
