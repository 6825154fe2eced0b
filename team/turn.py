"""One turn in progress: its model calls (tracked, cancellable), the halt admission of each
agent it calls on, and the events it sends to its :class:`ReplyHandle`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field, replace

from inference.errors import InferenceError
from inference.runtime import InferenceStack
from inference.types import ChatRequest, Message, ReplyDone, TextDelta
from personas.policy import Policy
from personas.schema import Persona, Roster
from store.errors import StoreError
from team.calls import CallCancelled, InFlight
from team.config import TeamSettings
from team.conversations import StoredMessage
from team.events import StepStatus, Waiting
from team.halt import HaltSwitch
from team.replies import ReplyHandle
from team.tokens import context_window, estimate_tokens, trim_to_budget
from team.toolloop import Toolbox, ToolLoop
from team.tools.approval import Approver, DenyAll

__all__ = ["CallOutcome", "Turn", "TurnServices"]


@dataclass(frozen=True, slots=True)
class TurnServices:
    """What every turn shares: the chain, the team, the in-flight registry, the halt, and
    each persona's system prompt (built once: roster and policy are fixed while it runs)."""

    stack: InferenceStack
    roster: Roster
    policy: Policy
    settings: TeamSettings
    inflight: InFlight
    halt: HaltSwitch
    production: frozenset[str]
    system_prompts: Mapping[str, str]
    toolbox: Toolbox | None = None  # agents' MCP tools; None: agents only talk


@dataclass(frozen=True, slots=True)
class CallOutcome:
    text: str
    done: ReplyDone | None
    status: StepStatus
    reason: str | None = None


@dataclass
class Turn:
    services: TurnServices
    handle: ReplyHandle
    author: str
    request: str
    use_cache: bool = True
    accepted_halt_generation: int | None = None  # set when accepted during a halt
    stopped: asyncio.Event = field(default_factory=asyncio.Event)
    # who says yes to side-effect tools in this turn (the CLI's --approve, Discord buttons)
    approver: Approver = field(default_factory=DenyAll)
    calls: list[ReplyDone] = field(default_factory=list)

    @property
    def conversation_id(self) -> str:
        return self.handle.conversation_id

    # -- halt admission ---------------------------------------------------------------------
    async def admit(self, persona: Persona) -> str | None:
        """None when ``persona`` may work now; else why not (refused, or stopped).

        Work accepted before a halt waits for resume; work accepted during the same halt
        is refused with the halt's reason.
        """
        halt = self.services.halt
        while persona.name in self.services.production and halt.state.active:
            state = halt.state
            if self.accepted_halt_generation == state.generation:
                return f"new work for {persona.name} is refused: {state.describe()}"
            self.handle.emit(Waiting(f"{persona.name} waits for resume: {state.describe()}"))
            if not await _first_of(halt.resumed_event, self.stopped):
                return self.handle.cancel_reason or "stopped"
        return None

    # -- model calls ------------------------------------------------------------------------
    def request_for(self, persona: Persona, messages: Sequence[Message],
                    **options: object) -> ChatRequest:
        request = ChatRequest(route=persona.route, messages=tuple(messages), agent=persona.name,
                              use_cache=self.use_cache)
        return replace(request, **options) if options else request  # type: ignore[arg-type]

    async def stream(
        self, persona: Persona, request: ChatRequest, on_delta: Callable[[str], None]
    ) -> CallOutcome:
        """The persona's answer, streamed through its route, with its granted tools (the
        tool loop runs them and asks again); cancellable by halt and /stop."""
        toolbox = self.services.toolbox
        if toolbox is None:
            return await self._stream_once(persona, request, on_delta)
        loop = ToolLoop(toolbox, persona.name, self.approver,
                        max_steps=self.services.settings.tool_max_steps, emit=self.handle.emit)
        shown: list[str] = []  # what the user saw, over every call of the loop

        def relay(text: str) -> None:
            if text and shown and not shown[-1]:
                text = "\n\n" + text  # a new call's text, after an earlier call's
                shown.pop()
            shown.append(text)
            on_delta(text)

        async def once(each: ChatRequest) -> CallOutcome:
            if shown:
                shown.append("")  # marks where this call starts
            return await self._stream_once(persona, each, relay)

        outcome = await loop.run(request, once)
        text = "".join(shown)
        return replace(outcome, text=text) if text.strip() else outcome

    async def _stream_once(
        self, persona: Persona, request: ChatRequest, on_delta: Callable[[str], None]
    ) -> CallOutcome:
        """Stream one call through the persona's route; cancellable by halt and /stop."""
        parts: list[str] = []

        async def body() -> ReplyDone:
            async with aclosing(self.services.stack.stream(request)) as events:
                async for event in events:
                    if isinstance(event, TextDelta):
                        parts.append(event.text)
                        on_delta(event.text)
                    elif isinstance(event, ReplyDone):
                        return event  # (its tool calls, if any, are on it too)
            raise InferenceError("the chain ended without a final record")

        try:
            done = await self.services.inflight.run(persona.name, self.conversation_id, body(),
                                                    turn_id=self.handle.turn_id)
        except CallCancelled as exc:
            return CallOutcome("".join(parts), None, "halted" if exc.halted else "cancelled",
                               exc.reason)
        except (InferenceError, StoreError) as exc:
            return CallOutcome("".join(parts), None, "failed", str(exc))
        self.calls.append(done)
        return CallOutcome(done.text or "".join(parts), done, "complete")

    async def complete(self, persona: Persona, request: ChatRequest) -> ReplyDone:
        """A whole (unstreamed) reply; raises InferenceError or CallCancelled."""
        done = await self.services.inflight.run(
            persona.name, self.conversation_id, self.services.stack.complete(request),
            turn_id=self.handle.turn_id,
        )
        self.calls.append(done)
        return done

    # -- prompts ----------------------------------------------------------------------------
    def messages_for(self, persona: Persona, history: Sequence[StoredMessage],
                     extra: Sequence[Message] = ()) -> list[Message]:
        """System prompt + history (as this persona sees it) + ``extra``, within budget."""
        services = self.services
        system = services.system_prompts[persona.name]
        window = context_window(services.stack.settings, persona.route,
                                services.settings.default_context_window)
        budget = window - services.settings.reply_reserve_tokens - estimate_tokens(system)
        if services.settings.history_max_tokens is not None:
            budget = min(budget, services.settings.history_max_tokens)
        body = [self._as_message(persona, m) for m in history] + list(extra)
        return [Message("system", system), *trim_to_budget(body, max(budget, 64))]

    def _as_message(self, persona: Persona, message: StoredMessage) -> Message:
        if message.role == "user":
            who = f"{message.author}: " if message.author else ""
            return Message("user", who + message.content)
        if message.agent == persona.name:
            return Message("assistant", message.content)
        other = message.agent or "agent"
        with contextlib.suppress(KeyError):
            other = self.services.roster.get(other).headline
        return Message("user", f"[{other}]: {message.content}")


async def _first_of(wanted: asyncio.Event, stop: asyncio.Event) -> bool:
    """Wait until either event is set; True when ``wanted`` was."""
    waiters = {asyncio.create_task(wanted.wait()), asyncio.create_task(stop.wait())}
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)
    return wanted.is_set()
