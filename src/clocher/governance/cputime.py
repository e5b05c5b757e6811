"""CPU time of the analytics, recorded the way forecasts record theirs (the CPU the
computation itself took, `time.thread_time` here so that a web server's other threads
are not counted), one `AnalyticsRun` row per run, per commune: what the sobriety figures
add up. Programs an analytic runs (nmap for the e-services audit) count too: their own
CPU, read from the kernel when they end (`os.wait4`)."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from clocher.core.models import Commune
from clocher.governance.models import Analytic, AnalyticsRun

_children = threading.local()


def children_seconds() -> float:
    """CPU of the programs this thread ran through `run` so far."""
    return float(getattr(_children, "seconds", 0.0))


class _Measured(subprocess.Popen[str]):
    """A child whose CPU time (user + system) is kept when it is reaped: `subprocess`
    reaps with waitpid, which drops the child's resource usage; wait4 returns it."""

    def _try_wait(self, wait_flags: int) -> tuple[int, int]:
        try:
            pid, status, usage = os.wait4(self.pid, wait_flags)
        except ChildProcessError:
            return self.pid, 0  # as subprocess does when the child is already gone
        if pid == self.pid:
            _children.seconds = children_seconds() + usage.ru_utime + usage.ru_stime
        return pid, status


def run(argv: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    """subprocess.run(argv, capture_output=True, text=True, timeout=…, check=False), the
    child's CPU added to this thread's count."""
    with _Measured(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


class Meter:
    """CPU seconds of this thread and of the programs it ran, since it was made."""

    def __init__(self) -> None:
        self.start = time.thread_time() + children_seconds()

    @property
    def seconds(self) -> float:
        return max(time.thread_time() + children_seconds() - self.start, 0.0)


def record(commune: Commune | None, analytic: Analytic, seconds: float) -> AnalyticsRun:
    return AnalyticsRun.objects.create(commune=commune, analytic=analytic, cpu_seconds=seconds)


@contextmanager
def measured(commune: Commune | None, analytic: Analytic) -> Iterator[Meter]:
    """Record the CPU the block took when it succeeds (a failed run's transaction may be
    broken: nothing is written into it)."""
    meter = Meter()
    yield meter
    record(commune, analytic, meter.seconds)


def by_commune(ids: list[int]) -> dict[int, dict[str, float]]:
    """Commune id → analytic → CPU seconds recorded."""
    from django.db.models import Sum

    rows: Any = (
        AnalyticsRun.objects.filter(commune_id__in=ids)
        .values("commune_id", "analytic")
        .annotate(s=Sum("cpu_seconds"))
        .values_list("commune_id", "analytic", "s")
    )
    out: dict[int, dict[str, float]] = {}
    for commune_id, analytic, seconds in rows:
        out.setdefault(commune_id, {})[analytic] = float(seconds or 0.0)
    return out
