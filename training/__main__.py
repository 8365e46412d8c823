"""``python -m training --shards DIR --checkpoints DIR [--max-steps N ...]``: train outside Dagster."""
from __future__ import annotations

import argparse
from dataclasses import fields
from pathlib import Path

from corpus.storage import Layout
from training.train import TrainConfig, train


def main(argv: list[str] | None = None) -> None:
    layout = Layout.from_env()
    p = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    p.add_argument("--shards", type=Path, default=layout.shards)
    p.add_argument("--checkpoints", type=Path, default=layout.checkpoints)
    for f in fields(TrainConfig):
        p.add_argument(f"--{f.name.replace('_', '-')}", type=type(f.default), default=f.default)
    args = vars(p.parse_args(argv))
    shards, checkpoints = args.pop("shards"), args.pop("checkpoints")
    result = train(TrainConfig(**args), shards, checkpoints, log=lambda m: print(m, flush=True))
    print(f"done: step {result.step}, val loss {result.val_loss:.4f}, unigram entropy {result.unigram_entropy:.4f}, "
          f"{result.tokens_per_s:,.0f} tokens/s", flush=True)


if __name__ == "__main__":
    main()
