"""INTERACTION_CREATE payloads as Discord documents them (application commands and autocomplete).

A guild interaction carries ``guild_id``, a partial ``guild``, ``member`` (with ``permissions`` as a string)
and ``guild_locale``; a DM interaction carries ``user`` and a DM ``channel``. Both carry ``app_permissions``,
``locale``, ``entitlements``, ``authorizing_integration_owners``, ``context`` (0 guild, 1 bot DM),
``attachment_size_limit`` and ``version: 1``. ``data.resolved`` holds the objects that option values
(snowflakes) refer to: users, members, channels, roles and attachments.
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from ora.testing.discord import payloads
from ora.testing.discord.commands import OptionType, build_options, find_subcommand, nest
from ora.testing.discord.models import ADMINISTRATOR, ALL_PERMISSIONS, DEFAULT_EVERYONE_PERMISSIONS, Guild, Role, User
from ora.testing.discord.payloads import JSON
from ora.testing.discord.state import EmulatorState

__all__ = ["InteractionSpec", "build_interaction", "interaction_token", "normalize_options"]


def interaction_token(interaction_id: int) -> str:
    """A token shaped like Discord's (``aW50ZXJhY3Rpb246…`` is base64 of ``interaction:``)."""
    head = base64.urlsafe_b64encode(f"interaction:{interaction_id}:".encode()).decode().rstrip("=")
    return head + secrets.token_urlsafe(96)


@attrs.frozen
class InteractionSpec:
    """What a user did: which command, with what, where and as whom."""

    name: str
    path: tuple[str, ...]
    values: Mapping[str, Any]
    user: User
    guild_id: int | None
    channel_id: int | None
    locale: str
    member_permissions: int | None
    roles: tuple[int, ...]
    extra_attachments: tuple[Any, ...] = ()
    focused: str | None = None


def normalize_options(options: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None) -> dict[str, Any]:
    """``{"name": value}`` from either a mapping or a list of ``{"name", "value"}`` dicts."""
    if options is None:
        return {}
    if isinstance(options, Mapping):
        return dict(options)
    return {str(o["name"]): o["value"] for o in options}


class _Resolver:
    """Collects ``data.resolved`` for snowflake-typed option values."""

    def __init__(self, state: EmulatorState, guild: Guild | None, channel_perms: int) -> None:
        self.state = state
        self.guild = guild
        self.channel_perms = channel_perms
        self.users: dict[str, JSON] = {}
        self.members: dict[str, JSON] = {}
        self.channels: dict[str, JSON] = {}
        self.roles: dict[str, JSON] = {}
        self.attachments: dict[str, JSON] = {}

    def add_user(self, value: Any) -> None:
        user = value if isinstance(value, User) else self.state.known_user(int(value)) or User(id=int(value))
        self.users[str(user.id)] = payloads.user(user)
        if self.guild is not None:
            member = payloads.interaction_member(user, self.guild.joined_at, [], self.guild.base_permissions(user.id))
            for field in ("user", "deaf", "mute"):  # resolved members are partial (Resolved Data Structure)
                del member[field]
            self.members[str(user.id)] = member

    def add_channel(self, value: Any) -> None:
        cid = int(value)
        for guild in self.state.guilds:
            channel = guild.channel(cid)
            if channel is not None:
                self.channels[str(cid)] = {
                    "id": str(cid),
                    "name": channel.name,
                    "type": channel.type,
                    "permissions": str(self.channel_perms),
                    "parent_id": str(channel.parent_id) if channel.parent_id else None,
                    "flags": 0,
                }
                return
        msg = f"unknown channel {cid}"
        raise LookupError(msg)

    def add_role(self, value: Any) -> None:
        rid = value.id if isinstance(value, Role) else int(value)
        guild = self.guild
        role = next((r for r in guild.all_roles() if r.id == rid), None) if guild is not None else None
        if role is None:
            msg = f"unknown role {rid}"
            raise LookupError(msg)
        self.roles[str(rid)] = payloads.role(role)

    def add_attachment(self, value: Any) -> None:
        aid = int(value["id"]) if isinstance(value, Mapping) else int(value)
        store = self.state.attachment_store
        self.attachments[str(aid)] = store.object(store.get(aid), self.state.base_url)

    def add(self, otype: int, value: Any) -> None:
        if otype == OptionType.USER:
            self.add_user(value)
        elif otype == OptionType.CHANNEL:
            self.add_channel(value)
        elif otype == OptionType.ROLE:
            self.add_role(value)
        elif otype == OptionType.ATTACHMENT:
            self.add_attachment(value)
        elif otype == OptionType.MENTIONABLE:
            rid = value.id if isinstance(value, (User, Role)) else int(value)
            if self.guild is not None and any(r.id == rid for r in self.guild.all_roles()):
                self.add_role(rid)
            else:
                self.add_user(value)

    def payload(self) -> JSON:
        out: JSON = {}
        for key in ("users", "members", "channels", "roles", "attachments"):
            items = getattr(self, key)
            if items:
                out[key] = items
        return out


