"""Bounded, deterministic samples of a stream: the keys of lowest hash priority, whatever the order."""
from __future__ import annotations

import heapq
from typing import Any

import numpy as np


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


class PriorityThreshold:
    """Where a hash-priority sample of at most ``capacity`` items of a stream too large to hold ends: the
    ``capacity`` lowest priorities seen (64-bit ints, no keys or items), in O(capacity) memory. The items
    are written out as they come, each with its priority, and a second pass keeps those at or below the
    threshold (``cut``): the sample ``PrioritySample`` would keep, without holding the items."""

    def __init__(self, capacity: int):
        self.capacity, self.seen = capacity, 0
        self._buf = np.empty(2 * max(capacity, 1), dtype=np.uint64)  # compacted to the lowest ``capacity``
        self._n = 0

    def add(self, priority: int) -> None:
        self.seen += 1
        if self.capacity <= 0:
            return
        if self._n == len(self._buf):
            self._buf[: self.capacity] = np.partition(self._buf, self.capacity - 1)[: self.capacity]
            self._n = self.capacity
        self._buf[self._n] = priority
        self._n += 1

    def cut(self, k: int | None = None) -> Cut:
        """The second pass's test for the sample of the ``k`` (<= capacity; default: capacity) lowest
        priorities, applied to the items in the order they were added."""
        k = self.capacity if k is None else k
        if not 0 <= k <= self.capacity:
            raise ValueError(f"a cut of {k} items from a threshold of capacity {self.capacity}")
        if self.seen <= k:
            return Cut(None, 0)
        if k == 0:
            return Cut(-1, 0)
        lowest = np.partition(self._buf[: self._n], k - 1)[:k]
        threshold = int(lowest[-1])
        return Cut(threshold, int(np.count_nonzero(lowest == np.uint64(threshold))))


class Cut:
    """Membership of a ``PriorityThreshold`` sample: a priority below ``threshold``, or the first ``ties``
    equal to it (a 64-bit hash collision at the boundary); ``threshold`` None: every item."""

    def __init__(self, threshold: int | None, ties: int):
        self.threshold, self.ties = threshold, ties

    def takes(self, priority: int) -> bool:
        if self.threshold is None or priority < self.threshold:
            return True
        if priority == self.threshold and self.ties > 0:
            self.ties -= 1
            return True
        return False
