"""The training loop: AdamW, warmup + cosine schedule, gradient clipping, resumable checkpoints.

The run folder's name carries a hash of the settings and of the shards' manifest key, so a changed
configuration or corpus never resumes a checkpoint that is not its own (``training/checkpoint.py``);
validation and its unigram baselines are in ``training/evaluation.py``.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch

from training.checkpoint import CKPT, load_checkpoint, save_checkpoint
from training.config import TrainConfig
from training.data import ShardSampler, load_manifest
from training.evaluation import (Validation, autocast, evaluate, unigram_counts, unigram_entropy, unigram_validation,
                                 val_windows)
from training.model import LlamaLM


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
    if (state := load_checkpoint(ckpt, device)) is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sampler.load_state_dict(state["sampler"])
        step, losses, val_history = state["step"], state["losses"], state["val_history"]
        log(f"resumed {run_dir.name} from its checkpoint at step {step}")
    resumed_from = step
    entropy = unigram_entropy(shards, manifest, counts)
    windows = val_windows(shards, cfg, manifest)
    baseline = unigram_validation(counts, windows, manifest)
    last_val: list[Validation] = []

    def validate() -> float:
        last_val[:] = [evaluate(model, shards, cfg, device, manifest, windows)]
        return last_val[0].loss
    log(f"{run_dir.name}: {model.num_params():,} parameters, vocab {mcfg.vocab_size:,}, device {device}, "
        f"{sampler.stream.size:,} train tokens, steps {step} -> {cfg.max_steps}")

    def checkpoint() -> None:
        save_checkpoint(ckpt, {"model": model.state_dict(), "optimizer": opt.state_dict(), "sampler": sampler.state_dict(),
                     "step": step, "losses": losses, "val_history": val_history, "config": asdict(cfg),
                     "model_config": mcfg.to_dict(), "manifest_key": manifest["key"]})

    t0, tokens_seen = time.perf_counter(), 0
    model.train()
    while step < cfg.max_steps:
        for group in opt.param_groups:
            group["lr"] = lr_at(step, cfg)
        x, y = sampler.next_batch()
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        with autocast(device):
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
