"""``watch`` knows nothing of Discord: it hands typed posts to a poster the bot implements."""

from __future__ import annotations

import ast
from pathlib import Path

import watch


def test_no_watch_module_imports_discord_or_the_bot() -> None:
    root = Path(watch.__file__).parent
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            found += [f"{path.name}: {n}" for n in names
                      if n.split(".")[0] in {"discord", "bot", "cogs"}]
    assert found == []
    assert not (root / "discord_rest.py").exists()
