"""DATABASE_URL: which backend and where, with clear errors that never quote a password."""

from __future__ import annotations

from pathlib import Path

import pytest

from ora.app import configure
from ora.core.config import ConfigError
from ora.core.store import DatabaseUrl

BASE = {"DISCORD_BOT_TOKEN": "MTIzNDU2Nzg5MDEyMzQ1Njc4.AGVtdQ.fake-hmac-abcdefghij", "DISCORD_APP_ID": "1"}


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ("sqlite:///ora_bot.db", Path("ora_bot.db")),
        ("sqlite:///data/bot.db", Path("data/bot.db")),
        ("sqlite:////var/lib/ora/bot.db", Path("/var/lib/ora/bot.db")),
        ("SQLite:///with%20space.db", Path("with space.db")),
    ],
)
def test_sqlite_urls_name_a_file(value: str, path: Path) -> None:
    url = DatabaseUrl.parse(value)
    assert (url.backend, url.path, url.is_sqlite) == ("sqlite", path, True)


def test_a_postgresql_url_keeps_its_options_and_hides_its_password() -> None:
    url = DatabaseUrl.parse("postgresql://ora:p%40ss-w0rd@db.example:5433/ora?sslmode=require")
    assert url.backend == "postgresql" and url.dsn is not None and url.dsn.endswith("?sslmode=require")
    assert url.describe() == "postgresql://ora@db.example:5433/ora"
    assert set(url.secrets()) == {"p%40ss-w0rd", "p@ss-w0rd"}
    assert "p%40ss" not in repr(url)
    assert DatabaseUrl.parse("postgres://ora@localhost/ora").backend == "postgresql"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("mysql://u:p@h/db", "unsupported scheme 'mysql'"),
        ("sqlite://host/file.db", "a SQLite URL has no host"),
        ("sqlite:///", "expected sqlite:///path/to/file.db"),
        ("sqlite:///bot.db?mode=ro", "no ?options"),
        ("postgresql://u:secret@/db", "the host is missing"),
        ("postgresql://u:secret@h:99999/db", "the port must be a number"),
        ("postgresql://u:secret@h:5432/", "the database name is missing"),
        ("just-a-path.db", "expected sqlite:///path/to/file.db or postgresql://"),
    ],
)
def test_a_malformed_url_is_a_clear_configuration_error_without_its_secret(value: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        configure({**BASE, "DATABASE_URL": value})
    text = caught.value.render()
    assert "DATABASE_URL is invalid" in text and message in text
    assert "secret" not in text  # the value itself is never quoted


def test_database_url_wins_over_ora_bot_db_and_moves_the_dataset_folder() -> None:
    configuration, _ = configure({**BASE, "ORA_BOT_DB": "/data/ora_bot.db", "DATABASE_URL": "sqlite:///elsewhere/x.db"})
    assert configuration.core.db_path == Path("elsewhere/x.db")
    assert configuration.core.database.path == Path("elsewhere/x.db")
    unset, _ = configure({**BASE, "ORA_BOT_DB": "/data/ora_bot.db"})
    assert unset.core.database == DatabaseUrl.sqlite(Path("/data/ora_bot.db"))


def test_the_database_password_is_a_secret_of_the_configuration() -> None:
    configuration, _ = configure({**BASE, "DATABASE_URL": "postgresql://ora:hunter2-long@127.0.0.1/ora"})
    assert "hunter2-long" in configuration.secrets()
    assert "hunter2-long" not in repr(configuration.core)
