"""The in-frame side of the postMessage bridge: served by the proxy, added to the app's pages.

With ``--bridge`` the proxy serves ``share/jupyterhub/jhembed/static`` at
``{prefix}_jhembed/`` and adds one ``<script type="module">`` tag for
``jhembed-frame.js`` to the app's HTML documents, carrying the origins that
may talk to the frame (the cross-origin ``frame_ancestors``).  Only complete
``200 text/html`` documents up to ``max_size`` bytes without a content
encoding are changed; anything else passes through untouched.

A second, classic script from the same directory, ``jhembed-storage.js``, goes
at the start of ``<head>`` so that it runs before the app's scripts: when the
browser refuses Web Storage to the cross-site frame (Chromium with third-party
cookies blocked), it gives the page an in-memory ``localStorage``, without which
JupyterLab 4 redirects to a new ``/lab/workspaces/auto-*`` URL forever.
"""

from __future__ import annotations

import email.utils
import hashlib
import mimetypes
import os
import re
import sys
from html import escape
from pathlib import Path

# the bridge's own file types, fixed: mimetypes reads /etc/mime.types, which differs by machine
_TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html"}


def _content_type(name):
    ext = os.path.splitext(name)[1].lower()
    return _TYPES.get(ext) or mimetypes.guess_type(name)[0] or "application/octet-stream"


_HEAD_START = re.compile(rb"<head(?:\s[^>]*)?>", re.I)
_HEAD_END = re.compile(rb"</head\s*>", re.I)
_BODY_START = re.compile(rb"<body[^>]*>", re.I)
_SEARCH = 256 * 1024  # where the tag may go: the start of the document


def static_path():
    """The directory with jhembed-frame.js and jhembed-host.js."""
    # a source checkout (editable install) first, so edits take effect without
    # reinstalling; then the installed data files
    for candidate in (
        Path(__file__).resolve().parents[2] / "share" / "jupyterhub" / "jhembed" / "static",
        Path(sys.prefix) / "share" / "jupyterhub" / "jhembed" / "static",
    ):
        if (candidate / "jhembed-frame.js").exists():
            return str(candidate)
    raise FileNotFoundError("jhembed's static files (jhembed-frame.js) are not installed")


def static_file(root, name, if_none_match=None):
    """``(status, headers, body)`` for the file ``name`` of ``root`` (the bridge's scripts),
    or None when there is no such file.  ``If-None-Match`` with its ``Etag``: 304.

    Headers as tornado's StaticFileHandler sent them (type, ``Etag``, ``Last-Modified``).
    """
    if not name or name.startswith(".") or "/" in name or "\\" in name or "\0" in name:
        return None  # the bridge's directory is flat: no subdirectories, no hidden files
    path = os.path.join(root, name)
    try:
        with open(path, "rb") as f:
            mtime = os.fstat(f.fileno()).st_mtime
            body = f.read()
    except OSError:  # missing, a directory, unreadable
        return None
    etag = f'"{hashlib.sha512(body).hexdigest()}"'
    headers = [
        ("Content-Type", _content_type(name)),
        ("Etag", etag),
        ("Last-Modified", email.utils.formatdate(int(mtime), usegmt=True)),
    ]
    if if_none_match and (if_none_match.strip() == "*" or etag in if_none_match):
        return 304, headers[1:], b""
    return 200, headers, body


class BridgeInjector:
    def __init__(self, *, script_url, allowed_origins, max_size=2 * 1024 * 1024):
        self.max_size = max_size
        origins = " ".join(o for o in allowed_origins if "://" in o and "*" not in o)
        storage_url = script_url.rsplit("/", 1)[0] + "/jhembed-storage.js"
        self.early_tag = f'<script src="{escape(storage_url)}"></script>'.encode()
        self.tag = (
            f'<script type="module" src="{escape(script_url)}" '
            f'data-jhembed-origins="{escape(origins)}"></script>'
        ).encode()

    def wants(self, status, headers):
        """Whether a response with ``status`` and ``headers`` (a multidict) gets the tag."""
        if status != 200:
            return False
        if not headers.get("Content-Type", "").lower().startswith("text/html"):
            return False
        if headers.get("Content-Encoding", "identity").lower() != "identity":
            return False
        length = headers.get("Content-Length")
        return length is None or (length.isdigit() and int(length) <= self.max_size)

    def inject(self, body):
        """``body`` with the storage fallback first in ``<head>`` and the bridge's module
        before ``</head>`` (without a head: both after ``<body>``, or first)."""
        window = body[:_SEARCH]
        start = _HEAD_START.search(window)
        end = _HEAD_END.search(window, start.end() if start else 0)
        if start and end:
            head, rest = body[: start.end()], body[start.end() : end.start()]
            return head + self.early_tag + rest + self.tag + body[end.start() :]
        tags = self.early_tag + self.tag
        m = _BODY_START.search(window)
        if m:
            return body[: m.end()] + tags + body[m.end() :]
        return tags + body


__all__ = ["BridgeInjector", "static_file", "static_path"]
