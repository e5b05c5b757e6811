"""New fixings or a new forward curve: every book with a variable loan is recomputed by a
background job (django-tasks), never inside the operator's request; the market page shows
its progress and the loan pages say their indicators are being recomputed meanwhile."""

from __future__ import annotations

from datetime import date

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import Sum
from django.urls import reverse

from clocher.finance import services
from clocher.finance.models import Loan, Recompute, RecomputeStatus, YearIndicator
from tests.conftest import SYSTEM
from tests.finance.finance_data import GOOD

pytestmark = pytest.mark.django_db

HISTORY = "Date,1W,1M,3M,6M,12M\n" + "".join(
    f"{y}-{m:02d}-01,0.1,0.2,{3 + m / 10:.2f},0.4,0.5\n" for y in (2021, 2022) for m in range(1, 13)
)
RECOMPUTING = "Indicateurs en cours de recalcul"


@pytest.fixture
def queued_only(settings):
    """A queue with no worker: enqueued jobs wait, as they do until the worker takes them."""
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}


def interest(commune) -> object:
    return YearIndicator.objects.filter(commune=commune).aggregate(s=Sum("interest"))["s"]


def test_index_import_queues_the_recompute_and_pages_follow_it(
    queued_only, client_operator, client_agent_a, commune_a
):
    services.import_loans(SYSTEM, commune_a, GOOD.encode(), "dette.csv")
    before = interest(commune_a)
    market = reverse("finance:market")
    upload = SimpleUploadedFile("emmi.csv", HISTORY.encode())
    assert client_operator.post(market, {"index-file": upload}).status_code == 302
    job = Recompute.objects.get()
    assert (job.status, job.done, job.total) == (RecomputeStatus.QUEUED, 0, 1)
    assert interest(commune_a) == before  # nothing recomputed inside the request
    page = client_operator.get(market).content.decode()
    assert f"{RECOMPUTING} (historique d&#x27;index importé) : 0 portefeuille(s)" in page
    assert 'hx-get="' + reverse("finance:recompute") in page
    variable = Loan.objects.get(reference="VAR-1")
    fixed = Loan.objects.get(reference="FIX-1")
    loan_url = "finance:loan"
    assert (
        RECOMPUTING
        in client_agent_a.get(
            reverse(loan_url, args=[commune_a.insee, variable.pk])
        ).content.decode()
    )
    assert (
        RECOMPUTING
        not in client_agent_a.get(
            reverse(loan_url, args=[commune_a.insee, fixed.pk])
        ).content.decode()
    )
    book = reverse("finance:commune", args=[commune_a.insee])
    assert RECOMPUTING in client_agent_a.get(book).content.decode()

    done = services.run_recompute(job)  # what the worker does
    assert (done.status, done.done, done.total) == (RecomputeStatus.DONE, 1, 1)
    assert interest(commune_a) != before
    status = client_operator.get(reverse("finance:recompute")).content.decode()
    assert "1 portefeuille(s) à taux variable recalculé(s)" in status and "hx-get" not in status
    assert RECOMPUTING not in client_agent_a.get(book).content.decode()


def test_forward_curve_goes_through_the_same_job(queued_only, commune_a):
    services.import_loans(SYSTEM, commune_a, GOOD.encode(), "dette.csv")
    services.save_forward_curve(SYSTEM, "Hausse", date(2025, 1, 1), "EURIBOR_3M;2020-01-01;5\n")
    job = Recompute.objects.get()
    assert job.pending and "Hausse" in job.reason
    before = interest(commune_a)
    assert services.run_recompute(job).status == RecomputeStatus.DONE
    assert interest(commune_a) > before
    assert services.run_recompute(job).done == 1  # a finished job is never run twice


def test_a_crashing_recompute_ends_failed_and_says_so(
    queued_only, client_operator, commune_a, monkeypatch
):
    services.import_loans(SYSTEM, commune_a, GOOD.encode(), "dette.csv")
    services.import_index_history(SYSTEM, HISTORY.encode())

    def broken(owner):  # type: ignore[no-untyped-def]
        raise RuntimeError("disque plein")

    monkeypatch.setattr(services, "refresh_indicators", broken)
    job = services.run_recompute(Recompute.objects.get())
    assert job.status == RecomputeStatus.FAILED and not job.pending
    assert services.recompute_pending() is None
    page = client_operator.get(reverse("finance:market")).content.decode()
    assert "Recalcul interrompu" in page and "RuntimeError" in page


def test_with_the_task_backend_running_in_place_the_import_recomputes(commune_a):
    services.import_loans(SYSTEM, commune_a, GOOD.encode(), "dette.csv")
    before = interest(commune_a)
    result = services.import_index_history(SYSTEM, HISTORY.encode())
    assert "1 portefeuille(s) à taux variable en cours de recalcul" in result.summary()
    assert Recompute.objects.get().status == RecomputeStatus.DONE
    assert interest(commune_a) != before
