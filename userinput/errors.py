"""Bad user input and the process exit codes every ``inferload`` command shares.

:class:`InputError` is raised with a message that names what is wrong and where
(``file:line yaml.path: problem``).  Every command line entry point turns it into that message on
stderr and exit code 2 (:data:`EXIT_BAD_INPUT`), no traceback.
"""

from __future__ import annotations

EXIT_PASS = 0  # run valid, every SLO objective met (or none declared)
EXIT_SLO_FAILED = 1  # an SLO objective or the error-rate bound failed
EXIT_BAD_INPUT = 2  # bad input (scenario, flags, files): nothing was measured
EXIT_INVALID_RUN = 3  # the run is not a valid measurement (generator-bound, lost worker, stopped by a sink)


class InputError(Exception):
    """Bad input from the user.  ``str(err)`` is the complete, user-facing message."""

    exit_code = EXIT_BAD_INPUT


__all__ = ["EXIT_BAD_INPUT", "EXIT_INVALID_RUN", "EXIT_PASS", "EXIT_SLO_FAILED", "InputError"]
