"""A local Discord for tests: REST (``/api/v10``), gateway websocket and attachment CDN on 127.0.0.1.

    from ora.testing.discord import DiscordEmulator, Guild, User

    async with DiscordEmulator(token="test-token") as emu:
        bot = hikari.GatewayBot("test-token", rest_url=emu.rest_url, intents=hikari.Intents.GUILDS)
        ...
        rec = await emu.send_command("ping")
        body = await rec.wait_initial()

Modules: ``emulator`` (the test-facing API), ``gateway`` (websocket protocol), ``rest`` (HTTP routes),
``responses`` (interaction response rules), ``interactions`` / ``commands`` (payload building, command
store), ``payloads`` (JSON shapes), ``records`` (what was observed), ``attachments`` (CDN), ``models``.
"""

from ora.testing.discord.attachments import AttachmentFault, StoredAttachment
from ora.testing.discord.commands import OptionType, UnknownCommandError
from ora.testing.discord.emulator import DM, DiscordEmulator
from ora.testing.discord.models import (
    ADMINISTRATOR,
    ALL_PERMISSIONS,
    DEFAULT_EVERYONE_PERMISSIONS,
    Channel,
    Guild,
    Role,
    User,
)
from ora.testing.discord.records import EPHEMERAL, InteractionRecord, UploadedFile

__all__ = [
    "ADMINISTRATOR",
    "ALL_PERMISSIONS",
    "DEFAULT_EVERYONE_PERMISSIONS",
    "DM",
    "EPHEMERAL",
    "AttachmentFault",
    "Channel",
    "DiscordEmulator",
    "Guild",
    "InteractionRecord",
    "OptionType",
    "Role",
    "StoredAttachment",
    "UnknownCommandError",
    "UploadedFile",
    "User",
]
