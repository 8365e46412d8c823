"""``python -m training --shards DIR --checkpoints DIR [--max-steps N ...]``: train outside Dagster.

Every ``TrainConfig`` field is an option of its own type; a bool takes true/false (``--unigram-logit-bias false``)."""
from __future__ import annotations

import argparse
import typing
from dataclasses import fields
from pathlib import Path

from corpus.storage import Layout
from training.config import TrainConfig
from training.train import train

_BOOLS = {"true": True, "1": True, "yes": True, "on": True, "false": False, "0": False, "no": False, "off": False}


def parse_bool(text: str) -> bool:
    try:
        return _BOOLS[text.strip().lower()]
    except KeyError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a bool: give true or false") from None


def parser(layout: Layout) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    p.add_argument("--shards", type=Path, default=layout.shards)
    p.add_argument("--checkpoints", type=Path, default=layout.checkpoints)
    hints = typing.get_type_hints(TrainConfig)
    for f in fields(TrainConfig):
        kind = hints[f.name]
        p.add_argument(f"--{f.name.replace('_', '-')}", type=parse_bool if kind is bool else kind, default=f.default,
                       metavar=kind.__name__.upper(), help=f"default {f.default}")
    return p


def main(argv: list[str] | None = None) -> None:
    layout = Layout.from_env()
    args = vars(parser(layout).parse_args(argv))
    shards, checkpoints = args.pop("shards"), args.pop("checkpoints")
    result = train(TrainConfig(**args), shards, checkpoints, log=lambda m: print(m, flush=True))
    print(f"done: step {result.step}, val loss {result.val_loss:.4f}, unigram entropy {result.unigram_entropy:.4f}, "
          f"{result.tokens_per_s:,.0f} tokens/s", flush=True)


if __name__ == "__main__":
    main()
