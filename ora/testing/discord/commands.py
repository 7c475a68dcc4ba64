"""Application commands: the emulator's store of synced commands and interaction option building.

Speaks the ``/applications/{app}/commands`` and ``/applications/{app}/guilds/{guild}/commands`` semantics:
bulk overwrite keeps a command's id when its name and type match an existing one (as Discord does), and
returns the stored objects. :func:`build_options` turns ``{"name": value}`` into interaction ``options``
typed per the synced command (sub-commands, groups, ``resolved`` attachments/users/channels/roles).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ora.testing.discord.payloads import JSON, SnowflakeFactory

__all__ = ["CommandStore", "OptionType", "UnknownCommandError", "build_options", "find_subcommand"]


class OptionType:
    """Discord's application command option types."""

    SUB_COMMAND = 1
    SUB_COMMAND_GROUP = 2
    STRING = 3
    INTEGER = 4
    BOOLEAN = 5
    USER = 6
    CHANNEL = 7
    ROLE = 8
    MENTIONABLE = 9
    NUMBER = 10
    ATTACHMENT = 11


class UnknownCommandError(LookupError):
    """``send_command`` named a command (or sub-command/option) that was never synced."""


_OPTION_KEYS = (
    "type",
    "name",
    "name_localizations",
    "description",
    "description_localizations",
    "required",
    "choices",
    "options",
    "channel_types",
    "min_value",
    "max_value",
    "min_length",
    "max_length",
    "autocomplete",
)


def _normalize_option(raw: Mapping[str, Any]) -> JSON:
    out: JSON = {k: raw[k] for k in _OPTION_KEYS if k in raw and raw[k] is not None}
    out.setdefault("description", "")
    if "options" in out:
        out["options"] = [_normalize_option(o) for o in out["options"]]
    if out.get("required") is False:
        del out["required"]
    return out


class CommandStore:
    """Commands per scope (``None`` = global, else a guild id) plus counters of sync requests."""

    def __init__(self, application_id: int, ids: SnowflakeFactory) -> None:
        self._app_id = application_id
        self._ids = ids
        self._scopes: dict[int | None, list[JSON]] = {}
        #: number of bulk overwrites (PUT) per scope
        self.overwrites: dict[int | None, int] = {}
        #: number of listings (GET) per scope
        self.fetches: dict[int | None, int] = {}
        #: every request body that changed commands: (method, scope, body)
        self.requests: list[tuple[str, int | None, Any]] = []

    def commands(self, scope: int | None) -> list[JSON]:
        """The stored commands of a scope (copies)."""
        return [dict(c) for c in self._scopes.get(scope, [])]

    def scopes(self) -> list[int | None]:
        """Scopes that have had commands stored."""
        return list(self._scopes)

    def _normalize(self, raw: Mapping[str, Any], scope: int | None, existing: JSON | None) -> JSON:
        ctype = int(raw.get("type") or 1)
        perms = raw.get("default_member_permissions")
        cmd: JSON = {
            "id": existing["id"] if existing else str(self._ids.next()),
            "application_id": str(self._app_id),
            "version": str(self._ids.next()),
            "default_member_permissions": str(int(perms)) if perms is not None else None,
            "type": ctype,
            "name": raw["name"],
            "name_localizations": raw.get("name_localizations") or None,
            "description": raw.get("description", "") if ctype == 1 else "",
            "description_localizations": raw.get("description_localizations") or None,
            "nsfw": bool(raw.get("nsfw", False)),
            "integration_types": list(raw.get("integration_types") or [0]),
            "contexts": list(raw["contexts"]) if raw.get("contexts") is not None else None,
        }
        if ctype == 1:
            cmd["options"] = [_normalize_option(o) for o in raw.get("options") or []]
        if scope is not None:
            cmd["guild_id"] = str(scope)
        return cmd

    def _match(self, scope: int | None, raw: Mapping[str, Any]) -> JSON | None:
        ctype = int(raw.get("type") or 1)
        for cmd in self._scopes.get(scope, []):
            if ("id" in raw and raw["id"] is not None and str(raw["id"]) == cmd["id"]) or (
                cmd["name"] == raw["name"] and cmd["type"] == ctype
            ):
                return cmd
        return None

    def overwrite(self, scope: int | None, body: Sequence[Mapping[str, Any]]) -> list[JSON]:
        """``PUT`` bulk overwrite: replace the scope's commands, keeping ids of matching ones."""
        new = [self._normalize(raw, scope, self._match(scope, raw)) for raw in body]
        self._scopes[scope] = new
        self.overwrites[scope] = self.overwrites.get(scope, 0) + 1
        self.requests.append(("PUT", scope, [dict(b) for b in body]))
        return self.commands(scope)

    def upsert(self, scope: int | None, raw: Mapping[str, Any]) -> tuple[JSON, bool]:
        """``POST``: create, or replace the command with the same name and type. Returns (command, created)."""
        existing = self._match(scope, {k: v for k, v in raw.items() if k != "id"})
        cmd = self._normalize(raw, scope, existing)
        items = self._scopes.setdefault(scope, [])
        if existing is not None:
            items[items.index(existing)] = cmd
        else:
            items.append(cmd)
        self.requests.append(("POST", scope, dict(raw)))
        return dict(cmd), existing is None

    def get(self, scope: int | None, command_id: int) -> JSON | None:
        """One command by id."""
        return next((dict(c) for c in self._scopes.get(scope, []) if c["id"] == str(command_id)), None)

    def edit(self, scope: int | None, command_id: int, raw: Mapping[str, Any]) -> JSON | None:
        """``PATCH``: merge fields into a command."""
        items = self._scopes.get(scope, [])
        for i, cmd in enumerate(items):
            if cmd["id"] == str(command_id):
                merged = {**cmd, **raw}
                items[i] = self._normalize(merged, scope, cmd)
                self.requests.append(("PATCH", scope, dict(raw)))
                return dict(items[i])
        return None

    def delete(self, scope: int | None, command_id: int) -> bool:
        """``DELETE`` one command."""
        items = self._scopes.get(scope, [])
        for cmd in items:
            if cmd["id"] == str(command_id):
                items.remove(cmd)
                self.requests.append(("DELETE", scope, command_id))
                return True
        return False

    def find(self, name: str, guild_id: int | None, ctype: int = 1) -> JSON:
        """The command a user would invoke by name: the guild's own first, then global ones."""
        scopes: list[int | None] = [guild_id, None] if guild_id is not None else [None]
        for scope in scopes:
            for cmd in self._scopes.get(scope, []):
                if cmd["name"] == name and cmd["type"] == ctype:
                    return dict(cmd)
        where = f"guild {guild_id} or global" if guild_id is not None else "global (DM)"
        known = sorted({c["name"] for s in scopes for c in self._scopes.get(s, [])})
        msg = f"no synced command {name!r} in {where} scope; synced: {known}"
        raise UnknownCommandError(msg)


