"""Suite-wide: every test is held to Discord's API contract as the emulator checks it, and every test that asks
for `backend` (directly, or through `database_url`, `store` or the end-to-end `bot_env`) runs on SQLite and on
PostgreSQL.

PostgreSQL is a throwaway server this session starts itself (`ora.testing.postgres`: Debian's binaries, a
temporary folder, a free port), or the server of `ORA_TEST_DATABASE_URL` when set (a role that may create
databases; each test gets a database of its own). Without PostgreSQL the PostgreSQL half is skipped with a reason
the closing summary repeats; in CI (`CI=true`, or `ORA_REQUIRE_POSTGRES=1`) it fails instead. Tests marked
`one_backend` run on SQLite only: they exercise what no database takes part in (the gateway, Discord's rate
limits).

The Discord emulator (ora.testing.discord) checks every REST request, its own answers and every
INTERACTION_CREATE against Discord's OpenAPI document, counting them in ``contract.LOG``. A test that leaves
a violation behind fails (at teardown, listing it); a test that provokes one on purpose takes it with
``emulator.take_violations()``. The closing summary prints the counts, and the session fails if any
violation is left.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import attrs
import pytest

from ora.app import FEATURES
from ora.core.store import DatabaseUrl, Schema, Store
from ora.testing.discord.contract import LOG
from ora.testing.discord.openapi import SPEC_COMMIT, document
from ora.testing.postgres import PostgresServer, create_database, drop_database

BACKENDS = ("sqlite", "postgresql")
OUTCOMES = ("passed", "failed", "skipped", "xfailed")
SCHEMAS: list[Schema] = [feature.schema for feature in FEATURES if feature.schema is not None]
_BACKEND_IN_ID = re.compile(r"\[(?:[^\]]*-)?(sqlite|postgresql)(?:-[^\]]*)?\]$")
_RESULTS: Counter[tuple[str, str]] = Counter()
_POSTGRES_SKIP: list[str] = []


def postgres_required() -> bool:
    return os.environ.get("CI", "").lower() == "true" or os.environ.get("ORA_REQUIRE_POSTGRES") == "1"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "one_backend: runs on SQLite only (no database takes part in what it tests)")
    config.addinivalue_line("markers", "backends(*names): runs on these backends only (e.g. a PostgreSQL outage)")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        chosen = metafunc.definition.get_closest_marker("backends")
        if chosen is not None:
            backends = tuple(chosen.args)
        elif metafunc.definition.get_closest_marker("one_backend") is not None:
            backends = BACKENDS[:1]
        else:
            backends = BACKENDS
        metafunc.parametrize("backend", backends)


@attrs.frozen
class PostgresTarget:
    """Where PostgreSQL test databases are made; `server` is None for an outside server (ORA_TEST_DATABASE_URL)."""

    admin_url: str
    server: PostgresServer | None


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresTarget]:
    outside = os.environ.get("ORA_TEST_DATABASE_URL")
    if outside:
        yield PostgresTarget(outside, None)
        return
    server = PostgresServer.find()
    reason = "PostgreSQL is not installed (no initdb/pg_ctl; Debian: apt-get install postgresql)"
    if server is not None:
        try:
            server.start()
        except (OSError, RuntimeError) as error:
            reason = f"the test PostgreSQL server did not start: {error}"
            server.stop()
            server = None
    if server is None:
        if postgres_required():
            pytest.fail(f"{reason}; CI runs every test on PostgreSQL too", pytrace=False)
        _POSTGRES_SKIP.append(reason)
        pytest.skip(f"the PostgreSQL half of the suite is skipped: {reason} (or set ORA_TEST_DATABASE_URL)")
    try:
        yield PostgresTarget(server.admin_url, server)
    finally:
        server.stop()


@pytest.fixture
async def database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[DatabaseUrl]:
    """A fresh, empty database of `backend`: a new SQLite file, or a new PostgreSQL database."""
    if backend == "sqlite":
        yield DatabaseUrl.sqlite(tmp_path / "ora.db")
        return
    target: PostgresTarget = request.getfixturevalue("postgres")
    url = await create_database(target.admin_url)
    yield DatabaseUrl.parse(url)
    if target.server is None:  # an outside server keeps what it is given: clean up
        await drop_database(url, target.admin_url)


@pytest.fixture
async def store(database_url: DatabaseUrl) -> AsyncIterator[Store]:
    """The store with every feature's tables, on SQLite and on PostgreSQL."""
    opened = await Store.open(database_url, SCHEMAS)
    try:
        yield opened
    finally:
        await opened.close()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    match = _BACKEND_IN_ID.search(report.nodeid)
    if match is None:
        return
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        outcome = "xfailed" if hasattr(report, "wasxfail") else report.outcome
        _RESULTS[(match.group(1), outcome)] += 1


@pytest.fixture(autouse=True)
def _discord_contract() -> Iterator[None]:
    before = {id(v) for v in LOG.violations}
    yield
    left = [v for v in LOG.violations if id(v) not in before]
    if left:
        listed = "\n".join(v.describe() for v in left)
        pytest.fail(f"{len(left)} Discord API contract violation(s) left by this test:\n{listed}", pytrace=False)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _RESULTS:
        counts = []
        for backend in BACKENDS:
            shown = [
                f"{_RESULTS[(backend, outcome)]} {outcome}" for outcome in OUTCOMES if _RESULTS[(backend, outcome)]
            ]
            if shown:
                counts.append(f"{backend}: {', '.join(shown)}")
        terminalreporter.write_line(f"database backends: {'; '.join(counts)}")
        for reason in _POSTGRES_SKIP:
            terminalreporter.write_line(f"the PostgreSQL half was SKIPPED: {reason}")
    if not (LOG.requests or LOG.responses or LOG.dispatches):
        return
    mean_us = LOG.request_seconds / LOG.requests * 1e6 if LOG.requests else 0.0
    compiled_ms = document().compile_seconds * 1e3
    terminalreporter.write_line(
        f"Discord API contract (discord-api-spec {SPEC_COMMIT[:10]}): {LOG.requests} requests "
        f"(mean {mean_us:.0f} µs to check, plus {compiled_ms:.0f} ms compiling schemas once), "
        f"{LOG.responses} responses, {LOG.dispatches} interaction payloads checked; "
        f"{len(LOG.violations)} violation(s) left"
    )
    for violation in LOG.violations:
        terminalreporter.write_line(violation.describe())


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if LOG.violations and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
