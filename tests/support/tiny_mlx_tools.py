"""Tiny MLX models that call tools: a fixed reply, generated for real, built offline.

A random-weight model never writes a tool call by itself. These models are built so that
generation is certain instead: every piece of the reply ("script") is one added token of
the tokenizer, and the weights form a chain. Attention and MLP outputs are zero, so the
hidden state is the current token's embedding; each chain token's embedding is its own
axis, and the output head maps that axis to the next piece with a huge margin. From the
last prompt token (the newline of ``<|im_start|>assistant\\n``) the model therefore emits
the script, then ``<|im_end|>``, whatever the prompt, temperature or seed. A prompt that
ends in a script piece (the ``<tool_call>`` marker a forced ``tool_choice`` appends)
continues the chain from there.

The tokenizer's chat template is Qwen2.5's layout (tools in the system turn, calls as
``<tool_call>`` JSON, results as ``<tool_response>``), so ``mlx_lm`` infers its
``json_tools`` parser, exactly as for a real Qwen2.5 model.
"""

from __future__ import annotations

import itertools
import json
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tests.support.tiny_mlx import (
    EOS_TOKEN,
    SPECIAL_TOKENS,
    TinyModelSpec,
    _model_config,
    _train_tokenizer,
    _write_json,
)

__all__ = ["QWEN_TOOL_TEMPLATE", "build_tool_model"]

_BUILD_INFO = "tiny-tools-build.json"
_FORMAT_VERSION = 2
_AXIS = 12.0  # embedding value on a chain token's own axis
_HEAD = 10.0  # output-head weight from a chain axis to the next piece
_NOISE = 0.02  # std of every other output-head weight

