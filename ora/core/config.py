"""Settings read from the environment (and a `.env` file), validated all at once.

The core's settings are `Settings`; each feature declares its own section (`SettingsSection`: a type and a
function that reads it with a `SettingsReader`). Every problem, in every section, is collected and reported
together in one `ConfigError`, so an operator fixes the whole configuration in one go. Messages name the
variable and what is wrong with it, never the value of a secret.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import logging
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar
from urllib.parse import urlsplit

import attrs

from ora.core.replicas import host_name
from ora.core.store.url import DatabaseUrl

PrivacyMode = Literal["private", "public"]
PRIVACY_MODES: tuple[PrivacyMode, ...] = ("private", "public")

DEFAULT_REST_URL = "https://discord.com/api/v10"
MAX_SNOWFLAKE = (1 << 64) - 1
MIN_BEARER_TOKEN_LENGTH = 16

_T = TypeVar("_T")


class ConfigError(Exception):
    """The configuration is unusable; `problems` lists each variable and what is wrong with it."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(self.render())

    def render(self) -> str:
        lines = [f"Configuration error ({len(self.problems)} problem(s)):"]
        lines += [f"  - {problem}" for problem in self.problems]
        lines.append("See the configuration table in README.md (.env in the working directory is read too).")
        return "\n".join(lines)


@attrs.frozen(kw_only=True)
class Settings:
    """The core's configuration (Discord, database, web server, logging, ORA). Secrets are left out of the repr."""

    discord_token: str = attrs.field(repr=False)
    discord_app_id: int
    discord_rest_url: str = DEFAULT_REST_URL
    dev_guild_id: int | None = None
    db_path: Path = Path("ora_bot.db")
    database: DatabaseUrl = attrs.field(factory=lambda: DatabaseUrl.sqlite(Path("ora_bot.db")), repr=False)
    database_pool_size: int = 10
    database_connect_timeout: float = 5.0
    database_statement_timeout: float = 15.0
    database_start_wait: float = 30.0
    log_level: int = logging.INFO
    privacy_default: PrivacyMode = "private"
    public_base_url: str | None = None
    web_host: str = "127.0.0.1"
    web_port: int = 8080
    web_read_timeout: float = 10.0
    web_idle_timeout: float = 30.0
    web_max_connections: int = 256
    web_trusted_proxies: tuple[str, ...] = ()
    login_rate_limit: int = 30
    health_probe_timeout: float = 2.0
    ora_api_base_url: str | None = None
    ora_api_token: str | None = attrs.field(default=None, repr=False)
    ora_api_timeout: float = 10.0
    replica_name: str = "ora"
    extra_features: tuple[str, ...] = ()

    @property
    def web_base_url(self) -> str:
        """The URL users are sent to: PUBLIC_BASE_URL, else the built-in server's own address."""
        if self.public_base_url:
            return self.public_base_url
        host = self.web_host if self.web_host not in ("0.0.0.0", "::", "") else "127.0.0.1"  # noqa: S104
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.web_port}"

    def secrets(self) -> list[str]:
        """Values that must never reach a log line or a reply."""
        values = [self.discord_token, self.ora_api_token, *self.database.secrets()]
        return [value for value in values if value]


@attrs.frozen
class SettingsSection(Generic[_T]):
    """A feature's part of the configuration: its type, and how to read it (given the core's settings).

    The value is registered for dependency injection under `type`; if it has a `secrets()` method, what it
    returns is redacted from every log line.
    """

    type: type[_T]
    read: Callable[[SettingsReader, Settings], _T]


@attrs.frozen
class Configuration:
    """The core's settings and every section, read at once."""

    core: Settings
    sections: Mapping[type, Any] = attrs.field(factory=dict)

    def section(self, kind: type[_T]) -> _T:
        value = self.sections[kind]
        if not isinstance(value, kind):
            raise TypeError(f"the {kind.__name__} section holds {type(value).__name__}")
        return value

    def secrets(self) -> list[str]:
        found = list(self.core.secrets())
        for value in self.sections.values():
            secrets = getattr(value, "secrets", None)
            if callable(secrets):
                found += [secret for secret in secrets() if secret]
        return found


