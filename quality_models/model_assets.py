"""What every model asset does once its model folder is built: point the filters at it and report it.

The model's version is its Dagster data version too, so the filters downstream show as unsynced when the
model changes (``quality_models.store``)."""

import time
from pathlib import Path
from typing import Any, Mapping

import dagster as dg

from quality_models import store


def published_model(models_root: Path, name: str, folder: Path, manifest: Mapping[str, Any], reused: bool,
                    metadata: Mapping[str, Any]) -> dg.MaterializeResult:
    """Make ``folder`` (version ``manifest["version"]``) the current ``name`` model; its result: version,
    path and whether it was reused, then ``metadata``."""
    version = manifest["version"]
    store.set_current(models_root, name, version)
    return dg.MaterializeResult(metadata={"version": version, "path": dg.MetadataValue.path(str(folder)),
                                          "reused": reused, **metadata},
                                data_version=dg.DataVersion(version))


def training_metadata(manifest: dict, scores: dict, started: float) -> dict:
    """What a fastText classifier asset reports of its training (wikiref and the quality classifier)."""
    return {
        "train_examples": manifest["train_examples"],
        "examples": dg.MetadataValue.json(manifest["examples"]),
        "documents": dg.MetadataValue.json(manifest["documents"]),
        **{k: (dg.MetadataValue.float(v) if isinstance(v, float) else v) for k, v in scores.items() if v is not None},
        "train_seconds": dg.MetadataValue.float(manifest["train_seconds"]),
        "seconds": dg.MetadataValue.float(round(time.monotonic() - started, 2)),
    }
