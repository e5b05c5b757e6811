"""Finance: the operator's consolidated debt page for 70 and 700 communes (~5 loans each)
answers in a constant number of queries, because it reads the per-year indicators stored
when a book changes (YearIndicator) instead of scheduling 3,500 loans per request.

Prints, for each size: the queries and the time of `services.consolidated` and of the
whole page through Django's test client (session of an operator), on SQLite (WAL), and
the ratio of the query counts (goal: 1.0, i.e. constant).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _setup import django_with_fresh_db  # noqa: E402

LOANS = 5
SIZES = (70, 700)


def book(seed: int) -> bytes:
    head = (
        "reference;preteur;nominal;date_debut;nombre_echeances;periodicite;index;taux;marge;"
        "plancher\n"
    )
    rows = []
    for k in range(LOANS):
        nominal = 50_000 + (seed * 7919 + k * 104_729) % 900_000
        start = f"01/{1 + (seed + k) % 12:02d}/{2008 + (seed + 3 * k) % 16}"
        periods = 80 + (seed + k) % 41  # quarterly, 20 to 30 years
        if k == 2:
            rows.append(
                f"L{k};Banque;{nominal};{start};{periods};trimestrielle;Euribor 3 mois;;0,9;0"
            )
        else:
            rows.append(f"L{k};Banque;{nominal};{start};{periods};trimestrielle;;{2 + k / 2:.2f};;")
    return (head + "\n".join(rows) + "\n").encode()


def main() -> None:
    django_with_fresh_db()
    from django.conf import settings
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse
    from django.utils import timezone

    from clocher.core import reference
    from clocher.core import services as core
    from clocher.core.audit import Actor
    from clocher.core.models import Role
    from clocher.finance import services

    actor = Actor(label="bench")
    core.ensure_operator(actor, "Département", "communes.example.fr", "n@example.fr", "21")
    operator = core.add_operator_member(actor, "ops@example.fr", Role.OPERATOR_ADMIN, "ops").user
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    client = Client()
    client.force_login(operator)
    session = client.session
    session["clocher_2fa_ok"] = True
    session.save()
    codes = sorted(r.insee for r in reference.department_communes("21"))
    codes += sorted(r.insee for r in reference.department_communes("71"))
    year = timezone.localdate().year
    made = 0
    counts = []
    for size in SIZES:
        started = time.perf_counter()
        while made < size:
            commune = core.create_commune(actor, codes[made], status="active")
            services.import_loans(actor, commune, book(made), "bench.csv")
            made += 1
        setup = time.perf_counter() - started
        with CaptureQueriesContext(connection) as queries:
            t0 = time.perf_counter()
            view = services.consolidated(year, "encours", descending=True)
            service_s = time.perf_counter() - t0
        with CaptureQueriesContext(connection) as page_queries:
            t0 = time.perf_counter()
            answer = client.get(reverse("finance:operator"), {"tri": "encours"})
            page_s = time.perf_counter() - t0
        assert answer.status_code == 200 and len(view.rows) == size
        counts.append((len(queries), len(page_queries)))
        print(
            f"{size} communes × {LOANS} emprunts (import et indicateurs stockés : {setup:.1f} s) : "
            f"service {len(queries)} requêtes en {service_s * 1000:.0f} ms, "
            f"page {len(page_queries)} requêtes en {page_s * 1000:.0f} ms"
        )
    (small_s, small_p), (big_s, big_p) = counts
    print(
        f"ratio requêtes {SIZES[1]}/{SIZES[0]} communes : service {big_s / small_s:.2f}, "
        f"page {big_p / small_p:.2f} (objectif 1,00 : constant)"
    )


if __name__ == "__main__":
    main()
