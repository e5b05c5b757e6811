"""Background tasks of the onboarding (django-tasks, database backend)."""

from __future__ import annotations

from django_tasks import task

from clocher.core.audit import Actor
from clocher.onboarding.models import ProvisioningRun


@task()
def provision(run_id: int, actor_label: str, ip: str | None = None) -> str:
    from clocher.onboarding.services import run_steps

    run = ProvisioningRun.objects.select_related("commune", "application").get(pk=run_id)
    run = run_steps(run, Actor(label=actor_label, ip=ip))
    return run.status
