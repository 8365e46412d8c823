"""The training loop: AdamW, warmup + cosine schedule, gradient clipping, atomic resumable checkpoints.

A checkpoint (``checkpoints/<run>/ckpt.pt``) holds the model, the optimizer, the sampler's RNG state
and batch count, the step and the loss history: a run killed at any point restarts from its last
checkpoint and, since nothing else is random after initialisation, produces the same weights as an
uninterrupted run. The run folder's name carries a hash of the settings and of the shards' manifest
key, so a changed configuration or corpus never resumes a checkpoint that is not its own.
"""
from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import math
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from corpus.recipe import ADAMW_BETAS, ADAMW_WEIGHT_DECAY, GRAD_CLIP_NORM, MIN_LR_RATIO
from corpus.storage import atomic_path
from training.data import ShardSampler, TokenStream, load_manifest, val_windows_by_source
from training.model import LlamaLM, ModelConfig

CKPT = "ckpt.pt"


@dataclass
class TrainConfig:
    run_name: str = "tiny-llama"
    # sized for minutes on a shared CPU: the output layer (vocab x d_model) dominates the step
    max_steps: int = 300
    # batch and lr from a sweep of 27 settings on the samples' shards (docs/SHARDS.md): the best
    # validation loss at two seeds within twice the CPU time of batch 16
    batch_size: int = 32
    block_size: int = 64
    n_layer: int = 2
    n_head: int = 4
    n_kv_head: int = 2
    d_model: int = 64
    lr: float = 2e-3  # a tiny model tolerates far more than LLaMA-7B's 3e-4
    warmup_steps: int = 20
    min_lr_ratio: float = MIN_LR_RATIO
    weight_decay: float = ADAMW_WEIGHT_DECAY
    beta1: float = ADAMW_BETAS[0]
    beta2: float = ADAMW_BETAS[1]
    grad_clip: float = GRAD_CLIP_NORM
    seed: int = 0
    checkpoint_every: int = 50
    eval_batches: int = 16
    device: str = "auto"
    threads: int = 0  # torch CPU threads; 0 = torch's default
    unigram_logit_bias: bool = True  # output bias starts at the train shards' log unigram frequencies

    def model_config(self, vocab_size: int) -> ModelConfig:
        """The model these settings train: every ModelConfig field this config also has, and the vocabulary."""
        shared = {f.name for f in fields(ModelConfig)} & {f.name for f in fields(self)}
        return ModelConfig(vocab_size=vocab_size, **{name: getattr(self, name) for name in shared})

    # settings that change the weights; the rest (checkpoint cadence, eval size, device) do not
    def fingerprint(self, manifest_key: str) -> str:
        d = {k: v for k, v in asdict(self).items()
             if k not in ("run_name", "checkpoint_every", "eval_batches", "device", "threads")}
        return hashlib.sha256(json.dumps([d, manifest_key], sort_keys=True).encode()).hexdigest()[:10]


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warmup, then cosine decay to ``min_lr_ratio * lr`` at ``max_steps`` (LLaMA-1 2.3)."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = min(1.0, (step - cfg.warmup_steps) / max(1, cfg.max_steps - cfg.warmup_steps))
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


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


def _val_windows(shards: Path, cfg: TrainConfig, manifest: dict | None = None) -> dict[str, list[np.ndarray]]:
    # per source at most eval_batches * batch_size windows: evaluation stays a few forward passes per source
    return val_windows_by_source(shards, cfg.block_size, max(1, cfg.eval_batches * cfg.batch_size), manifest)


def _batches(windows: list[np.ndarray], batch_size: int):
    """Equal-length windows stacked ``batch_size`` at a time (a shorter last window is its own batch)."""
    by_len: dict[int, list[np.ndarray]] = {}
    for w in windows:
        by_len.setdefault(len(w), []).append(w)
    for n in sorted(by_len, reverse=True):
        ws = by_len[n]
        for i in range(0, len(ws), batch_size):
            t = torch.from_numpy(np.stack(ws[i:i + batch_size]).astype(np.int64))
            yield t[:, :-1], t[:, 1:]


def _validation(sums: dict[str, float], counts: dict[str, int], manifest: dict) -> Validation:
    per_source = {s: sums[s] / counts[s] for s in sums if counts[s]}
    weights = mixture_weights(manifest.get("weights", {}), per_source)
    return Validation(weighted_loss(per_source, weights), per_source, weights, dict(counts))


@torch.no_grad()
def evaluate(model: torch.nn.Module, shards: Path, cfg: TrainConfig, device: torch.device,
             manifest: dict | None = None, windows: dict[str, list[np.ndarray]] | None = None) -> Validation:
    """Mean loss per source over its held-out windows, averaged with the mixture weights (renormalised over
    the sources that have held-out tokens), so a long unrepresentative document weighs only within its source."""
    manifest = manifest or load_manifest(shards)
    windows = _val_windows(shards, cfg, manifest) if windows is None else windows
    was_training = model.training
    model.eval()
    sums, counts = {}, {}
    for source, ws in windows.items():
        sums[source], counts[source] = 0.0, 0
        for x, y in _batches(ws, cfg.batch_size):
            with _autocast(device):
                logits, _ = model(x.to(device))
            sums[source] += torch.nn.functional.cross_entropy(
                logits.float().reshape(-1, logits.size(-1)), y.to(device).reshape(-1), reduction="sum").item()
            counts[source] += y.numel()
    model.train(was_training)
    return _validation(sums, counts, manifest)


