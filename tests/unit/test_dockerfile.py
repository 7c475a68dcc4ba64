"""Docker cannot build here (no daemon), so the Dockerfile's promises are checked as text."""

from __future__ import annotations

import json
import re
from pathlib import Path

DOCKERFILE = (Path(__file__).parents[2] / "Dockerfile").read_text()


def instructions(name: str) -> list[str]:
    joined = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    return [line.split(None, 1)[1] for line in joined.splitlines() if line.upper().startswith(name + " ")]


def test_slim_python_base() -> None:
    assert re.fullmatch(r"python:3\.1[1-9]-slim", instructions("FROM")[0])


def test_runs_as_a_non_root_user() -> None:
    assert instructions("USER") == ["ora"]
    assert "useradd" in DOCKERFILE


def test_dependencies_install_before_the_source_is_copied() -> None:
    assert DOCKERFILE.index("pip install -r") < DOCKERFILE.index("COPY ora ./ora")


def test_data_volume_holds_database_and_datasets() -> None:
    assert instructions("VOLUME") == ['["/data"]']
    env = " ".join(instructions("ENV"))
    assert "ORA_BOT_DB=/data/ora_bot.db" in env
    assert "DATASET_DIR=/data/datasets" in env


def test_healthcheck_and_exec_form_entrypoint() -> None:
    assert "ora.healthcheck" in instructions("HEALTHCHECK")[0]
    assert json.loads(instructions("ENTRYPOINT")[0]) == ["python", "-m", "ora"]
