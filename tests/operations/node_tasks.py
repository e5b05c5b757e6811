"""A task for the two-node test: each run appends one line naming the node that ran it
(O_APPEND, one short write: lines of two nodes never interleave)."""

from __future__ import annotations

import os

from django_tasks import task


@task()
def record_run(path: str, number: int) -> None:
    line = f"{number} {os.environ.get('CLOCHER_DATA_DIR', '?')}\n".encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)
