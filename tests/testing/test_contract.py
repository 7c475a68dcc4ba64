"""Requests are held to Discord's OpenAPI document: rejected like Discord (400, 50035, an errors tree), recorded,
and a test that leaves a violation behind fails."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ora.testing.discord import DiscordEmulator
from ora.testing.discord.contract import LOG, check_request
from ora.testing.discord.openapi import SPEC_COMMIT, SPEC_DIR

ROOT = Path(__file__).parents[2]
TOKEN_PATH = "aW50ZXJhY3Rpb246MTox" + "x" * 60


@pytest.fixture
async def emu() -> AsyncIterator[DiscordEmulator]:
    async with DiscordEmulator() as emulator:
        yield emulator


async def _send(emu: DiscordEmulator, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bot {emu.token}"}
    async with (
        aiohttp.ClientSession() as http,
        http.request(method, emu.rest_url + path, json=body, headers=headers) as resp,
    ):
        return resp.status, await resp.json() if resp.content_type == "application/json" else None


def _command(**option: Any) -> list[dict[str, Any]]:
    return [{"type": 1, "name": "chat", "description": "Ask", "options": [{"type": 3, "name": "p", **option}]}]


APP = "/applications/{app}/guilds/{guild}/commands"
HOOK = "/webhooks/{app}/" + TOKEN_PATH
CALLBACK = "/interactions/1/" + TOKEN_PATH + "/callback"

#: The bodies of issue 11 (7 that the emulator used to accept, 2 it already refused): (method, path, body, errors)
REJECTED: list[tuple[str, str, Any, dict[str, Any]]] = [
    ("PUT", APP, [{"name": "chat", "description": "d" * 101}], {"0": {"description": "BASE_TYPE_MAX_LENGTH"}}),
    (
        "PUT",
        APP,
        _command(description="p", max_length=7000),
        {"0": {"options": {"0": {"max_length": "NUMBER_TYPE_MAX"}}}},
    ),
    (
        "POST",
        CALLBACK,
        {"type": 8, "data": {"choices": [{"name": "a" * 101, "value": "a"}]}},
        {"data": {"choices": {"0": {"name": "BASE_TYPE_MAX_LENGTH"}}}},
    ),
    (
        "PATCH",
        HOOK + "/messages/@original",
        {"content": "x", "allowed_mentions": {"parse": ["bogus"]}},
        {"allowed_mentions": {"parse": {"0": "BASE_TYPE_CHOICES"}}},
    ),
    ("PATCH", HOOK + "/messages/@original", {"content": "x", "flags": "64"}, {"flags": "NUMBER_TYPE_COERCE"}),
    ("POST", HOOK, {"content": 123}, {"content": "BASE_TYPE_STRING"}),
    (
        "POST",
        "/channels/{channel}/messages",
        {"content": "x", "allowed_mentions": {"parse": "users"}},
        {"allowed_mentions": {"parse": "BASE_TYPE_ARRAY"}},
    ),
    ("POST", CALLBACK, {"type": 4, "data": {"content": "x" * 2001}}, {"data": {"content": "BASE_TYPE_MAX_LENGTH"}}),
    (
        "POST",
        CALLBACK,
        {"type": 8, "data": {"choices": [{"name": "a", "value": "a"}] * 26}},
        {"data": {"choices": "BASE_TYPE_MAX_LENGTH"}},
    ),
    ("POST", HOOK, {"content": "x", "alowed_mentions": {}}, {"alowed_mentions": "UNKNOWN_FIELD"}),
    ("GET", "/channels/general", None, {"channel_id": "NUMBER_TYPE_COERCE"}),
    ("POST", CALLBACK + "?with_response=maybe", {"type": 5}, {"with_response": "BASE_TYPE_BOOLEAN"}),
]


def _codes(tree: dict[str, Any]) -> dict[str, Any]:
    """``{"a": {"_errors": [{"code": X}]}}`` -> ``{"a": X}`` (one code per field), for comparison."""
    out: dict[str, Any] = {}
    for key, node in tree.items():
        out[key] = node["_errors"][0]["code"] if "_errors" in node else _codes(node)
    return out


@pytest.mark.parametrize(("method", "path", "body", "errors"), REJECTED, ids=lambda v: None)
async def test_a_body_the_document_rejects_gets_discords_400_and_is_recorded(
    emu: DiscordEmulator, method: str, path: str, body: Any, errors: dict[str, Any]
) -> None:
    guild = emu.default_guild
    where = path.format(app=emu.application_id, guild=guild.id, channel=guild.default_channel().id)
    status, answer = await _send(emu, method, where, body)
    assert status == 400
    assert answer["code"] == 50035
    assert answer["message"] == "Invalid Form Body"
    assert _codes(answer["errors"]) == errors
    [violation] = emu.take_violations()
    assert violation.kind == "request"
    assert violation.method == method
    assert TOKEN_PATH not in violation.describe()  # paths are shown as templates: no tokens in the output
    assert emu.commands(guild.id) == []  # nothing was applied
    assert emu.channel_messages == []


async def test_valid_requests_pass_the_check_and_reach_the_emulator(emu: DiscordEmulator) -> None:
    guild = emu.default_guild
    ok = _command(description="Your question", max_length=4000, required=True)
    status, commands = await _send(emu, "PUT", f"/applications/{emu.application_id}/guilds/{guild.id}/commands", ok)
    assert status == 200
    assert commands[0]["options"][0]["max_length"] == 4000
    status, answer = await _send(emu, "POST", CALLBACK + "?with_response=true", {"type": 5, "data": {"flags": 64}})
    assert (status, answer["code"]) == (404, 10062)  # valid, but there is no such interaction
    assert emu.contract_violations == []


async def test_multipart_payload_json_is_checked(emu: DiscordEmulator) -> None:
    form = aiohttp.FormData()
    form.add_field("payload_json", json.dumps({"content": "x", "flags": "64"}), content_type="application/json")
    form.add_field("files[0]", b"a,b\n", filename="a.csv", content_type="text/csv")
    async with (
        aiohttp.ClientSession() as http,
        http.post(emu.rest_url + HOOK.format(app=emu.application_id), data=form) as resp,
    ):
        assert resp.status == 400
        assert _codes((await resp.json())["errors"]) == {"flags": "NUMBER_TYPE_COERCE"}
    [violation] = emu.take_violations()
    assert violation.operation == "execute_webhook"


def test_the_vendored_document_is_the_named_commit_byte_for_byte() -> None:
    readme = (SPEC_DIR / "README.md").read_text(encoding="utf-8")
    digest = hashlib.sha256((SPEC_DIR / "openapi.json").read_bytes()).hexdigest()
    assert digest in readme
    assert SPEC_COMMIT in readme
    assert "MIT License" in (SPEC_DIR / "LICENSE").read_text(encoding="utf-8")
    shared = ROOT.parent / "shared" / "discord-api-spec"
    if (shared / "openapi.json").exists():
        assert SPEC_COMMIT in (shared / "README.md").read_text(encoding="utf-8")


def test_a_check_costs_microseconds() -> None:
    body = {"content": "x" * 1900, "allowed_mentions": {"parse": []}, "flags": 64}
    path = HOOK.format(app=1) + "/messages/@original"
    check_request("PATCH", path, {}, "application/json", body, has_body=True)  # compiles the schemas
    timings = []
    for _ in range(300):
        started = time.perf_counter()
        result = check_request("PATCH", path, {}, "application/json", body, has_body=True)
        timings.append(time.perf_counter() - started)
        assert result.problems == ()
    timings.sort()
    median_us = timings[len(timings) // 2] * 1e6
    print(f"contract check of a message edit: median {median_us:.1f} µs, p99 {timings[296] * 1e6:.1f} µs")
    assert median_us < 500  # the goal is well under a millisecond; measured about 10 µs


LEAVER = """
from ora.testing.discord import DiscordEmulator
import aiohttp

