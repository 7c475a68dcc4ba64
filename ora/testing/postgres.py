"""A throwaway PostgreSQL server for tests: Debian's `postgresql` binaries, a cluster in a temporary folder, a free
port on 127.0.0.1, a fresh database per test.

    server = PostgresServer.find()        # None when no PostgreSQL is installed
    server.start()                        # initdb + pg_ctl start (as an unprivileged user when run as root)
    url = await server.create_database()  # postgresql://ora@127.0.0.1:<port>/test_<random>
    ...
    server.stop()                         # pg_ctl stop, folder removed

PostgreSQL refuses to run as root; as root the cluster is owned by the `postgres` system user (the Debian package
creates it), or by an `ora-test` user made with `useradd` when there is none. The server runs without fsync (a
test database need not survive a power cut), which makes it several times faster.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import attrs

START_TIMEOUT = 60
_FAST = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def find_bin_dir() -> Path | None:
    """The folder holding initdb and pg_ctl: on PATH, or Debian's /usr/lib/postgresql/<version>/bin."""
    on_path = shutil.which("initdb")
    if on_path and shutil.which("pg_ctl"):
        return Path(on_path).resolve().parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda path: int(Path(path).parts[4]))
    return Path(candidates[-1]).parent if candidates else None


def _unprivileged_user() -> str:
    for name in ("postgres", "ora-test"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    subprocess.run(["useradd", "--system", "--no-create-home", "ora-test"], check=True, capture_output=True)
    return "ora-test"


@attrs.define
class PostgresServer:
    bin_dir: Path
    user: str = "ora"
    port: int = 0
    folder: Path | None = None
    _run_as: str | None = None
    _options: str = ""

    @classmethod
    def find(cls) -> PostgresServer | None:
        bin_dir = find_bin_dir()
        return cls(bin_dir) if bin_dir is not None else None

    @property
    def admin_url(self) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/postgres"

    def _command(self, *args: str) -> list[str]:
        if self._run_as is None:
            return list(args)
        return ["runuser", "-u", self._run_as, "--", *args]

    def _run(self, *args: str) -> None:
        result = subprocess.run(
            self._command(*args), capture_output=True, text=True, timeout=START_TIMEOUT, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:2])} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")

    def start(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="ora-postgres-"))
        if os.geteuid() == 0:
            self._run_as = _unprivileged_user()
            account = pwd.getpwnam(self._run_as)
            os.chown(self.folder, account.pw_uid, account.pw_gid)
        data = self.folder / "data"
        self._run(
            str(self.bin_dir / "initdb"), "-D", str(data), "-U", self.user, "-A", "trust", "-E", "UTF8", "--no-sync"
        )
        self.port = _free_port()
        self._options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 {_FAST}"
        self.resume()

    def stop(self) -> None:
        if self.folder is None:
            return
        with contextlib.suppress(Exception):
            self._pg_ctl("-m", "immediate", "-w", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder = None

    def _pg_ctl(self, *args: str) -> None:
        assert self.folder is not None
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.folder / "data"), *args)

    def pause(self) -> None:
        """Stop the server (fast shutdown: clients lose their connections); `resume` starts it again."""
        self._pg_ctl("-m", "fast", "-w", "stop")

    def resume(self) -> None:
        """Start the (stopped) server, on its port with its data."""
        assert self.folder is not None
        self._pg_ctl("-l", str(self.folder / "server.log"), "-o", self._options, "-w", "-t", "60", "start")

    async def create_database(self) -> str:
        return await create_database(self.admin_url)


async def create_database(admin_url: str) -> str:
    """A new, empty database on the server of `admin_url` (which may create databases); its URL."""
    import asyncpg  # noqa: PLC0415 - only tests on PostgreSQL need it

    name = f"test_{secrets.token_hex(6)}"
    connection = await asyncpg.connect(admin_url, timeout=10)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    base, _, _ = admin_url.rpartition("/")
    return f"{base}/{name}"


async def drop_database(url: str, admin_url: str) -> None:
    import asyncpg  # noqa: PLC0415

    name = url.rpartition("/")[2].split("?")[0]
    connection = await asyncpg.connect(admin_url, timeout=10)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()
