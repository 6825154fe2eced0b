"""The team as data: one YAML file per agent, the rules policy, and their schema."""

from personas.loader import (
    POLICY_FILE,
    default_personas_dir,
    load_persona,
    load_policy,
    load_roster,
)
from personas.policy import Policy, Requirement
from personas.schema import Persona, Roster

__all__ = [
    "POLICY_FILE",
    "Persona",
    "Policy",
    "Requirement",
    "Roster",
    "default_personas_dir",
    "load_persona",
    "load_policy",
    "load_roster",
]
