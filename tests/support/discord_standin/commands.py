"""Registered application commands (bulk overwrite) and building a slash command's options."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import ApiError
from .payloads import JSON, channel_payload, member_payload, role_payload, user_payload
from .snowflake import SnowflakeFactory
from .world import StandinChannel, StandinError, StandinRole, StandinUser, World

__all__ = ["CommandRegistry", "OptionValue", "RegisteredCommand", "build_options"]

OptionValue = str | int | float | bool | StandinUser | StandinChannel | StandinRole
_NAME = re.compile(r"^[-_'\w]{1,32}$")
_SUB, _GROUP, _STRING, _INT, _BOOL, _USER, _CHANNEL, _ROLE, _MENTIONABLE, _NUMBER = (
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
)


@dataclass
class RegisteredCommand:
    id: int
    name: str
    type: int
    guild_id: int | None
    payload: JSON


class CommandRegistry:
    def __init__(self, ids: SnowflakeFactory, application_id: int) -> None:
        self._ids = ids
        self._application_id = application_id
        self.guild: dict[tuple[str, int], RegisteredCommand] = {}
        self.global_: dict[tuple[str, int], RegisteredCommand] = {}

    def overwrite(self, commands: list[JSON], guild_id: int | None) -> list[JSON]:
        table = self.global_ if guild_id is None else self.guild
        seen: set[tuple[str, int]] = set()
        fresh: dict[tuple[str, int], RegisteredCommand] = {}
        for index, spec in enumerate(commands):
            _validate(index, spec)
            key = (str(spec["name"]), int(spec.get("type", 1)))
            if key in seen:
                raise ApiError.invalid_form(f"{index}.name", "Command names must be unique")
            seen.add(key)
            old = table.get(key)
            command_id = old.id if old is not None else self._ids.next()
            fresh[key] = RegisteredCommand(
                command_id, key[0], key[1], guild_id, self._returned(spec, command_id, guild_id)
            )
        table.clear()
        table.update(fresh)
        return [c.payload for c in fresh.values()]

    def _returned(self, spec: JSON, command_id: int, guild_id: int | None) -> JSON:
        body: JSON = {
            "id": str(command_id),
            "application_id": str(self._application_id),
            "version": str(self._ids.next()),
            "type": int(spec.get("type", 1)),
            "name": spec["name"],
            "name_localizations": spec.get("name_localizations"),
            "description": spec.get("description", ""),
            "description_localizations": spec.get("description_localizations"),
            "options": spec.get("options") or [],
            "default_member_permissions": spec.get("default_member_permissions"),
            "dm_permission": spec.get("dm_permission", True),
            "nsfw": bool(spec.get("nsfw", False)),
            "contexts": spec.get("contexts"),
            "integration_types": spec.get("integration_types") or [0],
        }
        if guild_id is not None:
            body["guild_id"] = str(guild_id)
        return body

    def listing(self, guild_id: int | None) -> list[JSON]:
        table = self.global_ if guild_id is None else self.guild
        return [c.payload for c in table.values()]

    def find(self, name: str, type_: int = 1) -> RegisteredCommand | None:
        return self.guild.get((name, type_)) or self.global_.get((name, type_))


def _validate(index: int, spec: JSON) -> None:
    name = str(spec.get("name", ""))
    chat_input = int(spec.get("type", 1)) == 1
    if chat_input and (not _NAME.match(name) or name != name.lower()):
        raise ApiError.invalid_form(f"{index}.name", "Command name is invalid")
    description = str(spec.get("description", ""))
    if chat_input and not 1 <= len(description) <= 100:
        raise ApiError.invalid_form(f"{index}.description", "Must be between 1 and 100 in length.")


def _find_option(options: list[JSON], name: str, kinds: tuple[int, ...]) -> JSON:
    for option in options:
        if option.get("name") == name and option.get("type") in kinds:
            return option
    raise StandinError(f"no subcommand/group named {name!r} in the registered command")


def build_options(
    command: RegisteredCommand | None,
    values: Mapping[str, OptionValue],
    world: World,
    *,
    subcommand: str | None = None,
    group: str | None = None,
) -> tuple[list[JSON], JSON]:
    """The `options` and `resolved` of an APPLICATION_COMMAND interaction's data."""
    schema: list[JSON] | None = None if command is None else command.payload.get("options") or []
    group_opt = sub_opt = None
    if group is not None:
        group_opt = _find_option(schema or [], group, (_GROUP,)) if schema is not None else None
        schema = None if group_opt is None else group_opt.get("options") or []
    if subcommand is not None:
        sub_opt = _find_option(schema or [], subcommand, (_SUB,)) if schema is not None else None
        schema = None if sub_opt is None else sub_opt.get("options") or []
    resolved: JSON = {}
    leaves = [_leaf(name, value, schema, world, resolved) for name, value in values.items()]
    _check_required(schema, values)
    options: list[JSON] = leaves
    if subcommand is not None:
        options = [{"type": _SUB, "name": subcommand, "options": options}]
    if group is not None:
        options = [{"type": _GROUP, "name": group, "options": options}]
    return options, resolved


