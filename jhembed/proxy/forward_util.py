"""Small helpers shared by the forwarder and the Hub login (no heavy imports)."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode


def strip_token(uri):
    """``uri`` without any ``token`` query parameter."""
    path, sep, query = uri.partition("?")
    if not sep or "token" not in query:
        return uri
    kept = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k != "token"]
    return path + ("?" + urlencode(kept) if kept else "")
