"""Sliding-window counting shared by the detectors: events per source within N seconds."""

from __future__ import annotations

from collections import deque


class DistinctWindow:
    """Distinct keys (ports, failures) seen per source over the last `window` seconds.

    Memory stays bounded: a source is forgotten once its window empties, and at most
    `max_sources` are tracked (the oldest is dropped first).
    """

    def __init__(self, threshold: int, window: float, max_sources: int = 100_000) -> None:
        self.threshold = threshold
        self.window = window
        self.max_sources = max_sources
        self._seen: dict[str, dict[object, float]] = {}
        self._order: deque[str] = deque()

    def add(self, source: str, key: object, now: float) -> int | None:
        """Records `key` for `source`; the distinct count when it reaches the threshold."""
        keys = self._seen.get(source)
        if keys is None:
            if len(self._seen) >= self.max_sources:
                self._evict()
            keys = self._seen[source] = {}
            self._order.append(source)
        keys[key] = now
        horizon = now - self.window
        if len(keys) >= self.threshold:
            for old in [k for k, at in keys.items() if at < horizon]:
                del keys[old]
            if len(keys) >= self.threshold:
                count = len(keys)
                del self._seen[source]
                return count
        return None

    def _evict(self) -> None:
        while self._order:
            source = self._order.popleft()
            if self._seen.pop(source, None) is not None:
                return

    def forget(self, source: str) -> None:
        self._seen.pop(source, None)
