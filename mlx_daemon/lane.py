"""One model's batch on the compute thread: its waiting jobs, active jobs and generator.

Everything here runs on the compute worker thread only. ``mlx_lm``'s ``BatchGenerator``
does continuous batching: jobs are inserted while others generate, and each ``next()``
advances prompt processing and generates one token for every active sequence.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mlx_lm.generate import BatchGenerator

from mlx_daemon.config import GIB, MlxDaemonSettings
from mlx_daemon.errors import ApiError, bad_request, context_too_long, server_error
from mlx_daemon.jobs import Accepted, Delta, Failed, Finished, Job, JobEvent
from mlx_daemon.prefix_cache import PrefixCache
from mlx_daemon.protocol import GenerationRequest, Usage
from mlx_daemon.registry import LoadedModel
from mlx_daemon.sampling import SamplerCache, StopFilter, logits_processors_for
from mlx_daemon.tools import ToolPlan, plan_tools

__all__ = ["Lane", "LaneHooks", "tokenize"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LaneHooks:
    """How a lane reports back to the worker."""

    emit: Callable[[Job, JobEvent], None]  # queue an event for the job's handler
    release: Callable[[Job], None]  # the job left the lane (finished, failed, cancelled)
    generated: Callable[[str, int], None]  # model, tokens generated in one step
    prompt: Callable[[str, int, int], None]  # model, prompt tokens, of which reused from cache
    cache_size: Callable[[str, int], None]  # model, bytes held by its prefix cache
    first_token: Callable[[str, float], None]  # model, seconds from arrival to first token


@dataclass(eq=False)
class _Active:
    job: Job
    detokenizer: Any
    stops: StopFilter
    prompt_tokens: int
    completion_tokens: int = 0
    held: list[str] | None = None  # text of a non-streamed reply, sent once at the end


def tokenize(loaded: LoadedModel, request: GenerationRequest) -> tuple[list[int], ToolPlan | None]:
    """The prompt token ids (the tokenizer's chat template with the generation prompt, and
    the tools it offers) and how to find tool calls in the reply."""
    tokenizer = loaded.tokenizer
    messages = list(request.messages)
    plan = plan_tools(request, tokenizer)
    if tokenizer.has_chat_template:
        extra: dict[str, Any] = {"tools": list(plan.offered)} if plan else {}
        try:
            ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, **extra)
        except Exception as exc:  # jinja raises on e.g. non-alternating roles
            raise bad_request(f"cannot apply the chat template: {exc}", param="messages") from None
    else:
        text = "".join(f"{m['role']}: {m.get('content', '')}\n" for m in messages)
        ids = tokenizer.encode(text + "assistant: ")
    if plan is not None and plan.forced:  # the reply starts inside a call
        ids = [*ids, *tokenizer.encode(plan.syntax.start, add_special_tokens=False)]
    return [int(i) for i in ids], plan


@dataclass(eq=False)
class Lane:
    model_id: str
    settings: MlxDaemonSettings
    samplers: SamplerCache
    hooks: LaneHooks
    waiting: deque[Job] = field(default_factory=deque)
    active: dict[int, _Active] = field(default_factory=dict)
    loaded: LoadedModel | None = None
    generator: Any = None
    prefixes: PrefixCache = field(default_factory=lambda: PrefixCache(0, 0))

    @property
    def has_work(self) -> bool:
        return bool(self.waiting or self.active)

    @property
    def has_room(self) -> bool:
        return len(self.active) < self.settings.max_batch_size

    def attach(self, loaded: LoadedModel, stream: Any) -> None:
        eos = [(int(t),) for t in loaded.tokenizer.eos_token_ids]
        self.loaded = loaded
        self.prefixes = PrefixCache(
            self.settings.prompt_cache_size, int(self.settings.prompt_cache_gb * GIB)
        )
        self.generator = BatchGenerator(
            loaded.model,
            max_tokens=self.settings.default_max_tokens,
            stop_tokens=eos or None,
            completion_batch_size=self.settings.max_batch_size,
            prefill_batch_size=min(self.settings.prefill_batch_size, self.settings.max_batch_size),
            prefill_step_size=self.settings.prefill_step_size,
            stream=stream,
        )

    def detach(self) -> None:
        """Drop the model (before eviction); the lane must have no active jobs."""
        if self.generator is not None:
            self.generator.close()
        self.generator = None
        self.loaded = None
        self.prefixes.clear()
        self.hooks.cache_size(self.model_id, 0)

    # ----------------------------------------------------------------- admission

    def admit_waiting(self) -> None:
        while self.waiting and self.has_room:
            self._admit(self.waiting.popleft())

    def _admit(self, job: Job) -> None:
        try:
            self._start(job)
        except ApiError as error:
            self.fail(job, error)
        except Exception as exc:  # a tokenizer or generator surprise fails this job only
            log.exception("cannot start a request for %s", self.model_id)
            self.fail(job, server_error(f"cannot start generation: {type(exc).__name__}"))

    def _start(self, job: Job) -> None:
        assert self.loaded is not None
        request = job.request
        prompt, tools = tokenize(self.loaded, request)
        max_tokens = self._completion_budget(len(prompt), request.max_tokens)
        cache, rest = self.prefixes.lookup(prompt)
        reused = len(prompt) - len(rest)
        (uid,) = self.generator.insert(
            [rest],
            max_tokens=[max_tokens],
            caches=[cache],
            all_tokens=[prompt[:reused]],
            samplers=[self.samplers.sampler_for(request)],
            logits_processors=[logits_processors_for(request)],
        )
        self.active[uid] = _Active(
            job, self.loaded.tokenizer.detokenizer, StopFilter(request.stop), len(prompt),
            held=None if request.stream else [],
        )  # fmt: skip
        self.hooks.prompt(self.model_id, len(prompt), reused)
        self.hooks.emit(job, Accepted(len(prompt), max_tokens, tools))

    def _completion_budget(self, prompt_tokens: int, requested: int | None) -> int:
        if prompt_tokens == 0:
            raise bad_request("The prompt is empty.", param="messages")
        limit = self.loaded.context_length if self.loaded else None
        default = self.settings.default_max_tokens
        if limit is None:
            return requested or default
        if prompt_tokens >= limit:
            raise context_too_long(limit, prompt_tokens, None)
        if requested is not None and prompt_tokens + requested > limit:
            raise context_too_long(limit, prompt_tokens, requested)
        return requested or min(default, limit - prompt_tokens)

    # ----------------------------------------------------------------- generation

    def step(self) -> None:
        """One ``BatchGenerator.next()``: a token for every active job, or prefill work."""
        try:
            _, responses = self.generator.next()
        except Exception as exc:
            log.exception("generation failed for %s", self.model_id)
            self.fail_all(server_error(f"generation failed: {type(exc).__name__}: {exc}"))
            self.reset_generator()
            return
        if responses:
            self.hooks.generated(self.model_id, len(responses))
        for response in responses:
            self._on_token(response)

    def _on_token(self, response: Any) -> None:
        active = self.active.get(response.uid)
        if active is None:
            return
        active.completion_tokens += 1
        if active.completion_tokens == 1:
            self.hooks.first_token(self.model_id, time.monotonic() - active.job.received)
        finish: str | None = response.finish_reason
        detok = active.detokenizer
        if finish != "stop":
            detok.add_token(response.token)
        if finish is not None:
            detok.finalize()
        text, hit = active.stops.feed(detok.last_segment)
        if hit:
            if finish is None:
                removed = self.generator.remove([response.uid], return_prompt_caches=True)
                if response.uid in removed:
                    cache, tokens = removed[response.uid]
                    self._keep_prefix(tokens, cache)
            finish = "stop"
        elif finish is not None:
            text += active.stops.flush()
        if active.held is not None:
            active.held.append(text)
            text = "".join(active.held) if finish is not None else ""
        if text:
            self.hooks.emit(active.job, Delta(text))
        if finish is not None:
            if response.prompt_cache is not None:
                self._keep_prefix(response.all_tokens, response.prompt_cache)
            del self.active[response.uid]
            usage = Usage(active.prompt_tokens, active.completion_tokens)
            self.hooks.release(active.job)  # free the slot before the client hears "done"
            self.hooks.emit(active.job, Finished(finish, usage))

    def _keep_prefix(self, tokens: list[int] | None, cache: list[Any] | None) -> None:
        if tokens and cache is not None:
            self.prefixes.store(tokens, cache)
            self.hooks.cache_size(self.model_id, self.prefixes.nbytes)

    # ----------------------------------------------------------------- removal

    def cancel(self, job: Job) -> bool:
        """Remove a cancelled job wherever it is; True if it was here."""
        if job in self.waiting:
            self.waiting.remove(job)
            self.hooks.release(job)
            return True
        for uid, active in self.active.items():
            if active.job is job:
                self.generator.remove([uid])
                del self.active[uid]
                self.hooks.release(job)
                return True
        return False

    def fail(self, job: Job, error: ApiError) -> None:
        self.hooks.emit(job, Failed(error))
        self.hooks.release(job)

    def fail_waiting(self, error: ApiError) -> None:
        while self.waiting:
            self.fail(self.waiting.popleft(), error)

    def fail_all(self, error: ApiError) -> None:
        self.fail_waiting(error)
        for active in list(self.active.values()):
            self.fail(active.job, error)
        self.active.clear()

    def reset_generator(self) -> None:
        """Replace a generator that raised, keeping the model resident."""
        loaded, stream = self.loaded, getattr(self.generator, "stream", None)
        self.detach()
        if loaded is not None:
            self.attach(loaded, stream)
