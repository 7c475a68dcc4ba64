"""The datasets feature's settings: where files go, how big, how many, and how often ORA is asked."""

from __future__ import annotations

from pathlib import Path

import attrs

from ora.core.config import Settings, SettingsReader, SettingsSection, int_between, positive_float, positive_int

DEFAULT_MAX_BYTES = 25 * 1024 * 1024
DEFAULT_QUOTA_BYTES = 200 * 1024 * 1024


@attrs.frozen(kw_only=True)
class DatasetSettings:
    directory: Path = Path("datasets")
    max_bytes: int = DEFAULT_MAX_BYTES
    download_timeout: float = 120.0
    max_per_user: int = 1
    quota_bytes: int = DEFAULT_QUOTA_BYTES
    slot_wait: float = 30.0
    upload_attempts: int = 3
    #: uploads to ORA one process runs at once (others wait as pending jobs)
    upload_concurrency: int = 8


def read_settings(read: SettingsReader, core: Settings) -> DatasetSettings:
    directory = read.raw("DATASET_DIR")
    return DatasetSettings(
        directory=Path(directory) if directory else core.db_path.parent / "datasets",
        max_bytes=read.parse("DATASET_MAX_BYTES", positive_int, DEFAULT_MAX_BYTES),
        download_timeout=read.parse("DATASET_DOWNLOAD_TIMEOUT", positive_float, 120.0),
        max_per_user=read.parse("DATASET_MAX_PER_USER", positive_int, 1),
        quota_bytes=read.parse("DATASET_QUOTA_BYTES", positive_int, DEFAULT_QUOTA_BYTES),
        slot_wait=read.parse("DATASET_SLOT_WAIT", positive_float, 30.0),
        upload_attempts=read.parse("ORA_UPLOAD_ATTEMPTS", positive_int, 3),
        upload_concurrency=read.parse("DATASET_UPLOAD_CONCURRENCY", int_between(1, 64, "a number of uploads"), 8),
    )


SECTION = SettingsSection(DatasetSettings, read_settings)
