"""Sliding-window counting shared by the detectors: events per source within N seconds."""

from __future__ import annotations


class DistinctWindow:
    """Distinct keys (ports, failures) seen per source over the last `window` seconds.

    Memory stays bounded, which matters for the hour-long window of slow scans (the
    internet's background scanners alone bring thousands of sources an hour): a source
    holds at most `threshold` keys (older ones are pruned when it gets there, and it is
    forgotten when it fires), and at most `max_sources` sources are tracked, the one
    seen least recently dropped first (a dict keeps insertion order: a source seen again
    is moved to its end).
    """

    def __init__(self, threshold: int, window: float, max_sources: int = 100_000) -> None:
        self.threshold = threshold
        self.window = window
        self.max_sources = max_sources
        self._seen: dict[str, dict[object, float]] = {}

    def add(self, source: str, key: object, now: float) -> int | None:
        """Records `key` for `source`; the distinct count when it reaches the threshold."""
        keys = self._seen.pop(source, None)
        if keys is None:
            if len(self._seen) >= self.max_sources:
                del self._seen[next(iter(self._seen))]
            keys = {}
        self._seen[source] = keys
        keys[key] = max(now, keys.get(key, now))
        if len(keys) >= self.threshold:
            horizon = now - self.window
            for old in [k for k, at in keys.items() if at < horizon]:
                del keys[old]
            if len(keys) >= self.threshold:
                count = len(keys)
                del self._seen[source]
                return count
        return None

    def forget(self, source: str) -> None:
        self._seen.pop(source, None)

    def tracked(self) -> int:
        """How many sources are being followed (for tests and health)."""
        return len(self._seen)
