"""``fasttext.train_supervised`` / ``train_unsupervised`` in a fresh process.

The fasttext-numpy2 build reads memory it never initialised somewhere in supervised training: in a
long-lived process (a Dagster step that already loaded models and Parquet) a run fails with a spurious
"Encountered NaN" most of the time, while in a fresh process it trained 10 times out of 10, and every
run that finishes gives the same model bit for bit. So each training runs in its own short-lived
interpreter (``python -m quality_models.fasttext_training``), retried a few times on that error."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ATTEMPTS = 4
_NAN = "Encountered NaN"


def train_supervised(input_path: str | Path, model_path: str | Path, **params: Any) -> None:
    """Train on ``input_path`` (fastText's ``__label__`` format) and save the model to ``model_path``."""
    _train("train_supervised", input_path, model_path, params)


def train_unsupervised(input_path: str | Path, model_path: str | Path, **params: Any) -> None:
    """Word vectors (skipgram/cbow) of the plain text ``input_path``, saved to ``model_path``."""
    _train("train_unsupervised", input_path, model_path, params)


def _train(mode: str, input_path: str | Path, model_path: str | Path, params: dict[str, Any]) -> None:
    command = [sys.executable, "-m", "quality_models.fasttext_training", mode, str(input_path), str(model_path),
               json.dumps(params, sort_keys=True)]
    for _ in range(ATTEMPTS):
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode == 0:
            return
        if _NAN not in done.stderr:
            raise RuntimeError(f"fastText training on {input_path} failed:\n{done.stderr[-2000:]}")
    raise RuntimeError(f"fastText training on {input_path}: '{_NAN}' in {ATTEMPTS} fresh processes "
                       f"(a real divergence: lower lr) with {params}")


def _main(mode: str, input_path: str, model_path: str, params_json: str) -> None:
    import fasttext

    fasttext.FastText.eprint = lambda *args, **kwargs: None  # its load/save deprecation notices are noise
    model = getattr(fasttext, mode)(input=input_path, **json.loads(params_json))
    model.save_model(model_path)


if __name__ == "__main__":
    _main(*sys.argv[1:5])