class SettingsReader:
    """Reads raw strings and collects every problem instead of stopping at the first."""

    def __init__(self, lookup: Callable[[str], str | None]) -> None:
        self._lookup = lookup
        self.problems: list[str] = []

    def raw(self, name: str) -> str | None:
        value = self._lookup(name)
        if value is None:
            return None
        value = value.strip()
        return value or None

    def required(self, name: str, what: str) -> str | None:
        value = self.raw(name)
        if value is None:
            self.problems.append(f"{name} is required but not set ({what}).")
        return value

    def parse(self, name: str, parser: Callable[[str], _T], default: _T, *, secret: bool = False) -> _T:
        """`parser(value)`, or `default` when unset; a `ValueError` becomes a problem (quoting the value only
        when it is not `secret`)."""
        value = self.raw(name)
        if value is None:
            return default
        try:
            return parser(value)
        except ValueError as error:
            shown = "" if secret else f" (got {value[:80]!r})"
            self.problems.append(f"{name} is invalid: {error}{shown}.")
            return default

    def problem(self, text: str) -> None:
        self.problems.append(text)


class _Environment(Mapping[str, str]):
    """The process environment, with the variables of a `.env` file (read by environs) where it sets none."""

    def __init__(self, env: Any) -> None:
        self._env = env

    def __getitem__(self, name: str) -> str:
        value = self._env.str(name, None)
        if value is None:
            raise KeyError(name)
        return str(value)

    def __iter__(self) -> Iterator[str]:
        return iter(os.environ)

    def __len__(self) -> int:
        return len(os.environ)


def environment(dotenv: Path | None = Path(".env")) -> Mapping[str, str]:
    """The process environment, plus the `.env` file's variables that the environment does not set.

    environs (and marshmallow under it, about 1.3 MiB) is imported only when there is a `.env` file to read: a
    container configured through its environment does without it.
    """
    if dotenv is None or not dotenv.is_file():
        return os.environ
    import environs  # noqa: PLC0415 - see the docstring

    env = environs.Env(eager=False, expand_vars=False)
    env.read_env(str(dotenv), recurse=False, override=False)
    return _Environment(env)


def load_settings(
    environ: Mapping[str, str] | None = None,
    *,
    dotenv: Path | None = Path(".env"),
    sections: Sequence[SettingsSection[Any]] = (),
) -> Configuration:
    """Build the configuration from `environ` (default: the process environment plus `.env`).

    Variables set in the environment win over the `.env` file. Raises `ConfigError` listing every problem.
    """
    source = environment(dotenv) if environ is None else environ
    read = SettingsReader(source.get)
    core = _read_core(read)
    values: dict[type, Any] = {}
    for section in sections:
        values[section.type] = section.read(read, core or _PLACEHOLDER)
    if read.problems or core is None:
        raise ConfigError(read.problems)
    return Configuration(core=core, sections=values)


