"""Run `python -m ora` as a real process for end-to-end tests and benchmarks.

The process gets a clean environment (only what the test passes, plus PATH), a working directory of its
own (so no stray `.env` is read), and its output is collected line by line so a test can await a log line
instead of sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Self

READY_LINE = re.compile(r"ready: commands synced")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class BotProcess:
    """One `python -m ora` child process; always `stop()` it (or use `async with`)."""

    def __init__(
        self,
        env: Mapping[str, str],
        *,
        cwd: Path,
        python: str = sys.executable,
        args: tuple[str, ...] = ("-m", "ora"),
    ) -> None:
        self.env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONUNBUFFERED": "1", **env}
        self.cwd = cwd
        self._command = (python, *args)
        self._process: asyncio.subprocess.Process | None = None
        self.stdout_lines: list[str] = []
        self.stderr_lines: list[str] = []
        self._changed = asyncio.Condition()
        self._readers: list[asyncio.Task[None]] = []
        self.started_at: float = 0.0

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def process(self) -> asyncio.subprocess.Process:
        if self._process is None:
            raise RuntimeError("the bot process was not started")
        return self._process

    @property
    def stdout(self) -> str:
        return "\n".join(self.stdout_lines)

    @property
    def stderr(self) -> str:
        return "\n".join(self.stderr_lines)

    @property
    def returncode(self) -> int | None:
        return self.process.returncode

    async def start(self) -> None:
        self.started_at = asyncio.get_running_loop().time()
        self._process = await asyncio.create_subprocess_exec(
            *self._command,
            cwd=self.cwd,
            env=self.env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert self._process.stdout is not None
        assert self._process.stderr is not None
        self._readers = [
            asyncio.create_task(self._read(self._process.stdout, self.stdout_lines)),
            asyncio.create_task(self._read(self._process.stderr, self.stderr_lines)),
        ]

    async def _read(self, stream: asyncio.StreamReader, into: list[str]) -> None:
        while True:
            line = await stream.readline()
            async with self._changed:
                if line:
                    into.append(line.decode("utf-8", "replace").rstrip("\n"))
                self._changed.notify_all()
            if not line:
                return

    def _exited(self) -> bool:
        return self._process is not None and all(reader.done() for reader in self._readers)

    async def wait_for_line(self, pattern: str | re.Pattern[str], *, timeout: float = 20.0, start: int = 0) -> str:
        """The first stdout line from index `start` matching `pattern`; fails if the process exits first."""
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        checked = start

        def find() -> str | None:
            nonlocal checked
            while checked < len(self.stdout_lines):
                line = self.stdout_lines[checked]
                checked += 1
                if regex.search(line):
                    return line
            return None

        async with asyncio.timeout(timeout):
            async with self._changed:
                while True:
                    found = find()
                    if found is not None:
                        return found
                    if self._exited():
                        raise AssertionError(
                            f"the bot exited ({self._process and self._process.returncode}) before logging "
                            f"{regex.pattern!r}.\nstdout:\n{self.stdout[-4000:]}\nstderr:\n{self.stderr[-4000:]}"
                        )
                    await self._changed.wait()

    async def wait_ready(self, timeout: float = 30.0) -> float:
        """Wait for 'ready: commands synced'; returns seconds since `start()`."""
        await self.wait_for_line(READY_LINE, timeout=timeout)
        return asyncio.get_running_loop().time() - self.started_at

    async def wait_exit(self, timeout: float = 15.0) -> int:
        async with asyncio.timeout(timeout):
            code = await self.process.wait()
            await asyncio.gather(*self._readers)
        return code

    async def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        """Send `sig` and wait for the exit; SIGKILL after `timeout`. Returns the exit code."""
        if self._process is None:
            return 0
        if self._process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._process.send_signal(sig)
            try:
                return await self.wait_exit(timeout)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self._process.kill()
                await self._process.wait()
                raise
        await asyncio.gather(*self._readers, return_exceptions=True)
        return self._process.returncode

    def rss_bytes(self) -> int:
        """Resident set size now (Linux)."""
        status = Path(f"/proc/{self.pid}/status").read_text()
        match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
        return int(match.group(1)) * 1024 if match else 0

    def peak_rss_bytes(self) -> int:
        """Peak resident set size so far (Linux VmHWM)."""
        status = Path(f"/proc/{self.pid}/status").read_text()
        match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
        return int(match.group(1)) * 1024 if match else 0

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        with contextlib.suppress(TimeoutError):
            await self.stop()