async def test_leaves_a_violation() -> None:
    async with DiscordEmulator() as emu, aiohttp.ClientSession() as http:
        async with http.post(emu.rest_url + "/webhooks/1/tok", json={"content": 123}) as resp:
            assert resp.status == 400

async def test_takes_its_violation() -> None:
    async with DiscordEmulator() as emu, aiohttp.ClientSession() as http:
        async with http.post(emu.rest_url + "/webhooks/1/tok", json={"content": 123}) as resp:
            assert resp.status == 400
        assert len(emu.take_violations()) == 1
"""


def test_a_test_that_leaves_a_violation_fails_and_the_session_says_so(tmp_path: Path) -> None:
    (tmp_path / "test_leaver.py").write_text(LEAVER, encoding="utf-8")
    run = subprocess.run(  # noqa: PLW1510 - the exit code is asserted
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "tests.conftest",
            "-o",
            "asyncio_mode=auto",
            "-p",
            "no:cacheprovider",
            "--rootdir",
            str(tmp_path),
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = run.stdout
    assert run.returncode == 1, out
    assert "2 passed, 1 error" in out  # the leaving test passes its body, then errors at teardown
    assert "Discord API contract violation(s) left by this test" in out
    assert "content: BASE_TYPE_STRING" in out
    assert "2 requests" in out and "1 violation(s) left" in out


def test_log_counts_checks() -> None:
    before = LOG.requests
    check_request("GET", "/users/@me", {}, None, None, has_body=False)
    assert LOG.requests == before + 1
