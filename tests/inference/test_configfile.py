"""Loading homecrew.yaml: lookup order, interpolation, .env, errors that name file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from homecrew.settings import load_settings
from inference.config import mask_url_password
from inference.configfile import interpolate, redact
from inference.errors import ConfigError

EXAMPLE = Path(__file__).parents[2] / "deploy" / "homecrew.example.yaml"
MINIMAL = """
nodes:
  ollama: {kind: ollama, base_url: "${OLLAMA_URL:-http://localhost:11434}"}
models:
  ollama-qwen: {node: ollama, model: "qwen2.5:14b"}
routes:
  smart-agent: [ollama-qwen]
"""


def write(tmp_path: Path, text: str, name: str = "homecrew.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_example_reproduces_the_seed_stack() -> None:
    settings = load_settings(EXAMPLE, environ={})
    assert settings.routes == {
        "smart-agent": ["mlx-qwen", "ollama-qwen", "claude-sonnet"],
        "nellie-research": ["ollama-qwen", "kimi-k2.5"],
        "chief-monitor": ["mlx-phi4", "claude-haiku"],
        "gonzo-backend": ["ollama-coder", "claude-sonnet"],
        "cleo-frontend": ["mlx-phi4", "claude-haiku"],
        "jax-creative": ["ollama-qwen", "claude-sonnet"],
    }
    upstream = {m.model for m in settings.models.values()}
    assert {"qwen2.5:14b", "llama3.2", "qwen2.5-coder:14b", "claude-haiku-4-5",
            "claude-sonnet-4-5", "claude-opus-4-5", "kimi-k2.5"} <= upstream
    assert settings.cache.ttl == 600
    assert settings.nodes["anthropic"].is_cloud
    assert settings.nodes["kimi"].is_cloud
    assert not settings.nodes["mlx"].is_cloud
    assert settings.nodes["anthropic"].api_key is None  # ${ANTHROPIC_API_KEY} unset
    assert settings.cache.redis_url is None
    assert settings.ledger.database_url is None


def test_lookup_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    explicit = write(tmp_path, MINIMAL, "explicit.yaml")
    from_env = write(tmp_path, MINIMAL.replace("smart-agent", "env-route"), "env.yaml")
    monkeypatch.chdir(tmp_path)
    write(tmp_path, MINIMAL.replace("smart-agent", "cwd-route"))
    env = {"HOMECREW_CONFIG": str(from_env)}
    assert "smart-agent" in load_settings(explicit, environ=env).routes
    assert "env-route" in load_settings(None, environ=env).routes
    assert "cwd-route" in load_settings(None, environ={}).routes


def test_missing_file_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="pass --config PATH or set HOMECREW_CONFIG"):
        load_settings(None, environ={})


def test_interpolation_and_dotenv(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "cache: {redis_url: '${REDIS_URL:-}', ttl: '${TTL}'}\n")
    (tmp_path / ".env").write_text("TTL=120\nOLLAMA_URL=http://from-dotenv:11434\n")
    settings = load_settings(path, environ={"OLLAMA_URL": "http://from-environ:11434"})
    assert settings.nodes["ollama"].base_url == "http://from-environ:11434"  # environ wins
    assert settings.cache.ttl == 120
    assert settings.cache.redis_url is None
    assert interpolate("a $$ b ${X:-d} ${Y}", {"Y": "y"}, source="s") == "a $ b d y"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (MINIMAL.replace("[ollama-qwen]", "[ollama-qwen, olama-coder]"),
         "routes.smart-agent[1]: unknown model alias 'olama-coder'"),
        (MINIMAL.replace("{node: ollama,", "{node: olama,"),
         "models.ollama-qwen.node: unknown node 'olama'"),
        (MINIMAL + "timeouts: {first_token: -1}\n",
         "timeouts.first_token: Input should be greater than 0"),
        (MINIMAL + "cache: {ttl: soon}\n", "cache.ttl: Input should be a valid integer"),
        (MINIMAL + "rouets: {}\n", "rouets: unknown key"),
        (MINIMAL.replace("kind: ollama", "kind: olama"), "nodes.ollama.kind: Input should be"),
        (MINIMAL + "ledger: {database_url: mysql://x}\n", "ledger.database_url: expected"),
        ("nodes: [\n", "invalid YAML"),
        ("- just a list\n", "expected a mapping"),
    ],
)
def test_errors_name_file_and_key(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    assert str(caught.value).startswith(str(path))
    assert expected in str(caught.value)


def test_secret_values_are_never_echoed(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL.replace(
        "nodes:\n", "nodes:\n  anthropic: {kind: anthropic, api_key: {bad: sk-ant-SECRET}}\n"))
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    assert "nodes.anthropic.api_key" in str(caught.value)
    assert "sk-ant-SECRET" not in str(caught.value)
    settings = load_settings(write(tmp_path, MINIMAL.replace(
        "nodes:\n", "nodes:\n  anthropic: {kind: anthropic, api_key: sk-ant-SECRET}\n")),
        environ={})
    assert "sk-ant-SECRET" not in repr(settings)
    assert "sk-ant-SECRET" not in str(settings.model_dump())


def test_a_node_error_never_echoes_the_node(tmp_path: Path) -> None:
    # the example: "needs base_url (got {'kind': 'openai', ..., 'api_key': 'sk-…'})"
    path = write(tmp_path, MINIMAL.replace(
        "nodes:\n", "nodes:\n  n1: {kind: openai, base_url: '', api_key: sk-SECRET-node}\n"))
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    assert "nodes.n1: a node of kind 'openai' needs base_url" in str(caught.value)
    assert "sk-SECRET-node" not in str(caught.value)
    assert "got {" not in str(caught.value)


def test_passwords_in_urls_are_masked() -> None:
    assert mask_url_password("http://u:pw-123@h:1/v1") == "http://u:***@h:1/v1"
    assert mask_url_password("http://h:8000/v1?a=b@c") == "http://h:8000/v1?a=b@c"
    assert redact("postgresql://me:hunter22@db/x down") == "postgresql://me:[redacted]@db/x down"
    assert redact("key sk-abcdef shown", frozenset({"sk-abcdef"})) == "key [redacted] shown"
