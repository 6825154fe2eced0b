"""The token estimate the team engine and the gateway share (``inference.tokens``)."""

from __future__ import annotations

import json

import team.tokens
from inference.tokens import (
    MESSAGE_OVERHEAD,
    estimate_input_tokens,
    estimate_tokens,
    message_text,
)
from inference.types import Message, ModelToolCall, ToolFunction


def test_about_four_characters_a_token_plus_the_framing_of_a_message() -> None:
    assert MESSAGE_OVERHEAD == 4
    assert estimate_tokens("") == MESSAGE_OVERHEAD
    assert [estimate_tokens("x" * n) - MESSAGE_OVERHEAD for n in (1, 4, 5, 8, 9)] == [
        1, 1, 2, 2, 3]


def test_the_team_uses_the_same_estimate() -> None:
    assert team.tokens.estimate_tokens is estimate_tokens
    assert team.tokens.MESSAGE_OVERHEAD == MESSAGE_OVERHEAD


def test_a_call_counts_each_message_tool_call_and_tool() -> None:
    call = ModelToolCall("call_1", "get_weather", '{"city": "Oslo"}')
    messages = [Message("system", "Be brief."), Message("user", "Oslo?"),
                Message("assistant", "Looking.", tool_calls=(call,)),
                Message("tool", "sunny", tool_call_id="call_1", name="get_weather")]
    tool = ToolFunction("get_weather", "The weather", {"type": "object"})
    assert message_text(messages[2]) == 'Looking.{"city": "Oslo"}'
    schema = json.dumps({"name": "get_weather", "description": "The weather",
                         "input_schema": {"type": "object"}})
    assert estimate_input_tokens(messages, [tool]) == (
        estimate_tokens("Be brief.") + estimate_tokens("Oslo?")
        + estimate_tokens('Looking.{"city": "Oslo"}') + estimate_tokens("sunny")
        + estimate_tokens(schema))
    assert estimate_input_tokens([]) == 0
