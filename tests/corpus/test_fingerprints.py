"""Content fingerprints are cached by (path, size, mtime_ns): fingerprinting an unchanged file again reads
none of its bytes; a touched or changed file is read again; the build of an unchanged input reads it once."""
import os
import shutil
import time
from pathlib import Path

import dagster as dg
import pytest
import xxhash

from assets.resources import CorpusStorage, RawInputs
from assets.sources import ingest_assets
from corpus import fingerprints
from corpus.fingerprints import FingerprintCache, content_fingerprint


@pytest.fixture
def reads(monkeypatch) -> list[str]:
    """The files corpus.fingerprints opens, in order."""
    opened: list[str] = []

    def counting_open(path, *args, **kwargs):
        opened.append(Path(path).name)
        return open(path, *args, **kwargs)

    monkeypatch.setattr(fingerprints, "open", counting_open, raising=False)
    return opened


def _aged(path: Path, seconds_ago: float = 60) -> Path:
    """Give a file an mtime in the past: one modified in the last RACY_S seconds is never cached."""
    then = time.time() - seconds_ago
    os.utime(path, (then, then))
    return path


def test_an_unchanged_file_is_not_read_again_and_a_touched_or_changed_one_is(tmp_path, reads, samples_dir):
    raw = _aged(Path(shutil.copy(samples_dir / "c4" / "c4-sample.01.json.gz", tmp_path / "a.json.gz")))
    expected = xxhash.xxh3_128(raw.read_bytes()).hexdigest()
    db = tmp_path / "work" / "content_fingerprints.sqlite"
    with FingerprintCache(db) as cache:
        assert content_fingerprint(raw, cache) == expected
    assert reads == ["a.json.gz"]
    with FingerprintCache(db) as cache:  # a rerun: a new process, the same cache
        assert content_fingerprint(raw, cache) == expected
        assert reads == ["a.json.gz"]
        _aged(raw, 30)  # touched: same bytes, new mtime
        assert content_fingerprint(raw, cache) == expected
        assert reads == ["a.json.gz"] * 2
        data = bytearray(raw.read_bytes())
        data[100] ^= 0xFF  # same size, other bytes
        raw.write_bytes(bytes(data))
        _aged(raw, 20)
        assert content_fingerprint(raw, cache) == xxhash.xxh3_128(bytes(data)).hexdigest() != expected
        assert reads == ["a.json.gz"] * 3
        assert content_fingerprint(raw, cache) == xxhash.xxh3_128(bytes(data)).hexdigest()
        assert reads == ["a.json.gz"] * 3


def test_a_file_modified_just_now_is_not_cached(tmp_path, reads):
    raw = tmp_path / "fresh.txt"
    raw.write_text("written in this clock tick")
    with FingerprintCache(tmp_path / "fp.sqlite") as cache:
        first = content_fingerprint(raw, cache)
        assert content_fingerprint(raw, cache) == first
    assert reads == ["fresh.txt", "fresh.txt"]


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return _aged(path)


def test_a_folder_rereads_only_its_changed_file(tmp_path, reads):
    repo = tmp_path / "repo"
    (repo / "src").mkdir(parents=True)
    for name, text in [("LICENSE", "MIT"), ("src/a.py", "a = 1\n"), ("src/b.py", "b = 2\n")]:
        _write(repo / name, text)
    with FingerprintCache(tmp_path / "fp.sqlite") as cache:
        first = content_fingerprint(repo, cache)
        assert sorted(reads) == ["LICENSE", "a.py", "b.py"]
        assert content_fingerprint(repo, cache) == first and len(reads) == 3
        _write(repo / "src" / "b.py", "b = 3\n")
        second = content_fingerprint(repo, cache)
        assert second != first and reads[3:] == ["b.py"]
        (repo / "src" / "b.py").rename(repo / "src" / "c.py")  # same bytes, another name
        assert content_fingerprint(repo, cache) not in (first, second) and reads[4:] == ["c.py"]


def test_a_noop_rerun_of_an_ingest_asset_reads_no_raw_byte(tmp_path, reads, samples_dir):
    c4 = next(a for a in ingest_assets if a.key.path == ["c4_documents"])
    resources = {"corpus_storage": CorpusStorage(data_root=str(tmp_path / "data")),
                 "raw_inputs": RawInputs(raw_dir=str(samples_dir))}
    assert dg.materialize([c4], resources=resources).success
    first = sorted(reads)
    assert first == ["c4-sample.01.json.gz", "c4-sample.02.json.gz", "c4-sample.03.json.gz"]
    assert dg.materialize([c4], resources=resources).success
    assert sorted(reads) == first  # nothing opened for fingerprinting the second time
