"""``python -m mlx_daemon [serve|plist|install-launchd|check-config] [--config PATH]``."""

from __future__ import annotations

import sys

from mlx_daemon.cli import main

if __name__ == "__main__":
    sys.exit(main())
