"""Re-export for forward.py, which imports ``strip_token`` from here (now in rules.py)."""

from .rules import strip_token  # noqa: F401
