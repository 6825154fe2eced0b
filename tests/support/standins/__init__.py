"""Loopback stand-ins for the network edge: OpenAI-compatible, Ollama and Anthropic servers,
plus TCP-level faults, with scripted replies and request recording.

Typical use::

    async with OllamaStandin(script=Script(reply="hi", first_token_delay=0.2)) as ollama:
        ollama.queue(Script.http_error(503))   # the next request only
        ...
        assert ollama.requests[-1].body["model"] == "qwen2.5:14b"
"""

from .anthropic import AnthropicStandin, anthropic_error
from .base import RecordedRequest, StandinServer
from .faults import BlackholeServer, refused_port, refused_url, unanswered_port
from .ollama import BUSY_MESSAGE, OllamaModel, OllamaStandin
from .openai import OpenAIQuirks, OpenAIStandin, openai_error
from .script import (
    CutAfterFirstChunk,
    ErrorMidStream,
    Failure,
    Hang,
    HttpError,
    Script,
    ScriptedCall,
    Usage,
)
from .thread import AsyncServer, ServerThread

__all__ = [
    "BUSY_MESSAGE",
    "AnthropicStandin",
    "AsyncServer",
    "BlackholeServer",
    "CutAfterFirstChunk",
    "ErrorMidStream",
    "Failure",
    "Hang",
    "HttpError",
    "OllamaModel",
    "OllamaStandin",
    "OpenAIQuirks",
    "OpenAIStandin",
    "RecordedRequest",
    "Script",
    "ScriptedCall",
    "ServerThread",
    "StandinServer",
    "Usage",
    "anthropic_error",
    "openai_error",
    "refused_port",
    "refused_url",
    "unanswered_port",
]
