"""Background tasks of the archive (django-tasks, database backend): the daily seal of
the journal and the integrity audit, enqueued once a day by `clocher archive scheduler`
(which `clocher serve` runs) and executed by the worker."""

from __future__ import annotations

from django_tasks import task

from clocher.core.audit import Actor

DAILY_ACTOR = Actor(label="tâche quotidienne de l'archive")


@task()
def daily_seal_and_audit() -> str:
    """Seal the previous days' journal entries, then audit from the last checkpoint, or
    in full (every copy re-read) when the last full audit is a month old."""
    from clocher.archive import journal, services

    seal = journal.seal_days_before()
    report = services.audit_integrity(DAILY_ACTOR, full=services.full_audit_due())
    sealed = f"entrées {seal.first_seq}–{seal.last_seq} scellées" if seal else "rien à sceller"
    altered = ", ".join(obj.reference for obj, _ in report.altered) or "aucun"
    return f"{sealed} ; {report.checked} objets vérifiés ; altérés : {altered}"
