"""Training on shards built from real sample text: the loss falls, sampling resumes, runs resume after a kill."""
from __future__ import annotations

import json
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
from training.data import ShardSampler, val_batches, val_windows_by_source
from training.model import LlamaLM, ModelConfig
from training.checkpoint import load_weights
from training.config import TrainConfig
from training.evaluation import evaluate, mixture_weights, unigram_counts, unigram_validation, weighted_loss
from training.train import lr_at, train

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


def test_unigram_logit_bias_starts_training_at_the_unigram_entropy(shards):
    manifest = json.loads((shards / "manifest.json").read_text())
    counts = unigram_counts(shards, manifest)
    cfg = ModelConfig(vocab_size=manifest["vocab_size"], block_size=32, n_layer=1, n_head=2, n_kv_head=1, d_model=32)
    sampler = ShardSampler(shards, 32, 64, seed=0)
    x, y = sampler.next_batch()
    torch.manual_seed(0)
    plain = LlamaLM(ModelConfig(**{**cfg.to_dict(), "unigram_logit_bias": False}))
    torch.manual_seed(0)
    primed = LlamaLM(cfg)
    primed.init_logit_bias(counts)
    with torch.no_grad():
        assert plain(x, y)[1].item() == pytest.approx(np.log(cfg.vocab_size), abs=0.05)  # uniform guess
        # before any step, the primed model scores a batch of train text about as the unigram model does
        assert primed(x, y)[1].item() == pytest.approx(unigram_validation(counts, {"t": list(np.concatenate(
            [x.numpy(), y.numpy()[:, -1:]], axis=1))}, manifest).loss, abs=0.05)


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
    # the primed output bias starts it at the unigram entropy; 40 steps take it clearly below
    assert first == pytest.approx(result.unigram_entropy, abs=0.1)
    assert result.step == 40 and last < first - 0.15 and last < result.unigram_entropy - 0.15, (first, last)
    assert result.tokens_per_s > 0 and np.isfinite(result.val_loss)
    # validation is per source (those with held-out documents), weighted by the renormalised mixture weights
    held_out = {s for s, n in json.loads((shards / "manifest.json").read_text())["val_sources"].items() if n > 1}
    assert set(result.val_per_source) == held_out and held_out
    assert sum(result.val_weights.values()) == pytest.approx(1.0)
    assert result.val_loss == pytest.approx(sum(result.val_weights[s] * v for s, v in result.val_per_source.items()))
    assert np.isfinite(result.unigram_val_loss) and set(result.unigram_val_per_source) == held_out


def test_val_windows_stay_inside_each_sources_documents(shards):
    m = json.loads((shards / "manifest.json").read_text())
    docs = m["val_documents"]
    assert sum(n for _, _, n in docs) == m["val_tokens"]
    assert [a for _, a, _ in docs] == list(np.cumsum([0] + [n for _, _, n in docs[:-1]]))
    val = np.concatenate([np.fromfile(shards / s["path"], dtype="<" + np.dtype(m["dtype"]).str[1:])
                          for s in m["shards"] if s["split"] == "val"])
    assert all(val[a + n - 1] == m["eos_id"] for _, a, n in docs)
    per_source = {}
    for s, a, n in docs:
        per_source.setdefault(s, []).append(val[a:a + n])
    wins = val_windows_by_source(shards, 32, max_windows=10_000)
    for s, ws in wins.items():  # few enough windows: they cover the source's documents exactly once
        assert all(2 <= len(w) <= 33 for w in ws)
        joined = np.concatenate([ws[0]] + [w[1:] for w in ws[1:]])
        assert np.array_equal(joined, np.concatenate(per_source[s]))
    capped = val_windows_by_source(shards, 32, max_windows=3)
    assert all(len(ws) <= 3 and all(len(w) <= 33 for w in ws) for ws in capped.values())
    again = val_windows_by_source(shards, 32, max_windows=3)  # deterministic
    assert all(all(np.array_equal(a, b) for a, b in zip(capped[s], again[s])) for s in capped)


class TableLM(torch.nn.Module):
    """Logits are a fixed row per input token: the probability of each next token is known in advance."""

    def __init__(self, table: torch.Tensor):
        super().__init__()
        self.table = torch.nn.Parameter(table)

    def forward(self, idx, targets=None):
        return self.table[idx], None


