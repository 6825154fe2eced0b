"""The four rules of engagement, allowing and denying, through the real store; overrides."""

from __future__ import annotations

import json

import pytest

from team.actors import Actor
from team.audit import list_entries
from team.board import TaskBoard
from team.engine import TeamEngine
from team.errors import Refused
from team.tasks import ClaimCheck
from watch.gate_data import Alert, Breach, HealthCheck, ManualChiefCheck

CONTRACT = json.dumps({"type": "object", "properties": {"id": {"type": "integer"}}})
ADMIN = Actor.person("architect", admin=True)
ANA = Actor.person("ana")
GONZO, CLEO, NELLIE, CHIEF, JAX = (Actor.agent(n) for n in
                                   ("gonzo", "cleo", "nellie", "chief", "jax"))


@pytest.fixture
def board(engine: TeamEngine) -> TaskBoard:
    return engine.board


async def _feature(board: TaskBoard) -> int:
    task = await board.create(ANA, kind="feature", owner="gonzo", title="Results API + page")
    assert task.areas == ("backend", "frontend") and task.state == "new"
    return task.id


# -- 1. API contract -----------------------------------------------------------------------
async def test_api_contract_gates_implementation(board: TaskBoard) -> None:
    tid = await _feature(board)
    ruling = await board.request(GONZO, tid, "implementation")
    assert not ruling.allowed
    assert [(m.agent, m.detail) for m in ruling.missing] == [
        ("gonzo", "no contract attached yet"), ("cleo", "no contract attached yet")]
    await board.attach(GONZO, tid, "contract", CONTRACT)
    await board.sign(GONZO, tid, signer="gonzo", topic="contract")
    ruling = await board.request(GONZO, tid, "implementation")
    assert [(m.agent, m.detail) for m in ruling.missing] == [("cleo", "no sign-off yet")]
    await board.sign(CLEO, tid, signer="cleo", topic="contract")
    assert (await board.request(GONZO, tid, "implementation")).allowed
    assert (await board.file(tid)).task.state == "implementation"


async def test_editing_the_contract_voids_the_signoffs(board: TaskBoard) -> None:
    tid = await _feature(board)
    await board.attach(GONZO, tid, "contract", CONTRACT)
    await board.sign(GONZO, tid, signer="gonzo", topic="contract")
    await board.sign(CLEO, tid, signer="cleo", topic="contract")
    await board.attach(CLEO, tid, "contract", CONTRACT.replace("integer", "string"))
    ruling = await board.request(GONZO, tid, "implementation")
    assert not ruling.allowed
    assert {(m.agent, m.detail) for m in ruling.missing} == {
        ("gonzo", "the contract changed since the sign-off"),
        ("cleo", "the contract changed since the sign-off")}


async def test_contract_rule_applies_only_to_full_stack_work(board: TaskBoard) -> None:
    task = await board.create(ANA, kind="feature", owner="gonzo", title="Index tuning",
                              areas=["backend"])
    assert (await board.request(GONZO, task.id, "implementation")).allowed


async def test_contract_must_be_json_and_signers_must_be_right(board: TaskBoard) -> None:
    tid = await _feature(board)
    with pytest.raises(Refused, match="JSON"):
        await board.attach(GONZO, tid, "contract", "not json")
    await board.attach(GONZO, tid, "contract", CONTRACT)
    with pytest.raises(Refused, match="jax does not sign off on 'contract'"):
        await board.sign(JAX, tid, signer="jax", topic="contract")
    with pytest.raises(Refused, match="only cleo or an admin"):
        await board.sign(GONZO, tid, signer="cleo", topic="contract")
    await board.sign(ADMIN, tid, signer="cleo", topic="contract")  # an admin relays it


# -- 2. Reality check ----------------------------------------------------------------------
async def _script_in_review(board: TaskBoard, text: str = "Act 1: the hook") -> int:
    task = await board.create(JAX, kind="script", owner="jax", title="MLX explainer")
    assert (await board.request(JAX, task.id, "implementation")).allowed
    await board.attach(JAX, task.id, "script", text)
    assert (await board.request(JAX, task.id, "review")).allowed
    return task.id


async def test_reality_check_blocks_publishing_until_nellie_approves(board: TaskBoard) -> None:
    tid = await _script_in_review(board)
    ruling = await board.ship(JAX, tid)
    assert [(m.agent, m.rule) for m in ruling.missing] == [("nellie", "Reality check")]
    claims = [ClaimCheck("MLX runs on Apple Silicon", "correct")]
    await board.sign(NELLIE, tid, signer="nellie", topic="accuracy", claims=claims)
    assert (await board.ship(JAX, tid)).allowed
    file = await board.file(tid)
    assert file.task.state == "shipped" and file.signoffs[-1].claims == tuple(claims)


async def test_changes_requested_returns_the_script_and_rounds_are_bounded(
    board: TaskBoard,
) -> None:
    tid = await _script_in_review(board)
    for round_no in range(3):
        await board.sign(NELLIE, tid, signer="nellie", topic="accuracy",
                         decision="changes_requested", notes=f"round {round_no}",
                         claims=[ClaimCheck("M1 has 128 GB", "incorrect")])
        assert (await board.file(tid)).task.state == "implementation"
        await board.attach(JAX, tid, "script", f"Act 1, take {round_no + 2}")
        ruling = await board.request(JAX, tid, "review")
        if round_no < 2:
            assert ruling.allowed
    assert not ruling.allowed
    assert ruling.missing[0].detail == "3 rounds of changes requested (limit 3)"
    with pytest.raises(Refused, match="needs the task in review"):
        await board.sign(NELLIE, tid, signer="nellie", topic="accuracy")


