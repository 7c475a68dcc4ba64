"""The dataset limits in the configuration: modest defaults, and clear errors naming the variable."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from ora.app import configure
from ora.core.config import ConfigError, Configuration, environment
from ora.features.datasets.settings import DatasetSettings


def load_settings(environ: Mapping[str, str] | None = None, *, dotenv: Path | None = None) -> Configuration:
    """Every feature's settings, as `python -m ora` reads them."""
    return configure(environ if environ is not None else environment(dotenv))[0]


TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.AGVtdQ.fake-hmac-part-abcdefghijklmnop"
BASE = {"DISCORD_BOT_TOKEN": TOKEN, "DISCORD_APP_ID": "123456789012345678"}


def test_defaults() -> None:
    settings = load_settings(BASE)
    assert settings.section(DatasetSettings).max_per_user == 1
    assert settings.section(DatasetSettings).quota_bytes == 200 * 1024 * 1024
    assert settings.section(DatasetSettings).slot_wait == 30.0
    assert settings.section(DatasetSettings).upload_concurrency == 8


def test_upload_concurrency_is_read() -> None:
    assert load_settings({**BASE, "DATASET_UPLOAD_CONCURRENCY": "2"}).section(DatasetSettings).upload_concurrency == 2


def test_values_are_read() -> None:
    settings = load_settings(
        {**BASE, "DATASET_MAX_PER_USER": "3", "DATASET_QUOTA_BYTES": "1048576", "DATASET_SLOT_WAIT": "2.5"}
    )
    assert (
        settings.section(DatasetSettings).max_per_user,
        settings.section(DatasetSettings).quota_bytes,
        settings.section(DatasetSettings).slot_wait,
    ) == (
        3,
        1048576,
        2.5,
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DATASET_MAX_PER_USER", "0"),
        ("DATASET_MAX_PER_USER", "many"),
        ("DATASET_QUOTA_BYTES", "-1"),
        ("DATASET_QUOTA_BYTES", "200MiB"),
        ("DATASET_SLOT_WAIT", "0"),
        ("DATASET_SLOT_WAIT", "inf"),
        ("DATASET_UPLOAD_CONCURRENCY", "0"),
        ("DATASET_UPLOAD_CONCURRENCY", "65"),
    ],
)
def test_invalid_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({**BASE, name: value})
    assert any(problem.startswith(f"{name} is invalid") for problem in caught.value.problems)
