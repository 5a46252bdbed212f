"""Small helpers shared by the forwarder and the Hub login (no heavy imports)."""

from __future__ import annotations

from .rules import strip_param

# a file the spawner names for the proxy: "ready", or "failed" and the reason
# with the app's last output, so a spawn that fails says why in the Hub
START_REPORT_ENV = "JHEMBED_START_REPORT"


def strip_token(uri):
    """``uri`` without any ``token`` query parameter (names compared decoded)."""
    return strip_param(uri, "token")
