"""Keep secrets out of Discord and out of the logs.

:class:`Redactor` knows every secret value of the set-up (the bot token, node API keys,
passwords in database/Redis URLs, secret-looking environment variables) and replaces them
in any text; :class:`RedactingFilter` applies it to every log record of the process.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from team.redaction import MASK, Redactor, secrets_of

__all__ = ["MASK", "RedactingFilter", "Redactor", "install_redaction", "secrets_of"]


class RedactingFilter(logging.Filter):
    """Rewrites each record's message (and exception text) with the secrets masked."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self._redact = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = self._redact(message)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._redact(record.exc_text)
        if clean != message or record.args:
            record.msg, record.args = clean, None
        return True


def install_redaction(redactor: Redactor) -> Callable[[], None]:
    """Mask secrets in every record the root logger's handlers emit; returns the undo."""
    flt = RedactingFilter(redactor)
    handlers = list(logging.getLogger().handlers)
    for handler in handlers:
        handler.addFilter(flt)

    def undo() -> None:
        for handler in handlers:
            handler.removeFilter(flt)

    return undo
