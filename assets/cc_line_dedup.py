"""CCNet line-level dedup across a group of shards of one snapshot (the logic: ``corpus.filters.line_dedup``).

Pass 1 writes each ingest part's line hashes and keys to ``work/line_dedup/commoncrawl/{hashes,keys}/``;
the parts are grouped within their snapshot (``corpus.snapshots``), ``group_size`` parts a group, and each
group is counted bucket by bucket (``count_bucket``, each bucket on its own) into
``work/line_dedup/commoncrawl/groups/<snapshot>/<n>.parquet``, kept while the group's parts are unchanged;
pass 2 rewrites each part without its group's duplicate lines. A part's fingerprint depends on its own
group only, so a new snapshot's files leave every earlier part, and its counts, as they were."""

import json
import time

import dagster as dg
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pydantic

from assets.config_base import ValidatedConfig
from assets.resources import CorpusStorage, DUCKDB_POOL
from assets.stages import Unit, code_fingerprint, run_units, stage_metadata, upstream_fingerprint
from corpus import presets, recipe, snapshots
from corpus import part_runners
from corpus.filters import line_dedup
from corpus.part_runners import filter_part
from corpus.storage import iter_batches, part_is_current, write_table_atomic
from corpus.fingerprints import fingerprint, FINGERPRINT_KEY

SOURCE = "commoncrawl"
GROUP_COUNTS_KEY = b"corpus.line_dedup_counts"


class LineDedupConfig(ValidatedConfig):
    group_size: int = pydantic.Field(default=recipe.LINE_DEDUP_GROUP_SIZE, ge=0)
    hash_buckets: int = pydantic.Field(default=recipe.LINE_DEDUP_HASH_BUCKETS, ge=1)
    duckdb_memory_limit: str = "2GB"


def snapshot_groups(parts: list, group_size: int) -> dict[str, list]:
    """``<snapshot>/<n>`` -> the parts of that group: each snapshot's parts (in name order) cut into groups
    of ``group_size`` (0: one group per snapshot)."""
    groups = {}
    for snapshot, members in snapshots.by_snapshot(parts).items():
        size = group_size or len(members)
        for k in range(0, len(members), size):
            groups[f"{snapshot}/{k // size:05d}"] = members[k:k + size]
    return groups


def _stale(folder, current) -> None:
    for path in set(folder.rglob("*.parquet")) - set(current) if folder.exists() else ():
        path.unlink()


@dg.asset(group_name="ccnet", deps=presets.asset_deps(line_dedup.STAGE), kinds={"python", "duckdb", "parquet"}, pool=DUCKDB_POOL)
def cc_line_dedup(context: dg.AssetExecutionContext, config: LineDedupConfig, corpus_storage: CorpusStorage) -> dg.MaterializeResult:
    """CCNet line-level dedup: a line in two or more documents of a shard group (within a snapshot) is
    removed everywhere."""
    started = time.monotonic()
    layout = corpus_storage.layout()
    code = code_fingerprint(line_dedup, part_runners)
    parts = layout.docs_parts(corpus_storage.preset().upstream(SOURCE, line_dedup.STAGE), SOURCE)
    work = layout.work / line_dedup.STAGE / SOURCE
    hash_files, key_files, pass1 = {}, {}, {}
    for path in parts:  # pass 1
        hashes, keys = work / "hashes" / path.name, work / "keys" / path.name
        fp = fingerprint(upstream_fingerprint(path), code)
        if not (part_is_current(hashes, fp) and part_is_current(keys, fp)):
            table = line_dedup.hash_part(iter_batches([path], columns=["text"]))
            write_table_atomic(hashes, table, {FINGERPRINT_KEY: fp.encode()})
            write_table_atomic(keys, line_dedup.part_keys(table), {FINGERPRINT_KEY: fp.encode()})
        hash_files[path], key_files[path], pass1[path] = hashes, keys, fp
    _stale(work / "hashes", hash_files.values())
    _stale(work / "keys", key_files.values())

    groups = snapshot_groups(parts, config.group_size)
    units, totals, counted = [], dict.fromkeys(line_dedup.PART_COUNT_NAMES + line_dedup.BUCKET_COUNT_NAMES, 0), 0
    group_files = []
    for name, group in groups.items():  # the counts, per group and hash bucket
        group_fp = fingerprint([(p.name, pass1[p]) for p in group], code)
        group_file = work / "groups" / f"{name}.parquet"
        group_files.append(group_file)
        files = [key_files[p] for p in group]
        if not part_is_current(group_file, group_fp):
            merged = line_dedup.count_group(files, config.hash_buckets, config.duckdb_memory_limit)
            write_table_atomic(group_file, pa.table({"hash": pa.array(merged.duplicates, pa.uint64())}),
                               {FINGERPRINT_KEY: group_fp.encode(), GROUP_COUNTS_KEY: json.dumps(merged.counts).encode()})
            counted += 1
        for key, n in json.loads(pq.read_schema(group_file).metadata[GROUP_COUNTS_KEY]).items():
            totals[key] += n
        for path in group:
            def build(writer, progress, path=path, group_file=group_file):
                duplicates = pq.read_table(group_file).column("hash").to_numpy().astype(np.uint64, copy=False)
                filter_part(writer, iter_batches([path]), line_dedup.LineDedupFilter(hash_files[path], duplicates, SOURCE), progress)

            units.append(Unit(path.name.removesuffix(".parquet"), fingerprint(upstream_fingerprint(path), group_fp, code), build))
    _stale(work / "groups", group_files)
    stats = run_units(context, layout, line_dedup.STAGE, SOURCE, units)

    lines_in = totals["lines_in"]
    histogram = "| documents sharing a duplicate line | lines |\n|---|---|\n" + "\n".join(
        f"| {label} | {totals[key]} |" for label, key in
        [("2", "dup_docs_2"), ("3-10", "dup_docs_3_10"), ("11-100", "dup_docs_11_100"), ("> 100", "dup_docs_over_100")])
    return dg.MaterializeResult(metadata=stage_metadata(
        stats, started,
        snapshots=dg.MetadataValue.json(sorted({name.rsplit("/", 1)[0] for name in groups}, key=snapshots.snapshot_order)),
        groups=len(groups),
        groups_counted=counted,
        hash_buckets=config.hash_buckets,
        lines_in=lines_in,
        lines_out=totals["lines_out"],
        lines_duplicate=totals["lines_duplicate"],
        lines_repeated_in_doc=totals["lines_repeated_in_doc"],
        lines_blank=totals["lines_blank"],
        duplicate_line_fraction=dg.MetadataValue.float(round(totals["lines_duplicate"] / lines_in, 4) if lines_in else 0.0),
        docs_emptied=stats.drop_reasons.get(line_dedup.EMPTY_REASON, 0),
        duplicate_line_spread=dg.MetadataValue.md(histogram),
    ))
