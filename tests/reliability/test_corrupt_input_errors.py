"""Only a codec's or parser's own errors make a "corrupt" drop: a programming error or a disk error in
the middle of reading propagates (the run fails loudly) instead of quietly quarantining the file."""
from __future__ import annotations

import bz2
import errno
import gzip
import io
import lzma
import tarfile
import zlib

import py7zr
import pytest
import zstandard

from corpus.sources import arxiv, books, c4, commoncrawl, github, stackexchange
from tests.reliability.fixtures import ARXIV_PAPER, BOOK_SAMPLE, SE_SITE, reasons, split

pytestmark = pytest.mark.timeout(60)
BUGS = [ValueError("a bug"), KeyError("a bug"), TypeError("a bug"), OSError(errno.EIO, "a disk error")]


class _BuggyDecoder:
    """Stands in for zlib's decompressor and fails the way our own code or a broken disk would."""
    needs_input, eof, unused_data = True, False, b""

    def __init__(self, error: Exception):
        self.error = error

    def decompress(self, data: bytes, max_length: int = -1) -> bytes:
        raise self.error


@pytest.mark.parametrize("error", BUGS, ids=lambda e: type(e).__name__)
def test_an_error_that_is_not_the_codecs_propagates_out_of_a_gzip_reader(samples_dir, monkeypatch, error):
    monkeypatch.setattr(zlib, "decompressobj", lambda *args: _BuggyDecoder(error))
    with pytest.raises(type(error), match="a bug|a disk error"):
        list(c4.read_documents(samples_dir / "c4" / "c4-sample.01.json.gz", "c4-sample.01.json.gz"))


@pytest.mark.parametrize("error", BUGS, ids=lambda e: type(e).__name__)
def test_an_error_that_is_not_py7zrs_propagates_out_of_the_stackexchange_reader(samples_dir, tmp_path, monkeypatch,
                                                                                   error):
    path = tmp_path / "conlang.meta.stackexchange.com.7z"
    with py7zr.SevenZipFile(path, "w") as archive:
        archive.write(samples_dir / SE_SITE / "Posts.xml", "Posts.xml")

    def broken(self, *args, **kwargs):
        raise error

    monkeypatch.setattr(py7zr.SevenZipFile, "extract", broken)
    with pytest.raises(type(error)):
        list(stackexchange.read_documents(path, path.name, spill_dir=str(tmp_path / "spill")))


@pytest.mark.parametrize("error", [KeyError("a bug"), PermissionError(errno.EACCES, "a disk error")],
                         ids=lambda e: type(e).__name__)
def test_an_error_that_is_not_tarfiles_propagates_out_of_the_tar_readers(samples_dir, tmp_path, monkeypatch, error):
    paper = tmp_path / "paper.tar"
    with tarfile.open(paper, "w") as tar:
        tar.add(samples_dir / ARXIV_PAPER, "astropy-v2.0")
    repo = tmp_path / "repo.tar.gz"
    with tarfile.open(repo, "w:gz") as tar:
        tar.add(samples_dir / ARXIV_PAPER, "repo")

    def broken(self):
        raise error

    monkeypatch.setattr(tarfile.TarFile, "next", broken)
    with pytest.raises(type(error)):
        list(arxiv.read_documents(paper, paper.name))
    with pytest.raises(type(error)):
        list(github.read_documents(repo, repo.name))


def _damaged(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1:]


@pytest.mark.parametrize("suffix,compress,cut,reason", [
    (".gz", lambda d: gzip.compress(d, mtime=0), False, "while decompressing data"),
    (".gz", lambda d: gzip.compress(d, mtime=0), True, "truncated"),
    (".bz2", bz2.compress, False, "Invalid data stream"),  # bz2's own OSError still counts
    (".bz2", bz2.compress, True, "truncated"),
    (".xz", lzma.compress, False, "Corrupt input data"),
    (".xz", lzma.compress, True, "truncated"),
    (".zst", lambda d: zstandard.ZstdCompressor().compress(d), False, "zstd decompress error"),
])
def test_really_damaged_compressed_books_are_still_counted_drops(samples_dir, tmp_path, suffix, compress, cut, reason):
    data = compress((samples_dir / BOOK_SAMPLE).read_bytes())
    path = tmp_path / f"pg42671.txt{suffix}"
    path.write_bytes(data[: len(data) // 2] if cut else _damaged(data))
    docs, drops = split(books.read_documents(path, path.name))
    assert docs == [] and reasons(drops) == ["corrupt_file"]
    assert str(path) in drops[0].detail and reason in drops[0].detail


def test_the_samples_clipped_warc_is_still_a_counted_truncation(samples_dir):
    path = samples_dir / "commoncrawl" / "bad_inputs" / "clipped.warc.gz"
    docs, drops = split(commoncrawl.read_documents(path, path.name))
    assert docs == [] and reasons(drops) == ["truncated_gzip"]


def test_a_damaged_tar_is_still_a_counted_corrupt_archive(samples_dir, tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(samples_dir / ARXIV_PAPER, "repo")
    path = tmp_path / "repo.tar.gz"
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    _, drops = split(github.read_documents(path, path.name))
    assert "corrupt_archive" in reasons(drops)
