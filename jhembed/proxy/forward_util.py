"""Small helpers shared by the forwarder and the Hub login (no heavy imports)."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

# the client's scheme and address, from the proxy's front to its tornado app
CLIENT_HEADER = "X-Jhembed-Client"
# a file the spawner names for the proxy: "ready", or "failed" and the reason
# with the app's last output, so a spawn that fails says why in the Hub
START_REPORT_ENV = "JHEMBED_START_REPORT"


def strip_token(uri):
    """``uri`` without any ``token`` query parameter."""
    path, sep, query = uri.partition("?")
    if not sep or "token" not in query:
        return uri
    kept = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k != "token"]
    return path + ("?" + urlencode(kept) if kept else "")
