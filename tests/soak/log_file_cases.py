"""``setup_logging(--log-file, --log-max-mb)`` (loadgen/locust/session.py), run by test_log_file.py in a
child pytest: the session module imports Locust."""

from __future__ import annotations

import logging
from pathlib import Path

from loadgen.locust.session import setup_logging


def test_setup_logging_also_writes_inferloads_log_to_a_rotating_file(tmp_path: Path) -> None:
    root = logging.getLogger()
    before = list(root.handlers)
    path = tmp_path / "inferload.log"
    try:
        setup_logging(path, 0.001)  # ~1 KiB per file
        log = logging.getLogger("loadgen.checkpoint")
        for i in range(40):
            log.info("checkpoint line %03d %s", i, "x" * 60)
        logging.getLogger("locust.runners").warning("a locust warning")
    finally:
        for h in root.handlers:
            if h not in before:
                h.close()
                root.removeHandler(h)
    assert "INFO loadgen.checkpoint: checkpoint line 000" in Path(f"{path}.5").read_text()  # rotated, oldest kept
    assert not Path(f"{path}.6").exists()
    text = path.read_text()
    assert "WARNING locust.runners: a locust warning" in text  # the whole log, as on stderr
