"""Training on shards built from real sample text: the loss falls, sampling resumes, runs resume after a kill."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.corpus.test_mixture import write_sample_corpus
from tests.corpus.test_tokens import build
from training.data import ShardSampler, val_batches
from training.model import LlamaLM, ModelConfig
from training.train import TrainConfig, load_weights, lr_at, train

REPO = Path(__file__).resolve().parents[2]
TINY = dict(batch_size=8, block_size=32, n_layer=1, n_head=2, n_kv_head=1, d_model=32, lr=1e-2, warmup_steps=5, threads=1)


@pytest.fixture(scope="module")
def shards(tmp_path_factory, samples_dir) -> Path:
    root = tmp_path_factory.mktemp("train") / "data"
    write_sample_corpus(root, samples_dir, scale=0.5)
    build(root, total=120_000, vocab=1024, shard_tokens=40_000)
    return root / "shards"


def test_model_shapes_and_gqa():
    cfg = ModelConfig(vocab_size=97, block_size=16, n_layer=2, n_head=4, n_kv_head=2, d_model=32)
    model = LlamaLM(cfg)
    x = torch.randint(0, 97, (3, 16))
    logits, loss = model(x, torch.randint(0, 97, (3, 16)))
    assert logits.shape == (3, 16, 97) and loss.item() == pytest.approx(np.log(97), rel=0.05)
    # causal: changing a later token never changes an earlier position's logits
    y = x.clone()
    y[:, 10] = (y[:, 10] + 1) % 97
    assert torch.allclose(model(y)[0][:, :10], logits[:, :10], atol=1e-5)
    assert not torch.allclose(model(y)[0][:, 10:], logits[:, 10:], atol=1e-5)


def test_lr_schedule():
    cfg = TrainConfig(lr=1.0, warmup_steps=10, max_steps=110, min_lr_ratio=0.1)
    assert lr_at(0, cfg) == pytest.approx(0.1) and lr_at(9, cfg) == pytest.approx(1.0)
    assert lr_at(60, cfg) == pytest.approx(0.55) and lr_at(110, cfg) == pytest.approx(0.1)


def test_sampler_state_resumes_the_same_batches(shards):
    a = ShardSampler(shards, 32, 4, seed=5)
    a.next_batch()
    state = a.state_dict()
    expected = [a.next_batch()[0] for _ in range(3)]
    b = ShardSampler(shards, 32, 4, seed=5)
    b.load_state_dict(state)
    assert all(torch.equal(e, b.next_batch()[0]) for e in expected) and b.batches == 4
    x, y = next(val_batches(shards, 32, 4, 2))
    assert torch.equal(x[:, 1:], y[:, :-1])


def test_loss_falls_on_real_text(shards, tmp_path):
    result = train(TrainConfig(max_steps=40, checkpoint_every=20, **TINY), shards, tmp_path, log=lambda m: None)
    first, last = np.mean(result.losses[:5]), np.mean(result.losses[-5:])
    assert result.step == 40 and last < first - 0.5, (first, last)
    assert result.tokens_per_s > 0 and np.isfinite(result.val_loss)


def test_interrupted_run_resumes_to_the_same_weights(shards, tmp_path):
    cfg = TrainConfig(max_steps=12, checkpoint_every=4, **TINY)

    class Killed(Exception):
        pass

    def crash(step):
        if step == 10:
            raise Killed

    with pytest.raises(Killed):
        train(cfg, shards, tmp_path / "a", log=lambda m: None, on_step=crash)
    resumed = train(cfg, shards, tmp_path / "a", log=lambda m: None)
    assert resumed.resumed_from == 8 and resumed.step == 12 and len(resumed.losses) == 12
    straight = train(cfg, shards, tmp_path / "b", log=lambda m: None)
    assert straight.losses == resumed.losses
    wa, wb = load_weights(resumed.run_dir), load_weights(straight.run_dir)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    # a completed run is not trained again
    again = train(cfg, shards, tmp_path / "a", log=lambda m: None)
    assert again.resumed_from == 12 and again.step == 12


@pytest.mark.slow
def test_killed_process_resumes_from_its_checkpoint(shards, tmp_path):
    ckpts = tmp_path / "ckpt"
    args = [sys.executable, "-m", "training", "--shards", str(shards), "--checkpoints", str(ckpts),
            "--max-steps", "2000", "--checkpoint-every", "5"] + [f"--{k.replace('_', '-')}={v}" for k, v in TINY.items()]
    proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=os.environ | {"PYTHONPATH": str(REPO)})
    deadline = time.time() + 120
    while time.time() < deadline and not list(ckpts.glob("*/ckpt.pt")):
        time.sleep(0.2)
    time.sleep(0.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    ckpt = list(ckpts.glob("*/ckpt.pt"))
    assert ckpt, proc.stdout.read().decode()[-2000:]
    saved = torch.load(ckpt[0], weights_only=False)["step"]
    assert 0 < saved < 2000
    # the killed run's own settings (max_steps is part of the run's fingerprint: the schedule depends on it)
    cfg_same = TrainConfig(max_steps=2000, checkpoint_every=5, **TINY)
    msgs = []
    # resume under the killed run's own settings, stopping after a few steps
    stop = saved + 7

    class Enough(Exception):
        pass

    def halt(step):
        if step == stop:
            raise Enough

    with pytest.raises(Enough):
        train(cfg_same, shards, ckpts, log=msgs.append, on_step=halt)
    assert any(f"from its checkpoint at step {saved}" in m for m in msgs), msgs[:3]


@pytest.mark.slow
def test_validation_loss_below_unigram_entropy(shards, tmp_path):
    cfg = TrainConfig(max_steps=250, checkpoint_every=250, batch_size=16, block_size=64, n_layer=2, n_head=4,
                      n_kv_head=2, d_model=64, lr=6e-3, warmup_steps=20)
    result = train(cfg, shards, tmp_path, log=print)
    print(f"val loss {result.val_loss:.4f} vs unigram entropy {result.unigram_entropy:.4f}")
    assert result.val_loss < result.unigram_entropy - 0.3
