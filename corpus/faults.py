"""Fault injection for crash tests: ``CORPUS_CRASH_AT=<point>:<n>`` SIGKILLs the process the n-th time
``crash_point(point)`` is reached (like a power cut: no cleanup, no exception handlers).

Unset (always, outside tests) it costs one dict lookup."""
from __future__ import annotations

import os
import signal

_hits: dict[str, int] = {}


def crash_point(point: str) -> None:
    spec = os.environ.get("CORPUS_CRASH_AT")
    if not spec:
        return
    name, _, nth = spec.rpartition(":")
    if name != point:
        return
    _hits[point] = _hits.get(point, 0) + 1
    if _hits[point] == int(nth):
        os.kill(os.getpid(), signal.SIGKILL)
