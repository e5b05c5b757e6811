"""Shared by the benches that time a peer library in a process of its own."""

from __future__ import annotations

import multiprocessing as mp
import queue
from collections.abc import Callable
from typing import Any


def run_peer(target: Callable[..., None], args: tuple[Any, ...]) -> Any:
    """Run `target(*args, out_queue)` in a spawned process and return what it puts on the
    queue; if the process dies first (an import error), stop rather than wait forever."""
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, out))
    proc.start()
    while True:
        try:
            result = out.get(timeout=5)
            break
        except queue.Empty:
            if not proc.is_alive():
                raise SystemExit("the peer's process ended without a result") from None
    proc.join()
    return result
