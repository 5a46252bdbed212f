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

from .rules import HOP_BY_HOP as _HOP_BY_HOP
from .rules import NEVER_FORWARDED as _NEVER_FORWARDED
from .rules import connection_drops, is_underscore_twin, scrub_uri, strip_cookies
from .rules import strip_token as _strip_token
from .wire import BODY_FRAMING, encode_head

_DOT_SEGMENT = re.compile(r"(^|/)\.\.?(/|$)")
# the client's headers never forwarded (Connection and X-Forwarded-For are read first)
_DROPPED = _HOP_BY_HOP | _NEVER_FORWARDED
# the same, and the body's framing, which the front sets itself (Forwarder.request_head)
_DROPPED_FRAMED = _DROPPED | BODY_FRAMING
# the client's headers the one pass reads or changes; all others go through as they are
_READ = frozenset(
    ("host", "accept", "accept-encoding", "x-forwarded-proto", "x-forwarded-host", "cookie",
     "referer", "authorization")
)  # fmt: skip

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
        # computed once: the override's names, and its headers but the body's framing
        self._override_names = frozenset(k.lower() for k in self.request_headers_override)
        self._override_framed = tuple(
            (k, v)
            for k, v in self.request_headers_override.items()
            if k.lower() not in BODY_FRAMING
        )
        # X-Forwarded-Context and X-Proxycontextpath as jupyter-server-proxy 4.x
        # sends them (the prefix, slash included); X-Forwarded-Prefix without the
        # slash, which werkzeug's ProxyFix puts in SCRIPT_NAME as it is
        self._prefix_headers = (
            (
                ("X-Forwarded-Prefix", base_url.rstrip("/")),
                ("X-Forwarded-Context", base_url),
                ("X-Proxycontextpath", base_url),
            )
            if self.strip_prefix
            else ()
        )
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

        ``pairs`` are the client's (name, value) headers (any iterable).
        ``upgrade``: the client's websocket handshake goes through as it is.

        Never forwarded: hop-by-hop headers and those ``Connection`` names
        (except framing and identity headers: jhembed.proxy.rules), the
        headers the proxy sets and their underscore twins, the Hub's and
        jhembed's cookies; with the Hub login (``auth``) also the proxy's own
        cookie and the Hub token of ``Authorization``.
        """
        return self._app_headers(pairs, remote_ip, protocol, user, upgrade, False)[0]

    def request_head(self, req, *, remote_ip, protocol, default_host):
        """The request head for the app of a ``connection.Request``: ``headers_for_app``'s
        headers, the body framed toward the app as the front's parser framed it, whatever
        the header rules kept (the app can never read a body as another request)."""
        headers, has_host = self._app_headers(
            req.headers, remote_ip, protocol, req.user, req.upgrade, True
        )
        if not has_host:
            headers.append(("Host", default_host))
        if req.chunked:
            headers.append(("Transfer-Encoding", "chunked"))
        elif req.length is not None:
            headers.append(("Content-Length", str(req.length)))
        return encode_head(f"{req.method} {self.upstream_path(req.url)} HTTP/1.1\r\n", headers)

    def _app_headers(self, pairs, remote_ip, protocol, user, upgrade, framed):
        """``headers_for_app``'s list (``framed``: without the body's framing headers), and
        whether it has a Host.  One pass over the client's headers."""
        auth = self.auth
        dropped = _DROPPED_FRAMED if framed else _DROPPED
        if upgrade:
            dropped = dropped - {"upgrade"}
        headers = []
        connection = []
        forwarded_for = proto = fwd_host = host = None
        accept = ""
        encoding = False
        for name, value in pairs:
            low = name.lower()
            if low in dropped:
                if low == "connection":
                    connection.append(value)
                elif low == "x-forwarded-for":
                    forwarded_for = value if forwarded_for is None else f"{forwarded_for}, {value}"
                continue
            if low in _READ:
                if low == "host":
                    host = value
                elif low == "accept":
                    accept = value
                elif low == "accept-encoding":
                    encoding = True
                elif low == "x-forwarded-proto":
                    proto = value
                elif low == "x-forwarded-host":
                    fwd_host = value
                elif low == "cookie":
                    value = strip_cookies(value) if auth is None else auth.strip_cookies(value)
                    if not value:
                        continue
                elif low == "referer":
                    if "?" in value:
                        value = _strip_token(value)  # a page that still had ?token= in its URL
                elif auth is not None and auth.consumes(value):  # Authorization: the Hub token
                    continue
            elif "_" in low and is_underscore_twin(low):
                continue
            headers.append((name, value))
        if connection:
            drops = connection_drops(connection)
            if upgrade:
                drops.discard("upgrade")
            if drops:
                headers = [h for h in headers if h[0].lower() not in drops]
        headers.append(
            ("X-Forwarded-For", f"{forwarded_for}, {remote_ip}" if forwarded_for else remote_ip)
        )
        if proto is None:
            headers.append(("X-Forwarded-Proto", protocol))
        if fwd_host is None and host is not None:
            headers.append(("X-Forwarded-Host", host))
        headers.extend(self._prefix_headers)
        if upgrade:
            headers.append(("Connection", "Upgrade"))
        if auth is not None:
            headers.extend(auth.user_headers(user))
        if encoding and self.bridge is not None and "text/html" in accept:
            # pages get the bridge's script tag: ask the app for them uncompressed
            headers = [h for h in headers if h[0].lower() != "accept-encoding"]
        override = self._override_names
        if override:
            headers = [h for h in headers if h[0].lower() not in override]
            headers.extend(
                self._override_framed if framed else self.request_headers_override.items()
            )
        return headers, host is not None or "host" in override

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
