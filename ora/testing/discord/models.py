"""Value objects describing the emulated Discord world: users, guilds, channels, roles.

These are *inputs* to the emulator (what exists on the fake Discord); the JSON shapes Discord sends
for them are built in :mod:`ora.testing.discord.payloads`.
"""

from __future__ import annotations

import datetime

import attrs

__all__ = [
    "ADMINISTRATOR",
    "ALL_PERMISSIONS",
    "DEFAULT_APPLICATION_ID",
    "DEFAULT_EVERYONE_PERMISSIONS",
    "DEFAULT_GUILD_ID",
    "DEFAULT_OWNER_ID",
    "DEFAULT_USER_ID",
    "Channel",
    "Guild",
    "Role",
    "User",
]

DEFAULT_APPLICATION_ID = 1_300_000_000_000_000_001
DEFAULT_GUILD_ID = 1_300_000_000_000_000_100
DEFAULT_OWNER_ID = 1_300_000_000_000_000_200
DEFAULT_USER_ID = 1_300_000_000_000_000_300

ADMINISTRATOR = 1 << 3
#: Every permission bit Discord currently defines (bits 0..50).
ALL_PERMISSIONS = (1 << 51) - 1
#: Roughly what Discord gives ``@everyone`` in a new server: view, send, embed, attach, history,
#: reactions, external emoji, connect/speak, use application commands, threads, invites, nickname.
DEFAULT_EVERYONE_PERMISSIONS = (
    (1 << 0)  # CREATE_INSTANT_INVITE
    | (1 << 6)  # ADD_REACTIONS
    | (1 << 10)  # VIEW_CHANNEL
    | (1 << 11)  # SEND_MESSAGES
    | (1 << 14)  # EMBED_LINKS
    | (1 << 15)  # ATTACH_FILES
    | (1 << 16)  # READ_MESSAGE_HISTORY
    | (1 << 18)  # USE_EXTERNAL_EMOJIS
    | (1 << 20)  # CONNECT
    | (1 << 21)  # SPEAK
    | (1 << 26)  # CHANGE_NICKNAME
    | (1 << 31)  # USE_APPLICATION_COMMANDS
    | (1 << 35)  # CREATE_PUBLIC_THREADS
    | (1 << 38)  # SEND_MESSAGES_IN_THREADS
)

_EPOCH_JOINED = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)


@attrs.frozen
class User:
    """A Discord user (``discriminator`` "0" means the new unique-username system)."""

    id: int = DEFAULT_USER_ID
    username: str = "tester"
    global_name: str | None = "Tester"
    discriminator: str = "0"
    avatar: str | None = None
    bot: bool = False


@attrs.frozen
class Channel:
    """A guild channel (type 0 = text)."""

    id: int
    name: str = "general"
    type: int = 0
    position: int = 0
    topic: str | None = None
    nsfw: bool = False
    parent_id: int | None = None


@attrs.frozen
class Role:
    """A guild role; the ``@everyone`` role has the guild's id."""

    id: int
    name: str
    permissions: int = 0
    position: int = 0
    color: int = 0
    hoist: bool = False
    managed: bool = False
    mentionable: bool = False


@attrs.frozen
class Guild:
    """A guild the bot is in.

    ``channels`` defaults to one text channel ``#general`` (id ``guild id + 1``); ``roles`` always gets an
    ``@everyone`` role (id = guild id) with ``everyone_permissions`` unless one is given.
    """

    id: int = DEFAULT_GUILD_ID
    name: str = "ORA Test Guild"
    owner_id: int = DEFAULT_OWNER_ID
    channels: tuple[Channel, ...] = attrs.field(default=(), converter=tuple)
    roles: tuple[Role, ...] = attrs.field(default=(), converter=tuple)
    members: tuple[User, ...] = attrs.field(default=(), converter=tuple)
    preferred_locale: str = "en-US"
    everyone_permissions: int = DEFAULT_EVERYONE_PERMISSIONS
    bot_permissions: int = DEFAULT_EVERYONE_PERMISSIONS
    joined_at: datetime.datetime = _EPOCH_JOINED

    def all_channels(self) -> tuple[Channel, ...]:
        """The guild's channels (the default ``#general`` when none were given)."""
        return self.channels or (Channel(id=self.id + 1, name="general"),)

    def default_channel(self) -> Channel:
        """The first text channel; interactions happen there unless told otherwise."""
        return self.all_channels()[0]

    def channel(self, channel_id: int) -> Channel | None:
        """The channel with this id, if it is in this guild."""
        return next((c for c in self.all_channels() if c.id == channel_id), None)

    def all_roles(self) -> tuple[Role, ...]:
        """The guild's roles, ``@everyone`` first."""
        if any(r.id == self.id for r in self.roles):
            return self.roles
        return (Role(id=self.id, name="@everyone", permissions=self.everyone_permissions), *self.roles)

    def base_permissions(self, user_id: int, role_ids: tuple[int, ...] = ()) -> int:
        """Guild-level permissions of a member (owner and administrators get everything)."""
        if user_id == self.owner_id:
            return ALL_PERMISSIONS
        perms = 0
        for role in self.all_roles():
            if role.id == self.id or role.id in role_ids:
                perms |= role.permissions
        return ALL_PERMISSIONS if perms & ADMINISTRATOR else perms
