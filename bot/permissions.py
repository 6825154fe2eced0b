"""Who may do what from Discord.

A person is an admin when they hold the configured admin role (``discord.admin_role``,
default ``admin``) or their Discord user id is listed in ``team.admins``. Names are not
trusted (anyone can pick a display name), and a person is always a person: a member
called "chief" does not get Chief's authority.
"""

from __future__ import annotations

import discord

from team.actors import Actor

__all__ = [
    "BOT_PERMISSIONS",
    "PERMISSION_BITS",
    "actor_for",
    "has_admin_role",
    "is_admin",
    "missing_permissions",
]


def has_admin_role(user: discord.abc.User, role_name: str) -> bool:
    roles = getattr(user, "roles", ())
    wanted = role_name.strip().lower()
    return any(role.name.lower() == wanted for role in roles)


def is_admin(user: discord.abc.User, *, role_name: str, admin_ids: tuple[str, ...]) -> bool:
    return has_admin_role(user, role_name) or str(user.id) in admin_ids


def actor_for(user: discord.abc.User, *, role_name: str, admin_ids: tuple[str, ...]) -> Actor:
    """The audit-log actor for a Discord user (``@name``; admin when allowed)."""
    return Actor.person(user.name, admin=is_admin(user, role_name=role_name, admin_ids=admin_ids),
                        user_id=str(user.id))


# What the bot needs in its channels, bit by bit (Discord permission flags).
PERMISSION_BITS: dict[str, int] = {
    "View Channels": 1 << 10,  # see the agent channels
    "Send Messages": 1 << 11,  # answers that do not go through a webhook
    "Embed Links": 1 << 14,  # /status, /spend, task cards, Chief's alerts
    "Attach Files": 1 << 15,  # the /spend chart, the daily report's chart
    "Read Message History": 1 << 16,  # follow reply chains; catch up on missed messages
    "Manage Webhooks": 1 << 29,  # each agent speaks under its own name and avatar
    "Create Public Threads": 1 << 35,  # a thread per sub-task in the specialist's channel
    "Send Messages in Threads": 1 << 38,  # answer in threads
}
BOT_PERMISSIONS = sum(PERMISSION_BITS.values())


def missing_permissions(granted: int) -> list[str]:
    """The needed permissions ``granted`` lacks (Administrator grants everything)."""
    if granted & (1 << 3):
        return []
    return [name for name, bit in PERMISSION_BITS.items() if not granted & bit]
