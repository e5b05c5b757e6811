"""`clocher serve`: run the platform's processes in the foreground and keep them up.

Each child (web server, task workers, and the daemons the apps register) is restarted
with a back-off if it dies; SIGINT/SIGTERM stop them all, with their process groups.

After a crash of the supervisor itself (SIGKILL, OOM killer) nothing of the old run may
stay in the way: children die with it (PR_SET_PDEATHSIG), and the next start stops what
is left, found from `<data dir>/run/state.json` (pid, group, start time of each child)
and from the daemons' own pid files. One supervisor per data dir (a lock file). The
state file also tells `clocher check` which child is restarting in a loop.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import click

from clocher.core import processes

# A child that ran this long is healthy again: its restart counter goes back to zero.
STABLE_AFTER = 10.0
# How long a child (or a leftover of a crashed run) has to stop before SIGKILL.
STOP_GRACE = 20.0


class CannotStart(Exception):
    """The platform cannot start as configured; the message, in French, says why."""


@dataclass
class Child:
    name: str
    argv: list[str]
    # The daemon's own pid files: a copy of it left running by a crashed run, or started
    # by hand, is found there even without our state file (Postfix's, Dovecot's).
    pidfiles: tuple[Path, ...] = ()
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    next_start: float = 0.0
    started_at: float = field(default=0.0)
    start_ticks: int = 0
    last_exit: int | None = None

    def state(self, supervised: bool) -> dict[str, Any]:
        pid = self.process.pid if self.process is not None else None
        return {
            "state": "stopped" if not supervised else "running" if pid else "restarting",
            "pid": pid,
            "pgid": pid,
            "start": self.start_ticks if pid else None,
            "restarts": self.restarts,
            "last_exit": self.last_exit,
        }


ChildFactory = Callable[[], list[Child]]
_factories: list[ChildFactory] = []


def register(factory: ChildFactory) -> ChildFactory:
    """Apps add their daemons (Postfix, Dovecot…) to `clocher serve` through this."""
    _factories.append(factory)
    return factory


_web_factories: list[ChildFactory] = []


def register_web(factory: ChildFactory) -> ChildFactory:
    """Apps add what serves beside the web server (the webmail's php-fpm, reached by the
    web workers over a Unix socket) through this: it runs on every node of the web role."""
    _web_factories.append(factory)
    return factory


# What one node runs. `daemons` (Postfix, Dovecot, rspamd and the apps' periodic jobs:
# seals, backups, alerts, feeds) on exactly one node; `web` and `tasks` on as many nodes as
# share the database and the S3 store (the database queue hands each task to one worker).
ROLES = ("web", "tasks", "daemons")


def parse_roles(text: str) -> frozenset[str]:
    """`web,tasks` → the roles; an unknown or empty list is refused by name."""
    if text.strip() == "all":
        return frozenset(ROLES)
    roles = frozenset(part.strip() for part in text.split(",") if part.strip())
    unknown = sorted(roles - set(ROLES))
    if unknown or not roles:
        raise CannotStart(
            f"rôle(s) inconnu(s) : {', '.join(unknown) or '(aucun)'} ; "
            f"rôles possibles : {', '.join(ROLES)} (séparés par des virgules)."
        )
    return roles


def _proxy_protocol() -> list[str]:
    """Behind HAProxy (`send-proxy`), the client's address comes from the PROXY line,
    accepted only from CLOCHER_PROXY_FROM; a direct request (health check) works as before."""
    from django.conf import settings

    allowed = getattr(settings, "PROXY_FROM", "")
    return ["--proxy-protocol", "--proxy-allow-from", allowed] if allowed else []


def control_socket() -> Path:
    """gunicorn's control socket (`gunicornc`), one per data dir: its default is one path
    per user ($XDG_RUNTIME_DIR or ~/.gunicorn), so a second installation or node of the
    same user took over the first one's socket and removed it when it stopped."""
    return run_socket("gunicorn.ctl")


