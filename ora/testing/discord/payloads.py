"""JSON payload builders in the shapes Discord's API v10 documents.

Snowflakes are strings, permissions are strings, timestamps are ISO-8601 with an offset. Every builder
returns a fresh ``dict`` so callers may mutate it. Checked against hikari 2.6's entity factory (see
``tests/testing/test_discord_emulator.py``, which deserializes each shape with hikari).
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import itertools
import time
from collections.abc import Mapping, Sequence
from typing import Any

from ora.testing.discord.models import Channel, Guild, Role, User

__all__ = [
    "DISCORD_EPOCH_MS",
    "JSON",
    "SnowflakeFactory",
    "application",
    "channel",
    "dm_channel",
    "error_body",
    "guild",
    "guild_create",
    "interaction_member",
    "iso",
    "make_token",
    "member",
    "message",
    "own_user",
    "role",
    "user",
]

JSON = dict[str, Any]
DISCORD_EPOCH_MS = 1_420_070_400_000


def iso(when: datetime.datetime | None = None) -> str:
    """Discord's timestamp format: ``2024-01-01T00:00:00.000000+00:00``."""
    when = when or datetime.datetime.now(datetime.UTC)
    return when.astimezone(datetime.UTC).isoformat(timespec="microseconds")


class SnowflakeFactory:
    """Makes realistic, strictly increasing snowflakes (timestamp, worker 1, process 0, increment)."""

    def __init__(self) -> None:
        self._counter = itertools.count()
        self._last = 0

    def next(self) -> int:
        """A new snowflake."""
        ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        value = (ms << 22) | (1 << 17) | (next(self._counter) & 0xFFF)
        self._last = value = max(value, self._last + 1)
        return value


def make_token(user_id: int, secret: str = "ora-emulator") -> str:
    """A bot token shaped like Discord's: ``base64(user id).base64(timestamp).hmac`` (hikari parses the id)."""
    head = base64.urlsafe_b64encode(str(user_id).encode()).decode().rstrip("=")
    stamp = base64.urlsafe_b64encode(b"\x00emu").decode().rstrip("=")
    tail = base64.urlsafe_b64encode(hashlib.sha256(f"{secret}:{user_id}".encode()).digest()).decode()[:38]
    return f"{head}.{stamp}.{tail}"


def error_body(code: int, message: str, errors: Mapping[str, Any] | None = None) -> JSON:
    """Discord's JSON error body (``errors`` only for form errors, code 50035)."""
    body: JSON = {"code": code, "message": message}
    if errors is not None:
        body["errors"] = dict(errors)
    return body


def user(u: User) -> JSON:
    """A user object."""
    return {
        "id": str(u.id),
        "username": u.username,
        "global_name": u.global_name,
        "discriminator": u.discriminator,
        "avatar": u.avatar,
        "avatar_decoration_data": None,
        "banner": None,
        "accent_color": None,
        "public_flags": 0,
        "flags": 0,
        "primary_guild": None,
        "collectibles": None,
        **({"bot": True} if u.bot else {}),
    }


def own_user(u: User) -> JSON:
    """``GET /users/@me`` for a bot."""
    return {
        **user(u),
        "bot": True,
        "mfa_enabled": False,
        "locale": "en-US",
        "verified": True,
        "email": None,
        "premium_type": 0,
    }


def application(app_id: int, bot: User, owner: User) -> JSON:
    """``GET /oauth2/applications/@me`` and ``GET /applications/@me`` (Discord's private application object).

    hikari's ``fetch_application`` (lightbulb's start-up) reads ``bot_public``, ``bot_require_code_grant``,
    ``owner``, ``verify_key``, ``flags`` and the install parameters.
    """
    install = {"scopes": ["bot", "applications.commands"], "permissions": "2147485696"}
    flags = 1 << 19  # GATEWAY_MESSAGE_CONTENT_LIMITED
    return {
        "id": str(app_id),
        "name": bot.username,
        "icon": None,
        "description": "ORA test application",
        "type": None,
        "bot": user(bot),
        "bot_public": True,
        "bot_require_code_grant": False,
        "verify_key": "a" * 64,
        "owner": user(owner),
        "team": None,
        "flags": flags,
        "flags_new": str(flags),
        "tags": [],
        "rpc_origins": [],
        "redirect_uris": [],
        "interactions_endpoint_url": None,
        "role_connections_verification_url": None,
        "install_params": install,
        "integration_types_config": {"0": {"oauth2_install_params": install}},
        "approximate_guild_count": 1,
        "approximate_user_install_count": 0,
        "approximate_user_authorization_count": 0,
        "explicit_content_filter": 0,
        "eligible_oauth2_scopes": ["bot", "applications.commands"],
    }


def role(r: Role) -> JSON:
    """A role object."""
    return {
        "id": str(r.id),
        "name": r.name,
        "color": r.color,
        "colors": {"primary_color": r.color, "secondary_color": None, "tertiary_color": None},
        "hoist": r.hoist,
        "icon": None,
        "unicode_emoji": None,
        "position": r.position,
        "permissions": str(r.permissions),
        "managed": r.managed,
        "mentionable": r.mentionable,
        "flags": 0,
    }


