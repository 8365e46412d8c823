"""Streaming decompression that survives damage: a truncated or corrupt stream ends early and says so,
after every byte that decoded cleanly has been delivered, and a decompression bomb stops at a cap.

``open_stream(path)`` returns a buffered binary stream; after reading, ``stream_damage(stream)`` tells
whether (and why) it ended early, so a reader can quarantine the rest of the file and keep the rest.
"""
from __future__ import annotations

import bz2
import io
import lzma
import zlib
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

import zstandard

DEFAULT_MAX_DECOMPRESSED = 64 << 30
# What decompressors (ours, and those inside tarfile, bz2, lzma, zstandard) raise on damaged input.
CORRUPT_STREAM_ERRORS = (zlib.error, OSError, EOFError, lzma.LZMAError, zstandard.ZstdError, ValueError)
_READ_CHUNK = 1 << 16


class _Decoder(io.RawIOBase):
    """Incremental decompression over any *decompressobj*-like factory, multi-member aware."""

    def __init__(self, raw: BinaryIO, factory: Callable[[], object], cap: int, name: str):
        self.raw, self.factory, self.cap, self.name = raw, factory, cap, name
        self.decoder = factory()
        self.pending = b""
        self.produced = 0
        self.finished = False
        self.damage: str | None = None
        self.started_member = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self.pending and not self.finished:
            self._fill()
        n = min(len(buffer), len(self.pending))
        buffer[:n] = self.pending[:n]
        self.pending = self.pending[n:]
        return n

    def _fill(self) -> None:
        chunk = self.raw.read(_READ_CHUNK)
        if not chunk:
            if self.started_member and not self.decoder.eof:
                self.damage = f"{self.name}: truncated compressed stream after {self.produced} bytes"
            self.finished = True
            return
        try:
            while chunk:
                self.started_member = True
                out = self.decoder.decompress(chunk)
                self._emit(out)
                if self.decoder.eof:
                    chunk = self.decoder.unused_data
                    self.decoder = self.factory()
                    self.started_member = bool(chunk)
                else:
                    chunk = b""
        except CORRUPT_STREAM_ERRORS as exc:
            self.damage = f"{self.name}: corrupt compressed data after {self.produced} bytes: {exc}"
            self.finished = True

    def _emit(self, out: bytes) -> None:
        self.produced += len(out)
        if self.produced > self.cap:
            self.damage = f"{self.name}: decompressed size exceeds the {self.cap}-byte cap (decompression bomb?)"
            self.finished = True
            return
        self.pending += out

    def close(self) -> None:
        self.raw.close()
        super().close()


class _ZstdDecoder:
    """zstandard's decompressobj with the ``eof``/``unused_data`` surface the others have."""

    def __init__(self):
        self._d = zstandard.ZstdDecompressor().decompressobj()

    def decompress(self, data: bytes) -> bytes:
        return self._d.decompress(data)

    @property
    def eof(self) -> bool:
        return bool(getattr(self._d, "eof", False))

    @property
    def unused_data(self) -> bytes:
        return getattr(self._d, "unused_data", b"")


_FACTORIES: dict[str, Callable[[], object]] = {
    ".gz": lambda: zlib.decompressobj(16 + zlib.MAX_WBITS),
    ".bz2": bz2.BZ2Decompressor,
    ".xz": lzma.LZMADecompressor,
    ".zst": _ZstdDecoder,
}


def open_stream(path: Path, max_decompressed: int = DEFAULT_MAX_DECOMPRESSED) -> io.BufferedReader:
    """Open a possibly compressed file (by extension) as a buffered binary stream."""
    suffix = path.suffix.lower()
    if suffix not in _FACTORIES:
        return open(path, "rb")
    return io.BufferedReader(_Decoder(open(path, "rb"), _FACTORIES[suffix], max_decompressed, str(path)), 1 << 20)


def stream_damage(stream: BinaryIO) -> str | None:
    """Why the stream ended early (truncation, corruption, size cap), or None if it ended cleanly."""
    return getattr(getattr(stream, "raw", None), "damage", None)


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
