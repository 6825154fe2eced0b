"""``homecrew serve``: the lab's OpenAI-compatible endpoint (the ``gateway:`` section)."""

from __future__ import annotations

import argparse
import asyncio
import os
from typing import Any

from homecrew.settings import load_settings
from inference.configfile import load_environment, resolve_config_path

__all__ = ["register"]


def register(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    serve = sub.add_parser(
        "serve", parents=parents,
        help="serve the OpenAI-compatible gateway (one endpoint for every tool)")
    serve.add_argument("--host", help="address to bind (default: gateway.host, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default: gateway.port, 4000)")
    serve.set_defaults(handler=_serve)


def _serve(args: argparse.Namespace) -> int:
    from homecrew.gateway_compose import serve_gateway

    settings = load_settings(args.config)
    env = load_environment(resolve_config_path(args.config, os.environ), os.environ)
    return asyncio.run(serve_gateway(settings, env, host=args.host, port=args.port))
