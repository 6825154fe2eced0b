"""What ``model`` names: routes, model aliases, agents; clashes refused at start-up."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.access import Grant
from gateway.catalog import AgentEntry, Catalog
from gateway.errors import Forbidden, ModelNotFound
from inference.errors import ConfigError
from tests.support.stack import make_settings

NODES = {"ollama": {"kind": "ollama", "base_url": "http://127.0.0.1:9"}}
MODELS = {"qwen": {"node": "ollama", "model": "qwen2.5:14b"},
          "llama": {"node": "ollama", "model": "llama3.2"}}


def catalog(tmp_path: Path, routes: dict[str, list[str]], *agents: AgentEntry) -> Catalog:
    settings = make_settings(nodes=NODES, models=MODELS, routes=routes, data_dir=tmp_path)
    return Catalog(settings, agents)


def test_names_resolve_to_their_kind_and_what_runs(tmp_path: Path) -> None:
    cat = catalog(tmp_path, {"smart": ["qwen", "llama"]},
                  AgentEntry("nellie", "smart", "You are Nellie."))
    route, alias, agent = cat.resolve("smart"), cat.resolve("llama"), cat.resolve("nellie")
    assert (route.kind, route.route, route.routes) == ("route", "smart", ("smart",))
    assert (alias.kind, alias.route, alias.routes, alias.owned_by) == (
        "model", "llama", ("smart",), "ollama")
    assert (agent.kind, agent.route, agent.agent, agent.system_prompt) == (
        "agent", "smart", "nellie", "You are Nellie.")
    assert cat.names() == ["smart", "qwen", "llama", "nellie"]


def test_an_unknown_name_lists_every_valid_one(tmp_path: Path) -> None:
    cat = catalog(tmp_path, {"smart": ["qwen"]})
    with pytest.raises(ModelNotFound) as caught:
        cat.resolve("gpt-4o")
    assert caught.value.valid == ("smart", "qwen", "llama")
    assert caught.value.status == 404 and caught.value.param == "model"


@pytest.mark.parametrize(("routes", "agent", "words"), [
    ({"qwen": ["qwen", "llama"]}, None, "both a route and a model alias"),
    ({"smart": ["qwen"]}, AgentEntry("smart", "smart", "p"), "both a route and an agent"),
    ({"smart": ["qwen"]}, AgentEntry("llama", "smart", "p"), "both a model alias and an agent"),
])
def test_a_name_used_twice_is_a_config_error(tmp_path: Path, routes: dict[str, list[str]],
                                             agent: AgentEntry | None, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        catalog(tmp_path, routes, *([agent] if agent else []))


def test_a_route_whose_one_step_is_its_namesake_alias_is_listed_once(tmp_path: Path) -> None:
    """What ``homecrew import-litellm`` writes for a model without fall-backs."""
    cat = catalog(tmp_path, {"qwen": ["qwen"], "smart": ["qwen", "llama"]})
    qwen = cat.resolve("qwen")
    assert (qwen.kind, qwen.route, qwen.routes) == ("route", "qwen", ("qwen", "smart"))
    assert cat.names() == ["qwen", "smart", "llama"]


def test_an_agent_on_an_undefined_route_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nellie"):
        catalog(tmp_path, {"smart": ["qwen"]}, AgentEntry("nellie", "research", "p"))


def test_a_scoped_key_may_use_an_alias_only_through_its_routes(tmp_path: Path) -> None:
    cat = catalog(tmp_path, {"smart": ["qwen"], "other": ["llama"]})
    grant = Grant("ci", frozenset({"smart"}))
    target = cat.resolve("qwen")
    grant.check(target.routes, "qwen")
    with pytest.raises(Forbidden):
        grant.check(cat.resolve("llama").routes, "llama")


def embedding_catalog(tmp_path: Path, *agents: AgentEntry) -> Catalog:
    models = {**MODELS, "nomic": {"node": "ollama", "model": "nomic-embed-text",
                                  "embedding": True}}
    settings = make_settings(nodes=NODES, models=models, data_dir=tmp_path,
                             routes={"smart": ["qwen"], "vectors": ["nomic"]})
    return Catalog(settings, agents)


def test_embedding_names_resolve_for_embeddings_only_and_chat_names_for_chat(
    tmp_path: Path,
) -> None:
    cat = embedding_catalog(tmp_path)
    route, alias = cat.resolve("vectors", embedding=True), cat.resolve("nomic", embedding=True)
    assert (route.kind, route.route, route.embedding) == ("route", "vectors", True)
    assert (alias.kind, alias.route, alias.routes, alias.embedding) == (
        "model", "nomic", ("vectors",), True)
    assert cat.names(embedding=True) == ["vectors", "nomic"]
    assert cat.names() == ["smart", "qwen", "llama"]
    with pytest.raises(ModelNotFound) as caught:
        cat.resolve("vectors")
    assert caught.value.valid == ("smart", "qwen", "llama")
    with pytest.raises(ModelNotFound) as caught:
        cat.resolve("smart", embedding=True)
    assert caught.value.valid == ("vectors", "nomic")


def test_an_agent_on_an_embedding_route_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="'vectors', an embedding route"):
        embedding_catalog(tmp_path, AgentEntry("nellie", "vectors", "p"))