def find_subcommand(command: JSON, path: Sequence[str]) -> tuple[list[JSON], list[JSON]]:
    """Follow ``path`` (sub-command group / sub-command names) in a command.

    Returns ``(nodes, options)``: the option dicts along the path and the option schema at its end.
    """
    nodes: list[JSON] = []
    schema: list[JSON] = list(command.get("options") or [])
    for part in path:
        node = next(
            (
                o
                for o in schema
                if o["name"] == part and o["type"] in {OptionType.SUB_COMMAND, OptionType.SUB_COMMAND_GROUP}
            ),
            None,
        )
        if node is None:
            names = [o["name"] for o in schema]
            msg = f"/{command['name']}: no sub-command {part!r} (have {names})"
            raise UnknownCommandError(msg)
        nodes.append(node)
        schema = list(node.get("options") or [])
    if any(o["type"] in {OptionType.SUB_COMMAND, OptionType.SUB_COMMAND_GROUP} for o in schema):
        names = [o["name"] for o in schema]
        msg = f"/{command['name']} {' '.join(path)}: a sub-command must be chosen (one of {names})"
        raise UnknownCommandError(msg)
    return nodes, schema


def coerce_value(schema: JSON, value: Any) -> Any:
    """Type an option value the way Discord sends it."""
    otype = schema["type"]
    if otype == OptionType.STRING:
        result: Any = str(value)
    elif otype == OptionType.INTEGER:
        result = int(value)
    elif otype == OptionType.NUMBER:
        result = float(value)
    elif otype == OptionType.BOOLEAN:
        if not isinstance(value, bool):
            msg = f"option {schema['name']!r} is BOOLEAN; got {value!r}"
            raise TypeError(msg)
        result = value
    else:  # snowflake-valued types
        result = str(int(value["id"])) if isinstance(value, Mapping) else str(int(value))
    choices = schema.get("choices")
    if choices and result not in [c["value"] for c in choices]:
        msg = f"option {schema['name']!r}: {result!r} is not one of the choices {[c['value'] for c in choices]}"
        raise ValueError(msg)
    return result


def build_options(
    schema: Sequence[JSON], values: Mapping[str, Any], *, focused: str | None = None
) -> tuple[list[JSON], list[tuple[int, str]]]:
    """Interaction options for ``values`` against ``schema``.

    Returns ``(options, refs)`` where ``refs`` lists ``(option type, option name)`` for snowflake-typed
    options, so the caller can fill ``data.resolved``. With ``focused`` (autocomplete), that option is marked
    ``focused: true``, its value is sent as typed text, and missing required options are allowed.
    """
    by_name = {o["name"]: o for o in schema}
    unknown = sorted(set(values) - set(by_name))
    if unknown:
        msg = f"unknown option(s) {unknown}; the command has {sorted(by_name)}"
        raise UnknownCommandError(msg)
    if focused is None:
        missing = [o["name"] for o in schema if o.get("required") and o["name"] not in values]
        if missing:
            msg = f"required option(s) missing: {missing}"
            raise ValueError(msg)
    options: list[JSON] = []
    refs: list[tuple[int, Any]] = []
    for name, value in values.items():
        opt = by_name[name]
        if name == focused:
            options.append({"name": name, "type": opt["type"], "value": str(value), "focused": True})
            continue
        typed = coerce_value(opt, value)
        options.append({"name": name, "type": opt["type"], "value": typed})
        if opt["type"] in {
            OptionType.USER,
            OptionType.CHANNEL,
            OptionType.ROLE,
            OptionType.MENTIONABLE,
            OptionType.ATTACHMENT,
        }:
            refs.append((opt["type"], name))
    return options, refs


def nest(nodes: Sequence[JSON], leaf_options: list[JSON]) -> list[JSON]:
    """Wrap leaf options in the sub-command (group) path: ``[{"type": 2, "options": [{"type": 1, ...}]}]``."""
    options = leaf_options
    for node in reversed(nodes):
        options = [{"name": node["name"], "type": node["type"], "options": options}]
    return options
