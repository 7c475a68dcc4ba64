"""`DATABASE_URL`: which backend, and where. Parsed once, at configuration time, with clear errors.

- unset: the SQLite file at `ORA_BOT_DB` (default `ora_bot.db`);
- `sqlite:///relative/path.db` or `sqlite:////absolute/path.db` (three slashes, then the path);
- `postgresql://user:password@host:port/database` (also `postgres://`), with libpq's query options such as
  `?sslmode=require` passed to the driver as they are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

import attrs

Backend = Literal["sqlite", "postgresql"]
POSTGRES_SCHEMES = ("postgresql", "postgres")


@attrs.frozen
class DatabaseUrl:
    backend: Backend
    #: the SQLite file (SQLite only)
    path: Path | None = None
    #: the connection string handed to asyncpg (PostgreSQL only); it may carry a password
    dsn: str | None = attrs.field(default=None, repr=False)

    @classmethod
    def sqlite(cls, path: Path) -> DatabaseUrl:
        return cls("sqlite", path=path)

    @classmethod
    def parse(cls, value: str) -> DatabaseUrl:
        """Raises `ValueError` saying what is wrong (never quoting a password)."""
        scheme, _, rest = value.partition("://")
        scheme = scheme.lower()
        if not rest:
            raise ValueError("expected sqlite:///path/to/file.db or postgresql://user:password@host:port/database")
        if scheme == "sqlite":
            return cls._parse_sqlite(rest)
        if scheme in POSTGRES_SCHEMES:
            return cls._parse_postgres(value)
        raise ValueError(f"unsupported scheme {scheme[:20]!r}: expected sqlite:// or postgresql://")

    @classmethod
    def _parse_sqlite(cls, rest: str) -> DatabaseUrl:
        host, slash, path = rest.partition("/")
        if host:
            raise ValueError("a SQLite URL has no host: write sqlite:///relative.db or sqlite:////absolute/path.db")
        if not slash or not path or "?" in path or "#" in path:
            raise ValueError("expected sqlite:///path/to/file.db (a file path, no ?options)")
        return cls.sqlite(Path(unquote(path)))

    @classmethod
    def _parse_postgres(cls, value: str) -> DatabaseUrl:
        parts = urlsplit(value)
        try:
            parts.port  # noqa: B018 - validates the port
        except ValueError:
            raise ValueError("the port must be a number between 0 and 65535") from None
        if not parts.hostname and "host=" not in parts.query:
            raise ValueError("expected postgresql://user:password@host:port/database (the host is missing)")
        if not parts.path.strip("/"):
            raise ValueError("expected postgresql://user:password@host:port/database (the database name is missing)")
        return cls("postgresql", dsn=value)

    @property
    def is_sqlite(self) -> bool:
        return self.backend == "sqlite"

    def describe(self) -> str:
        """For logs and /health: the SQLite path, or the PostgreSQL URL without its password and options."""
        if self.path is not None:
            return str(self.path)
        parts = urlsplit(self.dsn or "")
        user = f"{unquote(parts.username)}@" if parts.username else ""
        port = f":{parts.port}" if parts.port else ""
        return f"postgresql://{user}{parts.hostname or ''}{port}{parts.path}"

    def secrets(self) -> list[str]:
        """The password, as written and decoded, so that logs can redact it."""
        if self.dsn is None:
            return []
        password = urlsplit(self.dsn).password
        return [value for value in {password, unquote(password or "")} if value]
