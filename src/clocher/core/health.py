"""Component health for `clocher check`: each service registers its probes here."""

from __future__ import annotations

import os
import time
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.migrations.executor import MigrationExecutor


@dataclass
class Health:
    component: str
    address: str
    ok: bool
    detail: str

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


Probe = Callable[[], Health]
_probes: list[Probe] = []


def register(probe: Probe) -> Probe:
    _probes.append(probe)
    return probe


def run_all() -> list[Health]:
    results = []
    for probe in _probes:
        try:
            results.append(probe())
        except Exception as exc:  # a probe that crashes reports its component down
            results.append(Health(probe.__name__, "?", False, f"erreur : {exc}"))
    return results


def worker_heartbeat_file() -> Path:
    return Path(settings.DATA_DIR) / "run" / "worker.heartbeat"


HEARTBEAT_MAX_AGE = 30.0


@register
def database() -> Health:
    db = settings.DATABASES["default"]
    address = (
        str(db["NAME"])
        if connection.vendor == "sqlite"
        else f"{db.get('HOST') or 'socket'}:{db.get('PORT') or 5432}/{db['NAME']}"
    )
    connection.ensure_connection()
    executor = MigrationExecutor(connection)
    pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if pending:
        return Health(
            "base de données",
            address,
            False,
            f"{len(pending)} migration(s) à appliquer : lancez `clocher init`",
        )
    return Health("base de données", address, True, f"{connection.vendor}, schéma à jour")


@register
def data_dir() -> Health:
    path = Path(settings.DATA_DIR)
    ok = path.is_dir() and os.access(path, os.W_OK)
    return Health(
        "répertoire de données",
        str(path),
        ok,
        "accessible en écriture" if ok else "absent ou non inscriptible",
    )


@register
def web() -> Health:
    return http_probe("web", f"http://{settings.BIND}/healthz")


def http_probe(component: str, url: str) -> Health:
    """Whether a local server answers `url` with 200."""
    try:
        with urllib.request.urlopen(url, timeout=3) as response:  # noqa: S310 - local URL
            ok = response.status == 200
            return Health(component, url, ok, f"HTTP {response.status}")
    except OSError as exc:
        return Health(component, url, False, f"injoignable ({exc.__class__.__name__})")


@register
def task_worker() -> Health:
    path = worker_heartbeat_file()
    if not path.exists():
        return Health("tâches de fond", str(path), False, "aucun worker n'a démarré")
    age = time.time() - path.stat().st_mtime
    ok = age < HEARTBEAT_MAX_AGE
    return Health(
        "tâches de fond",
        f"pid {path.read_text().strip()}",
        ok,
        f"dernier signe de vie il y a {age:.0f} s",
    )


OUTBOX_MAX_AGE = 3600.0


@register
def outbox() -> Health:
    """The platform's mail waiting for its SMTP server: past an hour, something is wrong
    (Postfix down, the relay refusing)."""
    from clocher.core import mailer

    state = mailer.status()
    detail = f"{state.pending} courriel(s) en attente"
    if state.oldest_age is not None:
        detail += f", le plus ancien depuis {state.oldest_age / 60:.0f} min"
    if state.failed:
        detail += f" ; {state.failed} mis de côté dans failed/"
    ok = state.oldest_age is None or state.oldest_age < OUTBOX_MAX_AGE
    if not ok:
        detail += " (plus d'une heure : voir le journal de `clocher outbox flush`)"
    return Health("courriels de la plateforme", str(mailer.outbox_dir()), ok, detail)


def child_trouble(name: str) -> str:
    """Why the child `name` of the running `clocher serve` is not healthy ('' if it is, or
    if no supervisor runs): a port may still answer, served by a process that is not ours."""
    from clocher.core import supervisor

    state = supervisor.read_state()
    if not supervisor.supervisor_running(state):
        return ""
    return _trouble(name, (state.get("children") or {}).get(name) or {})


def _trouble(name: str, record: dict[str, Any]) -> str:
    restarts, code = record.get("restarts") or 0, record.get("last_exit")
    if record.get("state") != "running":
        if restarts:
            return f"{name} redémarre en boucle ({restarts} arrêt(s) de suite, code {code})"
        return f"{name} arrêté (code {code}), redémarrage en cours"
    if restarts:
        return (
            f"{name} relancé après {restarts} arrêt(s) rapide(s) (code {code}), pas encore stable"
        )
    return ""


@register
def supervised_processes() -> Health:
    """Every child of `clocher serve`, from the state file it keeps: a daemon restarting in
    a loop is reported down even if something still answers on its port."""
    from clocher.core import supervisor

    state = supervisor.read_state()
    path = str(supervisor.state_file())
    if not supervisor.supervisor_running(state):
        return Health("processus supervisés", path, False, "`clocher serve` ne tourne pas")
    children = state.get("children") or {}
    troubles = [t for name, record in children.items() if (t := _trouble(name, record))]
    if troubles:
        return Health("processus supervisés", path, False, " ; ".join(troubles))
    return Health(
        "processus supervisés",
        f"pid {state['supervisor']['pid']}",
        True,
        f"{len(children)} processus en marche",
    )
