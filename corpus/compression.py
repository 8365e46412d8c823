"""Streaming decompression with a cap on decompressed bytes (a gzip/bz2 bomb stops, it never fills RAM)."""
from __future__ import annotations

import bz2
import gzip
import io
import lzma
from pathlib import Path
from typing import BinaryIO, Iterator

import zstandard

DEFAULT_MAX_DECOMPRESSED = 64 << 30
# Errors that mean "this compressed stream is damaged"; readers quarantine the rest of the file.
CORRUPT_STREAM_ERRORS = (EOFError, OSError, lzma.LZMAError, zstandard.ZstdError, ValueError)


class DecompressedSizeExceeded(OSError):
    pass


class _CappedReader(io.RawIOBase):
    def __init__(self, inner: BinaryIO, cap: int, name: str):
        self.inner, self.cap, self.name, self.seen = inner, cap, name, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = self.inner.readinto(buffer)
        self.seen += n or 0
        if self.seen > self.cap:
            raise DecompressedSizeExceeded(f"{self.name}: decompressed size exceeds the {self.cap}-byte cap")
        return n

    def close(self) -> None:
        self.inner.close()
        super().close()


def open_stream(path: Path, max_decompressed: int = DEFAULT_MAX_DECOMPRESSED) -> io.BufferedReader:
    """Open a possibly compressed file (by extension) as a buffered binary stream."""
    name = path.name.lower()
    if name.endswith(".gz"):
        inner: BinaryIO = gzip.open(path, "rb")
    elif name.endswith(".bz2"):
        inner = bz2.open(path, "rb")
    elif name.endswith(".xz"):
        inner = lzma.open(path, "rb")
    elif name.endswith(".zst"):
        inner = zstandard.ZstdDecompressor().stream_reader(open(path, "rb"), closefd=True)
    else:
        return open(path, "rb")
    return io.BufferedReader(_CappedReader(inner, max_decompressed, str(path)), buffer_size=1 << 20)


def iter_lines(stream: BinaryIO, max_line_bytes: int) -> Iterator[tuple[int, bytes | None]]:
    """Yield (line number, bytes) per line; a line over ``max_line_bytes`` yields ``None`` and is skipped
    without being held in memory."""
    lineno = 0
    while True:
        line = stream.readline(max_line_bytes + 1)
        if not line:
            return
        lineno += 1
        if len(line) > max_line_bytes and not line.endswith(b"\n"):
            while (rest := stream.readline(1 << 20)) and not rest.endswith(b"\n"):
                pass
            yield lineno, None
            continue
        yield lineno, line
