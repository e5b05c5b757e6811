"""Changes run at the same moment, as several workers run them: the way to find, on
PostgreSQL, the deadlocks and lost updates that SQLite's single writer never shows.

Tests using it need `django_db(transaction=True)`: each thread opens its own connection
and sees what the others commit.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from threading import Barrier
from typing import TypeVar

from django.db import connection

T = TypeVar("T")


def at_once(actions: list[Callable[[int], T]], rounds: int) -> list[list[T | Exception]]:
    """Each action in its own thread, `rounds` times, every round started by all of
    them together. Returns each action's results round by round; an exception a round
    raised is its result there (a refusal may be the expected outcome)."""
    together = Barrier(len(actions))

    def run(action: Callable[[int], T]) -> list[T | Exception]:
        results: list[T | Exception] = []
        try:
            for round_ in range(rounds):
                together.wait(timeout=60)
                try:
                    results.append(action(round_))
                except Exception as exc:  # noqa: BLE001 - the caller decides
                    results.append(exc)
            return results
        finally:
            connection.close()

    with ThreadPoolExecutor(len(actions)) as pool:
        return list(pool.map(run, actions))


def raised(results: list[list[T | Exception]]) -> list[Exception]:
    """The exceptions among the results, to assert there were none (or which)."""
    return [r for per_action in results for r in per_action if isinstance(r, Exception)]
