"""The dataset limits in the configuration: modest defaults, and clear errors naming the variable."""

from __future__ import annotations

import pytest

from ora.config import ConfigError, load_settings

TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.AGVtdQ.fake-hmac-part-abcdefghijklmnop"
BASE = {"DISCORD_BOT_TOKEN": TOKEN, "DISCORD_APP_ID": "123456789012345678"}


def test_defaults() -> None:
    settings = load_settings(BASE)
    assert settings.dataset_max_per_user == 1
    assert settings.dataset_quota_bytes == 200 * 1024 * 1024
    assert settings.dataset_slot_wait == 30.0


def test_values_are_read() -> None:
    settings = load_settings(
        {**BASE, "DATASET_MAX_PER_USER": "3", "DATASET_QUOTA_BYTES": "1048576", "DATASET_SLOT_WAIT": "2.5"}
    )
    assert (settings.dataset_max_per_user, settings.dataset_quota_bytes, settings.dataset_slot_wait) == (
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
    ],
)
def test_invalid_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({**BASE, name: value})
    assert any(problem.startswith(f"{name} is invalid") for problem in caught.value.problems)