def run_socket(name: str) -> Path:
    """The Unix socket `name` of this data dir (`run/`). A data dir too deep for a Unix
    socket path (108 bytes) gets a name derived from it in /tmp."""
    import hashlib
    import tempfile

    from django.conf import settings

    data_dir = Path(settings.DATA_DIR).resolve()
    path = data_dir / "run" / name
    if len(str(path).encode()) > 100:
        digest = hashlib.sha256(str(data_dir).encode()).hexdigest()[:16]
        path = Path(tempfile.gettempdir()) / f"clocher-{digest}-{name}"
    return path


def core_children(
    bind: str, web_workers: int, task_workers: int = 2, roles: frozenset[str] = frozenset(ROLES)
) -> list[Child]:
    """The web server and `task_workers` task workers (imports of several mailboxes run
    side by side; the database queue hands each task to one worker only), as `roles` say.
    Each web worker runs CLOCHER_WEB_THREADS threads (4 by default; see
    docs/performance.md for the measured choice between workers and threads)."""
    python = sys.executable
    threads = os.environ.get("CLOCHER_WEB_THREADS", "4")
    web = [
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
                threads,
                "--access-logfile",
                "-",
                "--logger-class",  # the same lines, built cheaper (core/weblog.py)
                "clocher.core.weblog.AccessLog",
                "--graceful-timeout",
                "10",
                "--timeout",
                "120",
                "--control-socket",
                str(control_socket()),
                *_proxy_protocol(),
            ],
        ),
    ]
    tasks = [
        Child(
            f"tâches {n}" if task_workers > 1 else "tâches", [python, "-m", "clocher.cli", "worker"]
        )
        for n in range(1, max(1, task_workers) + 1)
    ]
    # The platform's mail that met no SMTP server (Postfix not up yet, restarting): this
    # node's own outbox directory, so every node that sends mail flushes its own.
    flush = [python, "-m", "clocher.cli", "outbox", "flush", "--every", "60"]
    return [
        *(web if "web" in roles else []),
        *(tasks if "tasks" in roles else []),
        Child("courriels en attente", flush),
    ]


def run_dir() -> Path:
    from django.conf import settings

    return Path(settings.DATA_DIR) / "run"


def state_file() -> Path:
    return run_dir() / "state.json"


def read_state() -> dict[str, Any]:
    """What the supervisor last wrote (empty if it never ran or the file is damaged)."""
    try:
        state = json.loads(state_file().read_text())
    except (OSError, ValueError):
        return {}
    return state if isinstance(state, dict) else {}


def supervisor_running(state: dict[str, Any]) -> bool:
    """The supervisor named in the state file is alive (pid and start time match)."""
    me = state.get("supervisor") or {}
    try:
        return processes.alive(processes.Proc(int(me["pid"]), 0, int(me["start"])))
    except (KeyError, TypeError, ValueError):
        return False


def _write_state(children: list[Child], running: bool) -> None:
    me = processes.find(os.getpid())
    state = {
        "supervisor": {"pid": os.getpid(), "start": me.start if me else 0} if running else None,
        "boot": processes.boot_id(),
        "updated": time.time(),
        "children": {c.name: c.state(running) for c in children},
    }
    tmp = state_file().with_suffix(".tmp")
    tmp.write_text(json.dumps(state, ensure_ascii=False, indent=1))
    os.replace(tmp, state_file())


