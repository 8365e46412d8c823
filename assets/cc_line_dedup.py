"""CCNet line-level dedup across a group of shards (the logic: ``corpus.filters.line_dedup``).

Pass 1 writes each ingest part's line hashes to ``work/line_dedup/commoncrawl/hashes/``; DuckDB counts
them per group of parts; pass 2 rewrites each part without the group's duplicate lines."""

import time

import dagster as dg
import numpy as np
import xxhash

from assets.resources import CorpusStorage, DUCKDB_POOL
from assets.stages import Unit, code_fingerprint, run_units, stage_metadata, upstream_fingerprint
from corpus import recipe
from corpus import stage as stage_module
from corpus.filters import line_dedup
from corpus.stage import filter_part
from corpus.storage import FINGERPRINT_KEY, fingerprint, iter_batches, part_is_current, write_table_atomic

SOURCE = "commoncrawl"
UPSTREAM_STAGE = "ingest"


class LineDedupConfig(dg.Config):
    group_size: int = recipe.LINE_DEDUP_GROUP_SIZE
    duckdb_memory_limit: str = "2GB"


@dg.asset(group_name="ccnet", deps=["commoncrawl_documents"], kinds={"python", "duckdb", "parquet"}, pool=DUCKDB_POOL)
def cc_line_dedup(context: dg.AssetExecutionContext, config: LineDedupConfig, corpus_storage: CorpusStorage) -> dg.MaterializeResult:
    """CCNet line-level dedup: a line in two or more documents of a shard group is removed everywhere."""
    started = time.monotonic()
    layout = corpus_storage.layout()
    code = code_fingerprint(line_dedup, stage_module)
    parts = layout.docs_parts(UPSTREAM_STAGE, SOURCE)
    hash_dir = layout.work / line_dedup.STAGE / SOURCE / "hashes"
    hash_files = {}
    for path in parts:  # pass 1
        out = hash_dir / path.name
        fp = fingerprint(upstream_fingerprint(path), code)
        if not part_is_current(out, fp):
            write_table_atomic(out, line_dedup.hash_part(iter_batches([path], columns=["text"])), {FINGERPRINT_KEY: fp.encode()})
        hash_files[path] = out
    for stale in set(hash_dir.glob("*.parquet")) - set(hash_files.values()) if hash_dir.exists() else ():
        stale.unlink()

    size = config.group_size if config.group_size > 0 else max(len(parts), 1)
    groups = [parts[i:i + size] for i in range(0, len(parts), size)]
    units, totals = [], {}
    for group in groups:  # pass 2, per group
        files = [hash_files[p] for p in group]
        duplicates = line_dedup.duplicate_hashes(files, config.duckdb_memory_limit)
        group_fp = xxhash.xxh3_128_hexdigest(np.ascontiguousarray(duplicates).tobytes())
        for name, n in line_dedup.group_line_stats(files, config.duckdb_memory_limit).items():
            totals[name] = totals.get(name, 0) + n
        for path in group:
            def build(writer, progress, path=path, duplicates=duplicates):
                filter_part(writer, iter_batches([path]), line_dedup.LineDedupFilter(hash_files[path], duplicates, SOURCE), progress)

            fp = fingerprint(upstream_fingerprint(path), group_fp, code)
            units.append(Unit(path.name.removesuffix(".parquet"), fp, build))
    stats = run_units(context, layout, line_dedup.STAGE, SOURCE, units)

    lines_in = totals.get("lines_in", 0)
    histogram = "| documents sharing a duplicate line | lines |\n|---|---|\n" + "\n".join(
        f"| {label} | {totals.get(key, 0)} |" for label, key in
        [("2", "dup_docs_2"), ("3-10", "dup_docs_3_10"), ("11-100", "dup_docs_11_100"), ("> 100", "dup_docs_over_100")])
    return dg.MaterializeResult(metadata=stage_metadata(
        stats, started,
        groups=len(groups),
        lines_in=lines_in,
        lines_out=totals.get("lines_out", 0),
        lines_duplicate=totals.get("lines_duplicate", 0),
        lines_repeated_in_doc=totals.get("lines_repeated_in_doc", 0),
        lines_blank=totals.get("lines_blank", 0),
        duplicate_line_fraction=dg.MetadataValue.float(round(totals.get("lines_duplicate", 0) / lines_in, 4) if lines_in else 0.0),
        docs_emptied=stats.drop_reasons.get(line_dedup.EMPTY_REASON, 0),
        duplicate_line_spread=dg.MetadataValue.md(histogram),
    ))
