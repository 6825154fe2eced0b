"""Splitting replies into Discord messages: limits, intact code blocks, stable pages."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.splitting import DISCORD_LIMIT, open_fence, split_message, units

_FENCE_LINE = re.compile(r"^ {0,3}(`{3,}|~{3,})", re.MULTILINE)

_pieces = st.one_of(
    st.text(alphabet=st.characters(codec="utf-8", exclude_characters="`~\r"), max_size=300),
    st.sampled_from(["\n```python\n", "\n```\n", "\n~~~\n", "\n", "\n\n", " ", "😀", "é",
                     "אבג", "x" * 700, "word " * 120, "\n```js\nlet a = 1;\n```\n"]),
)
_texts = st.lists(_pieces, max_size=40).map("".join)


def _strip_added_fences(pages: list[str]) -> str:
    """Join pages back, removing the closing/reopening fences the splitter added."""
    out: list[str] = []
    for index, page in enumerate(pages):
        body = page
        if index > 0 and open_fence("".join(out)) is not None:
            body = body.split("\n", 1)[1] if "\n" in body else ""
        out.append(body)
    return "".join(out)


@settings(max_examples=300, deadline=None)
@given(_texts)
def test_every_page_fits_and_renders_on_its_own(text: str) -> None:
    pages = split_message(text)
    assert all(units(p) <= DISCORD_LIMIT for p in pages)
    assert all(p.strip() for p in pages)
    for page in pages[:-1]:
        assert open_fence(page) is None, "a page ends inside a code block"


@settings(max_examples=200, deadline=None)
@given(_texts)
def test_pages_already_sent_never_change_as_the_text_grows(text: str) -> None:
    step = max(1, len(text) // 15)
    previous: list[str] = []
    for end in range(step, len(text) + step, step):
        pages = split_message(text[:end])
        for old, new in zip(previous[:-1], pages, strict=False):
            assert old == new
        previous = pages


def test_a_long_code_block_is_closed_and_reopened_with_its_language() -> None:
    code = "\n".join(f"    print({i})  # step {i}" for i in range(400))
    text = f"Here you go:\n```python\n{code}\n```\nThat's all."
    pages = split_message(text)
    assert len(pages) >= 5
    assert pages[0].startswith("Here you go:\n```python\n")
    for page in pages[1:]:
        assert page.startswith("```python\n") or not page.startswith("```")
    for page in pages:
        assert len(_FENCE_LINE.findall(page)) % 2 == 0
    assert pages[-1].endswith("That's all.")
    joined = "\n".join(p.removeprefix("```python\n").removesuffix("\n```") for p in pages)
    for i in range(400):
        assert f"print({i})" in joined


def test_short_text_is_one_page_and_an_unclosed_block_is_closed() -> None:
    assert split_message("hello") == ["hello"]
    assert split_message("```py\nx = 1") == ["```py\nx = 1\n```"]
    assert split_message("") == []


def test_prefers_paragraph_breaks_and_counts_astral_characters_twice() -> None:
    text = ("para one " * 150).strip() + "\n\n" + ("para two " * 150).strip()
    pages = split_message(text)
    assert pages[0].endswith("para one") and pages[1].startswith("para two")
    emoji = "😀" * 1500  # 3,000 UTF-16 units, no spaces
    pages = split_message(emoji)
    assert [units(p) for p in pages] == [1996, 1004]  # 4 units kept to close a fence
