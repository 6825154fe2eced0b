"""The tool-call splitter on mlx-lm's own parsers: any split of a reply gives the same result."""

from __future__ import annotations

import importlib
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlx_daemon.tool_calls import Piece, ToolCall, ToolCallSplitter, ToolSyntax

Args = dict[str, str]


@dataclass(frozen=True)
class Format:
    """One of mlx-lm's tool-call formats and how a model writes a call in it."""

    module: str
    render: Callable[[str, Args], str]  # the call text between the markers

    @property
    def syntax(self) -> ToolSyntax:
        parser = importlib.import_module(f"mlx_lm.tool_parsers.{self.module}")
        return ToolSyntax(parser.tool_call_start, parser.tool_call_end, parser.parse_tool_call)

    def markup(self, name: str, args: Args) -> str:
        return self.syntax.start + self.render(name, args) + self.syntax.end


def _qwen3_coder(name: str, args: Args) -> str:
    params = "".join(f"<parameter={k}>\n{v}\n</parameter>\n" for k, v in args.items())
    return f"\n<function={name}>\n{params}</function>\n"


FORMATS = {
    "json_tools": Format(
        "json_tools", lambda n, a: "\n" + json.dumps({"name": n, "arguments": a}) + "\n"
    ),
    "qwen3_coder": Format("qwen3_coder", _qwen3_coder),
    "pythonic": Format(
        "pythonic", lambda n, a: f"[{n}({', '.join(f'{k}={v!r}' for k, v in a.items())})]"
    ),
    "mistral": Format("mistral", lambda n, a: f"{n}[ARGS]{json.dumps(a)}"),  # no end marker
}

names = st.sampled_from(["get_weather", "get_time", "search"])
words = st.text("abcxyz PQ01", min_size=1, max_size=8).map(str.strip).filter(bool)
arguments = st.dictionaries(st.sampled_from(["city", "unit", "q"]), words, max_size=3)
noise = st.lists(
    st.one_of(
        st.text("ab <>/_|[]{}\n\"':=", max_size=6),
        st.sampled_from(["<tool", "<tool_ca", "</tool_call", "<|tool_call", "[TOOL", "\n\n", " "]),
    ),
    max_size=4,
).map("".join)


def _run(splitter: ToolCallSplitter, pieces: list[str]) -> tuple[str, list[ToolCall]]:
    out: list[Piece] = []
    for piece in pieces:
        out += splitter.feed(piece)
    out += splitter.finish()
    content = "".join(p for p in out if isinstance(p, str))
    return content, [p for p in out if isinstance(p, ToolCall)]


def _splitter(fmt: Format, **options: Any) -> ToolCallSplitter:
    ids = itertools.count()
    return ToolCallSplitter(fmt.syntax, new_id=lambda: f"call_{next(ids)}", **options)


@st.composite
def replies(draw: st.DrawFn, fmt: Format) -> tuple[str, list[str], list[tuple[str, Args]]]:
    """A reply mixing text and calls: (reply, its text parts, its calls)."""
    texts: list[str] = []
    calls: list[tuple[str, Args]] = []
    reply = ""
    for _ in range(draw(st.integers(0, 3))):
        text = draw(noise.filter(lambda t: fmt.syntax.start not in t))
        call = (draw(names), draw(arguments))
        texts.append(text)
        calls.append(call)
        reply += text + fmt.markup(*call)
        if not fmt.syntax.end:
            break  # such a call runs to the end of the reply
    if fmt.syntax.end:
        tail = draw(noise.filter(lambda t: fmt.syntax.start not in t))
        texts.append(tail)
        reply += tail
    return reply, texts, calls


def _cuts(text: str, points: list[int]) -> list[str]:
    bounds = sorted({min(p, len(text)) for p in points} | {0, len(text)})
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


