"""Megatron-Core indexed datasets (``<prefix>.bin`` + ``<prefix>.idx``, the ``MMIDIDX`` format) beside the
flat shards, so Megatron-LM / NeMo read the corpus without a conversion step.

Layout (Megatron-Core ``megatron/core/datasets/indexed_dataset.py``, ``_IndexWriter``/``_IndexReader``):
the ``.bin`` is every sequence's token ids back to back (no header); the ``.idx`` is the 9-byte magic
``MMIDIDX\\0\\0``, version ``<Q`` 1, dtype code ``<B`` (``DType``: 8 uint16, 4 int32), sequence count ``<Q``,
document count ``<Q`` (sequences + 1), then the sequence lengths (int32), the sequence byte offsets
into the ``.bin`` (int64) and the document indices (int64: 0, then the sequence count after each
document). Here one sequence is one document of the plan with its trailing EOS, so the ``.bin`` holds
exactly the tokens of the flat shards of the same split, in the same order.

Written streaming: tokens go straight to the ``.bin`` temp file, lengths to an anonymous spill file,
and the ``.idx`` is assembled from that spill in blocks. Both files are written to temp names and
renamed, the ``.bin`` first, the ``.idx`` last.
"""
from __future__ import annotations

import contextlib
import hashlib
import struct
import tempfile
from pathlib import Path

import numpy as np

from corpus.inputs import sha256_file
from corpus.storage import TMP_MARK, atomic_path

FOLDER = "megatron"  # under the shard folder
INDEX_HEADER = b"MMIDIDX\x00\x00"
INDEX_VERSION = 1
DTYPE_CODES = {np.dtype(np.uint16): 8, np.dtype(np.int32): 4}  # Megatron-Core DType.uint16 / DType.int32
# Megatron-Core DType.optimal_dtype: uint16 below 65,500 ids, int32 from there
UINT16_MAX_VOCAB = 65_500
BLOCK = 1 << 20  # sequences per block when the index is assembled


def megatron_dtype(vocab_size: int) -> np.dtype:
    return np.dtype(np.uint16) if vocab_size < UINT16_MAX_VOCAB else np.dtype(np.int32)


class _HashingFile:
    """A binary file that also hashes and counts what is written to it."""

    def __init__(self, path: Path):
        self.file = open(path, "wb")
        self.sha256 = hashlib.sha256()
        self.bytes = 0

    def write(self, data: bytes) -> None:
        self.file.write(data)
        self.sha256.update(data)
        self.bytes += len(data)


class IndexedDatasetWriter:
    """One split's Megatron dataset ``folder/<prefix>.bin|.idx``; ``add_document`` per document, in order.

    A context manager: the files appear (renamed into place) only when the block succeeds."""

    def __init__(self, folder: Path, prefix: str, vocab_size: int):
        self.folder, self.prefix = folder, prefix
        self.dtype = megatron_dtype(vocab_size).newbyteorder("<")
        self.sequences = 0
        self.tokens = 0
        self.entry: dict | None = None

    def __enter__(self) -> "IndexedDatasetWriter":
        self.folder.mkdir(parents=True, exist_ok=True)
        for stale in self.folder.glob(f"{self.prefix}.*{TMP_MARK}*"):  # temps a killed run left
            stale.unlink()
        self._stack = contextlib.ExitStack()
        self._idx_tmp = self._stack.enter_context(atomic_path(self.folder / f"{self.prefix}.idx"))
        bin_tmp = self._stack.enter_context(atomic_path(self.folder / f"{self.prefix}.bin"))
        self._bin = _HashingFile(bin_tmp)
        self._stack.callback(self._bin.file.close)
        self._lengths = self._stack.enter_context(tempfile.TemporaryFile(dir=self.folder))
        return self

    def add_document(self, tokens: np.ndarray, eos: int) -> None:
        """One sequence: the document's ``tokens`` followed by ``eos``."""
        self._bin.write(tokens.astype(self.dtype, copy=False).tobytes())
        self._bin.write(np.asarray([eos], dtype=self.dtype).tobytes())
        n = len(tokens) + 1
        self._lengths.write(np.int32(n).tobytes())
        self.sequences += 1
        self.tokens += n

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self._bin.file.close()
                idx = self._write_index()
                self.entry = dict(prefix=f"{FOLDER}/{self.prefix}", sequences=self.sequences, tokens=self.tokens,
                                  bin=self._file_entry(".bin", self._bin), idx=self._file_entry(".idx", idx))
        finally:
            self._stack.__exit__(exc_type, exc, tb)  # renames the .bin, then the .idx (or removes both)

    def _file_entry(self, suffix: str, f: _HashingFile) -> dict:
        return dict(path=f"{FOLDER}/{self.prefix}{suffix}", bytes=f.bytes, sha256=f.sha256.hexdigest())

    def _write_index(self) -> _HashingFile:
        idx = _HashingFile(self._idx_tmp)
        with idx.file:
            idx.write(INDEX_HEADER + struct.pack("<Q", INDEX_VERSION) + struct.pack("<B", DTYPE_CODES[self.dtype.newbyteorder("=")]))
            idx.write(struct.pack("<Q", self.sequences) + struct.pack("<Q", self.sequences + 1))
            for block in self._length_blocks():
                idx.write(block.tobytes())
            offset = 0
            for block in self._length_blocks():
                ends = np.cumsum(block, dtype=np.int64) * self.dtype.itemsize + offset
                idx.write(np.concatenate([[offset], ends[:-1]]).astype("<i8").tobytes())
                offset = int(ends[-1])
            for start in range(0, self.sequences + 1, BLOCK):
                idx.write(np.arange(start, min(start + BLOCK, self.sequences + 1), dtype="<i8").tobytes())
        return idx

    def _length_blocks(self):
        self._lengths.seek(0)
        while data := self._lengths.read(BLOCK * 4):
            yield np.frombuffer(data, dtype="<i4")


def format_entry(vocab_size: int, datasets: list[IndexedDatasetWriter]) -> dict:
    """The manifest's ``formats.megatron``: the datasets per split, their files with sizes and sha256."""
    dtype = megatron_dtype(vocab_size)
    return dict(layout="MMIDIDX", version=INDEX_VERSION, dtype=dtype.name, dtype_code=DTYPE_CODES[dtype],
                datasets={d.prefix: d.entry for d in datasets})


def files(entry: dict) -> list[dict]:
    """Every file of a ``formats.megatron`` entry: ``{path, bytes, sha256}``."""
    return [d[kind] for d in entry["datasets"].values() for kind in ("bin", "idx")]


def file_problems(folder: Path, manifest: dict, check_sha256: bool = True) -> list[str]:
    """What is wrong with the Megatron files a shard manifest lists: missing, resized or (``check_sha256``,
    streamed) altered; a manifest without them is a problem too."""
    entry = manifest.get("formats", {}).get("megatron")
    if entry is None:
        return ["the manifest lists no Megatron dataset (formats.megatron)"]
    problems = []
    for f in files(entry):
        path = folder / f["path"]
        if not path.is_file():
            problems.append(f"{f['path']}: missing")
        elif path.stat().st_size != f["bytes"]:
            problems.append(f"{f['path']}: {path.stat().st_size:,} bytes, manifest says {f['bytes']:,}")
        elif check_sha256 and sha256_file(path) != f["sha256"]:
            problems.append(f"{f['path']}: sha256 differs from the manifest")
    return problems
