"""`clocher serve`: run the platform's processes in the foreground and keep them up.

Each child (web server, task worker, and the mail daemons once registered) is restarted
with a back-off if it dies; SIGINT/SIGTERM stop them all.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import click


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    next_start: float = 0.0
    started_at: float = field(default=0.0)


ChildFactory = Callable[[], list[Child]]
_factories: list[ChildFactory] = []


def register(factory: ChildFactory) -> ChildFactory:
    """Apps add their daemons (Postfix, Dovecot…) to `clocher serve` through this."""
    _factories.append(factory)
    return factory


def core_children(bind: str, web_workers: int, task_workers: int = 2) -> list[Child]:
    """The web server and `task_workers` task workers (imports of several mailboxes run
    side by side; the database queue hands each task to one worker only)."""
    python = sys.executable
    children = [
        Child(
            "web",
            [
                python,
                "-m",
                "gunicorn",
                "clocher.wsgi:application",
                "--bind",
                bind,
                "--workers",
                str(web_workers),
                "--threads",
                "4",
                "--access-logfile",
                "-",
                "--graceful-timeout",
                "10",
                "--timeout",
                "120",
            ],
        ),
    ] + [
        Child(
            f"tâches {n}" if task_workers > 1 else "tâches", [python, "-m", "clocher.cli", "worker"]
        )
        for n in range(1, max(1, task_workers) + 1)
    ]
    # The platform's mail that met no SMTP server (Postfix not up yet, restarting).
    flush = [python, "-m", "clocher.cli", "outbox", "flush", "--every", "60"]
    return [*children, Child("courriels en attente", flush)]


def run(children: list[Child]) -> int:
    children = children + [c for factory in _factories for c in factory()]
    stopping = False

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    while not stopping:
        now = time.monotonic()
        for child in children:
            if child.process is None and now >= child.next_start:
                click.echo(f"[serve] démarrage de {child.name}")
                child.process = subprocess.Popen(child.argv)  # noqa: S603
                child.started_at = now
            elif child.process is not None and child.process.poll() is not None:
                code = child.process.returncode
                child.process = None
                # Quick crash loops back off up to 30 s; a long-lived child restarts fast.
                quick = now - child.started_at < 10
                child.restarts = child.restarts + 1 if quick else 0
                delay = min(30.0, 2.0**child.restarts) if quick else 1.0
                child.next_start = now + delay
                click.echo(
                    f"[serve] {child.name} s'est arrêté (code {code}), "
                    f"redémarrage dans {delay:.0f} s",
                    err=True,
                )
        time.sleep(0.5)
    click.echo("[serve] arrêt…")
    for child in children:
        if child.process is not None and child.process.poll() is None:
            child.process.terminate()
    deadline = time.monotonic() + 15
    for child in children:
        if child.process is not None:
            try:
                child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.process.kill()
    return 0
