"""JSON for users, members, roles, channels, threads and the guild, as Discord sends them."""

from __future__ import annotations

from typing import Any

from .world import StandinChannel, StandinRole, StandinUser, World

__all__ = [
    "JSON",
    "channel_payload",
    "dm_channel_payload",
    "guild_create_payload",
    "guild_rest_payload",
    "member_payload",
    "role_payload",
    "user_payload",
]

JSON = dict[str, Any]


def user_payload(user: StandinUser) -> JSON:
    return {
        "id": str(user.id),
        "username": user.name,
        "discriminator": "0",
        "global_name": None if user.bot else user.name.title(),
        "avatar": None,
        "bot": user.bot,
        "system": False,
        "public_flags": 0,
    }


def member_payload(user: StandinUser, *, with_user: bool = True) -> JSON:
    payload: JSON = {
        "roles": [str(r) for r in user.role_ids],
        "nick": None,
        "avatar": None,
        "joined_at": user.joined_at,
        "premium_since": None,
        "deaf": False,
        "mute": False,
        "flags": 0,
        "pending": False,
        "communication_disabled_until": None,
    }
    if with_user:
        payload["user"] = user_payload(user)
    return payload


def role_payload(role: StandinRole) -> JSON:
    return {
        "id": str(role.id),
        "name": role.name,
        "color": 0,
        "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
        "hoist": False,
        "icon": None,
        "unicode_emoji": None,
        "position": role.position,
        "permissions": str(role.permissions),
        "managed": role.managed,
        "mentionable": False,
        "flags": 0,
    }


def channel_payload(channel: StandinChannel, guild_id: int, *, message_count: int = 0) -> JSON:
    if channel.is_thread:
        return _thread_payload(channel, guild_id, message_count)

    return {
        "id": str(channel.id),
        "type": channel.type,
        "guild_id": str(guild_id),
        "name": channel.name,
        "position": channel.position,
        "parent_id": None if channel.parent_id is None else str(channel.parent_id),
        "topic": channel.topic,
        "nsfw": False,
        "permission_overwrites": [],
        "rate_limit_per_user": 0,
        "last_message_id": None,
        "default_auto_archive_duration": 1440,
        "flags": 0,
    }


def dm_channel_payload(channel: StandinChannel, recipient: StandinUser) -> JSON:
    return {
        "id": str(channel.id),
        "type": channel.type,
        "last_message_id": None,
        "flags": 0,
        "recipients": [user_payload(recipient)],
    }


def _thread_payload(thread: StandinChannel, guild_id: int, message_count: int) -> JSON:
    return {
        "id": str(thread.id),
        "type": thread.type,
        "guild_id": str(guild_id),
        "name": thread.name,
        "parent_id": str(thread.parent_id),
        "owner_id": str(thread.owner_id),
        "last_message_id": None,
        "rate_limit_per_user": 0,
        "message_count": message_count,
        "member_count": 1,
        "total_message_sent": message_count,
        "flags": 0,
        "thread_metadata": {
            "archived": thread.archived,
            "auto_archive_duration": 1440,
            "archive_timestamp": thread.created_at,
            "locked": False,
            "create_timestamp": thread.created_at,
        },
    }


def _guild_common(world: World) -> JSON:
    return {
        "id": str(world.guild_id),
        "name": world.guild_name,
        "icon": None,
        "splash": None,
        "discovery_splash": None,
        "banner": None,
        "description": None,
        "owner_id": str(next(u.id for u in world.users.values() if not u.bot)),
        "afk_channel_id": None,
        "afk_timeout": 300,
        "verification_level": 0,
        "default_message_notifications": 1,
        "explicit_content_filter": 0,
        "roles": [role_payload(r) for r in world.roles.values()],
        "emojis": [],
        "stickers": [],
        "features": [],
        "mfa_level": 0,
        "application_id": None,
        "system_channel_id": None,
        "system_channel_flags": 0,
        "rules_channel_id": None,
        "public_updates_channel_id": None,
        "safety_alerts_channel_id": None,
        "preferred_locale": "en-US",
        "premium_tier": 0,
        "premium_subscription_count": 0,
        "premium_progress_bar_enabled": False,
        "nsfw_level": 0,
        "vanity_url_code": None,
        "max_members": 500000,
    }


def guild_create_payload(world: World) -> JSON:
    """The GUILD_CREATE dispatch sent after READY."""
    payload = _guild_common(world)
    payload.update(
        {
            "unavailable": False,
            "large": False,
            "lazy": True,
            "joined_at": world.bot_user.joined_at,
            "member_count": len(world.users),
            "members": [member_payload(u) for u in world.users.values()],
            "channels": [channel_payload(c, world.guild_id) for c in world.text_channels()],
            "threads": [channel_payload(t, world.guild_id) for t in world.threads()],
            "presences": [],
            "voice_states": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }
    )
    return payload


def guild_rest_payload(world: World, *, with_counts: bool) -> JSON:
    """`GET /guilds/{id}`."""
    payload = _guild_common(world)
    if with_counts:
        payload["approximate_member_count"] = len(world.users)
        payload["approximate_presence_count"] = len(world.users)
    return payload