def _write_tiny_shards(folder: Path, weights: dict) -> dict:
    """Held-out split: source "a" = token 5 repeated (two documents, one shorter than a window), "b" = token 7."""
    folder.mkdir(parents=True)
    docs, val = [], []
    for source, tok, n in (("a", 5, 40), ("b", 7, 25), ("a", 5, 6)):
        docs.append([source, len(val), n + 1])
        val += [tok] * n + [2]
    train = [5] * 30 + [7] * 10 + [2] * 10 + list(range(10, 60))
    for name, data in (("train_000000.bin", train), ("val_000000.bin", val)):
        np.asarray(data, dtype="<u2").tofile(folder / name)
    m = dict(dtype="uint16", vocab_size=64, eos_id=2, key="tiny", weights=weights, val_documents=docs,
             val_tokens=len(val), shards=[dict(path="train_000000.bin", split="train", tokens=len(train)),
                                          dict(path="val_000000.bin", split="val", tokens=len(val))])
    (folder / "manifest.json").write_text(json.dumps(m))
    return m


def test_validation_is_the_mixture_weighted_mean_of_per_source_losses(tmp_path):
    # "c" has no held-out tokens: the weights are renormalised over a and b -> 0.75 / 0.25
    weights = {"a": 0.6, "b": 0.2, "c": 0.2}
    assert mixture_weights(weights, ["a", "b"]) == pytest.approx({"a": 0.75, "b": 0.25})
    assert weighted_loss({"a": 2.0, "b": 6.0}, weights) == pytest.approx(0.75 * 2.0 + 0.25 * 6.0)
    m = _write_tiny_shards(tmp_path / "shards", weights)
    # p(next = 5 | 5) = p(next = 2 | 5) = 1/2; p(next = 7 | 7) = p(next = 2 | 7) = 1/10, everything else is tiny
    table = torch.full((64, 64), -1e4)
    table[5, 5] = table[5, 2] = 0.0
    table[7, 7], table[7, 2], table[7, 0] = np.log(0.1), np.log(0.1), np.log(0.8)
    table[2, 5] = table[2, 7] = 0.0  # after EOS: the next document's first token, 1/2 each
    cfg = TrainConfig(block_size=16, batch_size=4, eval_batches=2)
    v = evaluate(TableLM(table), tmp_path / "shards", cfg, torch.device("cpu"))
    # every held-out token of a source is scored once: "a" is 40 + EOS + 6 + EOS tokens -> 47 predictions
    assert v.tokens == {"a": 47, "b": 25}
    assert v.weights == pytest.approx({"a": 0.75, "b": 0.25})
    assert v.per_source["a"] == pytest.approx(np.log(2), rel=1e-4)
    assert v.per_source["b"] == pytest.approx(np.log(10), rel=1e-4)
    assert v.loss == pytest.approx(0.75 * np.log(2) + 0.25 * np.log(10), rel=1e-4)
    # the unigram baseline on the same windows, same weighting: add-one smoothed train frequencies
    counts = unigram_counts(tmp_path / "shards", m)
    u = unigram_validation(counts, {s: ws for s, ws in val_windows_by_source(tmp_path / "shards", 16, 8).items()}, m)
    total = counts.sum() + 64
    p5, p7, p2 = 31 / total, 11 / total, 11 / total
    assert u.per_source["a"] == pytest.approx(-(45 * np.log(p5) + 2 * np.log(p2)) / 47)
    assert u.weights == pytest.approx({"a": 0.75, "b": 0.25})
    assert u.per_source["b"] == pytest.approx(-(24 * np.log(p7) + np.log(p2)) / 25)
    assert u.loss == pytest.approx(0.75 * u.per_source["a"] + 0.25 * u.per_source["b"])


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
    print(f"val loss {result.val_loss:.4f} vs unigram entropy {result.unigram_entropy:.4f}, "
          f"unigram model on the held-out windows {result.unigram_val_loss:.4f}")
    assert result.val_loss < result.unigram_entropy - 0.3
    assert result.val_loss < result.unigram_val_loss - 0.3  # the fair baseline: same text, same weighting
