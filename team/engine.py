"""The team engine: personas, conversations, Skip's delegation and the rules, Discord-free.

Open it over an open :class:`~inference.runtime.InferenceStack`::

    async with InferenceStack.open(settings) as stack, \\
            TeamEngine.open(stack, settings.team) as team:
        handle = await team.reply("channel-42", "nellie", "What is MLX?", author="ana")
        async for event in handle:      # TextDelta ... ReplyFinished
            ...

Turns of one conversation run at the same time: when several people ask one agent at
once, nobody waits for someone else's answer. Each turn's context is the conversation
as it stood when its message arrived (answers still being written then are left out, and
so are messages that came after it), so concurrent answers stay coherent; the store keeps
each turn's messages together, in the order the turns arrived. Under a burst, start-up
slots (:mod:`team.startup`) let the first to ask start first. Turns run in worker tasks
the engine owns; closing the engine cancels them.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from inference.errors import ConfigError
from inference.runtime import InferenceStack
from personas.loader import load_policy, load_roster
from personas.policy import Policy
from personas.schema import Persona, Roster
from team.actors import Actor, resolve_actor
from team.board import TaskBoard
from team.calls import InFlight
from team.chief import ChiefCheck, RouteHealthCheck
from team.config import TeamSettings
from team.conversations import ConversationLog, StoredMessage
from team.delegation import Delegation
from team.errors import Refused, UnknownAgent
from team.events import ReplyFinished, ReplyStatus, Started, TextDelta
from team.halt import HaltState, HaltSwitch
from team.prompts import system_prompt
from team.replies import ReplyHandle
from team.startup import StartupSlots
from team.store import migrate
from team.toolloop import Toolbox
from team.tools.approval import Approver
from team.turn import CallOutcome, Turn, TurnServices

__all__ = ["TeamEngine"]

_HISTORY_LIMIT = 400


@dataclass(frozen=True, slots=True)
class _Arrival:
    """When a turn's message arrived: its place in line, the turns of its conversation
    still running then (their answers were not there yet), and — for a retry — the stored
    message it answers again."""

    order: int
    ahead: frozenset[str]
    upto: int | None = None
    earlier: tuple[asyncio.Event, ...] = ()  # set once the turns ahead stored their message


@dataclass(frozen=True, slots=True)
class _Mark:
    """A running turn: when it arrived, and an event set once its message is stored."""

    turn: Turn
    order: int
    stored: asyncio.Event


class TeamEngine:
    def __init__(self, services: TurnServices, board: TaskBoard, log: ConversationLog) -> None:
        self._services = services
        self.board = board
        self.conversations = log
        self._workers: dict[asyncio.Task[None], Turn] = {}
        self._started: set[str] = set()  # turn ids whose work began
        self._arrivals = itertools.count()
        # conversation id -> id(turn) -> its mark, while the turn runs (not by turn id: a
        # retry runs under the id of the turn it regenerates)
        self._marks: dict[str, dict[int, _Mark]] = {}
        self._startup = StartupSlots(services.settings.startup_slots,
                                     services.settings.startup_hold)

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        stack: InferenceStack,
        settings: TeamSettings,
        *,
        chief: ChiefCheck | None = None,
        clock: Callable[[], float] = time.time,
        watch_halt: bool = True,
    ) -> AsyncIterator[TeamEngine]:
        roster = load_roster(settings.personas_dir)
        policy = load_policy(settings.rules_file, roster)
        _check_routes(roster, stack)
        db = await stack.database()
        await migrate(db)
        halt = HaltSwitch(db)
        await halt.refresh()
        check = chief or RouteHealthCheck(lambda: _serving(stack))
        board = TaskBoard(db, roster, policy, halt, check, clock=clock)
        prompts = {persona.name: system_prompt(roster, policy, persona) for persona in roster}
        services = TurnServices(stack, roster, policy, settings, InFlight(), halt,
                                board.production, prompts)
        engine = cls(services, board, ConversationLog(db, clock=clock))
        halt.on_halt(engine._on_halt)
        watcher = (asyncio.create_task(halt.watch(settings.halt_poll_interval), name="halt-watch")
                   if watch_halt else None)
        try:
            yield engine
        finally:
            await engine._close(watcher)

    # -- the team ---------------------------------------------------------------------------
    @property
    def roster(self) -> Roster:
        return self._services.roster

    @property
    def policy(self) -> Policy:
        return self._services.policy

    @property
    def settings(self) -> TeamSettings:
        return self._services.settings

    @property
    def halt_state(self) -> HaltState:
        return self._services.halt.state

    def persona(self, name: str) -> Persona:
        try:
            return self.roster.get(name)
        except KeyError as exc:
            raise UnknownAgent(str(exc.args[0])) from None

    def persona_for_channel(self, channel: str) -> Persona | None:
        return next((p for p in self.roster if p.channel == channel), None)

    def actor(self, name: str, *, user_id: str | None = None, admin_role: bool = False) -> Actor:
        return resolve_actor(name, self.roster, self._services.settings.admins,
                             user_id=user_id, admin_role=admin_role)

    def use_tools(self, toolbox: Toolbox | None) -> None:
        """Give the agents their granted tools (``homecrew.builtin_tools.open_tools``) for
        the turns started from now on; ``None``: agents only talk."""
        self._services = dataclasses.replace(self._services, toolbox=toolbox)

    # -- conversations ----------------------------------------------------------------------
    async def reply(
        self, conversation_id: str, agent: str, text: str, *, author: str = "user",
        use_cache: bool = True, approver: Approver | None = None,
    ) -> ReplyHandle:
        """Start a turn: ``author`` says ``text`` to ``agent`` in the conversation.
        ``approver`` says yes or no to the side-effect tools the turn calls (default:
        no)."""
        persona = self.persona(agent)
        if not text.strip():
            raise Refused("message", ["the message is empty"])
        turn = await self._new_turn(conversation_id, persona, author, text, use_cache=use_cache)
        if approver is not None:
            turn.approver = approver
        refusal = self._refusal(persona, turn)
        if refusal is not None:
            await self.conversations.append(conversation_id, role="user", agent=persona.name,
                                            author=author, content=text,
                                            turn_id=turn.handle.turn_id, status="refused")
            self._finish(turn, "refused", "", refusal)
            return turn.handle
        self._spawn(turn, persona, self._arrival(conversation_id))
        return turn.handle

    async def retry(self, conversation_id: str, *, author: str | None = None,
                    approver: Approver | None = None) -> ReplyHandle:
        """Regenerate the last reply of the conversation (cache bypassed); ``approver`` as
        for :meth:`reply` (without one, side-effect tools are denied)."""
        last = await self.conversations.last_turn(conversation_id)
        if last is None or last.agent is None:
            raise Refused("retry", ["nothing to retry in this conversation"])
        persona = self.persona(last.agent)
        turn = await self._new_turn(conversation_id, persona, author or last.author or "user",
                                    last.content, use_cache=False, turn_id=last.turn_id)
        if approver is not None:
            turn.approver = approver
        refusal = self._refusal(persona, turn)
        if refusal is not None:
            self._finish(turn, "refused", "", refusal)
            return turn.handle
        await self.conversations.supersede(conversation_id, last.turn_id)
        self._spawn(turn, persona, self._arrival(conversation_id, upto=last.seq))
        return turn.handle

    def stop(self, conversation_id: str, reason: str = "stopped") -> int:
        """Cancel the replies in progress in the conversation; returns how many."""
        turns = [t for t in self._workers.values() if t.conversation_id == conversation_id]
        for turn in turns:
            turn.handle.cancel(reason)
        return len(turns)

    async def history(self, conversation_id: str) -> list[StoredMessage]:
        return await self.conversations.messages(conversation_id, complete_only=False)

    # -- halt -------------------------------------------------------------------------------
    async def halt(self, actor: Actor, reason: str) -> HaltState:
        """Freeze the Production Division everywhere; in-flight calls are cancelled."""
        return await self.board.halt(actor, reason)

    async def resume(self, actor: Actor, reason: str = "") -> HaltState:
        return await self.board.resume(actor, reason)

    def _on_halt(self, state: HaltState) -> None:
        self._services.inflight.cancel_agents(self._services.production, state.describe())

    # -- turns ------------------------------------------------------------------------------
    async def _new_turn(self, conversation_id: str, persona: Persona, author: str, text: str,
                        *, use_cache: bool, turn_id: str | None = None) -> Turn:
        state = await self._services.halt.refresh()
        handle = ReplyHandle(conversation_id, persona.name, turn_id or uuid.uuid4().hex)
        return Turn(self._services, handle, author, text, use_cache,
                    accepted_halt_generation=state.generation if state.active else None)

    def _refusal(self, persona: Persona, turn: Turn) -> str | None:
        halt = self._services.halt.state
        if halt.active and persona.name in self._services.production:
            return f"new work for {persona.name} is refused: {halt.describe()}"
        return None

    def _arrival(self, conversation_id: str, *, upto: int | None = None) -> _Arrival:
        running = [m for m in self._marks.get(conversation_id, {}).values()
                   if not m.turn.handle.done]
        ahead = frozenset(m.turn.handle.turn_id for m in running)
        return _Arrival(next(self._arrivals), ahead, upto, tuple(m.stored for m in running))

    def _spawn(self, turn: Turn, persona: Persona, arrival: _Arrival) -> None:
        worker = asyncio.create_task(self._work(turn, persona, arrival),
                                     name=f"turn-{persona.name}")
        self._workers[worker] = turn
        marks = self._marks.setdefault(turn.conversation_id, {})
        marks[id(turn)] = _Mark(turn, arrival.order, asyncio.Event())
        worker.add_done_callback(self._forget)
        turn.handle.on_cancel(lambda reason: self._cancel_turn(worker, turn, reason))

    def _forget(self, worker: asyncio.Task[None]) -> None:
        turn = self._workers.pop(worker, None)
        if turn is not None:
            self._started.discard(turn.handle.turn_id)
            marks = self._marks.get(turn.conversation_id, {})
            mark = marks.pop(id(turn), None)
            if not marks:
                self._marks.pop(turn.conversation_id, None)
            if mark is not None:
                mark.stored.set()
            if not turn.handle.done:  # cancelled before its worker ever ran
                self._finish(turn, "cancelled", "", turn.handle.cancel_reason or "shut down")

    def _cancel_turn(self, worker: asyncio.Task[None], turn: Turn, reason: str) -> None:
        turn.stopped.set()
        if turn.handle.turn_id in self._started:
            self._services.inflight.cancel_turn(turn.handle.turn_id, reason)
        else:
            worker.cancel()

    async def _work(self, turn: Turn, persona: Persona, arrival: _Arrival) -> None:
        try:
            async with self._startup.slot():
                self._started.add(turn.handle.turn_id)
                turn.handle.emit(Started())
                await self._run(turn, persona, arrival)
        except asyncio.CancelledError:
            self._finish(turn, "cancelled", "", turn.handle.cancel_reason or "shut down")
            raise
        except Exception as exc:
            self._finish(turn, "failed", "", f"{type(exc).__name__}: {exc}")
            raise

    async def _run(self, turn: Turn, persona: Persona, arrival: _Arrival) -> None:
        """The turn, with the conversation as it stood when its message arrived."""
        cid, turn_id = turn.conversation_id, turn.handle.turn_id
        upto = arrival.upto
        if upto is None:  # stored after the messages that came before it
            for earlier in arrival.earlier:
                await earlier.wait()
            stored = await self.conversations.append(cid, role="user", agent=persona.name,
                                                     author=turn.author, content=turn.request,
                                                     turn_id=turn_id)
            upto = stored.seq
        self._marks[cid][id(turn)].stored.set()
        refused = await turn.admit(persona)
        if refused is not None:
            status: ReplyStatus = "cancelled" if turn.stopped.is_set() else "refused"
            self._finish(turn, status, "", refused)
            return
        history = self._as_it_stood(
            cid, await self.conversations.messages(cid, limit=_HISTORY_LIMIT, upto=upto), arrival)
        if persona.orchestrator:
            outcome, delegation = await self._delegate(turn, history)
        else:
            request = turn.request_for(persona, turn.messages_for(persona, history))
            outcome = await turn.stream(persona, request,
                                        lambda text: turn.handle.emit(TextDelta(text)))
            delegation = None
        if outcome.text or outcome.status == "complete":
            await self.conversations.append(cid, role="agent", agent=persona.name, author=None,
                                            content=outcome.text, turn_id=turn_id,
                                            status=outcome.status)
        self._finish(turn, outcome.status, outcome.text, outcome.reason, outcome=outcome,
                     delegation=delegation)

    def _as_it_stood(self, cid: str, history: list[StoredMessage], arrival: _Arrival
                     ) -> list[StoredMessage]:
        """Without the answers still being written when the turn's message arrived, nor the
        messages of turns that arrived after it (they may have started first)."""
        later = {m.turn.handle.turn_id for m in self._marks.get(cid, {}).values()
                 if m.order > arrival.order}
        return [m for m in history if m.turn_id not in later
                and not (m.role == "agent" and m.turn_id in arrival.ahead)]

    async def _delegate(self, turn: Turn, history: list[StoredMessage]
                        ) -> tuple[CallOutcome, Delegation]:
        delegation = Delegation(turn, self.conversations)
        await delegation.run()
        earlier = [m for m in history if m.turn_id != turn.handle.turn_id]
        if turn.stopped.is_set():
            return CallOutcome("", None, "cancelled", turn.handle.cancel_reason), delegation
        if not delegation.results:
            skip = self.roster.orchestrator
            request = turn.request_for(skip, turn.messages_for(skip, history))
            outcome = await turn.stream(skip, request,
                                        lambda text: turn.handle.emit(TextDelta(text)))
            return outcome, delegation
        return await delegation.report(earlier), delegation

    def _finish(self, turn: Turn, status: ReplyStatus, text: str, reason: str | None, *,
                outcome: CallOutcome | None = None, delegation: Delegation | None = None) -> None:
        turn.handle.emit(ReplyFinished(
            conversation_id=turn.conversation_id, agent=turn.handle.agent,
            turn_id=turn.handle.turn_id, status=status, text=text, reason=reason,
            done=outcome.done if outcome else None, calls=tuple(turn.calls),
            plans=tuple(delegation.plans) if delegation else (),
            steps=tuple(delegation.results) if delegation else (),
        ))

    async def _close(self, watcher: asyncio.Task[None] | None) -> None:
        tasks = list(self._workers)
        if watcher is not None:
            tasks.append(watcher)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def _check_routes(roster: Roster, stack: InferenceStack) -> None:
    missing = [f"{p.name} → {p.route}" for p in roster if p.route not in stack.settings.routes]
    if missing:
        raise ConfigError(f"persona routes not defined in routes: {', '.join(missing)}",
                          key="routes")


def _serving(stack: InferenceStack) -> dict[str, bool]:
    return {route: stack.route_status(route).serving is not None
            for route in stack.settings.routes}
