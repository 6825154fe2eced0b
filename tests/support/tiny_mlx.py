"""Tiny random-weight MLX (llama-architecture) models, built offline for tests.

A model directory holds a byte-level BPE ``tokenizer.json`` trained on a few lines
of text, a ``tokenizer_config.json`` with a ChatML-like chat template, a llama
``config.json`` and random ``model.safetensors`` weights (~0.3 MB). It loads with
``mlx_lm.load`` and ``python -m mlx_lm.server --model DIR``.

The weights are drawn from numpy's seeded generator, so one seed always gives the
same model. The hidden state carries a constant "bias" dimension that the output
head uses to push special tokens (eos included) and tokens that do not decode to
printable ASCII text far down: the model never stops by itself, it emits visible
text until ``max_tokens``. Use ``max_tokens`` (or a stop string) to bound a reply.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from tests.support.processes import ManagedProcess, free_port

__all__ = [
    "BOS_TOKEN",
    "EOS_TOKEN",
    "SPECIAL_TOKENS",
    "MlxLmServer",
    "TinyModelSpec",
    "TinyModels",
    "build_tiny_model",
    "build_tiny_models",
]

BOS_TOKEN = "<|endoftext|>"
EOS_TOKEN = "<|im_end|>"
_IM_START = "<|im_start|>"
SPECIAL_TOKENS = (BOS_TOKEN, _IM_START, EOS_TOKEN)

_BUILD_INFO = "tiny-build.json"
_FORMAT_VERSION = 1
_VOCAB_TARGET = 512
_BIAS_VALUE = 8.0  # constant value of hidden dimension 0 in every token embedding
_SUPPRESS = 6.0  # lm_head weight (negated) on dimension 0 for tokens never to emit
_HEAD_SCALE = 0.4  # std of lm_head weights: keeps sampled text varied at temperature 1
_BRANCH_SCALE = 0.5  # damps attention/MLP outputs so the current token steers the next

_CORPUS = (
    "The homelab team keeps the servers running and the backups fresh.",
    "Hello! How can I help you today? Let me check the logs first.",
    "The model answers from the local node, then the fallback node, then the cloud.",
    "Disk usage is at forty percent; memory is fine; the network looks healthy.",
    "Please restart the service and tell me when it is back online.",
    "We deploy with containers, monitor with metrics, and alert on errors.",
    "A quick brown fox jumps over the lazy dog near the rack of machines.",
    "Numbers like 1, 2, 3, 10, 42 and 100 appear in reports and dashboards.",
)

# ChatML-like. No Jinja whitespace control: newlines come from string literals.
_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% elif message['content'] %}{% for part in message['content'] %}"
    "{% if part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %}"
    "{% endif %}"
    "{{ '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


@dataclass(frozen=True)
class TinyModelSpec:
    """The parameters a tiny model is built from (also its idempotency key)."""

    seed: int = 0
    hidden_size: int = 48
    num_layers: int = 2
    context_length: int = 512
    format_version: int = _FORMAT_VERSION

    def __post_init__(self) -> None:
        if self.hidden_size < 16 or self.hidden_size % 8:
            raise ValueError(f"hidden_size must be a multiple of 8, >= 16: {self.hidden_size}")
        if self.num_layers < 1:
            raise ValueError(f"num_layers must be >= 1: {self.num_layers}")
        if self.context_length < 16:
            raise ValueError(f"context_length must be >= 16: {self.context_length}")

    @property
    def num_heads(self) -> int:
        return 4

    @property
    def num_kv_heads(self) -> int:
        return 2


def build_tiny_model(
    dest: Path,
    *,
    seed: int = 0,
    hidden_size: int = 48,
    num_layers: int = 2,
    context_length: int = 512,
) -> Path:
    """Build a tiny random-weight llama model directory at ``dest`` and return it.

    Idempotent: if ``dest`` already holds a model built with the same parameters it is
    left untouched; otherwise it is (re)built. The build happens in a sibling temporary
    directory that is renamed into place, so a half-built model is never visible.
    """
    spec = TinyModelSpec(
        seed=seed, hidden_size=hidden_size, num_layers=num_layers, context_length=context_length
    )
    dest = Path(dest)
    if _read_spec(dest) == spec:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", dir=dest.parent))
    try:
        _build_into(staging, spec)
        if dest.exists():
            shutil.rmtree(dest)
        staging.rename(dest)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return dest


@dataclass(frozen=True)
class TinyModels:
    """The two distinct tiny models tests use: "tiny-a" (seed 0) and "tiny-b" (seed 1)."""

    a: Path
    b: Path

    def by_name(self) -> dict[str, Path]:
        return {"tiny-a": self.a, "tiny-b": self.b}


def build_tiny_models(root: Path) -> TinyModels:
    """Build (or reuse) ``root/tiny-a`` and ``root/tiny-b``."""
    return TinyModels(
        a=build_tiny_model(Path(root) / "tiny-a", seed=0),
        b=build_tiny_model(Path(root) / "tiny-b", seed=1),
    )


def _read_spec(dest: Path) -> TinyModelSpec | None:
    try:
        raw = json.loads((dest / _BUILD_INFO).read_text(encoding="utf-8"))
        return TinyModelSpec(**raw)
    except (OSError, ValueError, TypeError):
        return None


def _build_into(directory: Path, spec: TinyModelSpec) -> None:
    vocab = _train_tokenizer(directory)
    _write_json(directory / "tokenizer_config.json", _tokenizer_config(spec))
    ids = {token: vocab[token] for token in SPECIAL_TOKENS}
    _write_json(directory / "config.json", _model_config(spec, len(vocab), ids))
    _write_weights(directory, spec, _suppressed_ids(directory, len(vocab)))
    _write_json(directory / _BUILD_INFO, asdict(spec))


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _train_tokenizer(directory: Path) -> dict[str, int]:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=_VOCAB_TARGET,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(list(_CORPUS), trainer=trainer)
    tokenizer.save(str(directory / "tokenizer.json"))
    vocab: dict[str, int] = tokenizer.get_vocab()
    return vocab


def _suppressed_ids(directory: Path, vocab_size: int) -> list[int]:
    """Ids of special tokens and of tokens that do not decode to printable ASCII."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
    suppressed = []
    for token_id in range(vocab_size):
        text = tokenizer.decode([token_id], skip_special_tokens=False)
        visible = text.isascii() and text.isprintable() and any(c.isalnum() for c in text)
        if not visible or tokenizer.id_to_token(token_id) in SPECIAL_TOKENS:
            suppressed.append(token_id)
    return suppressed


