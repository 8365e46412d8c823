import gzip
import json
from pathlib import Path

from corpus.schema import Drop
from corpus.sources import c4


def _split(records):
    docs = [r for r in records if not isinstance(r, Drop)]
    drops = [r for r in records if isinstance(r, Drop)]
    return docs, drops


def test_reads_real_c4_records(samples_dir: Path):
    files = c4.discover_inputs(samples_dir / "c4")
    assert [f.name for f in files] == ["c4-sample.01.json.gz", "c4-sample.02.json.gz", "c4-sample.03.json.gz"]
    docs, drops = _split([r for f in files for r in c4.read_documents(f, f.name)])
    assert len(docs) == 30 and drops == []
    assert len({d["id"] for d in docs}) == 30
    first = docs[0]
    assert first["text"].startswith("The woman who died after falling from a bridge over the A21")
    assert first["url"].startswith("http") and first["timestamp"].startswith("2019-04")  # `date` accepted as timestamp
    assert all(d["source"] == "c4" and d["id"].startswith("c4-") for d in docs)


def test_ids_are_stable_across_reads(samples_dir: Path):
    path = samples_dir / "c4" / "c4-sample.02.json.gz"
    first = [d["id"] for d in c4.read_documents(path, path.name)]
    again = [d["id"] for d in c4.read_documents(path, path.name)]
    assert first == again


def test_corrupt_file_quarantines_bad_records_and_keeps_the_rest(samples_dir: Path, tmp_path: Path, caplog):
    real = gzip.decompress((samples_dir / "c4" / "c4-sample.01.json.gz").read_bytes()).splitlines()
    lines = [real[0], b"{not json", json.dumps({"url": "http://x"}).encode(), b"[1, 2, 3]",
             b'{"text": "caf\xe9"}', real[1], real[2]]
    payload = gzip.compress(b"\n".join(lines) + b"\n")
    bad = tmp_path / "bad.json.gz"
    bad.write_bytes(payload[: len(payload) - 40])  # truncated gzip: the last record is cut off
    docs, drops = _split(list(c4.read_documents(bad, bad.name)))
    reasons = [d.reason for d in drops]
    assert reasons[:4] == ["bad_json", "missing_text", "not_an_object", "bad_utf8"]
    assert reasons[-1] == "corrupt_file" and "bad.json.gz" in drops[-1].detail
    assert docs[0]["text"] == json.loads(real[0])["text"]
    assert json.loads(real[1])["text"] in [d["text"] for d in docs]
    assert all("bad.json.gz: line" in d.detail for d in drops[:4])


def test_oversized_line_is_skipped_without_loading_it(tmp_path: Path):
    path = tmp_path / "big.jsonl"
    path.write_bytes(json.dumps({"text": "x" * 5000}).encode() + b"\n" + json.dumps({"text": "small doc"}).encode() + b"\n")
    docs, drops = _split(list(c4.read_documents(path, path.name, max_doc_bytes=1000)))
    assert [d.reason for d in drops] == ["too_large"]
    assert [d["text"] for d in docs] == ["small doc"]


def test_empty_file_yields_nothing(tmp_path: Path):
    path = tmp_path / "empty.json.gz"
    path.write_bytes(gzip.compress(b""))
    assert list(c4.read_documents(path, path.name)) == []
