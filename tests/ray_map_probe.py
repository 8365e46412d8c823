"""``RayExecutor.map`` on a local Ray bound to 127.0.0.1, run inside ``unshare -n`` by
``tests/corpus/test_executors.py``: results in item order, and an item whose worker process dies on its
first attempt (``os._exit``: what an OOM kill or a lost node does to a task) is retried by Ray with the same
result. Prints one JSON line: the results, the side tasks counted and the attempts each item took."""
from __future__ import annotations

import json
import os
import sys
from functools import partial
from pathlib import Path

from corpus import executors


def square_dying_once(marks: Path, x: int) -> int:
    """x * x; for x == 2 the first attempt kills its own worker process before answering."""
    mark = marks / f"{x}.attempts"
    mark.write_text(mark.read_text() + "." if mark.exists() else ".")
    if x == 2 and len(mark.read_text()) == 1:
        os._exit(1)
    return x * x


class _Print:
    def info(self, msg: str) -> None:
        print(msg, file=sys.stderr)


def main() -> None:
    marks = Path(sys.argv[1])
    os.environ.pop("RAY_ADDRESS", None)  # a local Ray, started (and bound to 127.0.0.1) by the executor
    executor = executors.RayExecutor(executors.RayTaskResources(num_cpus=1, memory=256 * 1024 ** 2, max_retries=2))
    summary = executors.ExecutionSummary(executor.name)
    items = [5, 2, 3, 1]
    results = list(executor.map(partial(square_dying_once, marks), items, _Print(), "squares", summary))
    attempts = {x: len((marks / f"{x}.attempts").read_text()) for x in items}
    print(json.dumps({"results": results, "side_tasks": summary.side_tasks, "nodes": len(summary.nodes),
                      "attempts": attempts}))


if __name__ == "__main__":
    main()
