"""Shared by the groupware benches: Clocher's web server (gunicorn, 2 workers, as `clocher
serve` runs it) and Radicale run standalone on a copy of the same collections, the peer."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from _mail import free_ports, wait_port


@contextmanager
def clocher_and_radicale(
    data_dir: str, peer_root: Path
) -> Iterator[tuple[int, int, list[subprocess.Popen[bytes]]]]:
    """Both servers listening: (Clocher's port, Radicale's port, [Clocher, Radicale]).
    Radicale serves `peer_root` (holding `collection-root/`) without authentication."""
    from clocher.core.supervisor import core_children

    port, peer_port = free_ports(2)
    env = {**os.environ, "CLOCHER_DATA_DIR": data_dir}
    web = core_children(f"127.0.0.1:{port}", web_workers=2)[0]
    processes = [
        subprocess.Popen(  # noqa: S603
            web.argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        ),
        subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "radicale", "--server-hosts", f"127.0.0.1:{peer_port}",
             "--storage-filesystem-folder", str(peer_root), "--auth-type", "none",
             "--rights-type", "owner_only", "--logging-level", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        ),
    ]  # fmt: skip
    try:
        wait_port(port)
        wait_port(peer_port)
        yield port, peer_port, processes
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
