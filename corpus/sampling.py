"""Bounded, deterministic samples of a stream: the keys of lowest hash priority, whatever the order."""
from __future__ import annotations

import heapq
from typing import Any


class PrioritySample:
    """The ``capacity`` distinct keys of lowest priority seen, with their items: a bounded, seeded, uniform
    sample of a stream. A key's priority is a hash of the key, so a key seen again is either kept already
    or above every kept one (the largest kept priority only falls): the set of kept keys dedups the stream."""

    def __init__(self, capacity: int):
        self.capacity, self.seen = capacity, 0
        self._heap: list[tuple[int, str, Any]] = []  # (-priority, key, item): the root is the largest kept
        self._keys: set[str] = set()

    def add(self, priority: int, key: str, item: Any) -> None:
        self.seen += 1
        if key in self._keys or self.capacity <= 0:
            return
        if len(self._heap) < self.capacity:
            heapq.heappush(self._heap, (-priority, key, item))
        elif -priority > self._heap[0][0]:
            self._keys.discard(heapq.heapreplace(self._heap, (-priority, key, item))[1])
        else:
            return
        self._keys.add(key)

    def items(self) -> list[tuple[int, str, Any]]:
        """(priority, key, item), lowest priority first."""
        return sorted((-p, k, item) for p, k, item in self._heap)

    def __len__(self) -> int:
        return len(self._heap)
