"""The curated corpus as a Hugging Face dataset: `datasets.load_dataset("parquet", data_files=...)` over
`docs/near_dedup/*/*.parquet` loads every document with the fixed document schema."""
import collections

from corpus.catalog import CURATED_STAGE
from corpus.schema import DOCUMENT_SCHEMA
from corpus.storage import Layout, read_table
from tests.corpus.test_mixture import write_sample_corpus


def test_curated_parts_load_with_datasets_load_dataset(tmp_path, samples_dir, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    import datasets

    root = tmp_path / "data"
    counts = write_sample_corpus(root, samples_dir, scale=0.3)
    layout = Layout(root)
    pattern = layout.parts_pattern("docs", CURATED_STAGE)
    assert pattern == str(root / "docs" / "near_dedup" / "*" / "*.parquet")
    ds = datasets.load_dataset("parquet", data_files=pattern, split="train", cache_dir=str(tmp_path / "cache"))
    assert list(ds.features) == DOCUMENT_SCHEMA.names  # id, source, text first; the same for every part
    assert ds.features["id"] == datasets.Value("string") and ds.features["source"] == datasets.Value("string")
    assert ds.features["text"] == datasets.Value("large_string") and ds.features["lang_score"] == datasets.Value("float32")
    assert counts == {"c4": 30, "commoncrawl": 40, "books": 9, "wikipedia": 2}
    assert dict(collections.Counter(ds["source"])) == counts and ds.num_rows == 81
    parts = [p for s in sorted(counts) for p in layout.parts("docs", CURATED_STAGE, s)]
    expected = {}
    for part in parts:
        table = read_table(part, columns=["id", "text"])
        expected.update(zip(table.column("id").to_pylist(), table.column("text").to_pylist()))
    assert len(expected) == ds.num_rows and dict(zip(ds["id"], ds["text"])) == expected
    by_source = datasets.load_dataset("parquet", split="train", cache_dir=str(tmp_path / "cache"),
                                      data_files=str(root / "docs" / "near_dedup" / "books" / "*.parquet"))
    assert set(by_source["source"]) == {"books"} and by_source.num_rows == counts["books"]
