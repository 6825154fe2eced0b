"""`import-litellm`: a LiteLLM proxy config becomes a valid homecrew config."""

from __future__ import annotations

import pytest
import yaml

from homecrew.settings import Settings
from inference.configfile import interpolate
from inference.errors import ConfigError
from inference.importer import convert_litellm_config

PROXY_CONFIG = """
model_list:
  - model_name: smart-agent
    litellm_params:
      model: openai/mlx-community/Qwen2.5-14B-Instruct-4bit
      api_base: http://mac-studio.local:8000/v1
      api_key: none-needed-literal
      timeout: 30
  - model_name: ollama-qwen
    litellm_params: {model: ollama/qwen2.5:14b, api_base: "http://localhost:11434"}
  - model_name: ollama-coder
    litellm_params: {model: ollama_chat/qwen2.5-coder:14b, api_base: "http://localhost:11434"}
  - model_name: claude-sonnet
    litellm_params: {model: anthropic/claude-sonnet-4-5, api_key: os.environ/ANTHROPIC_API_KEY}
  - model_name: kimi
    litellm_params: {model: moonshot/kimi-k2.5, api_key: os.environ/MOONSHOT_API_KEY}
router_settings:
  timeout: 30
  fallbacks:
    - smart-agent: [ollama-qwen, claude-sonnet]
    - ollama-coder: [claude-sonnet]
litellm_settings:
  cache: true
  cache_params: {type: redis, host: localhost, port: 6379, ttl: 600}
general_settings:
  database_url: os.environ/DATABASE_URL
"""


def test_converts_the_seed_style_proxy_config() -> None:
    result = convert_litellm_config(yaml.safe_load(PROXY_CONFIG), source="config.yaml")
    env = {"DATABASE_URL": "postgresql://db.example/homecrew", "ANTHROPIC_API_KEY": "k",
           "OPENAI_API_KEY": "", "MOONSHOT_API_KEY": ""}  # the ${VAR}s it writes must be set
    settings = Settings.model_validate(interpolate(result.config, env, source="out.yaml"))
    assert settings.routes["smart-agent"] == ["smart-agent", "ollama-qwen", "claude-sonnet"]
    assert settings.routes["ollama-coder"] == ["ollama-coder", "claude-sonnet"]
    assert settings.routes["kimi"] == ["kimi"]  # not in any chain: callable on its own
    assert settings.node_of("ollama-qwen") == settings.node_of("ollama-coder")
    assert settings.node_of("ollama-qwen").kind == "ollama"
    mlx = settings.node_of("smart-agent")
    assert (mlx.kind, mlx.base_url) == ("openai", "http://mac-studio.local:8000/v1")
    assert settings.node_of("kimi").is_cloud
    assert settings.node_of("kimi").base_url == "https://api.moonshot.ai/v1"
    assert result.config["nodes"]["anthropic"]["api_key"] == "${ANTHROPIC_API_KEY}"
    assert result.config["cache"] == {"ttl": 600, "redis_url": "redis://localhost:6379"}
    assert result.config["ledger"]["database_url"] == "${DATABASE_URL}"
    assert settings.timeouts.total == 30


def test_an_embedding_model_is_marked_and_gets_a_route_of_its_own() -> None:
    proxy = {"model_list": [
        {"model_name": "chat", "litellm_params": {"model": "ollama/qwen2.5:14b",
                                                  "api_base": "http://localhost:11434"}},
        {"model_name": "embed", "litellm_params": {"model": "ollama/nomic-embed-text",
                                                   "api_base": "http://localhost:11434"},
         "model_info": {"mode": "embedding"}},
    ]}
    result = convert_litellm_config(proxy, source="config.yaml")
    settings = Settings.model_validate(interpolate(result.config, {}, source="out.yaml"))
    assert settings.models["embed"].embedding
    assert not settings.models["chat"].embedding
    assert settings.routes_of_kind(embedding=True) == ["embed"]


def test_literal_secrets_are_not_copied() -> None:
    result = convert_litellm_config(yaml.safe_load(PROXY_CONFIG), source="config.yaml")
    assert "none-needed-literal" not in yaml.safe_dump(result.config)
    assert any("literal secret" in note for note in result.notes)


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"general_settings": {}}, "no model_list"),
        ({"model_list": [{"model_name": "x", "litellm_params": {"model": "bedrock/x"}}]},
         "model_list[0].litellm_params.model: unsupported model 'bedrock/x'"),
        ({"model_list": [{"model_name": "x", "litellm_params": {"model": "ollama/x"}}],
          "router_settings": {"fallbacks": [{"x": ["y"]}]}},
         "router_settings.fallbacks[0].x: unknown model_name 'y'"),
    ],
)
def test_bad_proxy_configs_are_named(config: object, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected.replace("[", r"\[").replace("]", r"\]")):
        convert_litellm_config(config, source="config.yaml")
