"""The ``discord:`` section of ``homecrew.yaml`` (every key optional).

The token and the guild usually come from ``.env`` (``DISCORD_TOKEN``, ``DISCORD_GUILD_ID``);
:meth:`DiscordSettings.with_environment` fills them in when the file leaves them out.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

# Discord's own pacing, not a user's choice (folded from settings; see bot/context.py):
# a typing indicator lasts 10 s, so it is renewed every 8 s; a channel's edits may come
# in bursts of 5 (Discord's per-webhook allowance) before the steady rate applies.
TYPING_INTERVAL_S = 8.0
CHANNEL_EDIT_BURST = 5

__all__ = ["CHANNEL_EDIT_BURST", "TYPING_INTERVAL_S", "DiscordSettings"]


class DiscordSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    token: SecretStr | None = Field(default=None, description="bot token; default $DISCORD_TOKEN")
    guild_ids: tuple[int, ...] = Field(
        default=(), description="the guild(s) the bot serves; default $DISCORD_GUILD_ID"
    )
    api_base: str | None = Field(
        default=None, description="Discord REST base (default https://discord.com/api/v10)"
    )
    gateway_url: str | None = Field(default=None, description="gateway URL override")
    channels: dict[str, str] = Field(
        default_factory=dict, description="agent -> channel name (default: the persona's channel)"
    )
    alerts_channel: str = "alerts"
    admin_role: str = Field(default="admin", description="Discord role allowed /halt, overrides")
    webhook_name: str = Field(default="homecrew", min_length=1, max_length=80)
    webhooks_per_channel: int = Field(
        default=4, ge=1, le=15,
        description="webhooks per agent channel, taken by replies in turn (discord.py sends "
                    "one request at a time per webhook, and Discord rate-limits each)")
    footer_channels: tuple[str, ...] = Field(
        default=(), description="channel names whose replies show a footer ('*': all)"
    )
    edit_interval: float = Field(default=1.0, gt=0, description="seconds between edits of a reply")
    edits_per_second: float = Field(default=20.0, gt=0, description="edits across the whole bot")
    channel_edits_per_second: float = Field(default=2.5, gt=0, description="edits per channel")
    max_input_chars: int = Field(default=8000, ge=100, description="longer messages are cut")
    typing_grace: float = Field(
        default=0.1, ge=0, le=5,
        description="seconds before the typing indicator shows; a reply whose first text "
        "comes sooner (a cached answer, a fast node) is posted without it",
    )
    catch_up_window: float = Field(
        default=600.0, ge=0,
        description="seconds: after a restart or a reconnect that could not resume, people's "
        "messages missed meanwhile and younger than this are answered (oldest first); older "
        "ones are not, and the agent says how many it missed",
    )
    shutdown_grace: float = Field(default=10.0, gt=0, description="seconds replies get to finish")
    post_retry_window: float = Field(
        default=300.0, gt=0,
        description="seconds a reply keeps retrying a post or edit Discord did not take "
                    "(network error, 5xx, malformed answer) before it ends with a marker")
    command_sync_retry_initial: float = Field(
        default=30.0, gt=0, description="seconds before retrying a failed slash-command sync")
    command_sync_retry_max: float = Field(
        default=600.0, gt=0, description="longest wait between slash-command sync retries")
    reconnect_initial_delay: float = Field(
        default=1.0, gt=0, le=60,
        description="wait before the first reconnect attempt after the gateway failed")
    reconnect_max_delay: float = Field(
        default=10.0, gt=0, le=60,
        description="longest wait before reconnecting to the gateway (the delay doubles per "
                    "failed attempt up to this, and starts over once connected)")
    max_gateway_crashes: int = Field(
        default=5, ge=1,
        description="unexpected gateway errors (e.g. a payload discord.py cannot parse) "
                    "within crash_window that end the process (non-zero) instead of "
                    "reconnecting")
    crash_window: float = Field(default=600.0, gt=0,
                                description="seconds over which gateway crashes are counted")

    @field_validator("guild_ids", mode="before")
    @classmethod
    def _ids(cls, value: object) -> object:
        if value is None or value == "":
            return ()
        if isinstance(value, int):
            return (value,)
        if isinstance(value, str):
            return tuple(int(part) for part in value.replace(" ", "").split(",") if part)
        return value

    @field_validator("token", "api_base", "gateway_url", mode="before")
    @classmethod
    def _blank(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("channels")
    @classmethod
    def _plain_names(cls, names: dict[str, str]) -> dict[str, str]:
        return {agent.lower(): name.lstrip("#").strip() for agent, name in names.items()}

    def with_environment(self, env: Mapping[str, str]) -> DiscordSettings:
        """Fill the token and the guild from ``DISCORD_TOKEN`` / ``DISCORD_GUILD_ID``."""
        update: dict[str, object] = {}
        if self.token is None and env.get("DISCORD_TOKEN"):
            update["token"] = SecretStr(env["DISCORD_TOKEN"])
        if not self.guild_ids and env.get("DISCORD_GUILD_ID"):
            update["guild_ids"] = self._ids(env["DISCORD_GUILD_ID"])
        return self.model_copy(update=update) if update else self

    def footer_in(self, channel_name: str) -> bool:
        return "*" in self.footer_channels or channel_name in self.footer_channels
