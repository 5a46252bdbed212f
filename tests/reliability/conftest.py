"""The reliability suite: faults, hostile input, load.

Every test here is marked ``reliability`` (select with ``-m reliability``).
Durations (relutil.duration) are reduced by default so the README's test command stays short;
``JHEMBED_RELIABILITY_FULL=1`` runs the full-length versions whose figures
docs/reliability.md quotes.
"""

import sys
from pathlib import Path

import pytest

# the helpers next to the main suite (hub.py, proxyutil.py, ...)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def pytest_collection_modifyitems(items):
    here = Path(__file__).resolve().parent
    for item in items:
        if here in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.reliability)
