"""LiteLLM's price map: found without importing LiteLLM, and a safe fallback without it.

Each case runs in a child process, with a stand-in ``litellm`` distribution (package plus
``.dist-info`` file list) first on its path where the installed one must be replaced.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]
_CHILD = """
import sys
from inference._litellm import litellm_price
price = litellm_price(sys.argv[1])
print(None if price is None else (price.input_per_mtok, price.output_per_mtok))
print("litellm" in sys.modules)
"""


def price_in_child(model: str, *, extra_path: Path | None = None) -> tuple[list[str], str]:
    paths = [str(p) for p in (extra_path, ROOT) if p is not None]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    done = subprocess.run([sys.executable, "-c", _CHILD, model], capture_output=True,
                          text=True, timeout=120, check=False, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    return done.stdout.split("\n")[:2], done.stderr


def fake_litellm(root: Path, init: str, *, with_map: str | None = None) -> Path:
    """A ``litellm`` distribution that shadows the installed one."""
    package = root / "litellm"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(init)
    dist = root / "litellm-0.0.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: litellm\nVersion: 0.0.0\n")
    record = ["litellm/__init__.py,,", "litellm-0.0.0.dist-info/METADATA,,"]
    if with_map is not None:
        (package / "model_prices_and_context_window_backup.json").write_text(with_map)
    record.append("litellm/model_prices_and_context_window_backup.json,,")  # listed either way
    (dist / "RECORD").write_text("\n".join(record) + "\n")
    return root


def test_the_installed_map_is_read_without_importing_litellm() -> None:
    (price, imported), _ = price_in_child("anthropic/claude-sonnet-4-5")
    assert price != "None"
    assert imported == "False"


def test_a_listed_map_file_is_used_as_data(tmp_path: Path) -> None:
    root = fake_litellm(tmp_path, "raise ImportError('must not be imported')\n",
                        with_map='{"m1": {"input_cost_per_token": 1e-06, '
                                 '"output_cost_per_token": 2e-06}}')
    (price, imported), _ = price_in_child("openai/m1", extra_path=root)
    assert (price, imported) == ("(1.0, 2.0)", "False")


def test_without_the_file_litellm_public_model_cost_is_used(tmp_path: Path) -> None:
    root = fake_litellm(tmp_path, "model_cost = {'m2': {'input_cost_per_token': 3e-06}}\n"
                                  "def __getattr__(name):\n    return None\n")
    (price, imported), _ = price_in_child("anthropic/m2", extra_path=root)
    assert (price, imported) == ("(3.0, 0.0)", "True")


def test_without_file_or_litellm_prices_are_unknown_with_a_warning(tmp_path: Path) -> None:
    root = fake_litellm(tmp_path, "raise ImportError('no litellm here')\n")
    (price, _), err = price_in_child("anthropic/claude-sonnet-4-5", extra_path=root)
    assert price == "None"
    assert "price map is not available" in err
