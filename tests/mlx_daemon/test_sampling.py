"""Stop strings over streamed text, and per-request samplers."""

from __future__ import annotations

import mlx.core as mx
from hypothesis import given
from hypothesis import strategies as st

from mlx_daemon.protocol import GenerationRequest
from mlx_daemon.sampling import SamplerCache, SeededSampler, StopFilter

_ALPHABET = "ab c\n"


def _expected(text: str, stops: tuple[str, ...]) -> tuple[str, bool]:
    """Cut before the stop string that completes first (the earliest-starting on a tie)."""
    hits = [(i + len(s), i) for s in stops if s and (i := text.find(s)) >= 0]
    return (text[: min(hits)[1]], True) if hits else (text, False)


def _run(chunks: list[str], stops: tuple[str, ...]) -> tuple[str, bool]:
    stop_filter = StopFilter(stops)
    out = []
    for piece in chunks:
        emitted, hit = stop_filter.feed(piece)
        out.append(emitted)
        if hit:
            return "".join(out), True
    out.append(stop_filter.flush())
    return "".join(out), False


@given(
    chunks=st.lists(st.text(_ALPHABET, max_size=4), max_size=12),
    stops=st.lists(st.text(_ALPHABET, min_size=1, max_size=3), max_size=4),
)
def test_stop_filter_matches_cutting_the_whole_text(chunks: list[str], stops: list[str]) -> None:
    assert _run(chunks, tuple(stops)) == _expected("".join(chunks), tuple(stops))


def test_the_stop_that_completes_first_wins_however_the_text_is_split() -> None:
    stops = ("\n", "c\nc")
    assert _run(["c", "\n", "c"], stops) == ("c", True)
    assert _run(["c\nc"], stops) == ("c", True)


def test_stop_filter_holds_back_only_possible_prefixes() -> None:
    stop_filter = StopFilter(("END",))
    assert stop_filter.feed("hello E") == ("hello ", False)
    assert stop_filter.feed("x") == ("Ex", False)
    assert stop_filter.feed("and EN") == ("and ", False)
    assert stop_filter.feed("D more") == ("", True)


def _request(**fields: object) -> GenerationRequest:
    return GenerationRequest(model="m", messages=({"role": "user", "content": "x"},), **fields)  # type: ignore[arg-type]


def test_like_requests_share_one_sampler_so_they_sample_in_one_batch_call() -> None:
    cache = SamplerCache()
    first = cache.sampler_for(_request(temperature=0.7, top_p=0.9))
    assert cache.sampler_for(_request(temperature=0.7, top_p=0.9)) is first
    assert cache.sampler_for(_request(temperature=0.8)) is not first
    greedy = cache.sampler_for(_request(temperature=0.0))
    assert cache.sampler_for(_request(temperature=0.0)) is greedy
    assert isinstance(cache.sampler_for(_request(temperature=0.7, seed=1)), SeededSampler)


def test_seeded_sampler_is_reproducible() -> None:
    logprobs = mx.log(mx.softmax(mx.arange(32, dtype=mx.float32)[None, :] / 8.0))

    def draw(seed: int) -> list[int]:
        sampler = SeededSampler(1.0, 0.95, seed)
        return [int(sampler(logprobs).item()) for _ in range(20)]

    assert draw(3) == draw(3)
    assert len(set(draw(3))) > 1  # it does sample, not argmax
