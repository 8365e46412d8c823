from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLES = Path(os.environ.get("CORPUS_SAMPLES_DIR", REPO.parent / "shared" / "samples")).resolve()


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    if not SAMPLES.is_dir():
        pytest.fail(f"real samples not found at {SAMPLES}: clone beside ../shared or set CORPUS_SAMPLES_DIR")
    return SAMPLES


@pytest.fixture
def data_root(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "data"
    monkeypatch.setenv("CORPUS_DATA_ROOT", str(root))
    return root
