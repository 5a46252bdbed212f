"""What the front needs to forward a request to the app: paths, headers, redirects, logging.

:class:`Forwarder` holds the app, the header policy and the hooks (login,
activity, bridge); the front (jhembed.proxy.front) asks it for the app's path
and headers of a request, rewrites the app's redirects with it and logs with
it.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit

from jupyterhub.utils import url_path_join

from .forward_util import strip_token as _strip_token
from .rules import HOP_BY_HOP as _HOP_BY_HOP
from .rules import NEVER_FORWARDED as _NEVER_FORWARDED
from .rules import connection_drops, is_underscore_twin, scrub_uri, strip_cookies

_DOT_SEGMENT = re.compile(r"(^|/)\.\.?(/|$)")

METHODS = (
    "GET",
    "HEAD",
    "POST",
    "PUT",
    "PATCH",
    "DELETE",
    "OPTIONS",
    "PROPFIND",
    "PROPPATCH",
    "MKCOL",
    "COPY",
    "MOVE",
    "LOCK",
    "UNLOCK",
    "REPORT",
    "SEARCH",
)


def _has_dot_segments(path):
    if "." not in path and "%" not in path:
        return False
    decoded = unquote(unquote(path))
    return bool(_DOT_SEGMENT.search(decoded.replace("\\", "/")))


class Forwarder:
    """What the front shares per request: the app, the header policy, the hooks."""

    def __init__(
        self,
        *,
        child,
        policy,
        base_url="/",
        absolute_url=False,
        request_timeout=300.0,
        request_headers_override=None,
        websocket_max_message_size=None,
        log,
    ):
        self.child = child
        self.policy = policy
        self.base_url = base_url
        self.strip_prefix = not absolute_url and base_url != "/"
        self.prefix_len = len(base_url) - 1  # keep the slash after the prefix
        self.request_timeout = request_timeout
        self.request_headers_override = dict(request_headers_override or {})
        self.ws_max_size = websocket_max_message_size or 10 * 1024 * 1024
        self.log = log
        # whether any handler shows DEBUG: checked once, not per request
        self.log_debug = any(h.level <= 10 for h in log.handlers) and log.isEnabledFor(10)
        # hooks filled by the runtime: the Hub login (auth.HubLogin) and an
        # activity tracker with ``touch()``; None means off
        self.auth = None
        self.activity = None
        # the postMessage bridge (a BridgeInjector), or None
        self.bridge = None
        # the app's own addresses, which its redirects may name
        self.upstream_hosts = (
            () if child.unix_socket else (f"{child.host}:{child.port}", f"localhost:{child.port}")
        )

    def touch(self):
        if self.activity is not None:
            self.activity.touch()

    def counts_as_activity(self, path):
        """Whether traffic on ``path`` is reported to the Hub as activity."""
        return self.activity is not None and not self.activity.excluded(path)

    # -- request helpers ---------------------------------------------------------

    def upstream_path(self, uri):
        """Path and query to request from the app, given the client's raw URI."""
        if self.auth is not None:
            # a websocket may log in with ?token=; a page's token was consumed by
            # the login (or sent with a separator the login does not read): the
            # app never sees one
            uri = _strip_token(uri)
        if self.strip_prefix:
            return uri[self.prefix_len :]
        return uri

    def headers_for_app(self, pairs, *, remote_ip, protocol, user=None, upgrade=False):
        """Headers for the app: the client's, minus hop-by-hop, plus X-Forwarded-*.

        ``pairs`` are the client's (name, value) headers (any iterable: read
        twice).  ``upgrade``: the client's websocket handshake goes through as
        it is.

        Never forwarded: hop-by-hop headers and those ``Connection`` names
        (except framing and identity headers: jhembed.proxy.rules), the
        headers the proxy sets and their underscore twins, the Hub's and
        jhembed's cookies.
        """
        pairs = list(pairs)
        connection = []
        forwarded_for = proto = fwd_host = host = None
        accept = ""
        for name, value in pairs:
            low = name.lower()
            if low == "connection":
                connection.append(value)
            elif low == "x-forwarded-for":
                forwarded_for = value if forwarded_for is None else f"{forwarded_for}, {value}"
            elif low == "x-forwarded-proto":
                proto = value
            elif low == "x-forwarded-host":
                fwd_host = value
            elif low == "host":
                host = value
            elif low == "accept":
                accept = value
        drop = _HOP_BY_HOP
        if connection:
            drop = drop | connection_drops(connection)
        if upgrade:
            drop = drop - {"upgrade"}
        headers = []
        for name, value in pairs:
            low = name.lower()
            if low in drop or low in _NEVER_FORWARDED or is_underscore_twin(low):
                continue
            if low == "cookie":
                value = strip_cookies(value)
                if not value:
                    continue
            elif low == "referer" and "?" in value:
                value = _strip_token(value)  # a page that still had ?token= in its URL
            headers.append((name, value))
        headers.append(
            ("X-Forwarded-For", f"{forwarded_for}, {remote_ip}" if forwarded_for else remote_ip)
        )
        if proto is None:
            headers.append(("X-Forwarded-Proto", protocol))
        if fwd_host is None and host is not None:
            headers.append(("X-Forwarded-Host", host))
        if self.strip_prefix:
            # X-Forwarded-Context and X-Proxycontextpath as jupyter-server-proxy 4.x
            # sends them (the prefix, slash included); X-Forwarded-Prefix without the
            # slash, which werkzeug's ProxyFix puts in SCRIPT_NAME as it is
            headers.append(("X-Forwarded-Prefix", self.base_url.rstrip("/")))
            headers.append(("X-Forwarded-Context", self.base_url))
            headers.append(("X-Proxycontextpath", self.base_url))
        if upgrade:
            headers.append(("Connection", "Upgrade"))
        if self.auth is not None:
            headers = self.auth.filter_request_headers(headers, user)
        if self.bridge is not None and "text/html" in accept:
            # pages get the bridge's script tag: ask the app for them uncompressed
            headers = [h for h in headers if h[0].lower() != "accept-encoding"]
        if self.request_headers_override:
            override = {k.lower() for k in self.request_headers_override}
            headers = [h for h in headers if h[0].lower() not in override]
            headers.extend(self.request_headers_override.items())
        return headers

    def rewrite_location(self, location):
        """Keep redirects from the app inside the server's prefix."""
        parts = urlsplit(location)
        if parts.scheme in ("http", "https", "ws", "wss") and parts.netloc in self.upstream_hosts:
            location = location.split(parts.netloc, 1)[1] or "/"
            parts = urlsplit(location)
            if not self.strip_prefix:
                return location
        if self.strip_prefix and not parts.scheme and not parts.netloc and location.startswith("/"):
            return url_path_join(self.base_url, location)
        return location

    def log_line(self, status, method, uri, remote_ip, elapsed_ms):
        """One request log line (the front's answers): successes only
        with --debug, 4xx warnings (503 debug: the Hub's readiness probe), 5xx errors."""
        if status < 400:
            if not self.log_debug:
                return
            log = self.log.debug
        elif status < 500 or status == 503:
            log = self.log.warning if status != 503 else self.log.debug
        else:
            log = self.log.error
        log(
            "%d %s %s (%s) %.2fms",
            status,
            method,
            scrub_uri(uri),
            remote_ip,
            elapsed_ms,
        )


__all__ = ["Forwarder", "METHODS", "scrub_uri"]
