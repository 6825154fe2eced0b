"""A tiny but real `commands.Bot` used to exercise the Discord stand-in end to end."""

from __future__ import annotations

import asyncio
import io

import discord
from discord import app_commands
from discord.ext import commands

from tests.support.discord_standin import MessageEdit

__all__ = ["PNG_BYTES", "EchoCog", "TinyBot"]

PNG_BYTES = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00"
    b"\x00\x00IEND\xaeB`\x82"
)
NO_PINGS = discord.AllowedMentions.none()


class PressView(discord.ui.View):
    def __init__(self, cog: EchoCog) -> None:
        super().__init__(timeout=30)
        self._cog = cog

    @discord.ui.button(label="Press", custom_id="press", style=discord.ButtonStyle.primary)
    async def press(
        self, interaction: discord.Interaction, button: discord.ui.Button[PressView]
    ) -> None:
        self._cog.clicks.append(interaction.user.id)
        await interaction.response.edit_message(content="pressed", view=None)


class ChangesModal(discord.ui.Modal, title="Request changes"):
    reason: discord.ui.TextInput[ChangesModal] = discord.ui.TextInput(
        label="What should change?", custom_id="reason"
    )

    def __init__(self, cog: EchoCog) -> None:
        super().__init__(custom_id="changes-modal", timeout=30)
        self._cog = cog

    async def on_submit(self, interaction: discord.Interaction) -> None:
        self._cog.notes.append(self.reason.value)
        await interaction.response.send_message(f"noted: {self.reason.value}")


class GateView(discord.ui.View):
    def __init__(self, cog: EchoCog) -> None:
        super().__init__(timeout=30)
        self._cog = cog

    @discord.ui.button(label="Request changes", custom_id="changes")
    async def changes(
        self, interaction: discord.Interaction, button: discord.ui.Button[GateView]
    ) -> None:
        await interaction.response.send_modal(ChangesModal(self._cog))

    @discord.ui.select(
        custom_id="pick",
        options=[discord.SelectOption(label=v.upper(), value=v) for v in ("a", "b")],
    )
    async def pick(
        self, interaction: discord.Interaction, select: discord.ui.Select[GateView]
    ) -> None:
        self._cog.notes.extend(select.values)
        await interaction.response.defer()
        await interaction.edit_original_response(content=f"picked {select.values[0]}")


class EchoCog(commands.Cog):
    """Replies to every human message (then edits the reply), plus a few keyword behaviours."""

    def __init__(self, bot: TinyBot) -> None:
        self.bot = bot
        self.seen: list[int] = []
        self.contents: list[str] = []
        self.clicks: list[int] = []
        self.errors: list[Exception] = []
        self.notes: list[str] = []

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot or message.webhook_id is not None:
            return
        self.seen.append(message.id)
        self.contents.append(message.content)
        try:
            await self._answer(message)
        except discord.HTTPException as exc:
            self.errors.append(exc)

    async def _answer(self, message: discord.Message) -> None:
        channel = message.channel
        if isinstance(channel, discord.DMChannel):
            await channel.send(f"dm echo: {message.content}")
            return
        assert isinstance(channel, discord.TextChannel | discord.Thread)
        if message.content == "hook":
            assert isinstance(channel, discord.TextChannel)
            hook = await channel.create_webhook(name="agents")
            await hook.send(
                "hi from nellie", username="Nellie", avatar_url="http://127.0.0.1/n.png", wait=True
            )
        elif message.content == "buttons":
            await channel.send("press the button", view=PressView(self))
        elif message.content == "chart":
            await channel.send(file=discord.File(io.BytesIO(PNG_BYTES), filename="chart.png"))
        elif message.content == "thread":
            thread = await message.create_thread(name="side quest")
            await thread.send("in the thread")
        elif message.content == "stream":
            assert isinstance(channel, discord.TextChannel)
            hook = await channel.create_webhook(name="agents")
            sent = await hook.send("thinking", username="Skip", wait=True)
            await hook.edit_message(sent.id, content="partial")
            await hook.edit_message(sent.id, content="final answer")
        elif message.content == "threadhook":
            assert isinstance(channel, discord.TextChannel)
            thread = await channel.create_thread(
                name="work", type=discord.ChannelType.public_thread
            )
            hook = await channel.create_webhook(name="agents")
            await hook.send("sub-task result", username="Gonzo", thread=thread)
        elif message.content == "gate":
            await channel.send("approve?", view=GateView(self))
        elif message.content == "too long":
            await channel.send("x" * 2001)
        else:
            async with channel.typing():
                reply = await message.reply(f"echo: {message.content}", allowed_mentions=NO_PINGS)
                await reply.edit(content=f"echo: {message.content} (done)")

    @app_commands.command(name="ping", description="Check the bot is alive")
    async def ping(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True)
        await interaction.followup.send("pong")

    @app_commands.command(name="slow", description="Answers too late")
    async def slow(self, interaction: discord.Interaction) -> None:
        await asyncio.sleep(0.4)
        try:
            await interaction.response.send_message("late")
        except discord.NotFound as exc:
            self.errors.append(exc)

    @app_commands.command(name="chart", description="Answers with a PNG")
    async def chart(self, interaction: discord.Interaction) -> None:
        png = discord.File(io.BytesIO(PNG_BYTES), filename="spend.png")
        await interaction.response.send_message("spend chart", file=png)

    @app_commands.command(name="secret", description="Answers only to you")
    @app_commands.describe(word="what to whisper")
    async def secret(self, interaction: discord.Interaction, word: str) -> None:
        await interaction.response.send_message(f"psst {word}", ephemeral=True)


def team_group() -> app_commands.Group:
    """`/team show member count` -- a group with a subcommand taking a member and an int."""
    team = app_commands.Group(name="team", description="Team things")

    @team.command(name="show", description="Show a member")
    async def show(interaction: discord.Interaction, member: discord.Member, count: int) -> None:
        await interaction.response.send_message(f"{member.name} x{count}")
        original = await interaction.original_response()
        await interaction.edit_original_response(content=f"{original.content}!")

    return team


class TinyBot(commands.Bot):
    def __init__(
        self, guild_id: int, *, message_content: bool = True, members: bool = False
    ) -> None:
        intents = discord.Intents.default()
        intents.message_content = message_content
        intents.members = members
        super().__init__(command_prefix="!", intents=intents)
        self.guild_id = guild_id
        self.cog: EchoCog | None = None

    @staticmethod
    def finished(edit: MessageEdit) -> bool:
        """The tiny bot's streamed reply got its final edit."""
        return edit.content.endswith("(done)")

    async def setup_hook(self) -> None:
        self.cog = EchoCog(self)
        await self.add_cog(self.cog)
        self.tree.add_command(team_group())
        guild = discord.Object(self.guild_id)
        self.tree.copy_global_to(guild=guild)
        await self.tree.sync(guild=guild)

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """discord.py sleeps 5 s before a re-IDENTIFY; tests need not."""

    @property
    def echo(self) -> EchoCog:
        assert self.cog is not None
        return self.cog
