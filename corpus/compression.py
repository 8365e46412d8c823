"""Streaming decompression that survives damage: a truncated or corrupt stream ends early and says so,
after every byte that decoded cleanly has been delivered, and a decompression bomb stops at a cap.

``open_stream(path)`` returns a buffered binary stream; after reading, ``stream_damage(stream)`` tells
whether (and why) it ended early, so a reader can quarantine the rest of the file and keep the rest.
"""
from __future__ import annotations

import bz2
import gzip
import io
import lzma
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

import zstandard

DEFAULT_MAX_DECOMPRESSED = 64 << 30
# What a tar archive read through tarfile raises on damaged input, and nothing else (a programming
# error, a disk error, must not become a "corrupt" drop): tarfile's own errors (it wraps most codec
# errors in ReadError), truncation (EOFError), and the codecs' errors it lets through: zlib's, a
# gzip member's bad CRC/length (BadGzipFile), lzma's. Not covered: bz2 reports damage as a bare
# OSError, indistinguishable from a disk error, so a .tar.bz2 damaged after its first block fails loudly.
TAR_ERRORS = (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile, lzma.LZMAError)
_READ_CHUNK = 1 << 16
_OUT_CHUNK = 1 << 20


class _Decoder(io.RawIOBase):
    """Incremental decompression, at most ``_OUT_CHUNK`` bytes per step (a 2 kB bz2 bomb never
    inflates to gigabytes in one call), multi-member aware (gzip/bz2 members, concatenated streams)."""

    def __init__(self, raw: BinaryIO, codec: "_Codec", cap: int, name: str):
        self.raw, self.factory, self.errors, self.cap, self.name = raw, codec.factory, codec.errors, cap, name
        self.decoder = codec.factory()
        self.input = b""
        self.pending = memoryview(b"")
        self.produced = 0
        self.more_output = False  # the last step filled its budget: the decoder may hold more
        self.started_member = False
        self.finished = False
        self.damage: str | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self.pending and not self.finished:
            self._fill()
        n = min(len(buffer), len(self.pending))
        buffer[:n] = self.pending[:n]
        self.pending = self.pending[n:]
        return n

    def _wants_input(self) -> bool:
        needs = getattr(self.decoder, "needs_input", True)  # zlib keeps its backlog in unconsumed_tail
        return not self.input and not self.more_output and needs

    def _fill(self) -> None:
        if self._wants_input():
            self.input = self.raw.read(_READ_CHUNK)
            if not self.input:
                if self.started_member and not self.decoder.eof:
                    self.damage = f"{self.name}: truncated compressed stream after {self.produced} bytes"
                self.finished = True
                return
        try:
            out = self._step()
        except self.errors as exc:
            self.damage = f"{self.name}: corrupt compressed data after {self.produced} bytes: {exc}"
            self.finished = True
            return
        self.produced += len(out)
        if self.produced > self.cap:
            self.damage = f"{self.name}: decompressed size exceeds the {self.cap}-byte cap (decompression bomb?)"
            self.finished = True
            return
        self.pending = memoryview(out)

    def _step(self) -> bytes:
        d = self.decoder
        self.started_member = self.started_member or bool(self.input)
        if isinstance(d, _ZLIB_DECOMPRESS):
            out = d.decompress(self.input, _OUT_CHUNK)
            self.input = d.unconsumed_tail
        else:
            out = d.decompress(self.input, max_length=_OUT_CHUNK)
            self.input = b""
        self.more_output = len(out) == _OUT_CHUNK
        if d.eof:  # the rest is the next member (zlib also leaves a copy of it in unconsumed_tail)
            self.input = d.unused_data
            self.decoder = self.factory()
            self.started_member = bool(self.input)
            self.more_output = False
        return out

    def close(self) -> None:
        self.raw.close()
        super().close()


class _ZstdReader(io.RawIOBase):
    """zstandard's streaming reader (bounded reads) with the same damage and cap reporting."""

    def __init__(self, raw: BinaryIO, cap: int, name: str):
        self.reader = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True, closefd=True)
        self.cap, self.name, self.produced, self.damage = cap, name, 0, None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self.damage:
            return 0
        try:
            n = self.reader.readinto(buffer)
        except zstandard.ZstdError as exc:
            self.damage = f"{self.name}: corrupt compressed data after {self.produced} bytes: {exc}"
            return 0
        self.produced += n
        if self.produced > self.cap:
            self.damage = f"{self.name}: decompressed size exceeds the {self.cap}-byte cap (decompression bomb?)"
            return 0
        return n

    def close(self) -> None:
        self.reader.close()
        super().close()


@dataclass(frozen=True)
class _Codec:
    """A decompressor factory and the errors its ``decompress`` raises on damaged data (only those:
    the call does no I/O, so bz2's OSError there is the codec's own "Invalid data stream")."""
    factory: Callable[[], object]
    errors: tuple[type[Exception], ...]


_ZLIB_DECOMPRESS = type(zlib.decompressobj())
_CODECS: dict[str, _Codec] = {
    ".gz": _Codec(lambda: zlib.decompressobj(16 + zlib.MAX_WBITS), (zlib.error,)),
    ".bz2": _Codec(bz2.BZ2Decompressor, (OSError,)),
    ".xz": _Codec(lzma.LZMADecompressor, (lzma.LZMAError,)),
}


def open_stream(path: Path, max_decompressed: int = DEFAULT_MAX_DECOMPRESSED) -> io.BufferedReader:
    """Open a possibly compressed file (by extension) as a buffered binary stream."""
    suffix = path.suffix.lower()
    if suffix == ".zst":
        return io.BufferedReader(_ZstdReader(open(path, "rb"), max_decompressed, str(path)), 1 << 20)
    if suffix not in _CODECS:
        return open(path, "rb")
    return io.BufferedReader(_Decoder(open(path, "rb"), _CODECS[suffix], max_decompressed, str(path)), 1 << 20)


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
