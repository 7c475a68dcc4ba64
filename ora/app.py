"""`python -m ora`: reads the configuration, picks the transport and runs the features named in `FEATURES`.

Exit codes: 0 after a clean stop, 1 on a fatal error, 2 on a configuration error.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import sys
from collections.abc import Mapping, Sequence

from ora.core.assembly import EXIT_CONFIGURATION, EXIT_FATAL, Bot
from ora.core.config import ConfigError, Configuration, environment, load_settings
from ora.core.feature import Feature
from ora.core.gateway import GatewayTransport
from ora.core.i18n import Catalog
from ora.core.logs import configure_logging
from ora.features import account, chat, core_commands, datasets, link

log = logging.getLogger("ora")

#: The features this bot runs, in this order (their commands, routes and /health lines follow it).
FEATURES: tuple[Feature, ...] = (
    core_commands.feature,
    link.feature,
    account.feature,
    chat.feature,
    datasets.feature,
)


def full_catalog(features: Sequence[Feature] = FEATURES) -> Catalog:
    """The strings of the core and of `features` (for tests and tools; the bot builds its own)."""
    return Catalog.load(
        (feature.name, feature.strings.en, feature.strings.ja) for feature in features if feature.strings
    )


def extra_features(modules: Sequence[str]) -> tuple[list[Feature], list[str]]:
    """The `feature` object of each module named in ORA_EXTRA_FEATURES, and the problems finding them."""
    found: list[Feature] = []
    problems: list[str] = []
    for name in modules:
        try:
            module = importlib.import_module(name)
        except Exception as error:  # an extension that does not import is a configuration problem
            problems.append(f"ORA_EXTRA_FEATURES: cannot import {name!r} ({type(error).__name__}: {error}).")
            continue
        feature = getattr(module, "feature", None)
        if not isinstance(feature, Feature):
            problems.append(f"ORA_EXTRA_FEATURES: {name!r} has no `feature = Feature(...)`.")
            continue
        found.append(feature)
    return found, problems


def configure(environ: Mapping[str, str] | None = None) -> tuple[Configuration, list[Feature]]:
    """The configuration and the features to run; raises `ConfigError` with every problem."""
    source = environment() if environ is None else environ
    modules = [name.strip() for name in source.get("ORA_EXTRA_FEATURES", "").split(",") if name.strip()]
    extra, problems = extra_features(modules)
    features = [*FEATURES, *(feature for feature in extra if feature not in FEATURES)]
    names = [feature.name for feature in features]
    problems += [f"two features are named {name!r}." for name in sorted({n for n in names if names.count(n) > 1})]
    sections = [feature.settings for feature in features if feature.settings is not None]
    try:
        configuration = load_settings(source, sections=sections)
    except ConfigError as error:
        raise ConfigError([*error.problems, *problems]) from None
    if problems:
        raise ConfigError(problems)
    return configuration, features


def main() -> int:
    try:
        configuration, features = configure()
    except ConfigError as error:
        print(error.render(), file=sys.stderr)
        return EXIT_CONFIGURATION
    settings = configuration.core
    configure_logging(settings.log_level, configuration.secrets())
    log.info(
        "starting ORA bot (replica %s, database %s, web server %s:%s, features %s)",
        settings.replica_name,
        settings.database.describe(),
        settings.web_host,
        settings.web_port,
        ", ".join(feature.name for feature in features),
    )
    try:
        return asyncio.run(Bot(configuration, features, GatewayTransport()).run())
    except KeyboardInterrupt:
        return 0
    except Exception:
        log.critical("the bot stopped on an unexpected error", exc_info=True)
        return EXIT_FATAL
