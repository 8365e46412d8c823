"""The Megatron-Core indexed dataset writer on its own: the int32 width of large vocabularies, atomic
files, and the manifest check of its files (the shard build's read-back is in test_tokens.py)."""
import json

import numpy as np
import pytest
from megatron.core.datasets.indexed_dataset import IndexedDataset

from corpus import megatron


def _write(folder, vocab, documents, eos):
    with megatron.IndexedDatasetWriter(folder, "train", vocab) as dataset:
        for doc in documents:
            dataset.add_document(np.asarray(doc, dtype=np.uint32), eos)
    return dataset


def test_vocabulary_of_65500_ids_or_more_is_int32_code_4(tmp_path):
    assert megatron.megatron_dtype(65_499) == np.uint16 and megatron.megatron_dtype(65_500) == np.int32
    documents = [[70_000, 65_535, 5], [], [69_999] * 3]
    dataset = _write(tmp_path / "megatron", 70_001, documents, eos=2)
    entry = megatron.format_entry(70_001, [dataset])
    assert (entry["dtype"], entry["dtype_code"]) == ("int32", 4)
    assert (tmp_path / "megatron" / "train.idx").read_bytes()[:18] == b"MMIDIDX\x00\x00" + (1).to_bytes(8, "little") + b"\x04"
    ds = IndexedDataset(str(tmp_path / "megatron" / "train"))
    assert ds.index.dtype == np.int32
    assert [ds[i].tolist() for i in range(len(ds))] == [d + [2] for d in documents]
    assert ds.index.sequence_pointers.tolist() == [0, 16, 20]
    assert entry["datasets"]["train"]["tokens"] == 9 and entry["datasets"]["train"]["sequences"] == 3


def test_failed_write_leaves_no_file_and_a_damaged_file_is_named(tmp_path):
    folder = tmp_path / "shards"
    with pytest.raises(RuntimeError):
        with megatron.IndexedDatasetWriter(folder / "megatron", "train", 100) as dataset:
            dataset.add_document(np.arange(5, dtype=np.uint32), 2)
            raise RuntimeError("killed")
    assert list((folder / "megatron").iterdir()) == []
    dataset = _write(folder / "megatron", 100, [[5, 6, 7]], eos=2)
    manifest = json.loads(json.dumps({"formats": {"megatron": megatron.format_entry(100, [dataset])}}))
    assert megatron.file_problems(folder, manifest) == []
    idx = folder / "megatron" / "train.idx"
    data = bytearray(idx.read_bytes())
    data[-1] ^= 1
    idx.write_bytes(bytes(data))
    assert megatron.file_problems(folder, manifest) == ["megatron/train.idx: sha256 differs from the manifest"]
    assert megatron.file_problems(folder, manifest, check_sha256=False) == []
    (folder / "megatron" / "train.bin").unlink()
    assert megatron.file_problems(folder, manifest) == ["megatron/train.bin: missing",
                                                        "megatron/train.idx: sha256 differs from the manifest"]
    assert megatron.file_problems(folder, {}) == ["the manifest lists no Megatron dataset (formats.megatron)"]
