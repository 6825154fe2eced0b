"""The chat protocols the native client speaks, one module each, with no I/O.

Each protocol builds a request (``path`` and JSON ``body``) for a step, and reads the
streamed reply one line at a time into :class:`~inference.step.Chunk` events and a final
:class:`~inference.step.Usage`:

* :mod:`inference.wire.openai_chat` — ``POST {base_url}/chat/completions``, server-sent
  events (OpenAI, ``mlx_lm.server``, homecrew's ``mlx_daemon``, Ollama's ``/v1``, vLLM);
* :mod:`inference.wire.ollama_chat` — ``POST {base_url}/api/chat``, NDJSON (Ollama).

The embeddings protocols (:class:`EmbedProtocol`) are one JSON request and one JSON answer:

* :mod:`inference.wire.openai_embed` — ``POST {base_url}/embeddings`` (OpenAI's reference);
* :mod:`inference.wire.ollama_embed` — ``POST {base_url}/api/embed`` (Ollama).

A protocol error inside a stream (an ``error`` object) raises :class:`WireError`; the
caller that owns the connection maps it like an HTTP error.
"""

from inference.wire._base import (
    MAX_LINE,
    ChatProtocol,
    EmbedProtocol,
    LineReader,
    LineSplitter,
    ToolCallAssembler,
    WireError,
    WireModel,
    embedded,
    error_text,
    parse_event,
    usage_of,
)

__all__ = ["MAX_LINE", "ChatProtocol", "EmbedProtocol", "LineReader", "LineSplitter",
           "ToolCallAssembler", "WireError", "WireModel",
           "embedded", "error_text", "parse_event", "usage_of"]
