"""A command whose reader goes away (``kalshid … | head``) stops quietly, without a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_output_into_a_closed_pipe_is_not_a_traceback(tmp_path: Path) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader has gone before the first line is written
    try:
        done = subprocess.run([sys.executable, "-m", "kalshid", "config", "check"], cwd=tmp_path, stdout=write_end,
                              stderr=subprocess.PIPE, text=True, timeout=60,
                              env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")}, check=False)
    finally:
        os.close(write_end)
    assert done.returncode == 141, done.stderr
    assert "Traceback" not in done.stderr and "BrokenPipeError" not in done.stderr, done.stderr
