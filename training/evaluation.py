"""Validation: per-source held-out loss, its mixture-weighted mean, and the unigram baselines it is
judged against (the shards' unigram entropy and a unigram model scored on the same held-out targets)."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from training.config import TrainConfig
from training.data import TokenStream, load_manifest, val_windows_by_source


def autocast(device: torch.device):
    """bfloat16 autocast on CUDA; full precision elsewhere."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def unigram_counts(shards: Path, manifest: dict) -> np.ndarray:
    """Token frequencies of the train shards (one pass over the memmaps, chunked)."""
    stream = TokenStream(shards, manifest, "train")
    counts = np.zeros(manifest["vocab_size"], dtype=np.int64)
    for m in stream.maps:
        for off in range(0, len(m), 1 << 24):
            counts += np.bincount(m[off:off + (1 << 24)], minlength=len(counts))[:len(counts)]
    return counts


def unigram_entropy(shards: Path, manifest: dict, counts: np.ndarray | None = None) -> float:
    """Entropy (nats/token) of the train shards' token frequencies: the loss of a context-free model."""
    if "unigram_entropy_nats" in manifest:
        return float(manifest["unigram_entropy_nats"])
    counts = unigram_counts(shards, manifest) if counts is None else counts
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def mixture_weights(manifest_weights: dict, sources) -> dict[str, float]:
    """The manifest's mixture weights renormalised over ``sources`` (those with held-out tokens).

    Sources the mixture gives no weight get none; if none of them has a weight, all count equally.
    """
    w = {s: max(0.0, float(manifest_weights.get(s, 0.0))) for s in sources}
    total = sum(w.values())
    if total <= 0:
        return {s: 1.0 / len(w) for s in w} if w else {}
    return {s: v / total for s, v in w.items()}


def weighted_loss(per_source: dict[str, float], weights: dict[str, float]) -> float:
    """Mixture-weighted mean of per-source losses (weights renormalised over the sources given)."""
    w = mixture_weights(weights, per_source)
    return float(sum(w[s] * per_source[s] for s in per_source)) if per_source else float("nan")


@dataclass
class Validation:
    """Validation on the held-out documents: per-source mean loss (nats/token) and their mixture-weighted mean."""
    loss: float
    per_source: dict[str, float]
    weights: dict[str, float]
    tokens: dict[str, int]  # predicted tokens per source


def val_windows(shards: Path, cfg: TrainConfig, manifest: dict | None = None) -> dict[str, list[np.ndarray]]:
    # per source at most eval_batches * batch_size windows: evaluation stays a few forward passes per source
    return val_windows_by_source(shards, cfg.block_size, max(1, cfg.eval_batches * cfg.batch_size), manifest)


def stacked_batches(windows: list[np.ndarray], batch_size: int):
    """Equal-length windows stacked ``batch_size`` at a time (a shorter last window is its own batch)."""
    by_len: dict[int, list[np.ndarray]] = {}
    for w in windows:
        by_len.setdefault(len(w), []).append(w)
    for n in sorted(by_len, reverse=True):
        ws = by_len[n]
        for i in range(0, len(ws), batch_size):
            t = torch.from_numpy(np.stack(ws[i:i + batch_size]).astype(np.int64))
            yield t[:, :-1], t[:, 1:]


def weighted_validation(sums: dict[str, float], counts: dict[str, int], manifest: dict) -> Validation:
    per_source = {s: sums[s] / counts[s] for s in sums if counts[s]}
    weights = mixture_weights(manifest.get("weights", {}), per_source)
    return Validation(weighted_loss(per_source, weights), per_source, weights, dict(counts))


@torch.no_grad()
def evaluate(model: torch.nn.Module, shards: Path, cfg: TrainConfig, device: torch.device,
             manifest: dict | None = None, windows: dict[str, list[np.ndarray]] | None = None) -> Validation:
    """Mean loss per source over its held-out windows, averaged with the mixture weights (renormalised over
    the sources that have held-out tokens), so a long unrepresentative document weighs only within its source."""
    manifest = manifest or load_manifest(shards)
    windows = val_windows(shards, cfg, manifest) if windows is None else windows
    was_training = model.training
    model.eval()
    sums, counts = {}, {}
    for source, ws in windows.items():
        sums[source], counts[source] = 0.0, 0
        for x, y in stacked_batches(ws, cfg.batch_size):
            with autocast(device):
                logits, _ = model(x.to(device))
            sums[source] += torch.nn.functional.cross_entropy(
                logits.float().reshape(-1, logits.size(-1)), y.to(device).reshape(-1), reduction="sum").item()
            counts[source] += y.numel()
    model.train(was_training)
    return weighted_validation(sums, counts, manifest)


def unigram_validation(counts: np.ndarray, windows: dict[str, list[np.ndarray]], manifest: dict) -> Validation:
    """The same held-out targets and weighting, scored by the train shards' unigram model (add-one smoothing)."""
    logp = np.log((counts + 1.0) / (counts.sum() + len(counts)))
    sums, n = {}, {}
    for source, ws in windows.items():
        targets = np.concatenate([w[1:] for w in ws]).astype(np.int64) if ws else np.zeros(0, np.int64)
        sums[source], n[source] = float(-logp[targets].sum()), int(len(targets))
    return weighted_validation(sums, n, manifest)
