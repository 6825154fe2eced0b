"""Stand-in for Ollama's native API (https://github.com/ollama/ollama/blob/main/docs/api.md).

``/api/chat`` and ``/api/generate`` stream NDJSON unless ``"stream": false``; the last line has
``done: true``, ``done_reason`` and the timing/count statistics (durations in nanoseconds). A
mid-stream error is an ``{"error": ...}`` line under HTTP 200. Also ``/api/version``,
``/api/tags``, ``/api/ps``, ``/api/show``, ``GET /`` ("Ollama is running") and
``/api/embed`` (``{model, input, dimensions?}`` → ``{model, embeddings, total_duration,
load_duration, prompt_eval_count}``, vectors from :mod:`.embedding`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from aiohttp import web

from .base import Rejected, Reply, ReplyPlan, StandinServer, StreamCodec
from .embedding import DEFAULT_SIZE, embedding_of, input_texts, prompt_tokens
from .script import Script, ScriptedCall, count_words

__all__ = ["BUSY_MESSAGE", "OllamaModel", "OllamaStandin"]

BUSY_MESSAGE = "server busy, please try again.  maximum pending requests exceeded"
_NS_PER_TOKEN = 20_000_000  # 50 tokens/s, for the reported durations


@dataclass(frozen=True)
class OllamaModel:
    """A model the stand-in has "pulled"."""

    name: str
    family: str = "qwen2"
    parameter_size: str = "14.8B"
    quantization_level: str = "Q4_K_M"
    size: int = 8_988_124_069

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.name.encode()).hexdigest()

    def details(self) -> dict[str, Any]:
        return {
            "parent_model": "",
            "format": "gguf",
            "family": self.family,
            "families": [self.family],
            "parameter_size": self.parameter_size,
            "quantization_level": self.quantization_level,
        }


def canonical(name: str) -> str:
    """Ollama's model names: ``llama3.2`` means ``llama3.2:latest``."""
    return name if ":" in name else f"{name}:latest"


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _stats(reply: Reply) -> dict[str, Any]:
    prompt_ns = reply.usage.prompt_tokens * _NS_PER_TOKEN // 10
    eval_ns = reply.usage.completion_tokens * _NS_PER_TOKEN
    load_ns = 1_334_875
    return {
        "done_reason": "stop",
        "total_duration": load_ns + prompt_ns + eval_ns,
        "load_duration": load_ns,
        "prompt_eval_count": reply.usage.prompt_tokens,
        "prompt_eval_duration": prompt_ns,
        "eval_count": reply.usage.completion_tokens,
        "eval_duration": eval_ns,
    }


def _line(body: Any) -> bytes:
    return json.dumps(body).encode() + b"\n"


@dataclass
class _NdjsonStream(StreamCodec):
    """``piece(text)`` gives the endpoint-specific part of a line (``message`` or ``response``)."""

    content_type: ClassVar[str] = "application/x-ndjson"
    headers_first: ClassVar[bool] = False
    reply: Reply
    piece: Callable[[str], dict[str, Any]]
    final_extra: dict[str, Any] = field(default_factory=dict)

    def _head(self) -> dict[str, Any]:
        return {"model": self.reply.model, "created_at": _now()}

    def delta(self, text: str, index: int) -> bytes:
        return _line({**self._head(), **self.piece(text), "done": False})

    def error(self, message: str | None) -> bytes:
        return _line({"error": message or "an error was encountered while running the model"})

    def tool_calls(self) -> list[bytes]:
        """All the calls in one line, arguments as objects (as Ollama sends them)."""
        if not self.reply.tool_calls:
            return []
        message = {"role": "assistant", "content": "",
                   "tool_calls": _calls(self.reply.tool_calls)}
        return [_line({**self._head(), "message": message, "done": False})]

    def closing(self) -> list[bytes]:
        last = {**self._head(), **self.piece(""), "done": True, **_stats(self.reply)}
        return [_line({**last, **self.final_extra})]


def _calls(calls: Sequence[ScriptedCall]) -> list[dict[str, Any]]:
    return [{"function": {"name": c.name, "arguments": c.arguments}} for c in calls]


def _chat_piece(text: str) -> dict[str, Any]:
    return {"message": {"role": "assistant", "content": text}}


def _generate_piece(text: str) -> dict[str, Any]:
    return {"response": text}