def _snowflake_values(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (v.id if isinstance(v, (User, Role)) else v) for k, v in values.items()}


def build_interaction(
    state: EmulatorState, spec: InteractionSpec, *, interaction_type: int = 2
) -> tuple[int, str, JSON]:
    """``(id, token, payload)`` for an application command (type 2) or autocomplete (type 4) interaction."""
    command = state.command_store.find(spec.name, spec.guild_id)
    nodes, schema = find_subcommand(command, spec.path)
    leaf, refs = build_options(schema, _snowflake_values(spec.values), focused=spec.focused)
    if spec.focused is not None and spec.focused not in spec.values:
        msg = f"focused option {spec.focused!r} needs a (partial) value in options"
        raise ValueError(msg)

    guild = state.guild(spec.guild_id) if spec.guild_id is not None else None
    if spec.guild_id is not None and guild is None:
        msg = f"unknown guild {spec.guild_id}; the emulator has {[g.id for g in state.guilds]}"
        raise LookupError(msg)

    user = spec.user
    if guild is not None:
        base = guild.base_permissions(user.id, spec.roles)
        perms = spec.member_permissions if spec.member_permissions is not None else base
        if perms & ADMINISTRATOR:
            perms = ALL_PERMISSIONS
    else:
        perms = DEFAULT_EVERYONE_PERMISSIONS

    resolver = _Resolver(state, guild, perms)
    for otype, name in refs:
        resolver.add(otype, spec.values[name])
    for extra in spec.extra_attachments:
        resolver.add_attachment(extra)

    interaction_id = state.ids.next()
    token = interaction_token(interaction_id)
    data: JSON = {"id": command["id"], "name": command["name"], "type": command["type"]}
    options = nest(nodes, leaf)
    if options:
        data["options"] = options
    resolved = resolver.payload()
    if resolved:
        data["resolved"] = resolved
    if "guild_id" in command:
        data["guild_id"] = command["guild_id"]

    payload: JSON = {
        "id": str(interaction_id),
        "application_id": str(state.application_id),
        "type": interaction_type,
        "data": data,
        "token": token,
        "version": 1,
        "locale": spec.locale,
        "entitlements": [],
        "attachment_size_limit": state.attachment_size_limit,
    }
    if guild is not None:
        channel = guild.channel(spec.channel_id) if spec.channel_id is not None else guild.default_channel()
        if channel is None:
            msg = f"channel {spec.channel_id} is not in guild {guild.id}"
            raise LookupError(msg)
        payload.update(
            {
                "guild_id": str(guild.id),
                "guild": {"id": str(guild.id), "locale": guild.preferred_locale, "features": []},
                "guild_locale": guild.preferred_locale,
                "channel_id": str(channel.id),
                "channel": payloads.channel(channel, guild.id, permissions=perms),
                "member": payloads.interaction_member(user, guild.joined_at, spec.roles, perms),
                "app_permissions": str(guild.bot_permissions),
                "authorizing_integration_owners": {"0": str(guild.id)},
                "context": 0,
            }
        )
    else:
        dm_id = spec.channel_id or _dm_channel_id(state, user)
        payload.update(
            {
                "channel_id": str(dm_id),
                "channel": payloads.dm_channel(dm_id, user),
                "user": payloads.user(user),
                "app_permissions": str(DEFAULT_EVERYONE_PERMISSIONS),
                "authorizing_integration_owners": {"0": "0"},
                "context": 1,
            }
        )
    return interaction_id, token, payload


def _dm_channel_id(state: EmulatorState, user: User) -> int:
    if user.id not in state.dm_channels:
        state.dm_channels[user.id] = state.ids.next()
    return state.dm_channels[user.id]