def _check_required(schema: list[JSON] | None, values: Mapping[str, OptionValue]) -> None:
    for option in schema or []:
        if option.get("required") and option["name"] not in values:
            raise StandinError(f"required option {option['name']!r} missing")


def _leaf(
    name: str, value: OptionValue, schema: list[JSON] | None, world: World, resolved: JSON
) -> JSON:
    kind = _infer(value)
    if schema is not None:
        spec = next((o for o in schema if o.get("name") == name), None)
        if spec is None:
            raise StandinError(f"the registered command has no option {name!r}")
        kind = int(spec["type"])
        choices = [c.get("value") for c in spec.get("choices") or []]
        if choices and value not in choices:
            raise StandinError(f"{value!r} is not one of the choices {choices} for {name!r}")
    return {"type": kind, "name": name, "value": _encode(kind, value, world, resolved)}


def _infer(value: OptionValue) -> int:
    if isinstance(value, bool):
        return _BOOL
    if isinstance(value, int):
        return _INT
    if isinstance(value, float):
        return _NUMBER
    if isinstance(value, StandinUser):
        return _USER
    if isinstance(value, StandinChannel):
        return _CHANNEL
    if isinstance(value, StandinRole):
        return _ROLE
    return _STRING


def _encode(kind: int, value: OptionValue, world: World, resolved: JSON) -> Any:
    if kind == _STRING:
        return str(value)
    if kind == _INT:
        return int(value)  # type: ignore[arg-type]
    if kind == _NUMBER:
        return float(value)  # type: ignore[arg-type]
    if kind == _BOOL:
        return bool(value)
    if kind in (_USER, _MENTIONABLE) and not isinstance(value, StandinRole):
        user = world.user(value)  # type: ignore[arg-type]
        resolved.setdefault("users", {})[str(user.id)] = user_payload(user)
        member = member_payload(user, with_user=False)
        member["permissions"] = str(world.permissions_of(user))
        resolved.setdefault("members", {})[str(user.id)] = member
        return str(user.id)
    if kind in (_ROLE, _MENTIONABLE):
        role = value if isinstance(value, StandinRole) else world.role(str(value))
        resolved.setdefault("roles", {})[str(role.id)] = role_payload(role)
        return str(role.id)
    if kind == _CHANNEL:
        channel = world.channel(value)  # type: ignore[arg-type]
        body = channel_payload(channel, world.guild_id)
        body["permissions"] = str(world.permissions_of(world.bot_user))
        resolved.setdefault("channels", {})[str(channel.id)] = body
        return str(channel.id)
    raise StandinError(f"option type {kind} is not supported by the stand-in")
