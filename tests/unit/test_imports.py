"""What `python -m ora` does not import unless it is used: the PostgreSQL driver, environs without a `.env` file,
and the SQLite driver before the store opens (each costs memory against the 64 MiB idle goal)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CHECK = """
import sys
from ora.app import configure
configure({"DISCORD_BOT_TOKEN": "MTIzNDU2Nzg5MDEyMzQ1Njc4.AGVtdQ.fake-hmac-abcdefghij", "DISCORD_APP_ID": "1"})
from ora.core.config import environment
environment()
print(sorted(name for name in ("asyncpg", "environs", "marshmallow", "aiosqlite") if name in sys.modules))
"""


def loaded(cwd: Path) -> str:
    command = [sys.executable, "-c", CHECK]
    result = subprocess.run(command, check=False, cwd=cwd, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_optional_drivers_and_environs_are_not_imported_when_unused(tmp_path: Path) -> None:
    assert loaded(tmp_path) == "[]"


def test_environs_reads_a_dotenv_file_when_there_is_one(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("LLM_MODEL=from-the-file\n")
    assert loaded(tmp_path) == "['environs', 'marshmallow']"


def test_postgresql_without_its_driver_is_a_configuration_error(tmp_path: Path) -> None:
    script = """
import sys
sys.modules["asyncpg"] = None  # as if `pip install .` without the postgres extra
from ora.app import configure
from ora.core.config import ConfigError
try:
    configure({"DISCORD_BOT_TOKEN": "MTIzNDU2Nzg5MDEyMzQ1Njc4.AGVtdQ.fake-hmac-abcdefghij", "DISCORD_APP_ID": "1",
               "DATABASE_URL": "postgresql://ora:s3cret-password@127.0.0.1:5432/ora"})
except ConfigError as error:
    print(error.render())
"""
    result = subprocess.run(
        [sys.executable, "-c", script], check=False, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert (
        "DATABASE_URL names PostgreSQL but its driver is not installed: pip install 'ora-bot[postgres]'"
        in result.stdout
    )
    assert "s3cret-password" not in result.stdout