@pytest.mark.parametrize("name", sorted(FORMATS))
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_any_split_gives_the_whole_replys_calls_and_content(name: str, data: st.DataObject) -> None:
    fmt = FORMATS[name]
    reply, texts, calls = data.draw(replies(fmt))
    reply_cuts = _cuts(reply, data.draw(st.lists(st.integers(0, len(reply)), max_size=12)))
    whole = _run(_splitter(fmt), [reply])
    assert _run(_splitter(fmt), reply_cuts) == whole
    assert _run(_splitter(fmt), list(reply)) == whole  # one character at a time
    content, got = whole
    assert [(c.name, json.loads(c.arguments)) for c in got] == calls
    assert fmt.syntax.start not in content
    squeeze = "".join  # whitespace around calls is dropped, the text is kept
    assert squeeze(content.split()) == squeeze("".join(texts).split())


@pytest.mark.parametrize("name", sorted(FORMATS))
@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_any_split_of_arbitrary_text_agrees(name: str, data: st.DataObject) -> None:
    fmt = FORMATS[name]
    syntax = fmt.syntax
    parts = st.one_of(noise, st.sampled_from([syntax.start, syntax.end or "]", "{}", '{"name"']))
    reply = "".join(data.draw(st.lists(parts, max_size=8)))
    points = data.draw(st.lists(st.integers(0, len(reply)), max_size=10))
    inside = data.draw(st.booleans())
    parallel = data.draw(st.booleans())
    whole = _run(_splitter(fmt, inside=inside, parallel=parallel), [reply])
    split = _run(_splitter(fmt, inside=inside, parallel=parallel), _cuts(reply, points))
    assert split == whole


def _json_tools(**options: Any) -> ToolCallSplitter:
    return _splitter(FORMATS["json_tools"], **options)


@pytest.mark.parametrize(
    "reply",
    [
        'Sure.<tool_call>\n{"name": "get_weather", "arguments": {"city": "Par</tool_call>',
        'Sure.<tool_call>\n{"arguments": {"city": "Paris"}}\n</tool_call>',
        'Sure.<tool_call>\n{"name": "get_weather", "arguments": [1, 2]}\n</tool_call>',
        'Sure.<tool_call>\n{"name": "get_weather", "arguments": "{not json"}\n</tool_call>',
        'Sure.<tool_call>\n{"name": "get_weather", "arguments": {"city": "Pa',  # cut off
    ],
)
def test_a_call_that_does_not_parse_is_returned_as_content(reply: str) -> None:
    assert _run(_json_tools(), [reply]) == (reply, [])


def test_text_that_only_looks_like_a_marker_is_content() -> None:
    assert _run(_json_tools(), ["if a <tool", "_cal", "l is 2 < 3"]) == (
        "if a <tool_call is 2 < 3",
        [],
    )
    assert _run(_json_tools(), ["ends with <tool_ca"]) == ("ends with <tool_ca", [])


def test_whole_call_normalisation() -> None:
    reply = (
        '<tool_call>{"name": "lookup", "arguments": "{\\"q\\": \\"é\\"}"}</tool_call>'
        '<tool_call>{"name": "unknown_tool"}</tool_call>'
    )
    content, calls = _run(_json_tools(), [reply])
    assert content == ""
    assert calls == [
        ToolCall("call_0", "lookup", '{"q": "é"}'),  # string arguments become the object
        ToolCall("call_1", "unknown_tool", "{}"),  # not ours to judge: the caller's job
    ]


def test_forced_reply_starts_inside_a_call_and_parallel_off_keeps_one() -> None:
    body = '\n{"name": "a", "arguments": {}}\n</tool_call>\n<tool_call>{"name": "b"}</tool_call>'
    content, calls = _run(_json_tools(inside=True, parallel=False), [body])
    assert (content, [c.name for c in calls]) == ("", ["a"])


def test_a_models_own_call_id_is_kept() -> None:
    fmt = FORMATS["mistral"]
    reply = '[TOOL_CALLS][{"name": "a", "arguments": {}, "id": "abc123xyz"}]'
    assert _run(_splitter(fmt), [reply]) == ("", [ToolCall("abc123xyz", "a", "{}")])
