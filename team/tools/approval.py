"""Who says yes to a side-effect tool: the :class:`Approver` protocol and ready approvers.

The Discord approver (Approve/Deny buttons for the admin role) lives in the bot; here are
the Discord-free ones: :class:`AutoApprove` (CLI ``--approve``), :class:`DenyAll` and
:class:`TtyApprover` (a y/N prompt, deny when standard input is not a terminal). An
approver that does not answer within ``ApprovalRequest.timeout`` counts as a deny —
:func:`decide` enforces it, whatever the approver does.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Protocol, TextIO

from team.tools.model import ApprovalDecision, ApprovalRequest

__all__ = ["Approver", "AutoApprove", "DenyAll", "TtyApprover", "decide"]


class Approver(Protocol):
    async def approve(self, request: ApprovalRequest) -> ApprovalDecision: ...


class AutoApprove:
    """Approves everything in the name of ``by`` (e.g. the operator who passed --approve)."""

    def __init__(self, by: str) -> None:
        self.by = by

    async def approve(self, request: ApprovalRequest) -> ApprovalDecision:
        return ApprovalDecision(True, by=self.by, reason="approved in advance")


class DenyAll:
    def __init__(self, reason: str = "no one can approve side-effect tools here") -> None:
        self.reason = reason

    async def approve(self, request: ApprovalRequest) -> ApprovalDecision:
        return ApprovalDecision(False, reason=self.reason)


class TtyApprover:
    """Asks ``Run it? [y/N]`` on the terminal; anything but y/yes, or no terminal, denies."""

    def __init__(self, by: str, *, stdin: TextIO | None = None,
                 stdout: TextIO | None = None) -> None:
        self.by = by
        self._in = stdin or sys.stdin
        self._out = stdout or sys.stderr

    async def approve(self, request: ApprovalRequest) -> ApprovalDecision:
        if not self._in.isatty():
            return ApprovalDecision(False, reason="not a terminal: pass --approve to allow")
        self._out.write(f"{request.summary()}\nRun it? [y/N] ")
        self._out.flush()
        answer = await asyncio.to_thread(self._in.readline)
        if answer.strip().lower() in ("y", "yes"):
            return ApprovalDecision(True, by=self.by, reason="approved at the terminal")
        return ApprovalDecision(False, by=self.by, reason="denied at the terminal")


async def decide(approver: Approver, request: ApprovalRequest) -> ApprovalDecision:
    """The approver's answer, or a deny when it takes longer than ``request.timeout``."""
    try:
        async with asyncio.timeout(request.timeout):
            return await approver.approve(request)
    except TimeoutError:
        return ApprovalDecision(False, reason=f"no answer within {request.timeout:g} s")
