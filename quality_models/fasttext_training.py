"""``fasttext.train_supervised`` that survives the fasttext-numpy2 build's spurious "Encountered NaN".

On this build a run sometimes stops with that error at random (same file, same seed, one thread), while
every run that finishes gives the same model bit for bit; a large hash-bucket table makes it more
likely. So a NaN is retried at the same learning rate first (deterministic result), and only after
several failures is the learning rate halved (a real divergence)."""
from __future__ import annotations

from typing import Any

RETRIES_PER_LR = 4
HALVINGS = 3


def train_supervised(input_path: str, **params: Any):
    import fasttext

    lr = params.pop("lr", 0.1)
    for attempt in range(RETRIES_PER_LR * (HALVINGS + 1)):
        try:
            return fasttext.train_supervised(input=input_path, lr=lr, **params)
        except RuntimeError as exc:
            if "NaN" not in str(exc):
                raise
            if attempt % RETRIES_PER_LR == RETRIES_PER_LR - 1:
                lr /= 2
    raise RuntimeError(f"fastText diverged (NaN) on {input_path} down to lr={lr * 2:g}")
