"""Token estimates: the one rule the team engine (context budgets) and the gateway
(``POST /v1/messages/count_tokens``) share.

The estimate is deliberately simple (about four characters a token, plus
:data:`MESSAGE_OVERHEAD` tokens of framing per message): it errs large for English and is
the same for every backend. Local nodes have no tokenizer API, so it is never the model's
own count.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from inference.types import Message, ToolFunction

__all__ = ["MESSAGE_OVERHEAD", "estimate_input_tokens", "estimate_tokens", "message_text",
           "tool_text"]

MESSAGE_OVERHEAD = 4


def estimate_tokens(text: str) -> int:
    """The tokens of one message whose text is ``text``."""
    return (len(text) + 3) // 4 + MESSAGE_OVERHEAD


def message_text(message: Message) -> str:
    """What a message puts before the model: its content, then each tool call's
    arguments (the JSON input)."""
    return message.content + "".join(call.arguments for call in message.tool_calls)


def tool_text(tool: ToolFunction) -> str:
    """A tool's definition as the model is shown it: name, description and JSON schema."""
    return json.dumps({"name": tool.name, "description": tool.description,
                       "input_schema": dict(tool.parameters)}, ensure_ascii=False)


def estimate_input_tokens(messages: Sequence[Message], tools: Sequence[ToolFunction] = ()
                          ) -> int:
    """The estimated input of a call: each message (system prompts and tool results
    included) and each tool definition, estimated as one message."""
    return (sum(estimate_tokens(message_text(message)) for message in messages)
            + sum(estimate_tokens(tool_text(tool)) for tool in tools))
