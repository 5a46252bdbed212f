"""Pure HTTP/1.1 and websocket framing helpers of the front (no I/O)."""

from __future__ import annotations

import time
from email.utils import formatdate
from http import HTTPStatus

from .rules import HOP_BY_HOP

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
# response headers the front frames itself
RESPONSE_FRAMING = HOP_BY_HOP | {"content-length"}
# request headers that frame the body toward the app: the front sets them itself
BODY_FRAMING = frozenset(("content-length", "transfer-encoding"))
NO_LENGTH = (204, 304)  # answers without Content-Length (nor body)


def encode_head(first_line, headers):
    head = "".join([first_line, *[f"{name}: {value}\r\n" for name, value in headers], "\r\n"])
    try:
        return head.encode("latin-1")
    except UnicodeEncodeError:  # e.g. a user name in X-Forwarded-User
        return head.encode("utf-8")


_NAMES = {}


def header_name(raw):
    """``content-type`` -> ``Content-Type``, as tornado writes header names (cached)."""
    name = _NAMES.get(raw)
    if name is None:
        name = "-".join(w.capitalize() for w in raw.decode("latin-1").split("-"))
        if len(_NAMES) < 2048:
            _NAMES[raw] = name
    return name


def chunk(data):
    return b"%x\r\n%s\r\n" % (len(data), data)


def reason_phrase(status):
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def close_frame(code, reason):
    payload = code.to_bytes(2, "big") + reason.encode()
    return bytes((0x88, len(payload))) + payload


_date = [0, ""]  # the second and its Date value


def http_date():
    """Now as an HTTP ``Date`` value (RFC 7231 IMF-fixdate), formatted once a second."""
    now = int(time.time())
    if now != _date[0]:
        _date[0], _date[1] = now, formatdate(now, usegmt=True)
    return _date[1]
