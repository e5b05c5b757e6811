"""Background task of the finance app (django-tasks, database backend): recompute every
book holding a variable loan after new fixings or a new forward curve, queued by the
market page (or the API/CLI through the same services); the page shows its progress."""

from __future__ import annotations

from django_tasks import task


@task()
def recompute_variable_books(job_id: int) -> str:
    from clocher.finance import services
    from clocher.finance.models import Recompute

    job = services.run_recompute(Recompute.objects.get(pk=job_id))
    return f"{job.get_status_display()} : {job.done}/{job.total} portefeuille(s)"
