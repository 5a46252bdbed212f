"""Helpers for tests that run what the docs show: code blocks, ``jhembed check-config``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def blocks(doc):
    """The fenced code blocks of a MyST page, as (language, text), in order."""
    return re.findall(r"^```(\w*)\n(.*?)^```$", doc, flags=re.M | re.S)


def run_jhembed(*args, cwd=None):
    """``jhembed <args>`` (as ``python -m jhembed.cli``, this checkout's code); the CompletedProcess."""
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    )
    return subprocess.run(
        [sys.executable, "-m", "jhembed.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
