"""The bots a /ping run measures side by side, each with the label it has in the results."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bench.harness import BotKind, Database

FULL = "full"
FULL_POSTGRES = "full, PostgreSQL"
MINIMAL = "minimal"
FULL_UNCACHED = "full, resolver cache off"
MINIMAL_STOCK = "minimal, stock"
PLAIN_HIKARI = "plain hikari"


@dataclass(frozen=True)
class BotSpec:
    kind: BotKind
    label: str
    env: Mapping[str, str] = field(default_factory=dict)
    #: a folder holding another copy of `ora/` (a candidate change) to import the full bot from
    source: Path | None = None
    #: the full bot's store: a SQLite file in its temporary folder, or a fresh database on the run's PostgreSQL
    database: Database = "sqlite"


#: The full bot's label on each backend (`python -m bench --database …`).
FULL_ON: dict[Database, str] = {"sqlite": FULL, "postgresql": FULL_POSTGRES}


#: Measured with the plain install next to `full` and `minimal` (the like-for-like minimal bot: REST keep-alive
#: and cached dependency resolvers, as the ORA bot has them).
BASELINES: tuple[BotSpec, ...] = (
    BotSpec("full", FULL_UNCACHED, {"BENCH_LINKD_COMPAT": "off"}),
    BotSpec("minimal", MINIMAL_STOCK, {"MINIMAL_BOT_KEEPALIVE": "0", "MINIMAL_BOT_RESOLVER_CACHE": "0"}),
    BotSpec("plain_hikari", PLAIN_HIKARI),
)

#: `python -m bench --profile NAME`
PROFILE_TARGETS: dict[str, BotSpec] = {
    "full": BotSpec("full", FULL),
    "full-uncached": BASELINES[0],
    "minimal": BotSpec("minimal", MINIMAL),
    "minimal-stock": BASELINES[1],
    "plain-hikari": BASELINES[2],
}
