"""The proxy's front: its one HTTP/1.1 server, on the listening sockets.

The front owns the proxy's listening sockets.  It parses requests with
httptools and sorts each one:

- **forwarded here** (the hot path): a request under the prefix, the app
  ready, the user known (no Hub auth, or a Hub token or session cookie checked
  with the Hub within ``auth_cache_max_age``).  It goes to the app over a
  pooled keep-alive connection; bodies stream both ways with flow control; the
  response gets the header policy.  A websocket handshake goes to the app as
  it is and, once the app accepts it, bytes are piped both ways (the size of
  each client message is still checked).
- **answered here**: what the proxy says itself (jhembed.proxy.answers):
  paths outside the prefix, the add-slash and entry-point redirects, dot
  segments, methods and bodies it refuses, the app not ready, CORS preflights,
  refused websockets, the bridge's scripts.
- **answered here, login** (login.py): the login redirect, the frame login
  page, the OAuth callback, token login and the login refusals (not logged
  in, invalid token, cross-site, access denied, Hub unavailable).
- also forwarded: a websocket logging in with ``?token=`` (checked by the
  login, the token taken out of the app's URI) and an upgrade that is not a
  websocket (as a plain request, the connection closed after it).

The parts, top to bottom: ``front.Front`` listens and holds what requests
share (pools, verdict cache, login); ``connection`` parses each client
connection's requests; ``routing`` decides each request once; ``exchange``
carries it to the app and the response back (or sends the answer);
``pipe`` takes over a connection the app switched to websockets; ``wire``
holds the pure framing helpers.
"""

from __future__ import annotations

import asyncio

from .connection import ClientConnection, UpstreamConnection
from .login import SignIn
from .pipe import Pipe
from .routing import Routing

IDLE_TIMEOUT = 3600.0  # a kept-alive client connection with no request for this long closes


