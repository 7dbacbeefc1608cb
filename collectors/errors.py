"""The one exception type for bad user input (files, flags, config values).

Raised with a message that names what is wrong and where (``file:line yaml.path: problem``).
Every command line entry point turns it into that message on stderr and exit code 2, no
traceback.  It lives in ``collectors`` so both packages can use it (``collectors`` never
imports ``loadgen``).
"""

from __future__ import annotations


class InputError(Exception):
    """Bad input from the user.  ``str(err)`` is the complete, user-facing message."""

    exit_code = 2


__all__ = ["InputError"]
