import json
import socket
import time
from pathlib import Path

import pytest

from corpus import inputs
from corpus.inputs import SAMPLES_MANIFEST, DownloadError, HostUnreachable, download, load_manifest, source_root
from tests.httpserver import serve


def _local_manifest(tmp_path: Path, base: str, sources=("c4", "books")) -> Path:
    """The samples manifest (every entry pinned), re-pointed at the loopback server serving ../shared/samples."""
    entries = [e for e in load_manifest(SAMPLES_MANIFEST) if e.source in sources]
    files = [dict(e.__dict__, url=f"{base}/{e.source}/{e.relpath}") for e in entries]
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps({"files": files}))
    return path


def test_default_manifest_downloads_real_files_with_checksums(samples_dir, tmp_path):
    with serve(samples_dir) as (base, hits):
        manifest = _local_manifest(tmp_path, base)
        root = source_root("c4", None, tmp_path / "cache", manifest)
        assert sorted(p.name for p in root.iterdir()) == ["c4-sample.01.json.gz", "c4-sample.02.json.gz", "c4-sample.03.json.gz"]
        assert (root / "c4-sample.01.json.gz").read_bytes() == (samples_dir / "c4" / "c4-sample.01.json.gz").read_bytes()
        n = len(hits)
        source_root("c4", None, tmp_path / "cache", manifest)  # cached: nothing fetched again
        assert len(hits) == n


def test_raw_dir_wins_and_missing_source_folder_is_empty(samples_dir, tmp_path):
    assert source_root("c4", samples_dir, tmp_path, inputs.DEFAULT_MANIFEST) == samples_dir / "c4"
    assert not (source_root("github", samples_dir, tmp_path, inputs.DEFAULT_MANIFEST)).exists()


def test_dropped_connection_resumes_with_a_range_request(samples_dir, tmp_path):
    rel = "books/slavaburdun__Diploma/pg42671.txt"
    real = (samples_dir / rel).read_bytes()
    with serve(samples_dir, faults={rel: "drop_once"}) as (base, hits):
        out = download(f"{base}/{rel}", tmp_path / "book.txt", size=len(real),
                       sha256=inputs.sha256_file(samples_dir / rel), backoff_s=0.01)
    assert out.read_bytes() == real
    assert hits[0][1] is None and hits[1][1] == f"bytes={len(real[: len(real) // 2])}-"
    assert not (tmp_path / "book.txt.part").exists()


def test_corrupted_download_fails_the_checksum_and_leaves_nothing(samples_dir, tmp_path):
    rel = "c4/c4-sample.01.json.gz"
    with serve(samples_dir, faults={rel: "corrupt"}) as (base, _):
        with pytest.raises(DownloadError, match="sha256"):
            download(f"{base}/{rel}", tmp_path / "x.gz", sha256=inputs.sha256_file(samples_dir / rel),
                     retries=1, backoff_s=0.01)
    assert not (tmp_path / "x.gz").exists()


def test_size_limit_and_missing_file(samples_dir, tmp_path):
    with serve(samples_dir) as (base, _):
        with pytest.raises(DownloadError, match="limit"):
            download(f"{base}/books/clocasto__HaikuGenerator/pg1342.txt", tmp_path / "big", max_bytes=1000, retries=0)
        with pytest.raises(DownloadError, match="HTTP 404"):
            download(f"{base}/nope.txt", tmp_path / "nope", retries=0)


def test_manifest_rejects_paths_escaping_the_cache(tmp_path):
    bad = tmp_path / "m.json"
    bad.write_text(json.dumps({"files": [{"source": "c4", "relpath": "../../etc/x", "url": "http://127.0.0.1/x"}]}))
    with pytest.raises(ValueError, match="inside the cache"):
        load_manifest(bad)


def _refused_url() -> str:
    """A loopback port nothing listens on: connecting to it is refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/c4/c4-sample.01.json.gz"


@pytest.mark.parametrize(("url", "host", "why"), [
    (_refused_url(), "127.0.0.1", "connection refused"),
    ("http://nonexistent.invalid/c4/c4-sample.01.json.gz", "nonexistent.invalid", "its name does not resolve"),
])
def test_an_unreachable_host_fails_at_once_with_one_line_naming_it_and_corpus_raw_dir(tmp_path, url, host, why):
    started = time.monotonic()
    with pytest.raises(HostUnreachable) as failed:
        download(url, tmp_path / "x.gz")  # the default retries and backoff: 31 s of waiting if they applied
    assert time.monotonic() - started < 10
    message = str(failed.value)
    assert "\n" not in message and failed.value.host == host
    assert f"host {host} is unreachable ({why}" in message and "CORPUS_RAW_DIR=" in message
    assert failed.value.__cause__ is None and failed.value.__suppress_context__  # the line, not a chained trace
    assert not (tmp_path / "x.gz").exists() and not (tmp_path / "x.gz.part").exists()


def test_the_default_manifest_offline_names_the_host_and_corpus_raw_dir(tmp_path):
    offline = [dict(e.__dict__, url=e.url.replace("://", "://nonexistent.invalid/", 1)) for e in load_manifest()]
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"files": offline}))
    with pytest.raises(HostUnreachable, match=r"host nonexistent\.invalid is unreachable .*CORPUS_RAW_DIR="):
        source_root("c4", None, tmp_path / "cache", manifest)


def test_server_errors_are_retried_a_bounded_number_of_times(samples_dir, tmp_path):
    rel = "c4/c4-sample.01.json.gz"
    with serve(samples_dir, faults={rel: "error_503"}) as (base, hits):
        started = time.monotonic()
        with pytest.raises(DownloadError, match="failed after 3 attempts: HTTP Error 503") as failed:
            download(f"{base}/{rel}", tmp_path / "x.gz", retries=2, backoff_s=0.01)
    assert not isinstance(failed.value, HostUnreachable)
    assert [h[0] for h in hits] == [rel] * 3 and time.monotonic() - started < 10
