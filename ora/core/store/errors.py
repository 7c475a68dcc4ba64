"""What the store raises, the same on every backend: callers never see sqlite3's or asyncpg's own exceptions."""

from __future__ import annotations


class StoreError(Exception):
    """The database cannot be used as asked (unreadable file, newer schema, failed migration, not open, bad SQL)."""


class IntegrityError(StoreError):
    """A constraint refused the statement (a UNIQUE or FOREIGN KEY violation); the database is fine."""


class DatabaseUnavailable(StoreError):
    """The database server cannot be reached (or the connection was lost mid-statement); it may come back.

    A write that failed this way may or may not have been applied: the connection died before the answer came.
    """


class SchemaTooNew(StoreError):
    """The database was written by a newer release of the bot; it is refused rather than damaged."""
