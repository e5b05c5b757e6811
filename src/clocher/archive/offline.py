#!/usr/bin/env python3
"""Check a Clocher evidence package offline: python3 verifier.py preuve.zip

Needs only Python 3.9+ and, for the time-stamp tokens, the `openssl` command. It checks:
1. the document's SHA-256, SHA-512 and size against metadonnees.json;
2. each journal entry's hash (SHA-256 of its canonical JSON), the links between
   consecutive entries, and that the deposit entry names this document's SHA-256;
3. each entry's Merkle path up to the root of its seal;
4. with openssl: the document's token (`openssl ts -verify -data`; for a document
   deposited in a batch, its Merkle path from the deposit entry up to the batch's root,
   then `-digest <root>`) and each seal's token over its root (`-digest`), against the
   TSA certificate.
Exit status 0 when everything holds; otherwise each failure is printed, named.

This file is also src/clocher/archive/offline.py: Clocher computes its journal with the
very functions below, so the checker and the producer cannot drift apart.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

GENESIS_HASH = "0" * 64


# The arguments json.dumps would pass, made once: json.dumps builds a new encoder at each
# call, which costs a third of the encoding when an audit hashes every journal entry.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical(payload: dict[str, Any]) -> bytes:
    """Keys sorted, no spaces, UTF-8: the bytes an entry's hash is taken over."""
    return _CANONICAL.encode(payload).encode()


def entry_hash(payload: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(payload)).hexdigest()


def _leaf(entry_hash_hex: str) -> bytes:
    return hashlib.sha256(b"\x00" + bytes.fromhex(entry_hash_hex)).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _levels(hashes: list[str]) -> list[list[bytes]]:
    """The tree bottom-up; an odd node is carried up unchanged (as in RFC 6962)."""
    level = [_leaf(h) for h in hashes]
    levels = [level]
    while len(level) > 1:
        level = [
            _node(level[i], level[i + 1]) if i + 1 < len(level) else level[i]
            for i in range(0, len(level), 2)
        ]
        levels.append(level)
    return levels


def merkle_root(hashes: list[str]) -> str:
    if not hashes:
        raise ValueError("aucune entrée à sceller")
    return _levels(hashes)[-1][0].hex()


def merkle_proof(hashes: list[str], index: int) -> list[list[str]]:
    """The siblings from leaf `index` to the root, each as [side, hex] where side says
    whether the sibling is on the left ("G") or the right ("D")."""
    return _proof(_levels(hashes), index)


def merkle_proofs(hashes: list[str]) -> list[list[list[str]]]:
    """Every leaf's `merkle_proof`, the tree built once (a batch deposit needs them all)."""
    levels = _levels(hashes)
    return [_proof(levels, index) for index in range(len(hashes))]


def _proof(levels: list[list[bytes]], index: int) -> list[list[str]]:
    path = []
    for level in levels[:-1]:
        sibling = index ^ 1
        if sibling < len(level):
            path.append(["G" if sibling < index else "D", level[sibling].hex()])
        index //= 2
    return path


def root_from_proof(entry_hash_hex: str, path: list[list[str]]) -> str:
    current = _leaf(entry_hash_hex)
    for side, sibling in path:
        other = bytes.fromhex(sibling)
        current = _node(other, current) if side == "G" else _node(current, other)
    return current.hex()


# --------------------------------------------------------------------------- the package


def _openssl_verify(args: list[str], ca_file: Path) -> tuple[bool, str]:
    openssl = shutil.which("openssl")
    if openssl is None:
        return False, "commande openssl absente : vérifiez le jeton avec " + " ".join(args)
    result = subprocess.run(  # noqa: S603 - fixed program, arguments are file paths
        [openssl, "ts", "-verify", *args, "-CAfile", str(ca_file)],
        capture_output=True,
        text=True,
        check=False,
    )
    output = (result.stdout + result.stderr).strip()
    return result.returncode == 0 and "Verification: OK" in output, output


