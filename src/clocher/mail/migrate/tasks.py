"""Background mail imports (django-tasks, database backend): one task per mailbox."""

from __future__ import annotations

from django_tasks import task

from clocher.core.audit import Actor


@task()
def import_mailbox(job_id: int, actor_label: str, ip: str | None = None) -> str:
    from clocher.mail.migrate.services import run_background

    job = run_background(job_id, Actor(label=actor_label, ip=ip))
    return job.status