async def test_an_edit_after_approval_voids_it(board: TaskBoard) -> None:
    tid = await _script_in_review(board)
    await board.sign(NELLIE, tid, signer="nellie", topic="accuracy")
    await board.attach(JAX, tid, "script", "a sneaky new claim")
    ruling = await board.ship(JAX, tid)
    assert ruling.missing[0].detail == "the script changed since the sign-off"


# -- 3. Deployment gate --------------------------------------------------------------------
async def _deploy_ready(board: TaskBoard) -> int:
    task = await board.create(ANA, kind="deploy", owner="chief", title="Roll out v2")
    for state in ("implementation", "review"):
        assert (await board.request(ANA, task.id, state)).allowed
    await board.attach(ANA, task.id, "docs", "# Runbook")
    await board.sign(GONZO, task.id, signer="gonzo", topic="security")
    await board.sign(CLEO, task.id, signer="cleo", topic="responsiveness")
    return task.id


async def test_chief_denies_automatically_while_an_alert_is_open(
    board: TaskBoard, chief: ManualChiefCheck
) -> None:
    tid = await _deploy_ready(board)
    chief.alerts.append(Alert("DiskFull", "92% on /var"))
    with pytest.raises(Refused, match="alert open: DiskFull"):
        await board.sign(CHIEF, tid, signer="chief", topic="deploy")
    assert (await board.file(tid)).signoffs[-1].decision == "deny"
    assert [e.action for e in await list_entries(board.db, task_id=tid)][-1] == "veto"
    assert not (await board.ship(ANA, tid)).allowed
    chief.alerts.clear()
    await board.sign(CHIEF, tid, signer="chief", topic="deploy")
    assert (await board.ship(ANA, tid)).allowed


async def test_a_breach_after_approval_still_blocks_the_deploy(
    board: TaskBoard, chief: ManualChiefCheck
) -> None:
    tid = await _deploy_ready(board)
    await board.sign(CHIEF, tid, signer="chief", topic="deploy")
    chief.breaches.append(Breach("memory", 0.97, 0.9, "mac-studio"))
    ruling = await board.ship(ANA, tid)
    assert [m.agent for m in ruling.missing] == ["chief"]
    assert "threshold exceeded: memory on mac-studio at 0.97" in ruling.missing[0].detail


# -- 4. The 80% rule -----------------------------------------------------------------------
async def test_eighty_percent_rule_names_everything_missing(
    board: TaskBoard, chief: ManualChiefCheck
) -> None:
    tid = await _feature(board)
    await board.request(ADMIN, tid, "implementation", override="contract agreed on paper")
    await board.request(GONZO, tid, "review")
    chief.checks = [HealthCheck("docker", False, "2 containers restarting")]
    ruling = await board.ship(GONZO, tid)
    assert not ruling.allowed
    assert [(m.agent, m.label) for m in ruling.missing] == [
        ("gonzo", "backend security review"), ("cleo", "frontend responsiveness review"),
        (None, "docs"), (None, "health checks")]
    assert "docker (2 containers restarting)" in ruling.missing[3].detail
    await board.sign(GONZO, tid, signer="gonzo", topic="security")
    await board.sign(CLEO, tid, signer="cleo", topic="responsiveness")
    await board.attach(CLEO, tid, "docs", "# How to use the results page")
    assert [m.label for m in (await board.ship(GONZO, tid)).missing] == ["health checks"]
    chief.checks = [HealthCheck("docker", True)]
    assert (await board.ship(GONZO, tid)).allowed


async def test_state_machine_refuses_illegal_moves(board: TaskBoard) -> None:
    tid = await _feature(board)
    ruling = await board.ship(GONZO, tid)
    assert ruling.blocks == ("cannot go from new to shipped (allowed: cancelled, design, "
                             "implementation)",)
    assert (await board.request(GONZO, tid, "cancelled")).allowed
    with pytest.raises(Refused, match="is cancelled"):
        await board.attach(GONZO, tid, "docs", "late")


# -- overrides -----------------------------------------------------------------------------
async def test_admin_override_is_recorded_and_others_cannot(board: TaskBoard) -> None:
    tid = await _feature(board)
    refused = await board.request(ANA, tid, "implementation", override="trust me")
    assert not refused.allowed and "only an admin may override" in refused.blocks[0]
    empty = await board.request(ADMIN, tid, "implementation", override="  ")
    assert not empty.allowed
    ruling = await board.request(ADMIN, tid, "implementation", override="hotfix for outage")
    assert ruling.allowed and ruling.overridden[0].requirement == "api_contract"
    entries = await list_entries(board.db, task_id=tid)
    override = next(e for e in entries if e.action == "override")
    assert (override.actor, override.reason) == ("@architect", "hotfix for outage")
    assert override.policy_version == board.policy.version
    assert entries[-1].action == "transition"
