"""The reliability suite: faults, hostile input, load.

Every test here is marked ``reliability`` (select with ``-m reliability``).
Durations are reduced by default so the README's test command stays short;
``JHEMBED_RELIABILITY_FULL=1`` runs the full-length versions whose figures
docs/reliability.md quotes.
"""

import os
import sys
from pathlib import Path

import pytest

# the helpers next to the main suite (hub.py, proxyutil.py, ...)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

FULL = os.environ.get("JHEMBED_RELIABILITY_FULL", "") not in ("", "0")


def duration(full, reduced):
    """Seconds (or counts) for a load or soak phase: ``full`` only when asked for."""
    return full if FULL else reduced


def pytest_collection_modifyitems(items):
    here = Path(__file__).resolve().parent
    for item in items:
        if here in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.reliability)


def report(name, **figures):
    """Print a test's figures in one greppable line (``pytest -s`` or -rA shows it)."""
    parts = ", ".join(f"{k}={v}" for k, v in figures.items())
    print(f"\nFIGURES {name}: {parts}")