class OllamaStandin(StandinServer):
    """Ollama server. ``models`` are the pulled ones (``/api/tags``); others answer 404.

    ``loaded`` lists the models ``/api/ps`` shows at start; a model served once becomes loaded.
    ``max_in_flight`` emulates ``OLLAMA_MAX_QUEUE``: extra concurrent requests get the 503.
    Every model embeds (``/api/embed``) into ``embedding_size`` numbers; with
    ``honours_dimensions`` off, ``dimensions`` is ignored (as older Ollama versions do).
    """

    def __init__(
        self,
        *,
        models: Sequence[str | OllamaModel] = ("qwen2.5:14b", "llama3.2:latest"),
        loaded: Sequence[str] = (),
        version: str = "0.12.6",
        script: Script | None = None,
        max_in_flight: int | None = None,
        port: int = 0,
    ) -> None:
        super().__init__(script=script, max_in_flight=max_in_flight, port=port)
        self.models = [
            m if isinstance(m, OllamaModel) else OllamaModel(canonical(m)) for m in models
        ]
        self.loaded: list[str] = [canonical(m) for m in loaded]
        self.version = version
        self.embedding_size = DEFAULT_SIZE
        self.honours_dimensions = True

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/", self._root),
            web.get("/api/version", self._version),
            web.get("/api/tags", self._tags),
            web.get("/api/ps", self._ps),
            web.post("/api/show", self._show),
            web.post("/api/chat", self._chat),
            web.post("/api/generate", self._generate),
            web.post("/api/embed", self._embed),
        ]

    def error_response(self, status: int, message: str | None = None) -> web.Response:
        default = BUSY_MESSAGE if status == 503 else f"HTTP {status}"
        return web.json_response({"error": message or default}, status=status)

    def _model(self, name: Any) -> OllamaModel:
        if not isinstance(name, str) or not name:
            raise Rejected(self.error_response(400, "model is required"))
        for model in self.models:
            if model.name == canonical(name):
                return model
        raise Rejected(self.error_response(404, f"model '{name}' not found"))

    def _mark_loaded(self, model: OllamaModel) -> None:
        if model.name not in self.loaded:
            self.loaded.append(model.name)

    async def _root(self, request: web.Request) -> web.StreamResponse:
        return web.Response(text="Ollama is running")

    async def _version(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"version": self.version})

    async def _tags(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"models": [_tag(m) for m in self.models]})

    async def _ps(self, request: web.Request) -> web.StreamResponse:
        expires = (datetime.now(UTC) + timedelta(minutes=5)).isoformat().replace("+00:00", "Z")
        running = [
            {**_tag(m), "expires_at": expires, "size_vram": m.size, "context_length": 4096}
            for m in self.models
            if m.name in self.loaded
        ]
        for entry in running:
            del entry["modified_at"]
        return web.json_response({"models": running})

    async def _show(self, request: web.Request) -> web.StreamResponse:
        body = await self.read_json(request)
        name = body.get("model") or body.get("name") if isinstance(body, dict) else None
        model = self._model(name)
        arch = model.family
        return web.json_response(
            {
                "modelfile": f"FROM {model.name}\n",
                "parameters": "",
                "template": "{{- if .Tools }}{{ .Tools }}{{ end }}{{ .Prompt }}",
                "details": model.details(),
                "model_info": {"general.architecture": arch, f"{arch}.context_length": 32768},
                "capabilities": ["completion", "tools"],
                "modified_at": "2025-05-10T08:06:48.639712648-07:00",
            }
        )

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request)
        messages = body.get("messages") or []
        words = count_words(messages)
        return await self._reply(request, body, words, _chat_piece, {})

    async def _generate(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request)
        words = count_words([body.get("system"), body.get("prompt")])
        return await self._reply(request, body, words, _generate_piece, {"context": [1, 2, 3]})

    async def _embed(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request)
        model = self._model(body.get("model"))
        texts = input_texts(body.get("input"))
        if texts is None:
            raise Rejected(self.error_response(400, "invalid input type"))
        dimensions = body.get("dimensions") if self.honours_dimensions else None
        self._mark_loaded(model)

        def answer(script: Script) -> dict[str, Any]:
            tokens = prompt_tokens(texts, script.prompt_tokens)
            return {
                "model": body["model"],
                "embeddings": [embedding_of(t, self.embedding_size, dimensions) for t in texts],
                "total_duration": 14_143_917 + tokens * 100_000,
                "load_duration": 1_019_500,
                "prompt_eval_count": tokens,
            }

        return await self.serve_document(request, answer)

    async def _body(self, request: web.Request) -> dict[str, Any]:
        body = await self.read_json(request)
        if not isinstance(body, dict):
            raise Rejected(self.error_response(400, "invalid request body"))
        return body

    async def _reply(
        self,
        request: web.Request,
        body: dict[str, Any],
        prompt_words: int,
        piece: Callable[[str], dict[str, Any]],
        final_extra: dict[str, Any],
    ) -> web.StreamResponse:
        model = self._model(body.get("model"))
        self._mark_loaded(model)

        def complete(reply: Reply) -> dict[str, Any]:
            head = {"model": body["model"], "created_at": _now()}
            done = {**head, **piece(reply.text), "done": True, **_stats(reply), **final_extra}
            if reply.tool_calls and "message" in done:
                done["message"] = {**done["message"], "tool_calls": _calls(reply.tool_calls)}
            return done

        plan = ReplyPlan(
            stream=body.get("stream", True) is not False,
            model=body["model"],
            prompt_words=prompt_words,
            codec=lambda reply: _NdjsonStream(reply, piece, final_extra),
            body=complete,
        )
        return await self.serve_reply(request, plan)


def _tag(model: OllamaModel) -> dict[str, Any]:
    return {
        "name": model.name,
        "model": model.name,
        "modified_at": "2025-05-10T08:06:48.639712648-07:00",
        "size": model.size,
        "digest": model.digest,
        "details": model.details(),
    }