# Qwen2.5-Instruct's template, trimmed of its default system prompt. No Jinja whitespace
# control: newlines come from string literals.
QWEN_TOOL_TEMPLATE = (
    "{% if tools %}"
    "{{ '<|im_start|>system\n' }}"
    "{% if messages[0]['role'] == 'system' %}{{ messages[0]['content'] + '\n\n' }}{% endif %}"
    "{{ '# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n<tools>' }}"
    "{% for tool in tools %}{{ '\n' }}{{ tool | tojson }}{% endfor %}"
    "{{ '\n</tools>\n\nFor each function call, return a json object with function name and "
    "arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n"
    '{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call><|im_end|>\n\' }}'
    "{% elif messages[0]['role'] == 'system' %}"
    "{{ '<|im_start|>system\n' + messages[0]['content'] + '<|im_end|>\n' }}"
    "{% endif %}"
    "{% for message in messages %}"
    "{% if message['role'] == 'user' or (message['role'] == 'system' and not loop.first)"
    " or (message['role'] == 'assistant' and not message.tool_calls) %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + (message['content'] or '') + '<|im_end|>\n' }}"
    "{% elif message['role'] == 'assistant' %}"
    "{{ '<|im_start|>assistant' }}"
    "{% if message['content'] %}{{ '\n' + message['content'] }}{% endif %}"
    "{% for tool_call in message.tool_calls %}"
    "{% if tool_call.function is defined %}{% set tool_call = tool_call.function %}{% endif %}"
    '{{ \'\n<tool_call>\n{"name": "\' + tool_call.name + \'", "arguments": \' }}'
    "{{ tool_call.arguments | tojson }}{{ '}\n</tool_call>' }}"
    "{% endfor %}"
    "{{ '<|im_end|>\n' }}"
    "{% elif message['role'] == 'tool' %}"
    "{% if loop.index0 == 0 or messages[loop.index0 - 1]['role'] != 'tool' %}"
    "{{ '<|im_start|>user' }}{% endif %}"
    "{{ '\n<tool_response>\n' + (message['content'] or '') + '\n</tool_response>' }}"
    "{% if loop.last or messages[loop.index0 + 1]['role'] != 'tool' %}"
    "{{ '<|im_end|>\n' }}{% endif %}"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def build_tool_model(dest: Path, script: Sequence[str]) -> Path:
    """Build (or reuse) at ``dest`` a tiny model whose every reply is ``"".join(script)``.

    The pieces must be distinct and non-empty; each becomes one token, so a streamed reply
    arrives in exactly these pieces. Idempotent per ``script``; built in a sibling
    temporary directory renamed into place.
    """
    pieces = list(script)
    if not pieces or len(set(pieces)) != len(pieces) or not all(pieces):
        raise ValueError("the script needs distinct, non-empty pieces")
    info = {"format_version": _FORMAT_VERSION, "script": pieces}
    if _read_info(dest) == info:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", dir=dest.parent))
    try:
        _build_into(staging, pieces)
        _write_json(staging / _BUILD_INFO, info)
        if dest.exists():
            shutil.rmtree(dest)
        staging.rename(dest)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return dest


def _read_info(dest: Path) -> object:
    try:
        return json.loads((dest / _BUILD_INFO).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _build_into(directory: Path, pieces: list[str]) -> None:
    from tokenizers import AddedToken, Tokenizer

    _train_tokenizer(directory)
    tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
    markers = [m for m in ("<tool_call>", "</tool_call>") if m not in pieces]
    tokenizer.add_tokens([AddedToken(t, normalized=False) for t in [*markers, *pieces]])
    tokenizer.save(str(directory / "tokenizer.json"))
    vocab: dict[str, int] = tokenizer.get_vocab()
    spec = TinyModelSpec(hidden_size=max(48, 8 * ((len(pieces) + 9) // 8)), context_length=4096)
    ids = {token: vocab[token] for token in SPECIAL_TOKENS}
    _write_json(directory / "config.json", _model_config(spec, len(vocab), ids))
    _write_json(directory / "tokenizer_config.json", _tokenizer_config(spec))
    last_prompt = tokenizer.encode("<|im_start|>assistant\n").ids[-1]
    chain = [last_prompt, *(vocab[p] for p in pieces), vocab[EOS_TOKEN]]
    _write_weights(directory, spec, chain)


def _tokenizer_config(spec: TinyModelSpec) -> dict[str, Any]:
    return {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": SPECIAL_TOKENS[0],
        "eos_token": EOS_TOKEN,
        "pad_token": SPECIAL_TOKENS[0],
        "unk_token": None,
        "add_bos_token": False,
        "add_eos_token": False,
        "clean_up_tokenization_spaces": False,
        "model_max_length": spec.context_length,
        "chat_template": QWEN_TOOL_TEMPLATE,
    }


def _write_weights(directory: Path, spec: TinyModelSpec, chain: list[int]) -> None:
    """Zero the residual branches; wire chain token ``k`` (axis ``k``) to token ``k + 1``."""
    import mlx.core as mx
    from mlx.utils import tree_flatten
    from mlx_lm.models.llama import Model, ModelArgs

    config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    known = set(ModelArgs.__dataclass_fields__)
    model = Model(ModelArgs(**{k: v for k, v in config.items() if k in known}))
    flat: dict[str, Any] = {}
    tree_flatten(model.parameters(), destination=flat)
    rng = np.random.default_rng(0)
    arrays: dict[str, np.ndarray[Any, np.dtype[np.float32]]] = {}
    for name in sorted(flat):
        shape = tuple(flat[name].shape)
        if name.endswith("norm.weight"):
            arrays[name] = np.ones(shape, dtype=np.float32)
        elif name.endswith(("o_proj.weight", "down_proj.weight")):
            arrays[name] = np.zeros(shape, dtype=np.float32)
        else:
            arrays[name] = (rng.standard_normal(shape) * _NOISE).astype(np.float32)
    embed, head = arrays["model.embed_tokens.weight"], arrays["lm_head.weight"]
    for axis, (token, following) in enumerate(itertools.pairwise(chain)):
        embed[token] = 0.0
        embed[token, axis] = _AXIS
        head[following, axis] = _HEAD
    mx.save_safetensors(
        str(directory / "model.safetensors"), {k: mx.array(v) for k, v in arrays.items()}
    )
