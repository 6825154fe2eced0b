"""The ready approvers: the terminal y/N prompt (a real pseudo-terminal), deny off a
terminal, and the approval timeout."""

from __future__ import annotations

import asyncio
import io
import os
from collections.abc import Iterator

import pytest

from team.tools import ApprovalDecision, ApprovalRequest, DenyAll, ToolCall, ToolSpec
from team.tools.approval import TtyApprover, decide

SPEC = ToolSpec("tiny", "write_note", "append a note", {"type": "object"}, read_only=False)
REQUEST = ApprovalRequest("gonzo", SPEC, ToolCall("tiny.write_note", {"text": "hi"}), 5.0)


@pytest.fixture
def terminal() -> Iterator[tuple[io.TextIOWrapper, int]]:
    """A pseudo-terminal: the approver reads the follower end, the test types on the lead."""
    lead, follower = os.openpty()
    reader = open(follower, encoding="utf-8", closefd=True)  # noqa: SIM115
    try:
        yield reader, lead
    finally:
        reader.close()
        os.close(lead)


@pytest.mark.parametrize(("typed", "approved"), [("y\n", True), ("yes\n", True),
                                                 ("n\n", False), ("\n", False)])
async def test_terminal_prompt(terminal: tuple[io.TextIOWrapper, int], typed: str,
                               approved: bool) -> None:
    reader, lead = terminal
    shown = io.StringIO()
    os.write(lead, typed.encode())
    decision = await TtyApprover("ana", stdin=reader, stdout=shown).approve(REQUEST)
    assert decision.approved is approved and decision.by == "ana"
    assert 'gonzo wants to run tiny.write_note {"text": "hi"}' in shown.getvalue()
    assert "[y/N]" in shown.getvalue()


async def test_no_terminal_is_a_deny() -> None:
    decision = await TtyApprover("ana", stdin=io.StringIO("y\n")).approve(REQUEST)
    assert not decision.approved and "--approve" in decision.reason


async def test_an_approver_that_never_answers_is_a_deny() -> None:
    class Silent:
        async def approve(self, request: ApprovalRequest) -> ApprovalDecision:
            await asyncio.Event().wait()
            return ApprovalDecision(True)

    request = ApprovalRequest("gonzo", SPEC, REQUEST.call, 0.05)
    assert await decide(Silent(), request) == ApprovalDecision(
        False, reason="no answer within 0.05 s")
    assert not (await decide(DenyAll(), request)).approved
