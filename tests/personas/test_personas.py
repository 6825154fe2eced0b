"""Personas are data: the seed's six agents ship as YAML, a schema validates them, and a
seventh agent or a new voice needs no code."""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

import pytest
import yaml

from inference.errors import ConfigError
from personas import default_personas_dir, load_policy, load_roster
from team.delegation import keyword_plan
from team.prompts import plan_schema, system_prompt

SEED = {
    # name: (title, division, motto, route, authority)
    "skip": ("Director of Operations", "command", "Orchestrate, don’t just do.", "smart-agent",
             "Routes all tasks, resolves conflicts between divisions."),
    "nellie": ("Research Specialist", "operations", "Ultimate authority on facts.",
               "nellie-research", "Final say on factual accuracy across all agents."),
    "chief": ("Operations Monitor", "operations", "RED ALERT authority.", "chief-monitor",
              "Can halt all Production tasks to stabilize infrastructure."),
    "gonzo": ("Database Architect", "production", "PROTECT THE DATA. OPTIMIZE THE QUERY.",
              "gonzo-backend", "Owns data layer, API contracts, and database schema."),
    "cleo": ("UI/UX Engineer", "production", "Pixel perfection. Zero clutter.",
             "cleo-frontend", "Owns UI, Hugo layouts, CSS — full veto on visual decisions."),
    "jax": ("Creative Director", "production", "Make technical content actually entertaining.",
            "jax-creative", "Owns narrative voice and all video content."),
}


def test_the_default_team_is_the_seeds() -> None:
    roster = load_roster()
    assert roster.names == tuple(SEED)
    for persona in roster:
        assert (persona.title, persona.division, persona.motto, persona.route,
                persona.authority) == SEED[persona.name]
        assert persona.channel == persona.name and persona.avatar_url is None
    assert roster.orchestrator.name == "skip"
    assert roster.get("Skip").voice == "Warm Southern drawl. Direct, confident, analytical."
    assert "SELECT * is a sin." in roster.get("gonzo").voice
    assert "the hook" in roster.get("jax").voice
    assert roster.in_divisions(("production",)) == {"gonzo", "cleo", "jax"}


def test_files_ship_as_package_data() -> None:
    names = {p.name for p in resources.files("personas").iterdir()}
    assert {f"{n}.yaml" for n in SEED} | {"rules.yaml"} <= names
    assert load_policy(roster=load_roster()).version >= 1


def _copy_team(tmp_path: Path) -> Path:
    folder = tmp_path / "team"
    shutil.copytree(default_personas_dir(), folder,
                    ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return folder


QUINN = {
    "name": "quinn", "title": "Security Auditor", "division": "operations",
    "motto": "Trust, then verify twice.", "summary": "Audits the homelab's attack surface.",
    "voice": "Dry and exacting.", "specialty": "Threat models, TLS, secrets hygiene.",
    "authority": "Can block any release with an open critical finding.",
    "route": "smart-agent", "keywords": ["tls", "secrets", "firewall"],
    "avatar_url": "https://example.invalid/quinn.png",
}


def test_a_seventh_agent_needs_no_code(tmp_path: Path) -> None:
    folder = _copy_team(tmp_path)
    (folder / "quinn.yaml").write_text(yaml.safe_dump(QUINN), encoding="utf-8")
    roster = load_roster(folder)
    policy = load_policy(folder / "rules.yaml", roster)
    assert len(roster) == 7 and roster.get("quinn").channel == "quinn"
    nellie_prompt = system_prompt(roster, policy, roster.get("nellie"))
    assert "Quinn — Security Auditor" in nellie_prompt and "one of 7 AI agents" in nellie_prompt
    assert "quinn" in plan_schema([p.name for p in roster.specialists], 3)["properties"][
        "steps"]["items"]["properties"]["agent"]["enum"]
    plan = keyword_plan("Rotate the TLS secrets", roster, 3)
    assert [s.agent for s in plan.steps] == ["quinn"]


def test_rewriting_a_voice_changes_the_prompt(tmp_path: Path) -> None:
    folder = _copy_team(tmp_path)
    data = yaml.safe_load((folder / "jax.yaml").read_text(encoding="utf-8"))
    data["voice"] = "Speaks only in movie trailer voice-over."
    (folder / "jax.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    roster = load_roster(folder)
    prompt = system_prompt(roster, load_policy(roster=roster), roster.get("jax"))
    assert "Speaks only in movie trailer voice-over." in prompt


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"motto": None}, "motto"),
        ({"route": ""}, "route"),
        ({"name": "Bad Name"}, "name"),
        ({"colour": "teal"}, "colour"),
        ({"avatar_url": "ftp://x/y.png"}, "avatar_url"),
    ],
)
def test_invalid_persona_names_file_and_key(tmp_path: Path, change: dict[str, object],
                                            message: str) -> None:
    folder = _copy_team(tmp_path)
    data = {**QUINN, **change}
    (folder / "quinn.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"quinn\.yaml") as caught:
        load_roster(folder)
    assert message in str(caught.value)


def test_roster_level_mistakes(tmp_path: Path) -> None:
    folder = _copy_team(tmp_path)
    (folder / "quinn.yaml").write_text(yaml.safe_dump({**QUINN, "name": "quin"}), "utf-8")
    with pytest.raises(ConfigError, match=r"must be named quin\.yaml"):
        load_roster(folder)
    (folder / "quinn.yaml").write_text(yaml.safe_dump({**QUINN, "orchestrator": True}), "utf-8")
    with pytest.raises(ConfigError, match="exactly one orchestrator"):
        load_roster(folder)
    (folder / "quinn.yaml").write_text(yaml.safe_dump({**QUINN, "channel": "jax"}), "utf-8")
    with pytest.raises(ConfigError, match="share a channel: jax"):
        load_roster(folder)


def test_policy_is_checked_against_the_roster(tmp_path: Path) -> None:
    folder = _copy_team(tmp_path)
    rules = yaml.safe_load((folder / "rules.yaml").read_text(encoding="utf-8"))
    rules["requirements"]["security_review"]["signers"] = ["bob"]
    (folder / "rules.yaml").write_text(yaml.safe_dump(rules), encoding="utf-8")
    with pytest.raises(ConfigError, match="not on the team: bob"):
        load_policy(folder / "rules.yaml", load_roster(folder))
    rules["kinds"]["feature"]["gates"]["shipped"].append("vibes")
    (folder / "rules.yaml").write_text(yaml.safe_dump(rules), encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown requirement 'vibes'"):
        load_policy(folder / "rules.yaml")
