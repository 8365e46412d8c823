"""A throwaway PostgreSQL server for tests: Debian's `postgresql` binaries (installed by scripts/setup.sh), a
fresh cluster in a temp dir, listening on a free 127.0.0.1 port only, password auth over TCP. As root it runs
as the `postgres` user (the server refuses to run as root)."""
from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Iterator

USER, PASSWORD, DB = "dagster", "corpus-test-password", "dagster"


def _bindir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise RuntimeError("PostgreSQL is not installed: run scripts/setup.sh (it installs Debian's postgresql)")
    return Path(found[-1]).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def postgres_server() -> Iterator[dict[str, str]]:
    """Yields the DAGSTER_PG_* environment of a running server with database ``dagster``; stops and removes it."""
    bindir, port = _bindir(), _free_port()
    as_root = os.geteuid() == 0
    run_as = ["runuser", "-u", "postgres", "--"] if as_root else []
    work = Path(tempfile.mkdtemp(prefix="corpus-pg-"))  # not under pytest's 0700 tmp_path: the server user reads it
    try:
        (work / "pwfile").write_text(PASSWORD + "\n")
        if as_root:
            entry = pwd.getpwnam("postgres")
            os.chown(work, entry.pw_uid, entry.pw_gid)
            os.chown(work / "pwfile", entry.pw_uid, entry.pw_gid)

        def run(*cmd: str) -> None:
            done = subprocess.run([*run_as, *cmd], capture_output=True, text=True, timeout=120,
                                  env=dict(os.environ, PGPASSWORD=PASSWORD))
            if done.returncode != 0:
                raise RuntimeError(f"{' '.join(cmd)} failed: {done.stdout}{done.stderr}")

        run(str(bindir / "initdb"), "-D", str(work / "data"), "-U", USER, f"--pwfile={work / 'pwfile'}",
            "--auth-host=scram-sha-256", "--auth-local=trust", "-E", "UTF8", "--no-sync")
        options = f"-p {port} -k {work} -c listen_addresses=127.0.0.1 -c fsync=off"
        run(str(bindir / "pg_ctl"), "-D", str(work / "data"), "-l", str(work / "server.log"), "-o", options, "-w", "start")
        try:
            run(str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", USER, DB)
            yield {"DAGSTER_PG_HOST": "127.0.0.1", "DAGSTER_PG_PORT": str(port), "DAGSTER_PG_USER": USER,
                   "DAGSTER_PG_PASSWORD": PASSWORD, "DAGSTER_PG_DB": DB}
        finally:
            run(str(bindir / "pg_ctl"), "-D", str(work / "data"), "-m", "fast", "-w", "stop")
    finally:
        shutil.rmtree(work, ignore_errors=True)
