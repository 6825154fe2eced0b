"""The ``team:`` section of ``homecrew.yaml`` (every key optional)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["TeamSettings"]


class TeamSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    personas_dir: Path | None = Field(
        default=None, description="persona files replacing the packaged six"
    )
    rules_file: Path | None = Field(
        default=None, description="policy replacing the packaged personas/rules.yaml"
    )
    admins: tuple[str, ...] = Field(
        default=("architect",),
        description="people (names or Discord ids) with the admin role: may override gates",
    )
    operator: str = Field(
        default="architect", min_length=1, description="who the CLI acts as without --as"
    )
    default_context_window: int = Field(
        default=8192, gt=256, description="tokens, for routes whose models set none"
    )
    reply_reserve_tokens: int = Field(
        default=1024, gt=0, description="kept free in the context for the reply"
    )
    history_max_tokens: int | None = Field(
        default=None, gt=0, description="cap on history tokens, below the context budget"
    )
    plan_max_steps: int = Field(default=4, ge=1, le=12, description="sub-tasks per plan")
    plan_max_rounds: int = Field(default=2, ge=1, le=4, description="planning rounds per request")
    step_max_tokens: int | None = Field(default=None, gt=0, description="per sub-task reply")
    halt_poll_interval: float = Field(
        default=2.0, gt=0, description="seconds between checks for a halt set elsewhere"
    )
    startup_slots: int = Field(
        default=2, ge=1, le=64,
        description="turns that may be starting their model call at once (the rest queue in "
        "arrival order until a request is on the wire)",
    )
    startup_hold: float = Field(
        default=0.05, gt=0, le=5, description="longest a starting turn holds its slot, seconds"
    )
    task_feed_interval: float = Field(
        default=2.0, gt=0,
        description="seconds between checks of the audit log for task changes (gate messages)",
    )

    tool_max_steps: int = Field(
        default=6, ge=1, le=32, description="tool calls a model may make in one reply"
    )
    tool_timeout: float = Field(
        default=30.0, gt=0, description="seconds per tool call (a server's timeout overrides)"
    )
    tool_max_chars: int = Field(
        default=8000, ge=200, description="longest tool result given to a model (truncated)"
    )
    tool_approval_timeout: float = Field(
        default=120.0, gt=0, description="seconds to wait for approval; no answer is a deny"
    )

    @field_validator("personas_dir", "rules_file", mode="before")
    @classmethod
    def _blank_is_default(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("admins")
    @classmethod
    def _strip(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(n.strip() for n in names if n.strip())