def _read_core(read: SettingsReader) -> Settings | None:
    token = read.required("DISCORD_BOT_TOKEN", "the bot token from the Discord developer portal")
    if token is not None:
        token = read.parse("DISCORD_BOT_TOKEN", bot_token, None, secret=True)
    app_id_raw = read.required("DISCORD_APP_ID", "the application id from the Discord developer portal")
    app_id = read.parse("DISCORD_APP_ID", snowflake, 0) if app_id_raw else 0

    db_path = Path(read.raw("ORA_BOT_DB") or "ora_bot.db")
    database = read.parse("DATABASE_URL", DatabaseUrl.parse, DatabaseUrl.sqlite(db_path), secret=True)
    if database.path is not None:
        db_path = database.path
    elif not _postgres_driver_installed():
        read.problem(
            "DATABASE_URL names PostgreSQL but its driver is not installed: pip install 'ora-bot[postgres]' "
            "(or pip install asyncpg)."
        )
    values: dict[str, Any] = {
        "discord_rest_url": read.parse("DISCORD_REST_URL", http_url, DEFAULT_REST_URL),
        "dev_guild_id": read.parse("ORA_DEV_GUILD_ID", snowflake, None),
        "db_path": db_path,
        "database": database,
        "database_pool_size": read.parse("DATABASE_POOL_SIZE", _pool_size, 10),
        "database_connect_timeout": read.parse("DATABASE_CONNECT_TIMEOUT", positive_float, 5.0),
        "database_statement_timeout": read.parse("DATABASE_STATEMENT_TIMEOUT", positive_float, 15.0),
        "database_start_wait": read.parse("DATABASE_START_WAIT", non_negative_float, 30.0),
        "log_level": read.parse("LOG_LEVEL", log_level, logging.INFO),
        "privacy_default": read.parse("PRIVACY_DEFAULT", privacy_mode, "private"),
        "public_base_url": read.parse("PUBLIC_BASE_URL", http_url, None),
        "web_host": read.raw("WEB_HOST") or "127.0.0.1",
        "web_port": read.parse("WEB_PORT", port, 8080),
        "web_read_timeout": read.parse("WEB_READ_TIMEOUT", positive_float, 10.0),
        "web_idle_timeout": read.parse("WEB_IDLE_TIMEOUT", positive_float, 30.0),
        "web_max_connections": read.parse("WEB_MAX_CONNECTIONS", positive_int, 256),
        "web_trusted_proxies": read.parse("WEB_TRUSTED_PROXIES", ip_addresses, tuple[str, ...]()),
        "login_rate_limit": read.parse("LOGIN_RATE_LIMIT", non_negative_int, 30),
        "health_probe_timeout": read.parse("HEALTH_PROBE_TIMEOUT", positive_float, 2.0),
        "ora_api_base_url": read.parse("ORA_API_BASE_URL", http_url, None),
        "ora_api_token": read.raw("ORA_API_TOKEN"),
        "ora_api_timeout": read.parse("ORA_API_TIMEOUT", positive_float, 10.0),
        "replica_name": read.parse("ORA_REPLICA_NAME", replica_name, _default_replica_name()),
        "extra_features": read.parse("ORA_EXTRA_FEATURES", module_names, tuple[str, ...]()),
    }
    if token is None:
        return None
    return Settings(discord_token=token, discord_app_id=app_id, **values)


def _postgres_driver_installed() -> bool:
    try:
        import asyncpg  # noqa: F401, PLC0415 - only when DATABASE_URL names PostgreSQL (which imports it anyway)
    except ImportError:
        return False
    return True


def _default_replica_name() -> str:
    name = "".join(char for char in host_name() if char.isprintable() and not char.isspace())[:64]
    return name or "ora"


# The core settings sections are read with when the core's own are unusable (their problems are reported anyway).
_PLACEHOLDER = Settings(discord_token="", discord_app_id=0)


# -- parsers: each takes the stripped raw value and raises ValueError saying what is expected --


def snowflake(value: str) -> int:
    if not value.isdigit() or not 0 < int(value) <= MAX_SNOWFLAKE:
        raise ValueError("expected a Discord id (snowflake): digits only, e.g. 123456789012345678")
    return int(value)


def http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("expected an http:// or https:// URL with a host")
    if parts.query or parts.fragment:
        raise ValueError("expected a base URL without ?query or #fragment")
    return value.rstrip("/")


def log_level(value: str) -> int:
    if value.lstrip("-").isdigit():
        number = int(value)
        if not 0 <= number <= 50:
            raise ValueError("a numeric level must be between 0 and 50")
        return number
    level = logging.getLevelNamesMapping().get(value.upper())
    if level is None:
        raise ValueError("expected DEBUG, INFO, WARNING, ERROR, CRITICAL or a number 0-50")
    return level


def privacy_mode(value: str) -> PrivacyMode:
    return one_of(PRIVACY_MODES)(value)


