"""Developer tasks: `nox` runs lint, types and tests; `nox -s bench` runs the benchmarks."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nox

nox.options.sessions = ["lint", "types", "tests"]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = False

RUFF = "ruff==0.17.6"
MYPY = "mypy==2.4.1"
SOURCES = ["ora", "tests", "bench", "noxfile.py"]


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    session.install(RUFF)
    session.run("ruff", "check", *SOURCES)
    session.run("ruff", "format", "--check", *SOURCES)


@nox.session
def types(session: nox.Session) -> None:
    """mypy --strict on the package."""
    session.install("-e", ".[test]", MYPY)
    session.run("mypy", "--strict", "ora")


@nox.session
def tests(session: nox.Session) -> None:
    """The pytest suite on SQLite and PostgreSQL: unit, integration, end-to-end (python -m ora + emulator),
    interoperability and browser tests, several at a time.

    Locally the few long scenarios (marked `slow`) are left out; with CI=true (or ORA_ALL_TESTS=1) everything runs.
    ORA_TEST_WORKERS sets how many tests run at once (default 4: most of their time is spent waiting).
    """
    session.install("-e", ".[test]")
    _install_oidc_provider(session)
    everything = os.environ.get("CI", "").lower() == "true" or os.environ.get("ORA_ALL_TESTS") == "1"
    selection = [] if everything else ["-m", "not slow"]
    workers = os.environ.get("ORA_TEST_WORKERS", "4")
    session.run("pytest", "-n", workers, "-rs", *selection, *session.posargs)


def _install_oidc_provider(session: nox.Session) -> None:
    """oidc-provider from npm, exactly as its lockfile pins it, for the login interoperability tests.

    Without npm the tests skip with a reason (CI sets ORA_REQUIRE_OIDC_PROVIDER=1 and fails instead).
    """
    folder = Path("tests/interop/oidc_provider")
    installed = folder / "node_modules" / ".package-lock.json"
    lockfile = folder / "package-lock.json"
    if installed.is_file() and installed.stat().st_mtime >= lockfile.stat().st_mtime:
        return
    if shutil.which("npm") is None:
        session.warn("npm not found: the oidc-provider interoperability tests will be skipped")
        return
    session.run("npm", "ci", "--prefix", str(folder), "--no-audit", "--no-fund", "--loglevel=error", external=True)


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks against the local emulator and fakes; results on stdout and in bench/out/."""
    session.install("-e", ".[test,speedups,bench]")
    session.run("python", "-m", "bench", *session.posargs)
