"""The token shards step end to end: the tokenizer trained on a sample of the plan (``corpus.tokenizer``),
the curated parts encoded into the token cache and the plan made exact (``corpus.token_cache``), the
shards and their manifest written (``corpus.shards``).
"""
from __future__ import annotations

import hashlib
import json
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from corpus import funnel, megatron, mixture, model_cache
from corpus.executors import ExecutionSummary, executor_from_env
from corpus.recipe import SHARD_TOKENS, TOKENIZER_SAMPLE_CHARS, TOKENIZER_VOCAB_SIZE
from corpus.storage import TMP_MARK, Layout, atomic_path
from corpus.shards import MANIFEST, MANIFEST_VERSION, ShardWriter, entropy_nats, manifest_is_current, read_manifest, shard_dtype, write_split
from corpus.token_cache import TokenCache, exact_plan
from corpus.tokenizer import BOS, eos_id, install_tokenizer, latest_tokenizer, sample_texts, set_latest, train_tokenizer


@dataclass(frozen=True)
class _Log:
    """A ``log(line)`` function as the executors' ``log.info``."""

    info: Callable[[str], None]

def build_token_shards(layout: Layout, stage: str, plan_path: Path, tokenizer_dir: Path, out: Path,
                       shard_tokens: int = SHARD_TOKENS, log: Callable[[str], None] = print, force: bool = False,
                       summary: ExecutionSummary | None = None) -> dict:
    """Encode the mixture plan into ``out`` and write ``manifest.json`` last; returns the manifest. The
    document ranges are encoded on the executor ``CORPUS_EXECUTOR`` names, each a side task of ``summary``."""
    parts = mixture.curated_parts(layout, stage)
    snapshot = mixture.catalog_snapshot(parts, layout.data)
    meta = mixture.read_plan_meta(plan_path)
    settings = json.loads(meta["settings"])
    if meta.get("catalog_snapshot") != snapshot:
        raise RuntimeError("the curated corpus changed since the mixture was planned: materialize `mixture` again")
    tok_hash, tok_path = latest_tokenizer(tokenizer_dir)
    key = hashlib.sha256(json.dumps([MANIFEST_VERSION, snapshot, tok_hash, meta.get("settings"), shard_tokens],
                                    sort_keys=True).encode()).hexdigest()[:32]
    if not force and manifest_is_current(out, key):
        log(f"token shards in {out} are current (key {key}), skipped")
        return read_manifest(out) | {"skipped": True}
    tok = model_cache.tokenizer(str(tok_path))
    eos = eos_id(tok)
    vocab = tok.get_vocab_size()
    dtype = shard_dtype(vocab)
    estimated = mixture.estimate_pools(parts)
    cache_root = layout.work / "token_cache"
    for stale in cache_root.glob(f"*{TMP_MARK}*") if cache_root.exists() else ():  # a killed run's cache
        shutil.rmtree(stale, ignore_errors=True)
    cache = TokenCache(cache_root / f"{key}{TMP_MARK}{uuid.uuid4().hex[:8]}", tok_path, executor_from_env(),
                       _Log(log), summary)
    try:
        plan, rounds = exact_plan(parts, estimated, cache, settings["shares_pct"], settings["total_tokens"],
                                  settings["seed"], settings["sample_seed"],
                                  mixture.HeldOutPolicy(**settings["heldout"]))
        log(f"exact plan after {rounds} encoding round(s): {len(cache.index):,} documents encoded, "
            f"{cache.size:,} tokens")
        for w in plan.warnings:
            log(f"WARNING: {w}")
        plan_sha = mixture.write_plan(plan, layout.work / "mixture" / "plan_exact.parquet",
                                      {"settings": meta["settings"], "catalog_snapshot": snapshot,
                                       "tokenizer": tok_hash})
        out.mkdir(parents=True, exist_ok=True)
        (out / MANIFEST).unlink(missing_ok=True)  # from here on the folder is incomplete
        tokens = cache.tokens()
        counts = np.zeros(vocab, dtype=np.int64)
        train = ShardWriter(out, "train", dtype, shard_tokens, counts)
        with megatron.IndexedDatasetWriter(out / megatron.FOLDER, "train", vocab) as train_dataset:
            per_source = write_split(plan.table, "train", tokens, cache.index, eos, train, dataset=train_dataset)
        val = ShardWriter(out, "val", dtype, shard_tokens)
        val_documents: list = []
        with megatron.IndexedDatasetWriter(out / megatron.FOLDER, "val", vocab) as val_dataset:
            val_sources = write_split(plan.table, "val", tokens, cache.index, eos, val, val_documents, val_dataset)
        del tokens
    finally:
        shutil.rmtree(cache.folder, ignore_errors=True)
    entries = train.entries + val.entries
    keep = {e["path"] for e in entries} | {MANIFEST}
    for p in out.iterdir():  # stale shards of a previous configuration, and temps a killed run left
        if p.is_file() and p.name not in keep and (p.suffix == ".bin" or TMP_MARK in p.name):
            p.unlink()
    total = sum(per_source.values())
    report = plan.report()
    shares = mixture.share_report(settings["shares_pct"], per_source)
    manifest = {
        "version": MANIFEST_VERSION,
        "key": key,
        "dtype": dtype.name,
        "byte_order": "little",
        "vocab_size": vocab,
        "eos_id": eos,
        "bos_id": tok.token_to_id(BOS),
        "shards": entries,
        "train_tokens": total,
        "val_tokens": sum(val_sources.values()),
        "sources": per_source,
        "val_sources": val_sources,
        "val_documents": val_documents,
        "weights": {s: r["target_share_pct"] / 100 for s, r in report["sources"].items()},
        "achieved_shares": {s: n / total for s, n in per_source.items()} if total else {},
        "target_shares_pct": settings["shares_pct"],
        "share_report": shares,
        "missing_sources": funnel.why_missing(layout, [s for s, r in shares.items() if r["missing"]], stage),
        "epochs": {s: r["epochs"] for s, r in report["sources"].items()},
        "documents": {s: r["docs"] for s, r in report["sources"].items()},
        "warnings": plan.warnings,
        "seed": settings["seed"],
        "sample_seed": settings["sample_seed"],
        "total_tokens_target": settings["total_tokens"],
        "tokenizer": {"hash": tok_hash, "path": str(tok_path.relative_to(layout.root)) if tok_path.is_relative_to(layout.root) else str(tok_path)},
        "catalog_snapshot": snapshot,
        "plan_sha256": plan_sha,
        "unigram_entropy_nats": entropy_nats(counts),
        "encoding_rounds": rounds,
        # `shards` above is the flat (nanoGPT) format; every format of the same tokens, by name
        "formats": {"flat": {"layout": "nanogpt", "files": "shards"},
                    "megatron": megatron.format_entry(vocab, [train_dataset, val_dataset])},
    }
    with atomic_path(out / MANIFEST) as tmp:
        tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return manifest

def tokenizer_dir(layout: Layout) -> Path:
    return layout.models / "tokenizer"

def build_tokenizer(layout: Layout, stage: str, plan_path: Path, vocab_size: int = TOKENIZER_VOCAB_SIZE,
                    sample_chars: int = TOKENIZER_SAMPLE_CHARS, user_file: Path | None = None) -> dict:
    """Train the tokenizer on a sample of the planned documents (or install a user's) and mark it latest."""
    out = tokenizer_dir(layout)
    if user_file is not None:
        info = install_tokenizer(user_file, out)
        info["trained_on_chars"] = 0
    else:
        import pyarrow.parquet as pq
        parts = mixture.curated_parts(layout, stage)
        plan = pq.read_table(plan_path)
        chars = [0]

        def texts() -> Iterator[str]:
            chars[0] = 0
            for t in sample_texts(parts, plan, sample_chars):
                chars[0] += len(t)
                yield t
        info = train_tokenizer(texts, vocab_size, out)
        info["trained_on_chars"] = chars[0]
    set_latest(out, info["hash"])
    return info