def unigram_validation(counts: np.ndarray, windows: dict[str, list[np.ndarray]], manifest: dict) -> Validation:
    """The same held-out targets and weighting, scored by the train shards' unigram model (add-one smoothing)."""
    logp = np.log((counts + 1.0) / (counts.sum() + len(counts)))
    sums, n = {}, {}
    for source, ws in windows.items():
        targets = np.concatenate([w[1:] for w in ws]).astype(np.int64) if ws else np.zeros(0, np.int64)
        sums[source], n[source] = float(-logp[targets].sum()), int(len(targets))
    return _validation(sums, n, manifest)


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    resumed_from: int
    losses: list[float]
    val_loss: float  # mixture-weighted (see ``evaluate``)
    unigram_entropy: float
    tokens_per_s: float
    params: int
    device: str
    val_history: list[tuple[int, float]] = field(default_factory=list)
    val_per_source: dict[str, float] = field(default_factory=dict)
    val_weights: dict[str, float] = field(default_factory=dict)
    val_tokens: dict[str, int] = field(default_factory=dict)
    unigram_val_loss: float = float("nan")  # the unigram model on the same held-out windows, same weighting
    unigram_val_per_source: dict[str, float] = field(default_factory=dict)


def _save(path: Path, state: dict) -> None:
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def _autocast(device: torch.device):
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def train(cfg: TrainConfig, shards: Path, checkpoints: Path, log: Callable[[str], None] = print,
          on_step: Callable[[int], None] | None = None) -> TrainResult:
    """Train (or resume) ``cfg`` on the shards; ``on_step(step)`` runs after each step (tests interrupt there)."""
    manifest = load_manifest(shards)
    run_dir = checkpoints / f"{cfg.run_name}-{cfg.fingerprint(manifest['key'])}"
    device = pick_device(cfg.device)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    mcfg = cfg.model_config(manifest["vocab_size"])
    counts = unigram_counts(shards, manifest)
    model = LlamaLM(mcfg)
    if mcfg.unigram_logit_bias:
        model.init_logit_bias(counts)
    model = model.to(device)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))
    sampler = ShardSampler(shards, cfg.block_size, cfg.batch_size, cfg.seed)
    step, losses, val_history = 0, [], []
    ckpt = run_dir / CKPT
    if ckpt.exists():
        state = torch.load(ckpt, map_location=device, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sampler.load_state_dict(state["sampler"])
        step, losses, val_history = state["step"], state["losses"], state["val_history"]
        log(f"resumed {run_dir.name} from its checkpoint at step {step}")
    resumed_from = step
    entropy = unigram_entropy(shards, manifest, counts)
    windows = _val_windows(shards, cfg, manifest)
    baseline = unigram_validation(counts, windows, manifest)
    last_val: list[Validation] = []

    def validate() -> float:
        last_val[:] = [evaluate(model, shards, cfg, device, manifest, windows)]
        return last_val[0].loss
    log(f"{run_dir.name}: {model.num_params():,} parameters, vocab {mcfg.vocab_size:,}, device {device}, "
        f"{sampler.stream.size:,} train tokens, steps {step} -> {cfg.max_steps}")

    def checkpoint() -> None:
        _save(ckpt, {"model": model.state_dict(), "optimizer": opt.state_dict(), "sampler": sampler.state_dict(),
                     "step": step, "losses": losses, "val_history": val_history, "config": asdict(cfg),
                     "model_config": mcfg.to_dict(), "manifest_key": manifest["key"]})

    t0, tokens_seen = time.perf_counter(), 0
    model.train()
    while step < cfg.max_steps:
        for group in opt.param_groups:
            group["lr"] = lr_at(step, cfg)
        x, y = sampler.next_batch()
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with _autocast(device):
            _, loss = model(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        step += 1
        tokens_seen += x.numel()
        losses.append(loss.item())
        if step % 25 == 0 or step == cfg.max_steps:
            log(f"step {step}/{cfg.max_steps} loss {losses[-1]:.4f} lr {lr_at(step - 1, cfg):.2e}")
        if step % cfg.checkpoint_every == 0 or step == cfg.max_steps:
            if step == cfg.max_steps:
                val_history.append((step, validate()))
            checkpoint()
        if on_step is not None:
            on_step(step)
    elapsed = time.perf_counter() - t0
    if not (last_val and val_history and val_history[-1][0] == step):
        validate()
    val = last_val[0]
    per = ", ".join(f"{k} {v:.4f} (w {val.weights[k]:.3f}, {val.tokens[k]:,} tokens)" for k, v in val.per_source.items())
    log(f"validation per source: {per}")
    log(f"final validation loss {val.loss:.4f} nats/token (mixture-weighted); unigram entropy of the shards "
        f"{entropy:.4f}; unigram model on the same held-out text {baseline.loss:.4f}")
    return TrainResult(run_dir, step, resumed_from, losses, val.loss, entropy,
                       tokens_seen / elapsed if tokens_seen else 0.0, model.num_params(), str(device), val_history,
                       val.per_source, val.weights, val.tokens, baseline.loss, baseline.per_source)


def loss_curve_png(result: TrainResult) -> bytes:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    steps = np.arange(1, len(result.losses) + 1)
    ax.plot(steps, result.losses, lw=0.8, label="train loss")
    if result.val_history:
        vs, vl = zip(*result.val_history)
        ax.scatter(vs, vl, color="C1", zorder=3, label="validation loss")
    ax.axhline(result.unigram_entropy, color="gray", ls="--", lw=0.8, label="unigram entropy")
    ax.set_xlabel("step")
    ax.set_ylabel("nats / token")
    ax.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def png_markdown(png: bytes) -> str:
    return f"![loss curve](data:image/png;base64,{base64.b64encode(png).decode()})"


def load_weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return torch.load(run_dir / CKPT, map_location="cpu", weights_only=False)["model"]
