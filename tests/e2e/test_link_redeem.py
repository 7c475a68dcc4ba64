"""A local /link code, redeemed by an operator's site at the running bot's `POST /link/redeem`."""

from __future__ import annotations

import aiohttp

from ora.testing.discord import DiscordEmulator
from tests.e2e.conftest import StartBot

REDEEM_TOKEN = "operator-site-token-0123456789"


async def test_the_code_from_link_resolves_once_to_the_user(
    emulator: DiscordEmulator, start_bot: StartBot, web_url: str
) -> None:
    bot = await start_bot(LINK_REDEEM_TOKEN=REDEEM_TOKEN)
    rec = await emulator.send_command("link")
    code = (await rec.wait_initial())["data"]["content"].split("`")[1]
    headers = {"Authorization": f"Bearer {REDEEM_TOKEN}"}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        async with session.post(f"{web_url}/link/redeem", json={"code": code}, headers=headers) as response:
            assert response.status == 200
            assert await response.json() == {"discord_user_id": str(emulator.default_user.id)}
        async with session.post(f"{web_url}/link/redeem", json={"code": code}, headers=headers) as response:
            assert (response.status, await response.json()) == (404, {"error": "unknown_code"})
    await bot.stop()
    assert REDEEM_TOKEN not in bot.stdout + bot.stderr
    assert code not in bot.stdout + bot.stderr
