"""A loopback HTTP server for tests: serves a folder with Range support, and can misbehave on purpose."""
from __future__ import annotations

import contextlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator


class _Handler(BaseHTTPRequestHandler):
    root: Path
    faults: dict  # path -> "drop_once" | "corrupt" | "error_503"
    hits: list

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        rel = self.path.split("?", 1)[0].lstrip("/")
        self.hits.append((rel, self.headers.get("Range")))
        target = (self.root / rel).resolve()
        if not target.is_relative_to(self.root) or not target.is_file():
            self.send_error(404)
            return
        data = target.read_bytes()
        fault = self.faults.get(rel)
        if fault == "error_503":
            self.send_error(503)
            return
        if fault == "corrupt":
            data = data[:100] + bytes(b ^ 0xFF for b in data[100:200]) + data[200:]
        start, end, partial = 0, len(data) - 1, False
        if rng := self.headers.get("Range"):  # bytes=START- or bytes=START-END (END inclusive): 206
            first, _, last = rng.removeprefix("bytes=").partition("-")
            start, end, partial = int(first), min(int(last), len(data) - 1) if last else len(data) - 1, True
        body = data[start:end + 1]
        self.send_response(206 if partial else 200)
        self.send_header("Content-Length", str(len(body)))
        if partial:
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        self.end_headers()
        if fault == "drop_once":
            self.faults[rel] = None
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.connection.shutdown(2)  # connection dropped midway
            return
        self.wfile.write(body)


@contextlib.contextmanager
def serve(root: Path, faults: dict | None = None) -> Iterator[tuple[str, list]]:
    """Serve ``root`` on 127.0.0.1; yields (base URL, list of (path, Range header) requests)."""
    hits: list = []
    handler = type("Handler", (_Handler,), {"root": root.resolve(), "faults": dict(faults or {}), "hits": hits})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", hits
    finally:
        server.shutdown()
        server.server_close()
