"""Atomic, resumable checkpoints: model, optimizer, the sampler's RNG state, the step and the loss history.

A run killed at any point restarts from its last checkpoint and, since nothing else is random after
initialisation, produces the same weights as an uninterrupted run."""
from __future__ import annotations

from pathlib import Path

import torch

from corpus.storage import atomic_path

CKPT = "ckpt.pt"


def save_checkpoint(path: Path, state: dict) -> None:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: Path, device: torch.device) -> dict | None:
    """The saved state, or None when the run has no checkpoint yet."""
    return torch.load(path, map_location=device, weights_only=False) if path.exists() else None


def load_weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return torch.load(run_dir / CKPT, map_location="cpu", weights_only=False)["model"]