def _tokenizer_config(spec: TinyModelSpec) -> dict[str, Any]:
    return {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": BOS_TOKEN,
        "eos_token": EOS_TOKEN,
        "pad_token": BOS_TOKEN,
        "unk_token": None,
        "add_bos_token": False,
        "add_eos_token": False,
        "clean_up_tokenization_spaces": False,
        "model_max_length": spec.context_length,
        "chat_template": _CHAT_TEMPLATE,
    }


def _model_config(spec: TinyModelSpec, vocab_size: int, ids: dict[str, int]) -> dict[str, Any]:
    return {
        "model_type": "llama",
        "architectures": ["LlamaForCausalLM"],
        "hidden_size": spec.hidden_size,
        "num_hidden_layers": spec.num_layers,
        "intermediate_size": spec.hidden_size * 2,
        "num_attention_heads": spec.num_heads,
        "num_key_value_heads": spec.num_kv_heads,
        "rms_norm_eps": 1e-5,
        "vocab_size": vocab_size,
        "max_position_embeddings": spec.context_length,
        "rope_theta": 10000.0,
        "tie_word_embeddings": False,
        "bos_token_id": ids[BOS_TOKEN],
        "eos_token_id": ids[EOS_TOKEN],
        "pad_token_id": ids[BOS_TOKEN],
        "torch_dtype": "float32",
    }


def _write_weights(directory: Path, spec: TinyModelSpec, suppressed: list[int]) -> None:
    import mlx.core as mx
    from mlx.utils import tree_flatten
    from mlx_lm.models.llama import Model, ModelArgs

    config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    known = {f.name for f in fields(ModelArgs)}
    model = Model(ModelArgs(**{k: v for k, v in config.items() if k in known}))
    flat: dict[str, Any] = {}
    tree_flatten(model.parameters(), destination=flat)
    rng = np.random.default_rng(spec.seed)
    arrays = {
        name: _init_param(name, tuple(flat[name].shape), rng, suppressed) for name in sorted(flat)
    }
    _discourage_repeats(arrays["lm_head.weight"], arrays["model.embed_tokens.weight"])
    weights = {name: mx.array(value) for name, value in arrays.items()}
    mx.save_safetensors(str(directory / "model.safetensors"), weights)


