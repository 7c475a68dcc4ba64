"""Developer tasks: `nox` runs lint, types and tests; `nox -s bench` runs the benchmarks."""

from __future__ import annotations

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
    """The whole pytest suite: unit, integration, end-to-end (python -m ora + emulator) and browser tests."""
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks against the local emulator and fakes; results on stdout and in bench/out/."""
    session.install("-e", ".[test,speedups,bench]")
    session.run("python", "-m", "bench", *session.posargs)
