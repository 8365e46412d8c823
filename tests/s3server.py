"""An in-process S3 (moto's server, loopback only) for the tests of a data root on an object store."""
import contextlib
import urllib.request
from pathlib import Path
from typing import Iterator

import pyarrow.fs as pafs
from moto.server import ThreadedMotoServer

from corpus import catalog, storage


@contextlib.contextmanager
def s3_bucket(monkeypatch, bucket: str = "corpus") -> Iterator[pafs.S3FileSystem]:
    """A fresh bucket; the standard AWS variables point pyarrow (``FileSystem.from_uri``) at the server."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        # moto keeps its buckets in process-wide state: start from none
        urllib.request.urlopen(urllib.request.Request(f"http://{host}:{port}/moto-api/reset", method="POST")).close()
        env = dict(AWS_ENDPOINT_URL=f"http://{host}:{port}", AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test",
                   AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true")
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        fs = pafs.S3FileSystem(endpoint_override=env["AWS_ENDPOINT_URL"], region="us-east-1", allow_bucket_creation=True)
        fs.create_dir(bucket)
        yield fs
    finally:
        server.stop()


def files(fs: pafs.FileSystem, root: str) -> dict[str, bytes]:
    """Every file under ``root`` (path relative to it -> bytes); directory markers are not files."""
    infos = fs.get_file_info(pafs.FileSelector(root, allow_not_found=True, recursive=True))
    out = {}
    for info in infos:
        if info.type == pafs.FileType.File:
            with fs.open_input_stream(info.path) as f:
                out[info.path[len(root):].lstrip("/")] = f.read()
    return out


def local_trees(root: Path) -> dict[str, bytes]:
    """Every file of the part trees under a local data root, keyed as ``files`` keys a bucket's."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for tree in storage.TREES
            for p in (root / tree).rglob("*") if p.is_file()}


def documents(layout: storage.Layout) -> list[tuple]:
    """The catalog's ``documents`` rows, through a new connection (the views must work when reopened)."""
    con = catalog.connect(layout, read_only=True)
    try:
        return con.execute("SELECT * FROM documents").fetchall()
    finally:
        con.close()
