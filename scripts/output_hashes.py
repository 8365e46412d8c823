"""sha256 of every output a build writes (the Parquet part trees, the token shards and their manifest),
one ``<hash>  <path>`` line per file in path order: two builds hold the same data when the listings match.

A part's footer carries its fingerprint (inputs + settings + code hashes), and the manifest keys derived
from fingerprints, so any code change changes those bytes. ``--content`` hashes what a reader sees instead:
a Parquet file's rows and schema without its metadata, and the manifest without those keys.

    python scripts/output_hashes.py [--content] DATA_ROOT > hashes.txt
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

TREES = ("docs", "dropped", "funnel", "shards")
FINGERPRINT_DERIVED_MANIFEST_KEYS = ("catalog_snapshot", "key", "plan_sha256")


def content_bytes(path: Path) -> bytes:
    if path.suffix == ".parquet":
        table = pq.read_table(path)
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema.remove_metadata()) as writer:
            writer.write_table(table.replace_schema_metadata(None))
        return sink.getvalue().to_pybytes()
    if path.name == "manifest.json":
        manifest = json.loads(path.read_text())
        return json.dumps({k: v for k, v in manifest.items() if k not in FINGERPRINT_DERIVED_MANIFEST_KEYS},
                          sort_keys=True).encode()
    return path.read_bytes()


def output_hashes(root: Path, content: bool = False) -> list[tuple[str, str]]:
    rows = []
    for tree in TREES:
        for path in sorted((root / tree).rglob("*")):
            if path.is_file() and ".tmp" not in path.name:
                data = content_bytes(path) if content else path.read_bytes()
                rows.append((hashlib.sha256(data).hexdigest(), str(path.relative_to(root))))
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--content", action="store_true", help="hash rows, not footers (see above)")
    parser.add_argument("data_root", type=Path)
    args = parser.parse_args()
    rows = output_hashes(args.data_root, args.content)
    if not rows:
        sys.exit(f"no outputs under {args.data_root}")
    print("\n".join(f"{h}  {p}" for h, p in rows))
