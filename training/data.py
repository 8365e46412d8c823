"""Batches from the token shards: memmapped, seeded and resumable.

The shards are flat little-endian ``.bin`` files described by ``manifest.json`` (corpus/tokens.py).
Training windows are drawn at random offsets over the concatenated train shards (nanoGPT style; a
window may span a shard boundary). The sampler is a numpy PCG64 generator: its state plus the number
of batches drawn is all a checkpoint needs to continue the exact same sequence of batches after an
interruption. Validation reads the held-out shards in fixed, non-overlapping windows: per source over its
held-out documents (`val_windows_by_source`, the spans listed in the manifest's `val_documents`), or
spread over the whole split (`val_batches`).
"""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Iterator

import numpy as np
import torch


def load_manifest(folder: Path) -> dict:
    path = Path(folder) / "manifest.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: materialize `token_shards` first (its manifest marks completion)")
    return json.loads(path.read_text())


class TokenStream:
    """The shards of one split as one virtual array (each shard an ``np.memmap``)."""

    def __init__(self, folder: Path, manifest: dict, split: str):
        self.dtype = np.dtype(manifest["dtype"]).newbyteorder("<")
        entries = [s for s in manifest["shards"] if s.get("split", "train") == split]
        if not entries:
            raise ValueError(f"no {split} shards in {folder}/manifest.json")
        self.maps = [np.memmap(Path(folder) / s["path"], dtype=self.dtype, mode="r") for s in entries]
        self.starts = np.cumsum([0] + [len(m) for m in self.maps])
        self.size = int(self.starts[-1])

    def read(self, start: int, n: int) -> np.ndarray:
        out = np.empty(n, dtype=np.int64)
        pos = 0
        k = int(np.searchsorted(self.starts, start, side="right") - 1)
        while pos < n:
            off = start + pos - int(self.starts[k])
            take = min(n - pos, len(self.maps[k]) - off)
            out[pos:pos + take] = self.maps[k][off:off + take]
            pos += take
            k += 1
        return out


class ShardSampler:
    """Random training windows of ``block_size + 1`` tokens; ``state_dict`` makes it resumable."""

    def __init__(self, folder: Path, block_size: int, batch_size: int, seed: int):
        self.manifest = load_manifest(folder)
        self.stream = TokenStream(folder, self.manifest, "train")
        if self.stream.size <= block_size + 1:
            raise ValueError(f"{self.stream.size} train tokens: fewer than one window of {block_size + 1}")
        self.block_size, self.batch_size = block_size, batch_size
        self.rng = np.random.Generator(np.random.PCG64(seed))
        self.batches = 0

    def next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        starts = self.rng.integers(0, self.stream.size - self.block_size - 1, size=self.batch_size)
        win = np.stack([self.stream.read(int(s), self.block_size + 1) for s in starts])
        self.batches += 1
        t = torch.from_numpy(win)
        return t[:, :-1], t[:, 1:]

    def state_dict(self) -> dict:
        return {"rng": copy.deepcopy(self.rng.bit_generator.state), "batches": self.batches}

    def load_state_dict(self, state: dict) -> None:
        self.rng.bit_generator.state = copy.deepcopy(state["rng"])
        self.batches = int(state["batches"])


def val_batches(folder: Path, block_size: int, batch_size: int, max_batches: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Non-overlapping windows spread evenly over the whole held-out split (deterministic, same every call),
    so every held-out document counts, not just the first one."""
    stream = TokenStream(folder, load_manifest(folder), "val")
    n_windows = (stream.size - 1) // block_size
    picked = np.unique(np.linspace(0, n_windows - 1, num=min(n_windows, max_batches * batch_size)).astype(np.int64))
    windows = [stream.read(int(i) * block_size, block_size + 1) for i in picked]
    for i in range(0, len(windows), batch_size):
        t = torch.from_numpy(np.stack(windows[i:i + batch_size]))
        yield t[:, :-1], t[:, 1:]


def val_documents(manifest: dict) -> list[tuple[str, int, int]]:
    """The held-out documents as ``(source, start, tokens)`` spans of the val split (manifest ``val_documents``).

    A manifest written before the field existed yields one span over the whole split, source ``"val"``.
    """
    docs = manifest.get("val_documents")
    if docs is None:
        total = int(manifest.get("val_tokens") or sum(s["tokens"] for s in manifest["shards"] if s.get("split") == "val"))
        return [("val", 0, total)] if total else []
    return [(str(s), int(a), int(n)) for s, a, n in docs]


def val_windows_by_source(folder: Path, block_size: int, max_windows: int,
                          manifest: dict | None = None) -> dict[str, list[np.ndarray]]:
    """Per source, deterministic windows (at most ``block_size + 1`` tokens) over its held-out documents.

    A source's documents (each with its EOS) are read as one stream in split order, so a document shorter
    than a window still counts (windows never mix sources). Windows do not overlap; when the source's
    stream fits in ``max_windows`` windows every token is covered (the last window may be shorter),
    otherwise ``max_windows`` full windows are spread evenly over it.
    """
    manifest = manifest or load_manifest(folder)
    spans: dict[str, list[tuple[int, int]]] = {}
    for source, start, n in val_documents(manifest):
        if n > 0:
            spans.setdefault(source, []).append((start, n))
    if not spans:
        return {}
    stream = TokenStream(folder, manifest, "val")
    out: dict[str, list[np.ndarray]] = {}
    for source in sorted(spans):
        docs = sorted(spans[source])
        offsets = np.cumsum([0] + [n for _, n in docs])  # the source's stream -> its documents
        size = int(offsets[-1])

        def read(pos: int, n: int) -> np.ndarray:
            parts = []
            k = int(np.searchsorted(offsets, pos, side="right") - 1)
            while n > 0:
                off = pos - int(offsets[k])
                take = min(n, docs[k][1] - off)
                parts.append(stream.read(docs[k][0] + off, take))
                pos, n, k = pos + take, n - take, k + 1
            return np.concatenate(parts)

        if size < 2:
            continue
        full, rest = divmod(size - 1, block_size)
        if full + (rest > 0) <= max_windows:
            starts = [i * block_size for i in range(full)]
            windows = [read(s, block_size + 1) for s in starts]
            if rest:
                windows.append(read(full * block_size, rest + 1))
        else:
            picked = np.unique(np.linspace(0, full - 1, num=max_windows).astype(np.int64))
            windows = [read(int(i) * block_size, block_size + 1) for i in picked]
        out[source] = windows
    return out
