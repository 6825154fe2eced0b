"""Approve or deny an agent's side-effect tool in Discord: a message with Approve / Deny
buttons in the channel the reply is in.

:class:`DiscordApprover` implements :class:`team.tools.Approver` for one reply. The
message says which agent wants to run which tool, with a short summary of the arguments
(secrets masked); only admins (``discord.admin_role`` or ``team.admins``) may click, anyone
else gets a private refusal. The first admin's click decides, and the decision names them
(it goes into the audit log as ``approved_by``). No answer within
``team.tool_approval_timeout`` is a deny: the Toolbox enforces the time, and the message
then says the request expired. The message is posted with mentions disabled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import discord

from bot.channels import Place
from bot.context import BotContext
from bot.delivery import describe_failure
from bot.posting import NO_PINGS
from personas.schema import Persona
from team.tools import ApprovalDecision, ApprovalRequest

__all__ = ["ApprovalView", "DiscordApprover", "approval_text"]

log = logging.getLogger(__name__)

SUMMARY_CHARS = 300
EDIT_TIMEOUT = 5.0  # how long closing an expired request may take


def approval_text(persona: Persona, request: ApprovalRequest, clean: Any = str) -> str:
    """The question: who wants to run what, with which arguments (secrets masked)."""
    summary = clean(request.summary(SUMMARY_CHARS)).replace("`", "ˋ")
    return (f"🔐 **{persona.display_name}** wants to run `{request.spec.name}` "
            f"(it has side effects).\n`{summary}`\n"
            f"An admin may approve or deny within {request.timeout:g} s; no answer denies.")


class ApprovalView(discord.ui.View):
    """Approve / Deny; the first admin's click resolves ``decided``."""

    def __init__(self, ctx: BotContext, text: str, *, timeout: float) -> None:
        super().__init__(timeout=timeout)
        self._ctx = ctx
        self._text = text
        self.decided: asyncio.Future[ApprovalDecision] = (
            asyncio.get_running_loop().create_future())

    @discord.ui.button(label="Approve", style=discord.ButtonStyle.success)
    async def approve_button(self, interaction: discord.Interaction[Any],
                             _: discord.ui.Button[ApprovalView]) -> None:
        await self._click(interaction, approved=True)

    @discord.ui.button(label="Deny", style=discord.ButtonStyle.danger)
    async def deny_button(self, interaction: discord.Interaction[Any],
                          _: discord.ui.Button[ApprovalView]) -> None:
        await self._click(interaction, approved=False)

    async def _click(self, interaction: discord.Interaction[Any], *, approved: bool) -> None:
        user = interaction.user
        if not self._ctx.is_admin(user):
            await interaction.response.send_message(
                f"Only members with the {self._ctx.settings.admin_role} role can approve "
                "or deny an agent's tool.", ephemeral=True, allowed_mentions=NO_PINGS)
            return
        if self.decided.done():
            await interaction.response.send_message("This request is already decided.",
                                                    ephemeral=True, allowed_mentions=NO_PINGS)
            return
        who = f"@{user.name}"
        verb = "approved" if approved else "denied"
        self.decided.set_result(ApprovalDecision(approved, by=who, reason=f"{verb} by {who}"))
        self.stop()
        mark = "✅" if approved else "⛔"
        await interaction.response.edit_message(content=f"{self._text}\n{mark} {verb} by {who}",
                                                view=None, allowed_mentions=NO_PINGS)


class DiscordApprover:
    """Asks in ``place`` (the reply's channel or thread) for one reply's tools."""

    def __init__(self, ctx: BotContext, place: Place, persona: Persona) -> None:
        self._ctx = ctx
        self._place = place
        self._persona = persona

    async def approve(self, request: ApprovalRequest) -> ApprovalDecision:
        asked_at = time.monotonic()  # about when the Toolbox's clock started
        text = approval_text(self._persona, request, self._ctx.redact)
        view = ApprovalView(self._ctx, text, timeout=request.timeout)
        try:
            message = await self._place.send(text, view=view, allowed_mentions=NO_PINGS)
        except (discord.HTTPException, OSError) as exc:
            why = describe_failure(exc)
            log.warning("could not ask for a tool's approval: %s", why)
            return ApprovalDecision(False, reason=f"could not ask for approval in Discord ({why})")
        try:
            return await view.decided
        except asyncio.CancelledError:  # the Toolbox's time is up, or the reply stopped
            view.stop()
            if time.monotonic() - asked_at >= request.timeout * 0.9:
                closing = f"{text}\n⌛ no answer within {request.timeout:g} s: denied"
            else:
                closing = f"{text}\n⏹️ the reply stopped: not run"
            await asyncio.shield(self._close(message, closing))
            raise

    @staticmethod
    async def _close(message: discord.Message, content: str) -> None:
        with contextlib.suppress(discord.HTTPException, OSError, TimeoutError):
            async with asyncio.timeout(EDIT_TIMEOUT):
                await message.edit(content=content, view=None, allowed_mentions=NO_PINGS)