def channel(c: Channel, guild_id: int, *, permissions: int | None = None, with_guild_id: bool = True) -> JSON:
    """A guild channel object (``permissions`` is the interaction-only computed field)."""
    payload: JSON = {
        "id": str(c.id),
        "type": c.type,
        "name": c.name,
        "position": c.position,
        "permission_overwrites": [],
        "parent_id": str(c.parent_id) if c.parent_id else None,
        "nsfw": c.nsfw,
        "topic": c.topic,
        "last_message_id": None,
        "last_pin_timestamp": None,
        "rate_limit_per_user": 0,
        "flags": 0,
    }
    if with_guild_id:
        payload["guild_id"] = str(guild_id)
    if permissions is not None:
        payload["permissions"] = str(permissions)
    return payload


def dm_channel(channel_id: int, recipient: User) -> JSON:
    """A DM channel object as sent in a DM interaction."""
    return {
        "id": str(channel_id),
        "type": 1,
        "last_message_id": None,
        "flags": 0,
        "recipients": [user(recipient)],
    }


def member(u: User, joined_at: datetime.datetime, role_ids: Sequence[int] = ()) -> JSON:
    """A guild member object (GUILD_CREATE / REST shape)."""
    return {
        "user": user(u),
        "nick": None,
        "avatar": None,
        "banner": None,
        "roles": [str(r) for r in role_ids],
        "joined_at": iso(joined_at),
        "premium_since": None,
        "deaf": False,
        "mute": False,
        "flags": 0,
        "pending": False,
        "communication_disabled_until": None,
    }


def interaction_member(u: User, joined_at: datetime.datetime, role_ids: Sequence[int], permissions: int) -> JSON:
    """The ``member`` of an interaction: a member plus its computed channel ``permissions``."""
    return {**member(u, joined_at, role_ids), "permissions": str(permissions)}


def guild(g: Guild) -> JSON:
    """A guild object (``GET /guilds/{id}`` shape)."""
    return {
        "id": str(g.id),
        "name": g.name,
        "icon": None,
        "home_header": None,
        "splash": None,
        "discovery_splash": None,
        "owner_id": str(g.owner_id),
        "region": "deprecated",
        "afk_channel_id": None,
        "afk_timeout": 300,
        "widget_enabled": False,
        "widget_channel_id": None,
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "roles": [role(r) for r in g.all_roles()],
        "emojis": [],
        "features": [],
        "mfa_level": 0,
        "application_id": None,
        "system_channel_id": str(g.default_channel().id),
        "system_channel_flags": 0,
        "rules_channel_id": None,
        "max_presences": None,
        "max_members": 500_000,
        "vanity_url_code": None,
        "description": None,
        "banner": None,
        "premium_tier": 0,
        "premium_subscription_count": 0,
        "preferred_locale": g.preferred_locale,
        "public_updates_channel_id": None,
        "max_video_channel_users": 25,
        "max_stage_video_channel_users": 50,
        "nsfw": False,
        "nsfw_level": 0,
        "stickers": [],
        "premium_progress_bar_enabled": False,
        "safety_alerts_channel_id": None,
        "incidents_data": None,
    }


def guild_create(g: Guild, bot: User, owner: User) -> JSON:
    """The ``GUILD_CREATE`` dispatch sent after READY (``unavailable: false`` = guild available)."""
    people: dict[int, User] = {bot.id: bot, owner.id: owner}
    for m in g.members:
        people.setdefault(m.id, m)
    return {
        **guild(g),
        "icon_hash": None,
        "joined_at": iso(g.joined_at),
        "large": False,
        "unavailable": False,
        "member_count": len(people),
        "voice_states": [],
        "members": [member(u, g.joined_at) for u in people.values()],
        "channels": [channel(c, g.id, with_guild_id=False) for c in g.all_channels()],
        "threads": [],
        "presences": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "soundboard_sounds": [],
        "embedded_activities": [],
        "lazy": True,
        "application_command_counts": {},
        "hub_type": None,
        "version": int(time.time() * 1000),
    }


def message(
    *,
    message_id: int,
    channel_id: int,
    author: User,
    body: Mapping[str, Any],
    message_type: int,
    application_id: int,
    interaction: Mapping[str, Any] | None = None,
    attachments: Sequence[Mapping[str, Any]] = (),
    edited: bool = False,
    timestamp: str | None = None,
) -> JSON:
    """A REST message object made from a create/edit body (content, embeds, components, flags...).

    No ``guild_id``: Discord sends it only on gateway message events, never on REST message objects.
    """
    payload: JSON = {
        "id": str(message_id),
        "type": message_type,
        "channel_id": str(channel_id),
        "author": {**user(author), "bot": True},
        "content": body.get("content") or "",
        "timestamp": timestamp or iso(),
        "edited_timestamp": iso() if edited else None,
        "tts": bool(body.get("tts", False)),
        "mention_everyone": False,
        "mentions": [],
        "mention_roles": [],
        "attachments": [dict(a) for a in attachments],
        "embeds": list(body.get("embeds") or []),
        "components": list(body.get("components") or []),
        "pinned": False,
        "flags": int(body.get("flags") or 0),
        "webhook_id": str(application_id),
        "application_id": str(application_id),
    }
    if interaction is not None:
        payload["interaction_metadata"] = dict(interaction)
    return payload
