"""The daemon's rotating log file (default ``~/.openclaw/workspace/logs/mlx-api.log``).

The handler is attached to the ``mlx_daemon`` logger while a daemon runs and removed when
it stops, so several in-process daemons (tests) do not leak handlers. Request lines carry
method, path, status, model and timings; never headers, so never the API key.
"""

from __future__ import annotations

import logging
from logging.handlers import RotatingFileHandler
from pathlib import Path
from types import TracebackType
from typing import Self

from mlx_daemon.config import MlxDaemonSettings

__all__ = ["LOGGER_NAME", "DaemonLog"]

LOGGER_NAME = "mlx_daemon"
_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s"


class DaemonLog:
    """Owns the rotating file handler of one daemon."""

    def __init__(self, settings: MlxDaemonSettings) -> None:
        self.path: Path = settings.log_path
        self._level = logging.getLevelName(settings.log_level)
        self._max_bytes = settings.log_max_bytes
        self._backups = settings.log_backup_count
        self._handler: RotatingFileHandler | None = None
        self._previous: tuple[int, bool] = (logging.NOTSET, True)

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handler = RotatingFileHandler(
            self.path, maxBytes=self._max_bytes, backupCount=self._backups, encoding="utf-8"
        )
        handler.setFormatter(logging.Formatter(_FORMAT))
        handler.setLevel(self._level)
        logger = logging.getLogger(LOGGER_NAME)
        self._previous = (logger.level, logger.propagate)
        logger.setLevel(self._level)
        logger.propagate = False  # the file has it all; stderr stays for fatal errors
        logger.addHandler(handler)
        self._handler = handler

    def close(self) -> None:
        if self._handler is None:
            return
        logger = logging.getLogger(LOGGER_NAME)
        logger.removeHandler(self._handler)
        logger.setLevel(self._previous[0])
        logger.propagate = self._previous[1]
        self._handler.close()
        self._handler = None

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
