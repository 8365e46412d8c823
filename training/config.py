"""The training settings: one dataclass, from which ``PretrainConfig`` and ``python -m training`` derive."""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields

from corpus.recipe import ADAMW_BETAS, ADAMW_WEIGHT_DECAY, GRAD_CLIP_NORM, MIN_LR_RATIO
from training.model import ModelConfig


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