def _init_param(
    name: str, shape: tuple[int, ...], rng: np.random.Generator, suppressed: list[int]
) -> np.ndarray[Any, np.dtype[np.float32]]:
    if name.endswith("norm.weight"):
        return np.ones(shape, dtype=np.float32)
    if name.endswith("embed_tokens.weight"):
        table = rng.standard_normal(shape).astype(np.float32)
        table[:, 0] = _BIAS_VALUE
        return table
    if name == "lm_head.weight":
        head = (rng.standard_normal(shape) * _HEAD_SCALE).astype(np.float32)
        head[:, 0] = 0.0
        head[suppressed, 0] = -_SUPPRESS
        return head
    scale = 1.0 / float(np.sqrt(shape[-1]))
    if name.endswith(("o_proj.weight", "down_proj.weight")):
        scale *= _BRANCH_SCALE
    weight: np.ndarray[Any, np.dtype[np.float32]] = (rng.standard_normal(shape) * scale).astype(
        np.float32
    )
    return weight


def _discourage_repeats(
    head: np.ndarray[Any, np.dtype[np.float32]], embed: np.ndarray[Any, np.dtype[np.float32]]
) -> None:
    """Make each token's output row orthogonal to its own embedding (bias dim aside).

    The hidden state is mostly the current token's embedding, so this keeps the greedy
    decoder from locking onto a token that predicts itself ("AAAA...").
    """
    rows, cols = head[:, 1:], embed[:, 1:]
    coef = np.sum(rows * cols, axis=1, keepdims=True) / np.sum(cols * cols, axis=1, keepdims=True)
    head[:, 1:] = rows - coef * cols


class MlxLmServer(ManagedProcess):
    """``python -m mlx_lm.server`` serving one model directory on a free loopback port.

    ``model_id`` is what a request's ``model`` field should carry to use the loaded
    model: the resolved model path, which is the id ``GET /v1/models`` lists. (The
    server also maps ``"default_model"``, and an omitted ``model``, to it.) Any other
    name makes the server drop the loaded model and load that one instead (from the
    HF cache, or a 404 ``{"error": ...}`` when it cannot: downloads are disabled here).

    The server gets a private, empty HF cache directory: without one, its
    ``/v1/models`` handler crashes after sending ``200`` headers, so the body is empty.
    """

    def __init__(
        self,
        model_dir: Path,
        *,
        port: int | None = None,
        timeout: float = 120.0,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.model_dir = Path(model_dir).resolve()
        self.port = port or free_port()
        self.root_url = f"http://127.0.0.1:{self.port}"
        self.base_url = f"{self.root_url}/v1"
        self.model_id = str(self.model_dir)
        self._hf_home: tempfile.TemporaryDirectory[str] | None = None
        argv = [
            sys.executable, "-m", "mlx_lm.server",
            "--model", self.model_id,
            "--host", "127.0.0.1",
            "--port", str(self.port),
            *extra_args,
        ]  # fmt: skip
        super().__init__(
            argv,
            ready=self._model_listed,
            env={"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"},
            timeout=timeout,
            name="mlx_lm.server",
        )

    def start(self) -> None:
        self._hf_home = tempfile.TemporaryDirectory(prefix="mlx-lm-hf-")
        hub = Path(self._hf_home.name) / "hub"
        hub.mkdir()
        self.env.update(HF_HOME=self._hf_home.name, HF_HUB_CACHE=str(hub))
        super().start()

    def stop(self) -> int | None:
        code = super().stop()
        if self._hf_home is not None:
            self._hf_home.cleanup()
            self._hf_home = None
        return code

    def _model_listed(self) -> bool:
        try:
            listing = httpx.get(f"{self.base_url}/models", timeout=2.0).json()
        except (httpx.HTTPError, ValueError):
            return False
        return any(entry.get("id") == self.model_id for entry in listing.get("data", []))
