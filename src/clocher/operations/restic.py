"""The one client module of restic (Debian's `restic`): every call to the tool goes here.

The password never touches argv (visible in `ps`): it is handed over in the child's
environment, which only its owner can read. An S3 repository takes the keys of
CLOCHER_BACKUP_S3_* the same way.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings


class ResticError(Exception):
    """A refusal or failure of restic, its message in French for the operator."""


@dataclass(frozen=True)
class Repository:
    location: str
    password: str

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("RESTIC_")}
        env["RESTIC_REPOSITORY"] = self.location
        env["RESTIC_PASSWORD"] = self.password
        env["RESTIC_CACHE_DIR"] = str(Path(settings.DATA_DIR) / "cache" / "restic")
        if settings.BACKUP_S3_ACCESS_KEY:
            env["AWS_ACCESS_KEY_ID"] = settings.BACKUP_S3_ACCESS_KEY
            env["AWS_SECRET_ACCESS_KEY"] = settings.BACKUP_S3_SECRET_KEY
        return env


def binary() -> str:
    found = shutil.which("restic")
    if not found:
        raise ResticError(
            "restic est introuvable : installez le paquet Debian « restic » "
            "(scripts/install-debian-packages.sh)."
        )
    return found


# What restic says when a pack or a blob does not read back as it was written.
DAMAGE_SIGNS = ("ciphertext verification failed", "checksum mismatch", "There were ", "is damaged")


def _explain(repo: Repository, stderr: str) -> str:
    """restic's English failure, said in French naming what is wrong."""
    text = stderr.strip().splitlines()
    last = text[-1] if text else ""
    if "wrong password" in stderr or "no key found" in stderr:
        return (
            f"le mot de passe du dépôt {repo.location} ne l'ouvre pas : "
            "vérifiez le kit de récupération (clé de sauvegarde)."
        )
    if "Is there a repository at the following location" in stderr or (
        "unable to open config file" in stderr
    ):
        return f"aucun dépôt de sauvegarde lisible à {repo.location} ({last})."
    if any(sign in stderr for sign in DAMAGE_SIGNS):
        return (
            f"dépôt abîmé : restic n'a pas pu relire des données de {repo.location} ({last}). "
            "Vérifiez-le avec clocher backup --check 100 et restaurez depuis une autre copie."
        )
    if "no matching ID found" in stderr or "no snapshot found" in stderr:
        return f"instantané introuvable dans {repo.location} ({last})."
    return f"restic a échoué sur {repo.location} : {last or 'erreur inconnue'}"


def run(
    repo: Repository,
    args: Sequence[str],
    *,
    cwd: Path | None = None,
    stdin: str | None = None,
) -> str:
    """Run `restic ARGS` and return its standard output, or raise ResticError."""
    proc = subprocess.run(  # noqa: S603
        [binary(), "-q", *args],
        env=repo.env(),
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise ResticError(_explain(repo, proc.stderr))
    return proc.stdout


def is_local(location: str) -> bool:
    """A path, not a backend URL (`s3:`, `rest:`, `sftp:`…; a bare path may hold a colon
    only after a slash, as restic itself reads it)."""
    head = location.split("/", 1)[0]
    return ":" not in head


def is_initialised(repo: Repository) -> bool:
    """Whether the repository exists. A local one is known by its `config` file: asking
    restic costs a key derivation (≈ 0.3 s of CPU) on every backup; a wrong password still
    fails the backup itself, said as `_explain` says it."""
    if is_local(repo.location):
        return (Path(repo.location) / "config").is_file()
    proc = subprocess.run(  # noqa: S603
        [binary(), "cat", "config"], env=repo.env(), capture_output=True, text=True, check=False
    )
    if proc.returncode == 0:
        return True
    if "wrong password" in proc.stderr or "no key found" in proc.stderr:
        raise ResticError(_explain(repo, proc.stderr))
    return False


def ensure_initialised(repo: Repository) -> None:
    if not is_initialised(repo):
        run(repo, ["init"])


def backup(
    repo: Repository, paths: Sequence[str], tags: Sequence[str], excludes: Sequence[str] = ()
) -> dict[str, Any]:
    """One snapshot of `paths`; restic's JSON summary (snapshot id, sizes, counts)."""
    args = ["backup", "--json"]
    for tag in tags:
        args += ["--tag", tag]
    for pattern in excludes:
        args += ["--exclude", pattern]
    out = run(repo, [*args, *paths])
    for line in reversed(out.splitlines()):
        if '"summary"' in line:
            return dict(json.loads(line))
    raise ResticError(f"restic n'a pas rendu de résumé de sauvegarde pour {repo.location}.")


def snapshots(repo: Repository) -> list[dict[str, Any]]:
    return list(json.loads(run(repo, ["snapshots", "--json"]) or "[]"))


def restore(repo: Repository, snapshot: str, target: Path, includes: Sequence[str] = ()) -> None:
    args = ["restore", snapshot, "--target", str(target)]
    for include in includes:
        args += ["--include", include]
    run(repo, args)


def dump(repo: Repository, snapshot: str, path: str) -> bytes:
    proc = subprocess.run(  # noqa: S603
        [binary(), "-q", "dump", snapshot, path], env=repo.env(), capture_output=True, check=False
    )
    if proc.returncode != 0:
        raise ResticError(_explain(repo, proc.stderr.decode(errors="replace")))
    return proc.stdout


def forget(repo: Repository, daily: int = 7, weekly: int = 4, monthly: int = 12) -> None:
    run(
        repo,
        [
            "forget",
            "--keep-daily",
            str(daily),
            "--keep-weekly",
            str(weekly),
            "--keep-monthly",
            str(monthly),
            "--prune",
        ],
    )


def check(repo: Repository, percent: int) -> None:
    """Structure, then a random `percent` of the packs read back and verified."""
    run(repo, ["check", f"--read-data-subset={percent}%"])
