"""A feature: one folder that says everything the core needs to know about it.

    feature = Feature(
        name="datasets",
        loader=loader,                          # lightbulb.Loader with the commands
        strings=Strings(en=EN, ja=JA),          # its replies and command names (English and Japanese)
        settings=SettingsSection(DatasetSettings, read_settings),
        schema=Schema("datasets", __package__), # its tables: migrations/sqlite/*.sql, migrations/postgresql/*.sql
        services=[Service(DatasetService, make_service, teardown=DatasetService.close, eager=True)],
        start=start,                            # routes, health probes, jobs, purges
    )

Features depend on the core, never on each other. Services are registered as lightbulb dependency-injection
factories (with teardown), so commands ask for them by type. `start` runs once the services can be had.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar

import attrs
import lightbulb

from ora.core.config import SettingsSection
from ora.core.store.migrations import Schema

_T = TypeVar("_T")


@attrs.frozen
class Strings:
    """A feature's strings by key: `en` is complete, `ja` has the same keys."""

    en: Mapping[str, str]
    ja: Mapping[str, str]


@attrs.frozen(kw_only=True)
class Service(Generic[_T]):
    """A service in lightbulb's dependency injection: `factory`'s parameters are injected by type.

    `teardown` runs when the bot stops (services close in the reverse order of their creation; an error in one
    does not stop the others). An `eager` service is created at start-up, so its start-up work (opening a session,
    resuming work) happens then and its failures stop the start; others are created on first use.
    """

    type: type[_T]
    factory: Callable[..., _T | Awaitable[_T]]
    teardown: Callable[[_T], Awaitable[None] | None] | None = None
    eager: bool = False


@attrs.frozen(kw_only=True)
class Feature:
    name: str
    loader: lightbulb.Loader | None = None
    strings: Strings | None = None
    settings: SettingsSection[Any] | None = None
    schema: Schema | None = None
    services: Sequence[Service[Any]] = ()
    start: Callable[[Any], Awaitable[None]] | None = None
    """`async def start(ctx: ora.core.assembly.FeatureStart) -> None`: add routes, probes, job types, purges."""