def one_of(choices: Sequence[_T]) -> Callable[[str], _T]:
    """A parser accepting one of `choices` (strings), in any case."""

    def parse(value: str) -> _T:
        lowered = value.lower()
        for choice in choices:
            if lowered == choice:
                return choice
        quoted = [f"'{choice}'" for choice in choices]
        raise ValueError(
            f"expected {', '.join(quoted[:-1])} or {quoted[-1]}" if len(quoted) > 1 else f"expected {quoted[0]}"
        )

    return parse


def port(value: str) -> int:
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise ValueError("expected a TCP port number between 1 and 65535")
    return int(value)


def positive_int(value: str) -> int:
    if not value.isdigit() or int(value) <= 0:
        raise ValueError("expected a whole number greater than 0")
    return int(value)


def non_negative_int(value: str) -> int:
    if not value.isdigit():
        raise ValueError("expected a whole number (0 or more)")
    return int(value)


def int_between(low: int, high: int, what: str = "a whole number") -> Callable[[str], int]:
    def parse(value: str) -> int:
        if not value.isdigit() or not low <= int(value) <= high:
            raise ValueError(f"expected {what} between {low} and {high}")
        return int(value)

    return parse


def _pool_size(value: str) -> int:
    return int_between(1, 1000, "a number of connections")(value)


def positive_float(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ValueError("expected a number of seconds greater than 0") from None
    if not number > 0 or number == float("inf"):
        raise ValueError("expected a number of seconds greater than 0")
    return number


def non_negative_float(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ValueError("expected a number of seconds (0 or more)") from None
    if not number >= 0 or number == float("inf"):
        raise ValueError("expected a number of seconds (0 or more)")
    return number


def bearer_token(value: str) -> str:
    """A shared secret sent as `Authorization: Bearer …`: printable, no spaces, long enough not to be guessed."""
    if len(value) < MIN_BEARER_TOKEN_LENGTH or not value.isprintable() or any(char.isspace() for char in value):
        raise ValueError(f"expected at least {MIN_BEARER_TOKEN_LENGTH} printable characters without spaces")
    return value


def bot_token(value: str) -> str:
    """A bot token is `base64(bot user id).timestamp.hmac`; hikari reads the id from the first part."""
    if any(char.isspace() for char in value):
        raise ValueError("the token must not contain spaces or line breaks (copy it again from the portal)")
    if value.lower().startswith("bot "):
        raise ValueError("give the token alone, without the 'Bot ' prefix")
    first = value.split(".", 1)[0]
    try:
        user_id = base64.b64decode(first + "=" * (-len(first) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError):
        user_id = ""
    if value.count(".") != 2 or not user_id.isdigit():
        raise ValueError(
            "this does not look like a bot token (three dot-separated parts); "
            "copy it from the Bot page of the Discord developer portal"
        )
    return value


def ip_addresses(value: str) -> tuple[str, ...]:
    """A comma-separated list of IP addresses (the reverse proxies whose X-Forwarded-For is believed)."""
    addresses: list[str] = []
    for item in (part.strip() for part in value.split(",")):
        if not item:
            continue
        try:
            addresses.append(str(ipaddress.ip_address(item)))
        except ValueError:
            raise ValueError(f"{item[:60]!r} is not an IP address (give addresses, comma-separated)") from None
    return tuple(addresses)


def names(value: str) -> tuple[str, ...]:
    """A comma-separated list of names, duplicates and blanks dropped."""
    return tuple(dict.fromkeys(name.strip() for name in value.split(",") if name.strip()))


def module_names(value: str) -> tuple[str, ...]:
    """A comma-separated list of importable module paths (`package.module`)."""
    found = names(value)
    for name in found:
        if not all(part.isidentifier() for part in name.split(".")):
            raise ValueError(f"{name[:60]!r} is not a module path such as my_package.my_feature")
    return found


def replica_name(value: str) -> str:
    """A short printable name without spaces (shown in logs, /health and metrics)."""
    if not 0 < len(value) <= 64 or not value.isprintable() or any(char.isspace() for char in value):
        raise ValueError("expected 1 to 64 printable characters without spaces")
    return value
