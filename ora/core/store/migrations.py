"""Versioned migrations, per schema component and per backend.

The core and each feature own their tables: a component ships `migrations/sqlite/NNNN_name.sql` and
`migrations/postgresql/NNNN_name.sql` in its package, numbered from 0001 without gaps, the same numbers on both
backends (a step with nothing to do on one of them is a comment). The table `ora_schema` records each
component's version; every step runs in a transaction with its version bump, so a failed step leaves the
database at the previous version. A component the database holds at a version newer than this release ships is
refused (`SchemaTooNew`) before anything is changed; a component it does not know (a feature this release does
not load) is left alone.

SQLite databases made before components (`PRAGMA user_version` 1 to 3) are first brought to version 3 with the
old migrations (`legacy/`), then every component is recorded at the version whose tables they already hold.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources

import attrs

from ora.core.store.database import Dialect
from ora.core.store.errors import SchemaTooNew, StoreError

#: `PRAGMA user_version` of a SQLite database whose versions are kept per component in `ora_schema`. Releases
#: before it wrote 1 to 3 there, and refuse anything higher, so they cannot damage a database of this layout.
SQLITE_LAYOUT_VERSION = 4
#: The `ora_schema` row that versions the bookkeeping itself (PostgreSQL, and SQLite besides user_version).
LAYOUT_COMPONENT = "ora"
LAYOUT_VERSION = 1
#: Components and the version whose tables a legacy SQLite database at user_version 3 holds.
LEGACY_BASELINES: Mapping[str, int] = {"core": 1, "account": 1, "link": 1, "chat": 1, "datasets": 1}
LEGACY_PACKAGE = "ora.core.store.legacy"
_COMPONENT_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_FILE_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")

SCHEMA_TABLE_SQL = (
    "CREATE TABLE IF NOT EXISTS ora_schema (component TEXT PRIMARY KEY, version INTEGER NOT NULL,"
    " updated_at DOUBLE PRECISION NOT NULL)"
)


@attrs.frozen
class Schema:
    """One component's tables: `name` (its row in ora_schema) and the package holding `migrations/`."""

    name: str = attrs.field()
    package: str

    @name.validator
    def _check_name(self, _: object, value: str) -> None:
        if not _COMPONENT_NAME.match(value) or value == LAYOUT_COMPONENT:
            raise ValueError(f"invalid schema component name {value!r}: lower-case letters, digits and _")


@attrs.frozen
class Migration:
    component: str
    version: int
    name: str
    sql: str


CORE_SCHEMA = Schema("core", "ora.core.store")


def load_migrations(schema: Schema, dialect: Dialect) -> list[Migration]:
    """The component's steps for `dialect`, in order; raises `StoreError` on a gap or a stray file."""
    folder = resources.files(schema.package).joinpath("migrations", dialect)
    if not folder.is_dir():
        return []
    found: list[Migration] = []
    for entry in folder.iterdir():
        match = _FILE_NAME.match(entry.name)
        if match is None:
            if entry.name.endswith(".sql"):
                raise StoreError(f"{schema.package}: migration file {entry.name!r} must be named NNNN_name.sql")
            continue
        found.append(Migration(schema.name, int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    found.sort(key=lambda migration: migration.version)
    if [migration.version for migration in found] != list(range(1, len(found) + 1)):
        raise StoreError(f"{schema.package}: {dialect} migrations must be numbered 0001, 0002, ... without gaps")
    return found


def legacy_migrations() -> list[tuple[int, str, str]]:
    """(version, file name, SQL) of the SQLite migrations of releases before components."""
    found = []
    for entry in resources.files(LEGACY_PACKAGE).iterdir():
        match = _FILE_NAME.match(entry.name)
        if match is not None:
            found.append((int(match.group(1)), entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found)


def plan(schemas: Iterable[Schema], dialect: Dialect, applied: Mapping[str, int]) -> list[Migration]:
    """The steps still to run, components in the given order (the core first); `SchemaTooNew` before any step
    when the database holds a component newer than this release."""
    steps: list[Migration] = []
    too_new: list[str] = []
    for schema in schemas:
        available = load_migrations(schema, dialect)
        current = applied.get(schema.name, 0)
        if current > len(available):
            too_new.append(f"{schema.name} {current} (this release knows {len(available)})")
        steps += [migration for migration in available if migration.version > current]
    layout = applied.get(LAYOUT_COMPONENT, LAYOUT_VERSION)
    if layout > LAYOUT_VERSION:
        too_new.insert(0, f"bookkeeping layout {layout} (this release knows {LAYOUT_VERSION})")
    if too_new:
        raise SchemaTooNew(
            "the database was written by a newer release of the ORA bot (schema "
            + ", ".join(too_new)
            + "). Upgrade the bot, or point DATABASE_URL/ORA_BOT_DB at another database."
        )
    return steps


def unique(schemas: Sequence[Schema]) -> list[Schema]:
    """The core first, then each component once; two packages claiming one name is an error."""
    ordered: dict[str, Schema] = {CORE_SCHEMA.name: CORE_SCHEMA}
    for schema in schemas:
        known = ordered.setdefault(schema.name, schema)
        if known.package != schema.package:
            raise StoreError(f"two schema components are named {schema.name!r}: {known.package}, {schema.package}")
    return list(ordered.values())
