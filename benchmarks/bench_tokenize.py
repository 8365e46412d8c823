"""Tokenize-and-write throughput vs a bare ``encode_batch`` over the same text, in the same run.

    .venv/bin/python -m benchmarks.bench_tokenize [--scale 1.0] [--vocab 8000]

Builds a curated corpus from ../shared/samples in a temp folder, trains a tokenizer, then times
(1) bare ``tokenizer.encode_batch`` over every curated text (read beforehand into memory) and
(2) our path: Parquet parts -> TokenCache.encode (encode_batch + flatten + write) -> gather in plan
order -> .bin shards with sha256. Prints both rates in tokens/s and their ratio (target >= 0.8).
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from corpus import mixture, tokenizer, tokens
from corpus.catalog import CURATED_STAGE
from corpus.recipe import MIXTURE_SHARES_PCT
from corpus.storage import Layout, iter_batches
from tests.conftest import SAMPLES
from tests.corpus.test_mixture import write_sample_corpus


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--scale", type=float, default=1.0)
    p.add_argument("--vocab", type=int, default=8000)
    args = p.parse_args()
    tokenizer.enable_parallelism()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        write_sample_corpus(root, SAMPLES, scale=args.scale)
        layout = Layout(root)
        parts = mixture.curated_parts(layout, CURATED_STAGE)
        # a budget of one pass over everything, so both paths encode the same documents
        avail = sum(int(pl.tokens.sum()) for pl in mixture.estimate_pools(parts).values())
        mixture.make_plan(layout, CURATED_STAGE, MIXTURE_SHARES_PCT, avail, 0, 0, mixture.HeldOutPolicy(fraction=0))
        tokens.build_tokenizer(layout, CURATED_STAGE, mixture.plan_path(layout), args.vocab, 10**9)
        _, tok_path = tokenizer.latest_tokenizer(tokens.tokenizer_dir(layout))
        tok = tokenizer.load_tokenizer(tok_path)
        texts = [t for b in iter_batches([p for ps in parts.values() for p in ps], columns=["text"]) for t in b.column("text").to_pylist()]
        tok.encode_batch(texts[:64], add_special_tokens=False)  # warm the thread pool
        t0 = time.perf_counter()
        n_bare = sum(len(e.ids) for e in tok.encode_batch(texts, add_special_tokens=False))
        bare = time.perf_counter() - t0
        t0 = time.perf_counter()
        m = tokens.build_token_shards(layout, CURATED_STAGE, mixture.plan_path(layout), tokens.tokenizer_dir(layout),
                                      layout.shards, 1 << 22, log=lambda s: None, force=True)
        ours = time.perf_counter() - t0
        n_ours = m["train_tokens"] + m["val_tokens"]
        print(f"documents {len(texts):,}, characters {sum(map(len, texts)):,}, vocab {m['vocab_size']:,}")
        print(f"bare encode_batch:        {n_bare:>10,} tokens in {bare:6.2f} s = {n_bare / bare:>12,.0f} tokens/s")
        print(f"tokenize+write (shards):  {n_ours:>10,} tokens in {ours:6.2f} s = {n_ours / ours:>12,.0f} tokens/s "
              f"(plan, encode, re-plan, gather, write, sha256, manifest)")
        print(f"ratio ours / bare: {(n_ours / ours) / (n_bare / bare):.2f} (target >= 0.8)")


if __name__ == "__main__":
    main()
