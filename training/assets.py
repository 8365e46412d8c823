"""The ``pretrained_model`` asset: a tiny LLaMA-style model trained on the token shards (logic in training/train.py)."""

from dataclasses import fields

import dagster as dg

from assets.resources import CorpusStorage
from assets.tokens import token_shards
from training.train import TrainConfig, loss_curve_png, png_markdown, train

_DEFAULTS = TrainConfig()


class PretrainConfig(dg.Config):
    run_name: str = _DEFAULTS.run_name
    max_steps: int = _DEFAULTS.max_steps
    batch_size: int = _DEFAULTS.batch_size
    block_size: int = _DEFAULTS.block_size
    n_layer: int = _DEFAULTS.n_layer
    n_head: int = _DEFAULTS.n_head
    n_kv_head: int = _DEFAULTS.n_kv_head
    d_model: int = _DEFAULTS.d_model
    lr: float = _DEFAULTS.lr
    warmup_steps: int = _DEFAULTS.warmup_steps
    seed: int = _DEFAULTS.seed
    checkpoint_every: int = _DEFAULTS.checkpoint_every
    eval_batches: int = _DEFAULTS.eval_batches
    device: str = _DEFAULTS.device
    threads: int = _DEFAULTS.threads  # torch CPU threads; 0 = torch's default (1 is fastest on a busy machine)
    unigram_logit_bias: bool = _DEFAULTS.unigram_logit_bias  # output bias initialised to log unigram frequencies


@dg.asset(group_name="training", deps=[token_shards], kinds={"pytorch"})
def pretrained_model(context: dg.AssetExecutionContext, config: PretrainConfig, corpus_storage: CorpusStorage) -> dg.MaterializeResult:
    """``checkpoints/<run>-<hash>/ckpt.pt``: resumes from its last checkpoint if a previous run was interrupted."""
    layout = corpus_storage.layout()
    names = {f.name for f in fields(TrainConfig)}
    cfg = TrainConfig(**{k: v for k, v in config.model_dump().items() if k in names})
    result = train(cfg, layout.shards, layout.checkpoints, log=context.log.info)
    png = loss_curve_png(result)
    every = max(1, len(result.losses) // 100)
    return dg.MaterializeResult(metadata={
        "path": dg.MetadataValue.path(str(result.run_dir / "ckpt.pt")),
        "step": result.step,
        "resumed_from_step": result.resumed_from,
        "val_loss": result.val_loss,  # mean loss per source, averaged with the renormalised mixture weights
        **{f"val_loss_{s}": v for s, v in sorted(result.val_per_source.items())},
        "val_weights": dg.MetadataValue.json(result.val_weights),
        "val_tokens": dg.MetadataValue.json(result.val_tokens),
        "unigram_entropy_nats": result.unigram_entropy,
        "unigram_val_loss": result.unigram_val_loss,  # the train shards' unigram model on the same held-out windows
        "val_loss_below_unigram_entropy": result.val_loss < result.unigram_entropy,
        "val_loss_below_unigram_val_loss": result.val_loss < result.unigram_val_loss,
        "final_train_loss": sum(result.losses[-10:]) / max(1, len(result.losses[-10:])),
        "tokens_per_s": result.tokens_per_s,
        "parameters": result.params,
        "device": result.device,
        "loss_curve": dg.MetadataValue.md(png_markdown(png)),
        "losses": dg.MetadataValue.json({"every": every, "train": [round(x, 4) for x in result.losses[::every]],
                                         "val": [[s, round(v, 4)] for s, v in result.val_history]}),
    })
