"""The ``pretrained_model`` asset: a tiny LLaMA-style model trained on the token shards (logic in training/train.py)."""

import dagster as dg

from assets.config_base import config_class, dataclass_fields
from assets.resources import CorpusStorage, TRAINING_POOL
from assets.tokens import token_shards
from corpus.plots import as_markdown_image, loss_curve_plot
from training.config import TrainConfig
from training.train import train

PretrainConfig = config_class("PretrainConfig", __name__, dataclass_fields(TrainConfig),
                              doc="The training settings: every TrainConfig field, with its type and default.")


@dg.asset(group_name="training", deps=[token_shards], kinds={"pytorch"}, pool=TRAINING_POOL)
def pretrained_model(context: dg.AssetExecutionContext, config: PretrainConfig, corpus_storage: CorpusStorage) -> dg.MaterializeResult:
    """``checkpoints/<run>-<hash>/ckpt.pt``: resumes from its last checkpoint if a previous run was interrupted."""
    layout = corpus_storage.layout()
    cfg = TrainConfig(**config.model_dump())
    result = train(cfg, layout.shards, layout.checkpoints, log=context.log.info)
    png = loss_curve_plot(result.losses, result.val_history, result.unigram_entropy)
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
        "loss_curve": dg.MetadataValue.md(as_markdown_image(png, "loss curve")),
        "losses": dg.MetadataValue.json({"every": every, "train": [round(x, 4) for x in result.losses[::every]],
                                         "val": [[s, round(v, 4)] for s, v in result.val_history]}),
    })
