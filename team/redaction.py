"""Secret values of the set-up and a :class:`Redactor` that masks them in any text.

Discord-free: the team's tools redact their results with it before anything is shown or
posted; :mod:`bot.redaction` adds the logging filter.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

from pydantic import SecretStr

__all__ = ["MASK", "Redactor", "secrets_of"]

MASK = "[redacted]"
_SECRET_NAME = re.compile(r"key|token|secret|password|passwd|credential", re.IGNORECASE)
_URL_NAME = re.compile(r"url|dsn", re.IGNORECASE)
_MIN_LEN = 6


def _url_password(url: str | None) -> str | None:
    if not url:
        return None
    try:
        return urlsplit(url).password
    except ValueError:
        return None


def secrets_of(settings: object, env: Mapping[str, str]) -> set[str]:
    """Secret values found in the settings tree and the environment."""
    found: set[str] = set()
    _walk(settings, found, depth=0)
    for name, value in env.items():
        if _SECRET_NAME.search(name) and value:
            found.add(value)
        elif _URL_NAME.search(name):
            password = _url_password(value)
            if password:
                found.add(password)
    return {s for s in found if len(s) >= _MIN_LEN}


def _walk(node: object, found: set[str], *, depth: int) -> None:
    if depth > 8:
        return
    if isinstance(node, SecretStr):
        found.add(node.get_secret_value())
    elif isinstance(node, str):
        password = _url_password(node) if "://" in node else None
        if password:
            found.add(password)
    elif isinstance(node, Mapping):
        for value in node.values():
            _walk(value, found, depth=depth + 1)
    elif isinstance(node, list | tuple | set | frozenset):
        for value in node:
            _walk(value, found, depth=depth + 1)
    elif hasattr(node, "model_fields"):
        for name in type(node).model_fields:
            _walk(getattr(node, name), found, depth=depth + 1)


class Redactor:
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: list[str] = []
        self._pattern: re.Pattern[str] | None = None
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        fresh = {s for s in secrets if len(s) >= _MIN_LEN} - set(self._secrets)
        if not fresh:
            return
        self._secrets = sorted({*self._secrets, *fresh}, key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(s) for s in self._secrets))

    def __call__(self, text: str) -> str:
        if self._pattern is None or not text:
            return text
        return self._pattern.sub(MASK, text)
