"""``--log-file PATH`` of ``inferload run`` and ``inferload worker``: the log, also in a rotating file.

stderr keeps its output; the same lines also go to ``PATH``, which rotates at ``--log-max-mb``
(default 20 MiB) keeping :data:`BACKUPS` old files (``PATH.1`` newest ... ``PATH.5`` oldest), so
a soak of days never fills the disk with its log (docs/soak.md, "Logs").  The path is checked
before anything starts: a missing or unwritable folder is bad input (exit 2).
"""

from __future__ import annotations

import logging
import logging.handlers
import math
import os
from pathlib import Path

from userinput.errors import InputError

DEFAULT_MAX_MB = 20.0
BACKUPS = 5


def check_log_file(path: Path, max_mb: float) -> Path:
    """``--log-file`` / ``--log-max-mb`` checked: InputError (exit 2) naming what is wrong."""
    if not (math.isfinite(max_mb) and max_mb > 0):
        raise InputError(f"--log-max-mb must be a number > 0 (got {max_mb:g})")
    if path.is_dir():
        raise InputError(f"--log-file {path}: is a folder, give a file path")
    parent = path.parent
    if not parent.is_dir():
        raise InputError(f"--log-file {path}: the folder {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise InputError(f"--log-file {path}: not writable")
    return path


def rotating_handler(path: Path, max_mb: float = DEFAULT_MAX_MB, backups: int = BACKUPS) -> logging.Handler:
    """A handler appending to ``path``, rotating at ``max_mb`` MiB, keeping ``backups`` old files."""
    check_log_file(path, max_mb)
    try:
        return logging.handlers.RotatingFileHandler(path, maxBytes=max(1, int(max_mb * 1024 * 1024)),
                                                    backupCount=backups, encoding="utf-8")
    except OSError as err:
        raise InputError(f"--log-file {path}: cannot open it ({err.strerror or err})") from None


__all__ = ["BACKUPS", "DEFAULT_MAX_MB", "check_log_file", "rotating_handler"]
