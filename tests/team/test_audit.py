"""The audit log: every request, transition, sign-off, veto, halt and override, hash-chained;
verification passes on the real log and catches tampering."""

from __future__ import annotations

import contextlib
import hashlib
import itertools

from team.actors import Actor
from team.audit import list_entries, verify_chain
from team.engine import TeamEngine
from team.errors import Refused
from watch.gate_data import Alert, ManualChiefCheck

ANA = Actor.person("ana")
ADMIN = Actor.person("architect", admin=True)


async def _history(engine: TeamEngine, chief: ManualChiefCheck) -> int:
    board = engine.board
    task = await board.create(ANA, kind="deploy", owner="chief", title="Upgrade Ollama")
    await board.request(ANA, task.id, "shipped")  # denied: illegal
    await board.request(ANA, task.id, "implementation")
    chief.alerts.append(Alert("OllamaDown"))
    with contextlib.suppress(Refused):
        await board.sign(Actor.agent("chief"), task.id, signer="chief", topic="deploy")
    chief.alerts.clear()
    await engine.halt(Actor.agent("chief"), "stabilising")
    await engine.resume(Actor.agent("chief"), "stable")
    await board.request(ANA, task.id, "review")
    await board.request(ADMIN, task.id, "shipped", override="emergency upgrade")
    return task.id


async def test_every_kind_of_event_is_logged_and_the_chain_verifies(
    engine: TeamEngine, chief: ManualChiefCheck
) -> None:
    tid = await _history(engine, chief)
    entries = await list_entries(engine.board.db)
    actions = [e.action for e in entries]
    for action in ("task_created", "request", "transition", "veto", "halt", "resume",
                   "override"):
        assert action in actions, action
    assert all(e.policy_version == engine.policy.version for e in entries)
    assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(entries))
    shipped = [e for e in entries if e.action == "transition" and e.detail["target"] == "shipped"]
    assert shipped and shipped[0].task_id == tid
    report = await verify_chain(engine.board.db, page=3)  # exercises paging too
    assert report.ok and report.entries == len(entries) and report.head_hash == entries[-1].hash
    assert [e.task_id for e in await list_entries(engine.board.db, task_id=tid)] == [tid] * len(
        [e for e in entries if e.task_id == tid])


async def test_an_edited_entry_is_detected(engine: TeamEngine, chief: ManualChiefCheck) -> None:
    await _history(engine, chief)
    db = engine.board.db
    await db.execute("UPDATE team_audit SET reason = $1 WHERE seq = 4", "nothing happened")
    report = await verify_chain(db)
    assert not report.ok and report.first_bad_seq == 4
    assert report.problem == "its content does not match its hash"


async def test_a_rehashed_forgery_breaks_the_next_link(
    engine: TeamEngine, chief: ManualChiefCheck
) -> None:
    await _history(engine, chief)
    db = engine.board.db
    await db.execute("UPDATE team_audit SET actor = $1, hash = $2 WHERE seq = 2",
                     "@nobody", hashlib.sha256(b"forged").hexdigest())
    report = await verify_chain(db)
    assert not report.ok and report.first_bad_seq == 2
    await db.execute("UPDATE team_audit SET actor = $1 WHERE seq = 2", "@ana")
    # even with entry 2 restored but its hash forged, entry 3 no longer links
    report = await verify_chain(db)
    assert not report.ok and report.first_bad_seq in (2, 3)


async def test_a_deleted_entry_is_detected(engine: TeamEngine, chief: ManualChiefCheck) -> None:
    await _history(engine, chief)
    await engine.board.db.execute("DELETE FROM team_audit WHERE seq = 5")
    report = await verify_chain(engine.board.db)
    assert not report.ok and report.first_bad_seq == 5 and "missing" in (report.problem or "")