def check_package(path: str | Path) -> list[str]:
    """Every problem found in the package (an empty list when it holds)."""
    problems: list[str] = []
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(path) as archive:
        archive.extractall(tmp)
        root = Path(tmp)
        meta = json.loads((root / "metadonnees.json").read_text("utf-8"))
        journal = json.loads((root / "journal.json").read_text("utf-8"))
        document = root / "document" / meta["nom_du_fichier"]
        if document.exists():
            problems += _check_document(document.read_bytes(), meta)
            token_target = ["-data", str(document)]
        elif meta.get("etat") == "eliminated":  # destroyed after its visa: notice only
            token_target = ["-digest", meta["sha256"]]
        else:
            problems.append("document absent du paquet")
            token_target = ["-digest", meta["sha256"]]
        problems += _check_entries(journal, meta["sha256"])
        batch = _batch_of(journal, meta["sha256"])
        if batch is not None:  # the token covers the batch's root, not the document alone
            token_target = ["-digest", batch["racine"]]
            if root_from_proof(meta["sha256"], batch["chemin"]) != batch["racine"]:
                problems.append("lot du dépôt : chemin de Merkle ne menant pas à la racine")
        ca_file = root / "autorite-horodatage.pem"
        if not ca_file.exists():
            problems.append("certificat de l'autorité d'horodatage absent du paquet")
            return problems
        ok, output = _openssl_verify([*token_target, "-in", str(root / "horodatage.tsr")], ca_file)
        if not ok:
            problems.append(f"jeton d'horodatage du document refusé : {output}")
        for seal in journal["sceaux"]:
            ok, output = _openssl_verify(
                ["-digest", seal["racine"], "-in", str(root / seal["jeton"])], ca_file
            )
            if not ok:
                problems.append(f"jeton du sceau {seal['premiere']}–{seal['derniere']}: {output}")
    return problems


def _batch_of(journal: dict[str, Any], sha256: str) -> dict[str, Any] | None:
    """The batch proof ("lot") of the deposit entry of `sha256`, if it was a batch."""
    for entry in journal["entrees"]:
        if entry["event"] == "depot" and entry["data"].get("sha256") == sha256:
            return entry["data"].get("lot")
    return None


def _check_document(data: bytes, meta: dict[str, Any]) -> list[str]:
    problems = []
    if hashlib.sha256(data).hexdigest() != meta["sha256"]:
        problems.append("document : SHA-256 différent de celui des métadonnées")
    if hashlib.sha512(data).hexdigest() != meta["sha512"]:
        problems.append("document : SHA-512 différent de celui des métadonnées")
    if len(data) != meta["taille"]:
        problems.append("document : taille différente de celle des métadonnées")
    return problems


def _check_entries(journal: dict[str, Any], sha256: str) -> list[str]:
    problems = []
    seals = {(s["premiere"], s["derniere"]): s for s in journal["sceaux"]}
    previous: dict[str, Any] | None = None
    deposit_found = False
    for entry in journal["entrees"]:
        payload = {k: entry[k] for k in entry if k not in ("hash", "preuve")}
        seq = entry["seq"]
        if entry_hash(payload) != entry["hash"]:
            problems.append(f"entrée n°{seq} modifiée : empreinte différente")
        if (
            previous is not None
            and previous["seq"] + 1 == seq
            and entry["prev"] != previous["hash"]
        ):
            problems.append(f"entrée n°{seq} : lien vers la précédente rompu")
        if entry["event"] == "depot" and entry["data"].get("sha256") == sha256:
            deposit_found = True
        proof = entry.get("preuve")
        if proof:
            seal = seals.get((proof["premiere"], proof["derniere"]))
            if seal is None:
                problems.append(
                    f"entrée n°{seq} : sceau {proof['premiere']}–{proof['derniere']} absent"
                )
            elif root_from_proof(entry["hash"], proof["chemin"]) != seal["racine"]:
                problems.append(f"entrée n°{seq} : preuve de Merkle ne menant pas à la racine")
        previous = entry
    if not deposit_found:
        problems.append("aucune entrée de dépôt ne porte l'empreinte de ce document")
    return problems


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage : python3 verifier.py preuve.zip", file=sys.stderr)
        return 2
    problems = check_package(argv[1])
    for problem in problems:
        print(f"ÉCHEC : {problem}")
    if not problems:
        print("OK : document, jetons d'horodatage, journal et preuves de Merkle vérifiés.")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