class Front(Routing):
    """Listens, sorts requests, forwards them to the app or answers them itself."""

    def __init__(self, forwarder, *, cookie_secret, max_body_size, log, mounted_from=""):
        self.fw = forwarder
        self.policy = forwarder.policy
        self.child = forwarder.child
        self.login = forwarder.auth
        self.base_url = forwarder.base_url
        self.cookie_secret = cookie_secret
        self.max_body_size = max_body_size
        self.log = log
        self.loop = asyncio.get_running_loop()
        self.servers = []
        self.sweeper = self.ticker = None
        self.waiting = set()  # exchanges awaiting the app, with a timeout (_check_timeouts)
        self.peak_clients = 0
        self.trim_due = False
        self.clients = set()
        self.app_pool = []
        self.cache = {}
        self.checking = {}  # credential -> future of a Hub check under way
        self.cache_max_age = self.login.hub_auth.cache_max_age if self.login else 0
        self.sign_in = None
        self.callback_path = None
        if self.login is not None:
            self.sign_in = SignIn(self.login, cookie_secret=cookie_secret, log=log)
            self.callback_path = self.sign_in.callback_path
        # the add-slash redirect; the entry-point mount redirect (its prefix, with or without /)
        self.bare_prefix = self.base_url.rstrip("/") if self.base_url != "/" else None
        self.mount_paths = (
            (mounted_from.rstrip("/"), mounted_from.rstrip("/") + "/") if mounted_from else ()
        )
        self.static_prefix = self.static_root = None
        if forwarder.bridge is not None:
            from .bridge import static_path

            self.static_prefix = self.base_url + "_jhembed/"
            self.static_root = static_path()
        self.answered = 0  # answers the front made itself (the tests count them)
        child = self.child
        self.default_host = "localhost" if child.unix_socket else f"{child.host}:{child.port}"

    # -- serving -----------------------------------------------------------------

    async def start(self, sockets, ssl_context=None):
        for sock in sockets:
            server = await self.loop.create_server(
                lambda: ClientConnection(self), sock=sock, ssl=ssl_context, backlog=1024
            )
            self.servers.append(server)
        self.sweeper = self.loop.call_later(60, self._sweep)
        if self.fw.request_timeout:
            self.tick = min(1.0, self.fw.request_timeout / 4)
            self.ticker = self.loop.call_later(self.tick, self._check_timeouts)

    def _check_timeouts(self):
        """The exchanges that saw no bytes from or to the app for ``request_timeout``: 504."""
        self.ticker = self.loop.call_later(self.tick, self._check_timeouts)
        limit = self.loop.time() - self.fw.request_timeout
        for exchange in [e for e in self.waiting if e.last_read <= limit]:
            exchange.timed_out()

    def client_gone(self):
        """After a wave of closed connections, give the freed memory back to the system."""
        count = len(self.clients)
        if count > self.peak_clients:
            self.peak_clients = count
        elif self.peak_clients >= 100 and count <= self.peak_clients // 2 and not self.trim_due:
            self.trim_due = True
            self.loop.call_later(1.0, self._trim)

    def _trim(self):
        self.trim_due = False
        self.peak_clients = len(self.clients)
        _release_memory()

    def _sweep(self):
        """Close client connections idle (between requests) for IDLE_TIMEOUT."""
        limit = self.loop.time() - IDLE_TIMEOUT
        for client in list(self.clients):
            if client.exchange is None and client.last_active < limit:
                client.close()
        self.sweeper = self.loop.call_later(60, self._sweep)

    def stop(self):
        """Stop accepting; idle connections close, active ones finish."""
        if self.sweeper is not None:
            self.sweeper.cancel()
            self.sweeper = None
        for server in self.servers:
            server.close()
        for client in list(self.clients):
            if client.exchange is None:
                client.close()
            elif isinstance(client.exchange, Pipe):
                client.exchange.going_away()

    async def drain(self, timeout):
        """Wait (up to ``timeout`` seconds) for the exchanges under way to end, so that
        a request whose app just went away still gets its 502 before ``close_all``."""
        deadline = self.loop.time() + timeout
        while self.loop.time() < deadline and any(
            client.exchange is not None and not isinstance(client.exchange, Pipe)
            for client in self.clients
        ):
            await asyncio.sleep(0.02)

    def close_all(self):
        if self.ticker is not None:  # the exchanges draining until now still timed out
            self.ticker.cancel()
            self.ticker = None
        for client in list(self.clients):
            client.close()
        for conn in self.app_pool:
            conn.close()
        self.app_pool.clear()

    # -- upstream connections ------------------------------------------------------

    def idle(self):
        """An idle kept-alive connection to the app, or None."""
        pool = self.app_pool
        while pool:
            conn = pool.pop()
            if not conn.closed:
                return conn
        return None

    async def connect(self):
        """A new connection to the app."""
        if self.child.unix_socket:
            _, conn = await self.loop.create_unix_connection(
                UpstreamConnection, self.child.unix_socket
            )
        else:
            _, conn = await self.loop.create_connection(
                UpstreamConnection, self.child.host, self.child.port
            )
        return conn

    def release(self, conn):
        pool = self.app_pool
        if conn.closed or len(pool) >= 256:
            conn.close()
        else:
            conn.exchange = None
            pool.append(conn)

    def log_answer(self, req, status, remote_ip, started):
        """One log line per answer of the front's (Forwarder.log_line)."""
        elapsed = 1000.0 * (self.loop.time() - started)
        self.fw.log_line(status, req.method, req.url, remote_ip, elapsed)


def _release_memory():
    """Collect garbage, then ask glibc to return free heap pages (Linux; else a no-op).

    Thousands of connections leave the allocator holding memory it no longer
    uses; without this the process keeps that RSS after they close.
    """
    import gc

    gc.collect()
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim(0)
    except (OSError, AttributeError):
        pass


__all__ = ["Front"]