def _lock() -> IO[str]:
    """One supervisor per data dir: a second one would fight the first for the ports and
    stop its daemons as leftovers. The lock goes with the process, however it ends."""
    run_dir().mkdir(parents=True, exist_ok=True)
    handle = (run_dir() / "supervisor.lock").open("a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        pid = (read_state().get("supervisor") or {}).get("pid", "?")
        raise CannotStart(
            f"`clocher serve` tourne déjà sur {run_dir().parent} (pid {pid}) : "
            "arrêtez-le d'abord, ou donnez à cette instance son propre CLOCHER_DATA_DIR."
        ) from None
    return handle


def _stop_leftover(name: str, proc: processes.Proc) -> None:
    click.echo(f"[serve] {name} (pid {proc.pid}) reste d'une exécution interrompue : arrêt")
    if not processes.stop(proc, STOP_GRACE):
        click.echo(f"[serve] {name} (pid {proc.pid}) ne s'arrête pas, même tué", err=True)


def _stop_recorded_leftovers(state: dict[str, Any]) -> None:
    """Children of a run that ended without stopping them, from its state file."""
    if state.get("boot") != processes.boot_id():
        return  # written before a reboot: its processes are long gone
    for name, record in (state.get("children") or {}).items():
        try:
            proc = processes.Proc(int(record["pid"]), int(record["pgid"]), int(record["start"]))
        except (KeyError, TypeError, ValueError):
            continue
        if processes.remains(proc):
            _stop_leftover(name, proc)


def _stop_pidfile_leftovers(children: list[Child]) -> None:
    """A daemon of this data dir found in its own pid file, checked to be that program
    (its /proc exe), e.g. left by a version without the state file or started by hand."""
    for child in children:
        expected = os.path.realpath(child.argv[0])
        for pidfile in child.pidfiles:
            try:
                pid = int(pidfile.read_text().split()[0])
            except (OSError, ValueError, IndexError):
                continue
            proc = processes.find(pid)
            if proc is not None and pid != os.getpid() and processes.executable(pid) == expected:
                _stop_leftover(child.name, proc)


def _start(child: Child, now: float) -> None:
    click.echo(f"[serve] démarrage de {child.name}")
    child.process = subprocess.Popen(  # noqa: S603
        child.argv,
        start_new_session=True,  # its own group: stopped whole, and Ctrl-C goes to us only
        preexec_fn=functools.partial(processes.die_with_parent, os.getpid()),
    )
    child.started_at = now
    found = processes.find(child.process.pid)
    child.start_ticks = found.start if found else 0


def _reap(child: Child, now: float) -> None:
    """A child ended: clear what its group left (workers holding its ports), then plan
    its restart, backing off while it keeps failing quickly."""
    assert child.process is not None
    code = child.process.returncode
    processes.stop(processes.Proc(child.process.pid, child.process.pid, child.start_ticks), 5.0)
    child.process = None
    child.last_exit = code
    quick = now - child.started_at < STABLE_AFTER
    child.restarts = child.restarts + 1 if quick else 0
    delay = min(30.0, 2.0**child.restarts) if quick else 1.0
    child.next_start = now + delay
    click.echo(
        f"[serve] {child.name} s'est arrêté (code {code}), redémarrage dans {delay:.0f} s",
        err=True,
    )


def _stop_all(children: list[Child]) -> None:
    """SIGTERM to each child, wait, then whatever is left of their groups is killed."""
    running = [c for c in children if c.process is not None and c.process.poll() is None]
    for child in running:
        assert child.process is not None
        child.process.terminate()
    deadline = time.monotonic() + STOP_GRACE
    for child in running:
        assert child.process is not None
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
    for child in children:
        if child.process is not None:
            pid = child.process.pid
            processes.stop(processes.Proc(pid, pid, child.start_ticks), 5.0)
            child.process.wait()
            child.process = None


def run(children: list[Child], daemons: bool = True, web: bool = True) -> int:
    """Supervise `children`, plus the apps' daemons and web companions unless this node
    runs without them."""
    try:
        lock = _lock()
        _stop_recorded_leftovers(read_state())
        if web:
            children = children + [c for factory in _web_factories for c in factory()]
        if daemons:
            children = children + [c for factory in _factories for c in factory()]
        _stop_pidfile_leftovers(children)
    except CannotStart as exc:
        click.echo(f"[serve] {exc}", err=True)
        return 1
    stopping = False

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        _write_state(children, running=True)
        while not stopping:
            now = time.monotonic()
            changed = False
            for child in children:
                if child.process is None and now >= child.next_start:
                    _start(child, now)
                    changed = True
                elif child.process is not None and child.process.poll() is not None:
                    _reap(child, now)
                    changed = True
                elif child.restarts and now - child.started_at >= STABLE_AFTER:
                    child.restarts = 0
                    changed = True
            if changed:
                _write_state(children, running=True)
            time.sleep(0.5)
        click.echo("[serve] arrêt…")
        _stop_all(children)
    finally:
        _write_state(children, running=False)
        lock.close()
    return 0
