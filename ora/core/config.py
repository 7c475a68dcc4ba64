"""Settings read from the environment (and a `.env` file), validated all at once.

Every problem is collected and reported together in one `ConfigError`, so an operator fixes the
whole configuration in one go. Messages name the variable and what is wrong with it, never the value
of a secret.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Literal, TypeVar
from urllib.parse import urlsplit

import attrs
import environs

PrivacyMode = Literal["private", "public"]
PRIVACY_MODES: tuple[PrivacyMode, ...] = ("private", "public")
ThinkPrefix = Literal["auto", "always", "never"]
THINK_PREFIXES: tuple[ThinkPrefix, ...] = ("auto", "always", "never")

DEFAULT_REST_URL = "https://discord.com/api/v10"
DEFAULT_SYSTEM_PROMPT = "You are ORA, a helpful assistant in a Discord community. Answer concisely."
MAX_ANSWER_SECONDS = 840
MAX_SNOWFLAKE = (1 << 64) - 1
MIN_BEARER_TOKEN_LENGTH = 16
SECRET_VARIABLES = ("DISCORD_BOT_TOKEN", "LLM_API_KEY", "GOOGLE_CLIENT_SECRET", "ORA_API_TOKEN", "LINK_REDEEM_TOKEN")

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
    """Typed, immutable configuration. Secrets are excluded from the repr."""

    discord_token: str = attrs.field(repr=False)
    discord_app_id: int
    discord_rest_url: str = DEFAULT_REST_URL
    ora_api_base_url: str | None = None
    ora_api_token: str | None = attrs.field(default=None, repr=False)
    ora_api_timeout: float = 10.0
    ora_upload_attempts: int = 3
    public_base_url: str | None = None
    dev_guild_id: int | None = None
    db_path: Path = Path("ora_bot.db")
    log_level: int = logging.INFO
    llm_base_url: str = "http://127.0.0.1:1234/v1"
    llm_api_key: str = attrs.field(default="lm-studio", repr=False)
    llm_model: str = "openai/gpt-oss-20b"
    llm_connect_timeout: float = 5.0
    llm_read_timeout: float = 60.0
    llm_timeout: float = 300.0
    llm_system_prompt: str = DEFAULT_SYSTEM_PROMPT
    llm_max_tokens: int = 4096
    llm_models: tuple[str, ...] = ()
    llm_think_prefix: ThinkPrefix = "auto"
    chat_max_answer_chars: int = 8000
    chat_max_messages: int = 5
    chat_history_turns: int = 6
    chat_history_chars: int = 6000
    chat_max_concurrent: int = 4
    chat_max_per_user: int = 1
    privacy_default: PrivacyMode = "private"
    web_host: str = "127.0.0.1"
    web_port: int = 8080
    web_read_timeout: float = 10.0
    web_idle_timeout: float = 30.0
    web_max_connections: int = 256
    web_trusted_proxies: tuple[str, ...] = ()
    google_client_id: str | None = None
    google_client_secret: str | None = attrs.field(default=None, repr=False)
    google_issuer: str = "https://accounts.google.com"
    login_state_ttl: int = 900
    login_rate_limit: int = 30
    link_redeem_token: str | None = attrs.field(default=None, repr=False)
    dataset_dir: Path = Path("datasets")
    dataset_max_bytes: int = 25 * 1024 * 1024
    dataset_download_timeout: float = 120.0
    dataset_max_per_user: int = 1
    dataset_quota_bytes: int = 200 * 1024 * 1024
    dataset_slot_wait: float = 30.0
    health_probe_timeout: float = 2.0

    @property
    def google_configured(self) -> bool:
        return bool(self.google_client_id and self.google_client_secret)

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
        values = [
            self.discord_token,
            self.llm_api_key,
            self.google_client_secret,
            self.ora_api_token,
            self.link_redeem_token,
        ]
        return [value for value in values if value]


class _Reader:
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

    def parse(self, name: str, parser: Callable[[str], _T], default: _T) -> _T:
        value = self.raw(name)
        if value is None:
            return default
        try:
            return parser(value)
        except ValueError as error:
            shown = "" if name in SECRET_VARIABLES else f" (got {value[:80]!r})"
            self.problems.append(f"{name} is invalid: {error}{shown}.")
            return default


def _snowflake(value: str) -> int:
    if not value.isdigit() or not 0 < int(value) <= MAX_SNOWFLAKE:
        raise ValueError("expected a Discord id (snowflake): digits only, e.g. 123456789012345678")
    return int(value)


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("expected an http:// or https:// URL with a host")
    if parts.query or parts.fragment:
        raise ValueError("expected a base URL without ?query or #fragment")
    return value.rstrip("/")


def _log_level(value: str) -> int:
    if value.lstrip("-").isdigit():
        number = int(value)
        if not 0 <= number <= 50:
            raise ValueError("a numeric level must be between 0 and 50")
        return number
    level = logging.getLevelNamesMapping().get(value.upper())
    if level is None:
        raise ValueError("expected DEBUG, INFO, WARNING, ERROR, CRITICAL or a number 0-50")
    return level


def _privacy(value: str) -> PrivacyMode:
    lowered = value.lower()
    for mode in PRIVACY_MODES:
        if lowered == mode:
            return mode
    raise ValueError("expected 'private' or 'public'")


def _port(value: str) -> int:
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise ValueError("expected a TCP port number between 1 and 65535")
    return int(value)


def _positive_int(value: str) -> int:
    if not value.isdigit() or int(value) <= 0:
        raise ValueError("expected a whole number greater than 0")
    return int(value)


def _positive_float(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ValueError("expected a number of seconds greater than 0") from None
    if not number > 0 or number == float("inf"):
        raise ValueError("expected a number of seconds greater than 0")
    return number


def _answer_timeout(value: str) -> float:
    seconds = _positive_float(value)
    if seconds > MAX_ANSWER_SECONDS:
        raise ValueError(f"at most {MAX_ANSWER_SECONDS} seconds: Discord's interaction token expires after 15 minutes")
    return seconds


def _bearer_token(value: str) -> str:
    """A shared secret sent as `Authorization: Bearer …`: printable, no spaces, long enough not to be guessed."""
    if len(value) < MIN_BEARER_TOKEN_LENGTH or not value.isprintable() or any(char.isspace() for char in value):
        raise ValueError(f"expected at least {MIN_BEARER_TOKEN_LENGTH} printable characters without spaces")
    return value


def _token(value: str) -> str:
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


def load_settings(environ: Mapping[str, str] | None = None, *, dotenv: Path | None = Path(".env")) -> Settings:
    """Build `Settings` from `environ` (default: the process environment plus `.env`).

    Variables set in the environment win over the `.env` file. Raises `ConfigError` listing every problem.
    """
    if environ is None:
        env = environs.Env(eager=False)
        if dotenv is not None and dotenv.is_file():
            env.read_env(str(dotenv), recurse=False)
        read = _Reader(lambda name: env.str(name, None))
    else:
        read = _Reader(environ.get)

    token = read.required("DISCORD_BOT_TOKEN", "the bot token from the Discord developer portal")
    if token is not None:
        token = read.parse("DISCORD_BOT_TOKEN", _token, None)
    app_id_raw = read.required("DISCORD_APP_ID", "the application id from the Discord developer portal")
    app_id = read.parse("DISCORD_APP_ID", _snowflake, 0) if app_id_raw else 0

    db_path = Path(read.raw("ORA_BOT_DB") or "ora_bot.db")
    dataset_dir_raw = read.raw("DATASET_DIR")
    values = {
        "discord_rest_url": read.parse("DISCORD_REST_URL", _http_url, DEFAULT_REST_URL),
        "ora_api_base_url": read.parse("ORA_API_BASE_URL", _http_url, None),
        "ora_api_token": read.raw("ORA_API_TOKEN"),
        "ora_api_timeout": read.parse("ORA_API_TIMEOUT", _positive_float, 10.0),
        "ora_upload_attempts": read.parse("ORA_UPLOAD_ATTEMPTS", _positive_int, 3),
        "public_base_url": read.parse("PUBLIC_BASE_URL", _http_url, None),
        "dev_guild_id": read.parse("ORA_DEV_GUILD_ID", _snowflake, None),
        "db_path": db_path,
        "log_level": read.parse("LOG_LEVEL", _log_level, logging.INFO),
        "llm_base_url": read.parse("LLM_BASE_URL", _http_url, "http://127.0.0.1:1234/v1"),
        "llm_api_key": read.raw("LLM_API_KEY") or "lm-studio",
        "llm_model": read.raw("LLM_MODEL") or "openai/gpt-oss-20b",
        "llm_connect_timeout": read.parse("LLM_CONNECT_TIMEOUT", _positive_float, 5.0),
        "llm_read_timeout": read.parse("LLM_READ_TIMEOUT", _positive_float, 60.0),
        "llm_timeout": read.parse("LLM_TIMEOUT", _answer_timeout, 300.0),
        "llm_system_prompt": read.raw("LLM_SYSTEM_PROMPT") or DEFAULT_SYSTEM_PROMPT,
        "llm_max_tokens": read.parse("LLM_MAX_TOKENS", _non_negative_int, 4096),
        "llm_models": read.parse("LLM_MODELS", _names, tuple[str, ...]()),
        "llm_think_prefix": read.parse("LLM_THINK_PREFIX", _think_prefix, "auto"),
        "chat_max_answer_chars": read.parse("CHAT_MAX_ANSWER_CHARS", _answer_chars, 8000),
        "chat_max_messages": read.parse("CHAT_MAX_MESSAGES", _message_count, 5),
        "chat_history_turns": read.parse("CHAT_HISTORY_TURNS", _non_negative_int, 6),
        "chat_history_chars": read.parse("CHAT_HISTORY_CHARS", _non_negative_int, 6000),
        "chat_max_concurrent": read.parse("CHAT_MAX_CONCURRENT", _positive_int, 4),
        "chat_max_per_user": read.parse("CHAT_MAX_PER_USER", _positive_int, 1),
        "privacy_default": read.parse("PRIVACY_DEFAULT", _privacy, "private"),
        "web_host": read.raw("WEB_HOST") or "127.0.0.1",
        "web_port": read.parse("WEB_PORT", _port, 8080),
        "web_read_timeout": read.parse("WEB_READ_TIMEOUT", _positive_float, 10.0),
        "web_idle_timeout": read.parse("WEB_IDLE_TIMEOUT", _positive_float, 30.0),
        "web_max_connections": read.parse("WEB_MAX_CONNECTIONS", _positive_int, 256),
        "web_trusted_proxies": read.parse("WEB_TRUSTED_PROXIES", _ip_addresses, tuple[str, ...]()),
        "google_client_id": read.raw("GOOGLE_CLIENT_ID"),
        "google_client_secret": read.raw("GOOGLE_CLIENT_SECRET"),
        "google_issuer": read.parse("GOOGLE_ISSUER", _http_url, "https://accounts.google.com"),
        "login_state_ttl": read.parse("LOGIN_STATE_TTL", _positive_int, 900),
        "login_rate_limit": read.parse("LOGIN_RATE_LIMIT", _non_negative_int, 30),
        "link_redeem_token": read.parse("LINK_REDEEM_TOKEN", _bearer_token, None),
        "dataset_dir": Path(dataset_dir_raw) if dataset_dir_raw else db_path.parent / "datasets",
        "dataset_max_bytes": read.parse("DATASET_MAX_BYTES", _positive_int, 25 * 1024 * 1024),
        "dataset_download_timeout": read.parse("DATASET_DOWNLOAD_TIMEOUT", _positive_float, 120.0),
        "dataset_max_per_user": read.parse("DATASET_MAX_PER_USER", _positive_int, 1),
        "dataset_quota_bytes": read.parse("DATASET_QUOTA_BYTES", _positive_int, 200 * 1024 * 1024),
        "dataset_slot_wait": read.parse("DATASET_SLOT_WAIT", _positive_float, 30.0),
        "health_probe_timeout": read.parse("HEALTH_PROBE_TIMEOUT", _positive_float, 2.0),
    }
    if bool(values["google_client_id"]) != bool(values["google_client_secret"]):
        read.problems.append("GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET must be set together (one of them is missing).")
    if read.problems or token is None:
        raise ConfigError(read.problems)
    return Settings(discord_token=token, discord_app_id=app_id, **values)  # type: ignore[arg-type]


def _ip_addresses(value: str) -> tuple[str, ...]:
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


def _names(value: str) -> tuple[str, ...]:
    """A comma-separated list of names (model ids), duplicates and blanks dropped."""
    return tuple(dict.fromkeys(name.strip() for name in value.split(",") if name.strip()))


def _think_prefix(value: str) -> ThinkPrefix:
    lowered = value.lower()
    for prefix in THINK_PREFIXES:
        if lowered == prefix:
            return prefix
    raise ValueError("expected 'auto', 'always' or 'never'")


def _answer_chars(value: str) -> int:
    number = _positive_int(value)
    if number < 200:
        raise ValueError("expected at least 200 characters")
    return number


def _message_count(value: str) -> int:
    number = _positive_int(value)
    if number > 50:
        raise ValueError("expected a number of messages between 1 and 50")
    return number


def _non_negative_int(value: str) -> int:
    if not value.isdigit():
        raise ValueError("expected a whole number (0 or more)")
    return int(value)
