"""``homecrew mlx-daemon …`` (and ``python -m mlx_daemon …``).

Sub-commands: ``serve`` (the default), ``plist`` (print the LaunchAgent plist),
``install-launchd`` (write and load it on macOS; elsewhere print it and how to install it)
and ``check-config`` (validate the ``mlx_daemon`` section and find each model's files).
Bad configuration raises :class:`inference.errors.ConfigError` (exit code 2).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from inference.configfile import config_options, resolve_config_path
from mlx_daemon.config import GIB, MlxDaemonSettings, load_daemon_settings

__all__ = ["add_commands", "register"]

_DESCRIPTION = (
    "The MLX API service of the Mac Studio node: an OpenAI-compatible server on mlx-lm "
    "that keeps several models resident, batches requests and reports health and metrics."
)


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    parents: list[argparse.ArgumentParser],
) -> None:
    """Add ``mlx-daemon`` to the ``homecrew`` command line."""
    parser = sub.add_parser(
        "mlx-daemon", parents=parents, help="run the MLX API service (default: serve)",
        description=_DESCRIPTION,
    )  # fmt: skip
    add_commands(parser)


def _nested_common() -> argparse.ArgumentParser:
    """--config/-v again after the sub-command, without clobbering values given before it."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", type=Path, default=argparse.SUPPRESS, metavar="PATH",
                        help="homecrew.yaml to use")  # fmt: skip
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS)
    return common


def _serve_options(parser: argparse.ArgumentParser, default: Any) -> None:
    parser.add_argument("--host", default=default, help="listen address (overrides config)")
    parser.add_argument("--port", type=int, default=default, help="listen port (overrides config)")
    parser.add_argument(
        "--log-file", type=Path, default=default, help="log file (overrides config)"
    )


def _launchd_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--label", default="com.homecrew.mlx-daemon", help="launchd label")
    parser.add_argument("--python", default=sys.executable,
                        help="interpreter that runs the daemon (default: this one)")  # fmt: skip


def add_commands(parser: argparse.ArgumentParser) -> None:
    """Attach the daemon's sub-commands to ``parser`` (which must accept --config)."""
    _serve_options(parser, None)
    parser.set_defaults(handler=_serve)
    commands = parser.add_subparsers(dest="daemon_command", metavar="SUBCOMMAND")
    nested = [_nested_common()]
    serve = commands.add_parser("serve", parents=nested, help="run the API server (default)")
    _serve_options(serve, argparse.SUPPRESS)
    serve.set_defaults(handler=_serve)
    plist = commands.add_parser("plist", parents=nested, help="print the LaunchAgent plist")
    _launchd_options(plist)
    plist.set_defaults(handler=_print_plist)
    install = commands.add_parser(
        "install-launchd", parents=nested,
        help="install the LaunchAgent (macOS); elsewhere print it with instructions",
    )  # fmt: skip
    _launchd_options(install)
    install.set_defaults(handler=_install_launchd)
    check = commands.add_parser(
        "check-config", parents=nested, help="validate the config and locate model files"
    )
    check.set_defaults(handler=_check_config)


def _settings(args: argparse.Namespace) -> MlxDaemonSettings:
    settings = load_daemon_settings(getattr(args, "config", None))
    update: dict[str, Any] = {}
    for name in ("host", "port", "log_file"):
        value = getattr(args, name, None)
        if value is not None:
            update[name] = value
    if getattr(args, "verbose", False):
        update["log_level"] = "DEBUG"
    return settings.model_copy(update=update) if update else settings


def _serve(args: argparse.Namespace) -> int:
    settings = _settings(args)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # this process never downloads models
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from mlx_daemon.server import serve

    code = serve(settings)
    _exit_now(code)
    return code  # pragma: no cover - not reached


def _exit_now(code: int) -> None:
    """End the process without interpreter teardown, after the daemon has shut down.

    MLX used from a worker thread can abort with ``std::terminate`` while C++ statics are
    destroyed at exit (ml-explore/mlx#3126; seen here with mlx 0.32 about half the time),
    which launchd/systemd would record as a crash. Everything is flushed and closed by now.
    """
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _agent(args: argparse.Namespace) -> Any:
    from mlx_daemon.launchd import agent_for

    config_path = resolve_config_path(getattr(args, "config", None), os.environ)
    settings = _settings(args)
    return agent_for(config_path, settings.log_file, label=args.label, python=args.python)


def _print_plist(args: argparse.Namespace) -> int:
    from mlx_daemon.launchd import render_plist

    sys.stdout.write(render_plist(_agent(args)).decode())
    return 0


def _is_macos() -> bool:
    return sys.platform == "darwin"


def _install_launchd(args: argparse.Namespace) -> int:
    from mlx_daemon.launchd import install, install_instructions, render_plist

    agent = _agent(args)
    if not _is_macos():
        sys.stdout.write(render_plist(agent).decode())
        print(f"\nlaunchd is macOS only; nothing was installed.\n{install_instructions(agent)}",
              file=sys.stderr)  # fmt: skip
        return 0
    try:
        target = install(agent)
    except RuntimeError as exc:
        print(f"homecrew: {exc}", file=sys.stderr)
        return 1
    print(f"installed and loaded {target} ({agent.label}); logs in {agent.stdout_path.parent}")
    return 0


def _check_config(args: argparse.Namespace) -> int:
    from mlx_daemon.registry import LoadError, resolve_model_dir

    settings = _settings(args)
    budget = settings.memory_budget_gb
    print(f"listen: {settings.host}:{settings.port}  auth: {'on' if settings.api_key else 'off'}")
    print(f"memory budget: {f'{budget:g} GiB' if budget else 'unlimited'}  "
          f"batch: {settings.max_batch_size}  queue: {settings.queue_size}")  # fmt: skip
    print(f"log: {settings.log_path}")
    problems = 0
    for model_id, spec in settings.models.items():
        mark = " (preload)" if model_id in settings.preload else ""
        try:
            directory = resolve_model_dir(model_id, spec)
        except LoadError as exc:
            problems += 1
            print(f"  {model_id}{mark}: NOT FOUND: {exc}")
            continue
        size = sum(f.stat().st_size for f in directory.glob("*.safetensors")) / GIB
        print(f"  {model_id}{mark}: {directory} ({size:.2f} GiB of weights)")
    return 1 if problems else 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m mlx_daemon``: the same sub-commands as ``homecrew mlx-daemon``."""
    from inference.errors import ConfigError

    parser = argparse.ArgumentParser(
        prog="python -m mlx_daemon", parents=[config_options()], description=_DESCRIPTION
    )
    add_commands(parser)
    args = parser.parse_args(argv)
    try:
        code: int = args.handler(args)
    except ConfigError as exc:
        print(f"mlx_daemon: config error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return code
