"""sha256 of every output a build writes (the Parquet part trees, the token shards and their manifest),
one ``<hash>  <path>`` line per file in path order: two builds are byte-identical when the listings are.

    python scripts/output_hashes.py DATA_ROOT > hashes.txt
"""
from __future__ import annotations

import hashlib
import sys
from pathlib import Path

TREES = ("docs", "dropped", "funnel", "shards")


def output_hashes(root: Path) -> list[tuple[str, str]]:
    rows = []
    for tree in TREES:
        for path in sorted((root / tree).rglob("*")):
            if path.is_file() and ".tmp" not in path.name:
                rows.append((hashlib.sha256(path.read_bytes()).hexdigest(), str(path.relative_to(root))))
    return rows


if __name__ == "__main__":
    rows = output_hashes(Path(sys.argv[1]))
    if not rows:
        sys.exit(f"no outputs under {sys.argv[1]}")
    print("\n".join(f"{h}  {p}" for h, p in rows))
