"""Progress lines for long steps: docs done, docs/s and ETA, at a steady interval."""
from __future__ import annotations

import time
from typing import Protocol


class _Log(Protocol):
    def info(self, msg: str) -> None: ...


class Progress:
    def __init__(self, log: _Log | None, label: str, total: int | None = None, every_s: float = 10.0):
        self.log, self.label, self.total, self.every_s = log, label, total, every_s
        self.done = 0
        self.started = self._last = time.monotonic()

    def advance(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if self.log is not None and now - self._last >= self.every_s:
            self._last = now
            self.log.info(self.line(now))

    def line(self, now: float | None = None) -> str:
        elapsed = max((now or time.monotonic()) - self.started, 1e-9)
        rate = self.done / elapsed
        msg = f"{self.label}: {self.done:,} docs, {rate:,.1f} docs/s"
        if self.total and rate > 0:
            msg += f", ETA {max(self.total - self.done, 0) / rate:,.0f}s"
        return msg

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self.started

    def finish(self) -> str:
        line = self.line() + f" in {self.elapsed_s:,.1f}s"
        if self.log is not None:
            self.log.info(line)
        return line
