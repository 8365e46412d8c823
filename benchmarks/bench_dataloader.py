"""Does the shard sampler feed batches faster than the model consumes them?

    .venv/bin/python -m benchmarks.bench_dataloader [--steps 30]

Builds shards from ../shared/samples in a temp folder, then times (1) ``ShardSampler.next_batch``
alone and (2) a full training step (forward, backward, AdamW) of the default tiny model on
pre-drawn batches; prints both in batches/s and tokens/s.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from tests.conftest import SAMPLES
from tests.corpus.test_mixture import write_sample_corpus
from tests.corpus.test_tokens import build
from training.data import ShardSampler
from training.model import LlamaLM, ModelConfig
from training.config import TrainConfig


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--vocab", type=int, default=8000)
    args = p.parse_args()
    cfg = TrainConfig()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        write_sample_corpus(root, SAMPLES)
        build(root, total=300_000, vocab=args.vocab, shard_tokens=1 << 16)
        sampler = ShardSampler(root / "shards", cfg.block_size, cfg.batch_size, seed=0)
        n = args.steps * 20
        t0 = time.perf_counter()
        batches = [sampler.next_batch() for _ in range(n)]
        load = n / (time.perf_counter() - t0)
        mcfg = ModelConfig(vocab_size=sampler.manifest["vocab_size"], block_size=cfg.block_size, n_layer=cfg.n_layer,
                           n_head=cfg.n_head, n_kv_head=cfg.n_kv_head, d_model=cfg.d_model)
        model = LlamaLM(mcfg)
        opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
        t0 = time.perf_counter()
        for x, y in batches[:args.steps]:
            _, loss = model(x, y)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
        train = args.steps / (time.perf_counter() - t0)
        tok = cfg.batch_size * cfg.block_size
        print(f"sampler: {load:10,.1f} batches/s = {load * tok:12,.0f} tokens/s (memmap windows across {len(sampler.stream.maps)} shards)")
        print(f"model:   {train:10,.1f} batches/s = {train * tok:12,.0f} tokens/s ({model.num_params():,} params, torch threads {torch.get_num_threads()})")
        print(f"sampler / model: {load / train:.1f}x")


if __name__ == "__main__":
    main()
