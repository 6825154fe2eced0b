"""The stand-in's guild: configuration, entities (users, roles, channels) and lookups."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from .snowflake import SnowflakeFactory, iso_now

__all__ = [
    "ADMINISTRATOR",
    "CREATE_PRIVATE_THREADS",
    "CREATE_PUBLIC_THREADS",
    "DEFAULT_BOT_PERMISSIONS",
    "DEFAULT_CHANNELS",
    "EVERYONE_PERMISSIONS",
    "MANAGE_WEBHOOKS",
    "SEND_MESSAGES",
    "SEND_MESSAGES_IN_THREADS",
    "ChannelRef",
    "RoleSpec",
    "StandinChannel",
    "StandinConfig",
    "StandinError",
    "StandinRole",
    "StandinUser",
    "UserRef",
    "UserSpec",
    "World",
]

ADD_REACTIONS = 1 << 6
ADMINISTRATOR = 1 << 3
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
MANAGE_MESSAGES = 1 << 13
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
MANAGE_WEBHOOKS = 1 << 29
USE_APPLICATION_COMMANDS = 1 << 31
MANAGE_THREADS = 1 << 34
CREATE_PUBLIC_THREADS = 1 << 35
CREATE_PRIVATE_THREADS = 1 << 36
SEND_MESSAGES_IN_THREADS = 1 << 38

EVERYONE_PERMISSIONS = (
    VIEW_CHANNEL | SEND_MESSAGES | READ_MESSAGE_HISTORY | ADD_REACTIONS | EMBED_LINKS
    | ATTACH_FILES | USE_APPLICATION_COMMANDS | CREATE_PUBLIC_THREADS | SEND_MESSAGES_IN_THREADS
)
DEFAULT_BOT_PERMISSIONS = (
    EVERYONE_PERMISSIONS | MANAGE_WEBHOOKS | MANAGE_MESSAGES | MANAGE_THREADS
    | CREATE_PRIVATE_THREADS
)
DEFAULT_CHANNELS = ("skip", "nellie", "chief", "gonzo", "cleo", "jax", "alerts")
# Application flags: GATEWAY_MESSAGE_CONTENT_LIMITED | GATEWAY_GUILD_MEMBERS_LIMITED.
DEFAULT_APPLICATION_FLAGS = (1 << 19) | (1 << 15)

TEXT_CHANNEL = 0
DM_CHANNEL = 1
PUBLIC_THREAD = 11
PRIVATE_THREAD = 12


class StandinError(Exception):
    """A test drove the stand-in into something a real Discord user could not do."""


@dataclass(frozen=True)
class RoleSpec:
    name: str
    permissions: int = 0


@dataclass(frozen=True)
class UserSpec:
    name: str
    roles: tuple[str, ...] = ()
    bot: bool = False


@dataclass(frozen=True)
class StandinConfig:
    """Everything about the stand-in a test may want to vary."""

    token: str = "standin-bot-token"
    bot_name: str = "homecrew"
    guild_name: str = "homelab"
    text_channels: tuple[str, ...] = DEFAULT_CHANNELS
    roles: tuple[RoleSpec, ...] = (RoleSpec("admin", ADMINISTRATOR),)
    users: tuple[UserSpec, ...] = (UserSpec("alice"), UserSpec("bob", roles=("admin",)))
    everyone_permissions: int = EVERYONE_PERMISSIONS
    bot_permissions: int = DEFAULT_BOT_PERMISSIONS
    heartbeat_interval_ms: int = 1000
    heartbeat_ack_delay: float = 0.0
    interaction_timeout: float = 3.0
    application_flags: int = DEFAULT_APPLICATION_FLAGS
    allow_privileged_intents: bool = True
    enforce_intents: bool = True
    ratelimit_limit: int = 50
    max_webhooks_per_channel: int = 15


@dataclass
class StandinRole:
    id: int
    name: str
    permissions: int
    position: int
    managed: bool = False

    @property
    def mention(self) -> str:
        return f"<@&{self.id}>"


@dataclass
class StandinUser:
    id: int
    name: str
    bot: bool = False
    role_ids: list[int] = field(default_factory=list)
    joined_at: str = field(default_factory=iso_now)

    @property
    def mention(self) -> str:
        return f"<@{self.id}>"


@dataclass
class StandinChannel:
    id: int
    name: str
    type: int = TEXT_CHANNEL
    position: int = 0
    parent_id: int | None = None
    topic: str | None = None
    owner_id: int | None = None
    archived: bool = False
    recipient_id: int | None = None
    created_at: str = field(default_factory=iso_now)

    @property
    def is_thread(self) -> bool:
        return self.type in (PUBLIC_THREAD, PRIVATE_THREAD)

    @property
    def is_dm(self) -> bool:
        return self.type == DM_CHANNEL

    @property
    def mention(self) -> str:
        return f"<#{self.id}>"


ChannelRef = int | str | StandinChannel
UserRef = int | str | StandinUser


class World:
    """The single guild the stand-in serves, with its roles, members and channels."""

    def __init__(self, config: StandinConfig, ids: SnowflakeFactory) -> None:
        self.config = config
        self.ids = ids
        self.guild_id = ids.next()
        self.guild_name = config.guild_name
        self.application_id = ids.next()
        self.bot_user = StandinUser(self.application_id, config.bot_name, bot=True)
        self.roles: dict[int, StandinRole] = {}
        self.users: dict[int, StandinUser] = {}
        self.channels: dict[int, StandinChannel] = {}
        self._build()

    def _build(self) -> None:
        cfg = self.config
        self.roles[self.guild_id] = StandinRole(
            self.guild_id, "@everyone", cfg.everyone_permissions, 0
        )
        bot_role = StandinRole(self.ids.next(), cfg.bot_name, cfg.bot_permissions, 1, True)
        self.roles[bot_role.id] = bot_role
        for position, role_spec in enumerate(cfg.roles, start=2):
            role = StandinRole(
                self.ids.next(), role_spec.name, role_spec.permissions, position
            )
            self.roles[role.id] = role
        self.bot_user.role_ids.append(bot_role.id)
        self.users[self.bot_user.id] = self.bot_user
        for spec in cfg.users:
            self.add_user(spec.name, roles=spec.roles, bot=spec.bot)
        for name in cfg.text_channels:
            self.add_channel(name)

    # -- mutation -----------------------------------------------------------------------------

    def add_user(self, name: str, *, roles: tuple[str, ...] = (), bot: bool = False) -> StandinUser:
        role_ids = [self.role(r).id for r in roles]
        user = StandinUser(self.ids.next(), name, bot=bot, role_ids=role_ids)
        self.users[user.id] = user
        return user

    def add_channel(self, name: str, *, topic: str | None = None) -> StandinChannel:
        position = sum(1 for _ in self.text_channels())
        channel = StandinChannel(self.ids.next(), name.lstrip("#"), position=position, topic=topic)
        self.channels[channel.id] = channel
        return channel

    def add_thread(
        self, parent: StandinChannel, name: str, owner: StandinUser, *,
        thread_id: int | None = None, private: bool = False,
    ) -> StandinChannel:
        if parent.is_thread:
            raise StandinError("threads cannot be nested")
        thread = StandinChannel(
            thread_id or self.ids.next(), name,
            type=PRIVATE_THREAD if private else PUBLIC_THREAD,
            parent_id=parent.id, owner_id=owner.id,
        )
        self.channels[thread.id] = thread
        return thread

    def dm_channel(self, user: StandinUser) -> StandinChannel:
        """The DM channel between the bot and `user` (created on first use)."""
        for channel in self.channels.values():
            if channel.is_dm and channel.recipient_id == user.id:
                return channel
        channel = StandinChannel(
            self.ids.next(), f"dm-{user.name}", type=DM_CHANNEL, recipient_id=user.id
        )
        self.channels[channel.id] = channel
        return channel

    # -- lookups ------------------------------------------------------------------------------

    def channel(self, ref: ChannelRef) -> StandinChannel:
        if isinstance(ref, StandinChannel):
            return ref
        if isinstance(ref, int):
            if ref in self.channels:
                return self.channels[ref]
            raise StandinError(f"no channel with id {ref}")
        name = ref.lstrip("#")
        for channel in self.channels.values():
            if channel.name == name:
                return channel
        raise StandinError(f"no channel named #{name}")

    def find_channel(self, channel_id: int) -> StandinChannel | None:
        return self.channels.get(channel_id)

    def user(self, ref: UserRef) -> StandinUser:
        if isinstance(ref, StandinUser):
            return ref
        if isinstance(ref, int):
            if ref in self.users:
                return self.users[ref]
            raise StandinError(f"no user with id {ref}")
        for user in self.users.values():
            if user.name == ref:
                return user
        raise StandinError(f"no user named {ref}")

    def role(self, name: str) -> StandinRole:
        for role in self.roles.values():
            if role.name == name:
                return role
        raise StandinError(f"no role named {name}")

    def text_channels(self) -> Iterator[StandinChannel]:
        return (c for c in self.channels.values() if c.type == TEXT_CHANNEL)

    def threads(self) -> Iterator[StandinChannel]:
        return (c for c in self.channels.values() if c.is_thread and not c.archived)

    def permissions_of(self, user: StandinUser) -> int:
        perms = self.roles[self.guild_id].permissions
        for role_id in user.role_ids:
            perms |= self.roles[role_id].permissions
        if perms & ADMINISTRATOR:
            return (1 << 53) - 1
        return perms

    def default_user(self) -> StandinUser:
        for user in self.users.values():
            if not user.bot:
                return user
        raise StandinError("the stand-in has no human users")
