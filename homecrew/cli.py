"""The ``homecrew`` command line: one sub-command per module, each registering itself.

Every command accepts ``--config PATH`` after its name. Exit codes: 0 success, 1 a runtime
failure (no node answered, refused task…), 2 bad usage or configuration.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

from inference.configfile import config_options
from inference.errors import ConfigError, InferenceError
from store.errors import DatabaseUrlError, StoreError

__all__ = ["Registrar", "build_parser", "common_options", "main"]

Registrar = Callable[[Any, list[argparse.ArgumentParser]], None]


def common_options() -> argparse.ArgumentParser:
    """``--config PATH`` and ``-v`` (shared with ``python -m mlx_daemon``)."""
    return config_options()


def _registrars() -> list[Registrar]:
    from homecrew.commands import (
        bot_commands,
        gateway_commands,
        inference_commands,
        key_commands,
        mcp_commands,
        team_commands,
        watch_commands,
    )
    from mlx_daemon import cli as mlx_daemon_cli

    return [inference_commands.register, mlx_daemon_cli.register, team_commands.register,
            watch_commands.register, bot_commands.register, gateway_commands.register,
            key_commands.register, mcp_commands.register]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="homecrew",
        description="Local-first AI stack for a homelab team: chain, agents, Discord bot.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    parents = [common_options()]
    for register in _registrars():
        register(sub, parents)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    verbosity = int(getattr(args, "verbose", 0) or 0)
    logging.basicConfig(
        level={0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except (ConfigError, DatabaseUrlError) as exc:
        print(f"homecrew: config error: {exc}", file=sys.stderr)
        return 2
    except (InferenceError, StoreError) as exc:
        print(f"homecrew: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("homecrew: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
