"""Shared by the reliability tests: durations and figure reporting."""

import os

FULL = os.environ.get("JHEMBED_RELIABILITY_FULL", "") not in ("", "0")


def duration(full, reduced):
    """Seconds (or counts) for a load or soak phase: ``full`` only when asked for."""
    return full if FULL else reduced


def report(name, **figures):
    """Print a test's figures in one greppable line (``pytest -s`` or -rA shows it)."""
    parts = ", ".join(f"{k}={v}" for k, v in figures.items())
    print(f"\nFIGURES {name}: {parts}")
