"""The proxy's front: a lean HTTP/1.1 server on the request hot path.

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
"""

from __future__ import annotations

import asyncio
import socket
from http import HTTPStatus

import httptools
from tornado.httputil import parse_cookie
from tornado.web import decode_signed_value

from . import answers
from . import child as _child
from .forward import METHODS, _has_dot_segments
from .login import SignIn, url_token
from .rules import HOP_BY_HOP, has_param, response_has_body, scrub_uri

_METHODS = frozenset(METHODS)
_BUFFER_LIMIT = 1024 * 1024
_MAX_HEAD = (
    64 * 1024
)  # request line and headers, as tornado's max_header_size  # request body held while the app connection opens
_CACHE_SIZE = 4096
IDLE_TIMEOUT = 3600.0  # a kept-alive client connection with no request for this long closes
_SESSION_COOKIE = "jupyterhub-session-id"
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
# response headers the front frames itself
_FRAMING = HOP_BY_HOP | {"content-length"}
# request headers that frame the body toward the app: the front sets them itself
_BODY_FRAMING = frozenset(("content-length", "transfer-encoding"))

FORWARD, ANSWER = "forward", "answer"
LOGIN = "login"  # answered by login.py: a login flow, or a user it allows
_GET_HEAD = ("GET", "HEAD")
_NO_LENGTH = (204, 304)  # answers without Content-Length (nor body)


def _encode_head(first_line, headers):
    lines = [first_line]
    for name, value in headers:
        lines.append(f"{name}: {value}\r\n")
    lines.append("\r\n")
    head = "".join(lines)
    try:
        return head.encode("latin-1")
    except UnicodeEncodeError:  # e.g. a user name in X-Forwarded-User
        return head.encode("utf-8")


_NAMES = {}


def _header_name(raw):
    """``content-type`` -> ``Content-Type``, as tornado writes header names (cached)."""
    name = _NAMES.get(raw)
    if name is None:
        name = "-".join(w.capitalize() for w in raw.decode("latin-1").split("-"))
        if len(_NAMES) < 2048:
            _NAMES[raw] = name
    return name


def _chunk(data):
    return b"%x\r\n%s\r\n" % (len(data), data)


class Request:
    """One request read from a client connection."""

    __slots__ = (
        "method",
        "url",
        "version",
        "keep_alive",
        "upgrade",
        "headers",
        "chunked",
        "length",
        "chunks",
        "buffered",
        "complete",
        "sink",
        "received",
        "user",
        "raw_tail",
        "paused",
        "answer",
    )

    def __init__(self):
        self.url = ""
        self.headers = []
        self.chunked = False
        self.length = None
        self.chunks = []
        self.buffered = 0
        self.complete = False
        self.sink = None  # the exchange writing the body to the app
        self.received = 0
        self.user = None
        self.raw_tail = b""  # bytes after an upgrade request
        self.paused = False  # reading paused: too much body buffered
        self.answer = None  # (status, headers, body) when the front answers itself

    def header(self, name):
        low = name.lower()
        for n, v in self.headers:
            if n.lower() == low:
                return v
        return None


class Front:
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
        self.sweeper = None
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
            elif isinstance(client.exchange, _Pipe):
                client.exchange.going_away()

    async def drain(self, timeout):
        """Wait (up to ``timeout`` seconds) for the exchanges under way to end, so that
        a request whose app just went away still gets its 502 before ``close_all``."""
        deadline = self.loop.time() + timeout
        while self.loop.time() < deadline and any(
            client.exchange is not None and not isinstance(client.exchange, _Pipe)
            for client in self.clients
        ):
            await asyncio.sleep(0.02)

    def close_all(self):
        for client in list(self.clients):
            client.close()
        for conn in self.app_pool:
            conn.close()
        self.app_pool.clear()

    # -- upstream connections ------------------------------------------------------

    async def connect(self):
        """An idle or new connection to the app."""
        pool = self.app_pool
        while pool:
            conn = pool.pop()
            if not conn.closed:
                return conn, True
        if self.child.unix_socket:
            _, conn = await self.loop.create_unix_connection(
                UpstreamConnection, self.child.unix_socket
            )
        else:
            _, conn = await self.loop.create_connection(
                UpstreamConnection, self.child.host, self.child.port
            )
        return conn, False

    def release(self, conn):
        pool = self.app_pool
        if conn.closed or len(pool) >= 256:
            conn.close()
        else:
            conn.exchange = None
            pool.append(conn)

    # -- sorting -------------------------------------------------------------------

    def sort(self, req):
        """FORWARD, ANSWER (``req.answer`` set), or a credential to check with the Hub."""
        method = req.method
        html = "text/html" in (req.header("Accept") or "")
        if method not in _METHODS:
            return self._answer(req, answers.method_not_allowed(method, METHODS, html=html))
        if req.length is not None and req.length > self.max_body_size:
            return self._answer(req, answers.too_large(req.length, self.max_body_size, html=html))
        url = req.url
        path, _, query = url.partition("?")
        if path in self.mount_paths:
            return self._mount_redirect(req, query, html)
        if path == self.bare_prefix:
            if method not in _GET_HEAD:
                return self._answer(req, answers.method_not_allowed(method, _GET_HEAD, html=html))
            return self._answer(req, answers.add_slash(url))
        if path == self.callback_path:
            return LOGIN  # the OAuth callback
        if not path.startswith(self.base_url):
            return self._answer(req, answers.not_found(self.base_url, html=html))
        if ("." in path or "%" in path) and _has_dot_segments(path):
            return self._answer(req, answers.dot_segments(html=html))
        if self.static_prefix is not None and path.startswith(self.static_prefix):
            return self._static(req, path, html)
        if req.upgrade and (req.header("Upgrade") or "").lower() != "websocket":
            # not a websocket: forwarded as a plain request (Upgrade and Connection
            # dropped, as hop-by-hop headers); the connection closes after it
            req.upgrade = False
        if req.upgrade:
            if method != "GET":
                return self._answer(req, answers.method_not_allowed(method, ("GET",), html=html))
            origin = req.header("Origin")
            if origin and not self.policy.websocket_origin_allowed(origin, req.header("Host")):
                return self._answer(req, answers.websocket_refused(html=html))
        elif method == "OPTIONS" and req.header("Access-Control-Request-Method"):
            origin = req.header("Origin")
            if origin:  # a CORS preflight: before the login, as browsers send it without one
                return self._answer(
                    req,
                    answers.preflight(
                        self.policy,
                        origin,
                        req.header("Access-Control-Request-Method"),
                        req.header("Access-Control-Request-Headers"),
                        html=html,
                    ),
                )
        state = self.child.state
        if state == _child.STARTING:
            # before the login: the Hub's readiness probe must see 503 until the app answers
            return self._starting(req)
        if query and self.login is not None and has_param(query, "token") and url_token(query):
            # token login, or a websocket logging in with ?token= (names decoded); an
            # empty token (or one after a separator tornado does not read) logs nobody
            # in: the other credentials count, and the app's URI goes without it
            return LOGIN
        login = self.login
        if login is None:
            return self.admitted(req)
        credential = self._credential(req)
        if credential is None:
            return LOGIN  # the login redirect
        cached = self.cache.get(credential)
        if cached is not None:
            user, expires = cached
            if expires > self.loop.time():
                if credential[0] == "c" and login.cross_site(req.method, req.header, req.upgrade):
                    return LOGIN
                req.user = user
                return self.admitted(req)
            del self.cache[credential]
        return credential

    def admitted(self, req):
        """A logged-in, allowed user's request: FORWARD, or ANSWER when the app is down."""
        return FORWARD if self.child.state == _child.READY else self._unavailable(req)

    def _answer(self, req, answer):
        req.answer = answer
        return ANSWER

    def _starting(self, req):
        """503 while the app starts, with its latest output for the owner only.

        Without credentials (the Hub's readiness probe) the answer comes at once; a
        request with credentials is checked, through the verdict cache, to know whether
        it is the owner's (``check`` answers the 503 when the verdict is not cached).
        """
        login = self.login
        credential = self._credential(req) if login is not None and login.owner else None
        if credential is None:
            return self._unavailable(req)
        cached = self.cache.get(credential)
        if cached is None or cached[1] <= self.loop.time():
            return credential
        if not (credential[0] == "c" and login.cross_site(req.method, req.header, req.upgrade)):
            req.user = cached[0]
        return self._unavailable(req)

    def _is_owner(self, user):
        login = self.login
        return (
            login is not None
            and bool(login.owner)
            and isinstance(user, dict)
            and user.get("kind", "user") == "user"
            and user.get("name") == login.owner
        )

    def _unavailable(self, req):
        child = self.child
        html = "text/html" in (req.header("Accept") or "")
        # the app's output (scrubbed of secrets by child.py) is for the owner only
        starting = child.state == _child.STARTING
        output = child.last_output() if starting and self._is_owner(req.user) else None
        return self._answer(
            req,
            answers.unavailable(
                child.app_name, child.state, child.exit_code, html=html, output=output
            ),
        )

    def _mount_redirect(self, req, query, html):
        if req.method not in _GET_HEAD:
            return self._answer(req, answers.method_not_allowed(req.method, _GET_HEAD, html=html))
        if self.child.state != _child.READY:
            return self._unavailable(req)
        return self._answer(req, answers.mount_redirect(self.base_url, query))

    def _static(self, req, path, html):
        """The bridge's scripts, served by the proxy itself (no login: they hold no secret)."""
        if req.method not in _GET_HEAD:
            return self._answer(req, answers.method_not_allowed(req.method, _GET_HEAD, html=html))
        from urllib.parse import unquote

        from .bridge import static_file

        name = unquote(path[len(self.static_prefix) :])
        answer = static_file(self.static_root, name, req.header("If-None-Match"))
        return self._answer(req, answer or answers.not_found_file(name, html=html))

    def _credential(self, req):
        login = self.login
        auth = req.header("Authorization")
        if auth:
            kind, _, token = auth.strip().partition(" ")
            if kind.lower() in ("token", "bearer") and token.strip():
                return ("t", token.strip())
        cookie = req.header("Cookie")
        if cookie and login.cookie_name in cookie:
            value = self._cookie(cookie, login.cookie_name)
            if value:
                return ("c", value)
        return None

    @staticmethod
    def _cookie(header, name):
        # parsed as tornado parses them (lenient: other apps' odd cookies do not hide ours)
        return parse_cookie(header).get(name)

    async def check(self, req, credential):
        """Ask the Hub about a credential; FORWARD when allowed, else LOGIN."""
        pending = self.checking.get(credential)
        if pending is not None:
            user = await asyncio.shield(pending)
        else:
            pending = self.checking[credential] = self.loop.create_future()
            try:
                user = await self._check(req, credential)
            except BaseException:
                user = None
                raise
            finally:
                del self.checking[credential]
                pending.set_result(user)
        # only a user model the Hub gave opens the hot path
        refused = not isinstance(user, dict) or not user.get("name")
        if not refused and credential[0] == "c":
            refused = self.login.cross_site(req.method, req.header, req.upgrade)
        if refused:
            # while the app starts everyone gets the 503 (see _starting), as before the check
            return self._unavailable(req) if self.child.state == _child.STARTING else LOGIN
        req.user = user
        return self.admitted(req)

    async def _check(self, req, credential):
        """The allowed user of ``credential`` (cached), or None."""
        login = self.login
        kind, value = credential
        if kind == "c":
            token = decode_signed_value(self.cookie_secret, login.cookie_name, value)
            if not token:
                return None  # forged or from another proxy: login.py answers it
            token = token.decode("ascii", "replace")
        else:
            token = value
        session = req.header("Cookie")
        session_id = (self._cookie(session, _SESSION_COOKIE) if session else None) or ""
        try:
            # this cache is the only one on the hot path: a revoked token stops
            # working here within cache_max_age
            user = await login.hub_auth.user_for_token(
                token, use_cache=False, session_id=session_id, sync=False
            )
        except Exception:
            return None  # Hub unavailable: login.py says so
        if user is None or not login.allowed(user):
            return None
        if len(self.cache) >= _CACHE_SIZE:
            self.cache.pop(next(iter(self.cache)))
        self.cache[credential] = (user, self.loop.time() + self.cache_max_age)
        return user

    def log_answer(self, req, status, remote_ip, started):
        """One log line per answer of the front's (Forwarder.log_line)."""
        elapsed = 1000.0 * (self.loop.time() - started)
        self.fw.log_line(status, req.method, req.url, remote_ip, elapsed)


class ClientConnection(asyncio.Protocol):
    """One client connection: requests in order, one exchange at a time."""

    def __init__(self, front):
        self.front = front
        self.transport = None
        self.parser = httptools.HttpRequestParser(self)
        self.req = None
        self.queue = []
        self.exchange = None
        self.raw = None  # after an upgrade: where the client's bytes go
        self.closed = False
        self.paused = 0
        self.remote_ip = ""
        self.protocol = "http"
        self.req_upgraded = None
        self.in_head = True
        self.head_bytes = 0
        self.head_size = 0
        self.head_too_large = False
        self.refusal = ""

    # -- asyncio ---------------------------------------------------------------------

    def connection_made(self, transport):
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.remote_ip = peer[0] if isinstance(peer, tuple) else "127.0.0.1"
        if transport.get_extra_info("sslcontext") is not None:
            self.protocol = "https"
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        self.front.clients.add(self)
        self.last_active = self.front.loop.time()

    def data_received(self, data):
        if self.raw is not None:
            self.raw(data)
            return
        self.last_active = self.front.loop.time()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as e:
            offset = e.args[0] if e.args else len(data)
            req = self.req_upgraded
            req.raw_tail += data[offset:]
            self.pause()  # what follows is not HTTP: wait for the exchange
            return
        except httptools.HttpParserError as e:
            self.bad_request(str(e))
            return
        if self.head_too_large:
            self.bad_request("headers too large", 431)
            return
        if self.refusal:
            self.bad_request(self.refusal)
            return
        if self.in_head:
            # no end of headers in this read: all of it was request line and headers
            self.head_bytes += len(data)
            if self.head_bytes > _MAX_HEAD:
                self.bad_request("headers too large", 431)

    def eof_received(self):
        return False

    def connection_lost(self, exc):
        self.closed = True
        self.front.clients.discard(self)
        self.front.client_gone()
        if self.exchange is not None:
            self.exchange.client_lost()

    def pause_writing(self):
        if self.exchange is not None:
            self.exchange.client_write_paused(True)

    def resume_writing(self):
        if self.exchange is not None:
            self.exchange.client_write_paused(False)

    # -- httptools callbacks -----------------------------------------------------------

    def on_message_begin(self):
        self.req = Request()
        self.in_head = True
        self.head_size = 0

    def on_url(self, url):
        self.req.url += url.decode("latin-1")
        self.head_size += len(url)

    def on_header(self, name, value):
        self.req.headers.append((name.decode("latin-1"), value.decode("latin-1")))
        self.head_size += len(name) + len(value) + 4

    def on_headers_complete(self):
        self.in_head = False
        self.head_bytes = 0
        if self.head_size > _MAX_HEAD:
            self.head_too_large = True
            return
        parser = self.parser
        req = self.req
        req.method = parser.get_method().decode("ascii")
        req.version = parser.get_http_version()
        req.keep_alive = parser.should_keep_alive()
        req.upgrade = parser.should_upgrade()
        hosts = 0
        for name, value in req.headers:
            low = name.lower()
            if low == "host":
                hosts += 1
            elif low == "content-length":
                req.length = int(value) if value.isdigit() else None
            elif low == "transfer-encoding" and "chunked" in value.lower():
                req.chunked = True
        if hosts > 1:
            self.refusal = "more than one Host header"
            return
        if req.upgrade:
            self.req_upgraded = req
        if self.exchange is None and not self.queue:
            self.start(req)
        else:
            self.queue.append(req)
            self.pause()

    def on_body(self, body):
        req = self.req
        req.received += len(body)
        if req.received > self.front.max_body_size:
            if req.length is None:
                self.close()  # chunked: no answer can frame what is left
            return  # over its Content-Length's limit: the 413 answer closes the connection
        sink = req.sink
        if sink is not None:
            sink.write_body(body)
        else:
            req.chunks.append(body)
            req.buffered += len(body)
            if req.buffered > _BUFFER_LIMIT and not req.paused:
                req.paused = True
                self.pause()

    def on_message_complete(self):
        req = self.req
        req.complete = True
        if req.sink is not None:
            req.sink.body_done()

    # -- flow ----------------------------------------------------------------------

    def pause(self):
        self.paused += 1
        if self.paused == 1 and not self.closed:
            self.transport.pause_reading()

    def resume(self):
        self.paused -= 1
        if self.paused == 0 and not self.closed:
            self.transport.resume_reading()

    def start(self, req):
        self.exchange = Exchange(self, req)
        self.exchange.task = self.front.loop.create_task(self.exchange.run())

    def finished(self, keep_alive):
        """The exchange is over; next request, or close."""
        self.exchange = None
        if not keep_alive or self.closed:
            self.close()
            return
        if self.queue:
            req = self.queue.pop(0)
            self.resume()
            self.start(req)

    def write(self, data):
        if not self.closed:
            self.transport.write(data)

    def close(self):
        if not self.closed:
            self.closed = True
            self.transport.close()

    def abort(self):
        if not self.closed:
            self.closed = True
            self.transport.abort()

    def bad_request(self, reason, status=400):
        self.front.log.warning("Bad request from %s: %s", self.remote_ip, reason)
        if self.exchange is None and not self.closed:
            body = f"{_reason(status)}: {reason}\n".encode()
            self.write(
                f"HTTP/1.1 {status} {_reason(status)}\r\n".encode()
                + b"Content-Type: text/plain; charset=utf-8\r\nConnection: close\r\n"
                + b"Content-Length: %d\r\n\r\n" % len(body)
                + body
            )
        self.close()


class UpstreamConnection(asyncio.Protocol):
    """A connection to the app."""

    def __init__(self):
        self.transport = None
        self.exchange = None
        self.closed = False
        self.raw = None

    def connection_made(self, transport):
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass

    def data_received(self, data):
        if self.raw is not None:
            self.raw(data)
        elif self.exchange is not None:
            self.exchange.upstream_data(data)
        else:
            self.close()  # bytes nobody asked for: not reusable

    def eof_received(self):
        return False

    def connection_lost(self, exc):
        self.closed = True
        if self.exchange is not None:
            self.exchange.upstream_lost()

    def pause_writing(self):
        if self.exchange is not None:
            self.exchange.upstream_write_paused(True)

    def resume_writing(self):
        if self.exchange is not None:
            self.exchange.upstream_write_paused(False)

    def close(self):
        if not self.closed:
            self.closed = True
            self.transport.close()


class FrameGuard:
    """Follows the client's websocket frames; refuses messages over ``limit`` bytes."""

    __slots__ = ("limit", "head", "skip", "message")

    def __init__(self, limit):
        self.limit = limit
        self.head = b""
        self.skip = 0
        self.message = 0

    def feed(self, data):
        """False when a message is too big."""
        i, n = 0, len(data)
        while i < n:
            if self.skip:
                k = min(self.skip, n - i)
                self.skip -= k
                i += k
                continue
            need = 2 - len(self.head)
            if need > 0:
                self.head += data[i : i + need]
                i += need
                if len(self.head) < 2:
                    return True
            b0, b1 = self.head[0], self.head[1]
            size = b1 & 0x7F
            extra = (2 if size == 126 else 8 if size == 127 else 0) + (4 if b1 & 0x80 else 0)
            need = 2 + extra - len(self.head)
            if need > 0:
                self.head += data[i : i + need]
                i += min(need, n - i)
                if len(self.head) < 2 + extra:
                    return True
            if size == 126:
                size = int.from_bytes(self.head[2:4], "big")
            elif size == 127:
                size = int.from_bytes(self.head[2:10], "big")
            opcode = b0 & 0x0F
            if opcode < 8:  # data frames add up to a message; control frames do not
                self.message += size
                if self.message > self.limit:
                    return False
                if b0 & 0x80:
                    self.message = 0
            self.head = b""
            self.skip = size
        return True


def _close_frame(code, reason):
    payload = code.to_bytes(2, "big") + reason.encode()
    return bytes((0x88, len(payload))) + payload


class Exchange:
    """One request: answered by the proxy, or forwarded to the app and its response back."""

    def __init__(self, client, req):
        self.client = client
        self.front = client.front
        self.req = req
        self.task = None
        self.conn = None
        self.parser = None
        self.status = 0
        self.reason = b""
        self.headers = []
        self.head_sent = False
        self.until_eof = False
        self.chunked_out = False
        # after an upgrade request the connection does not go back to HTTP
        self.close_after = not req.keep_alive or req.upgrade
        self.raw_seen = []
        self.response_done = None
        self.body_sent = req.complete and not req.chunks
        self.interim = False
        self.out = []
        self.upstream_paused = False
        self.last_read = 0.0
        self.timer = None
        self.active = False
        self.close_upstream = False
        self.upstream_keep_alive = False
        self.held = None  # an HTML page's body, held for the bridge's script tag
        self.held_size = 0
        self.started = client.front.loop.time()

    # -- the exchange ------------------------------------------------------------------

    async def run(self):
        front = self.front
        req = self.req
        try:
            verdict = front.sort(req)
            if verdict not in (FORWARD, ANSWER, LOGIN):
                verdict = await front.check(req, verdict)
            if verdict is LOGIN:
                answer = await front.sign_in.answer(req, self.client)
                if isinstance(answer, tuple):
                    self.send_answer(answer)
                    self.finish(not self.close_after)
                    return
                req.user = answer  # allowed after all (e.g. from HubAuth's cache)
                verdict = front.admitted(req)
            if self.client.closed:
                return
            if verdict is ANSWER:
                self.send_answer(req.answer)
                self.finish(not self.close_after)
                return
            fw = front.fw
            self.active = fw.counts_as_activity(req.url.partition("?")[0])
            if self.active:
                fw.touch()
            if not req.complete and (req.header("Expect") or "").lower() == "100-continue":
                self.client.write(_CONTINUE)
            await self._send()
        except Exception:
            front.log.exception("%s %s: proxy error", req.method, scrub_uri(req.url))
            if not self.head_sent:
                self.send_answer(answers.proxy_error(html=self._html()))
            self.finish(False)

    async def _send(self):
        front = self.front
        req = self.req
        head = self._request_head()
        for attempt in (0, 1):
            try:
                conn, reused = await front.connect()
            except OSError as e:
                self._upstream_failed(e)
                return
            if self.client.closed:
                front.release(conn)
                return
            self.conn = conn
            conn.exchange = self
            self.parser = httptools.HttpResponseParser(self)
            self.response_done = front.loop.create_future()
            body = (
                b"".join(_chunk(c) if req.chunked else c for c in req.chunks) if req.chunks else b""
            )
            req.chunks = []
            req.buffered = 0
            if req.paused:
                req.paused = False
                self.client.resume()
            data = head + body
            if req.complete and req.chunked:
                data += b"0\r\n\r\n"
            conn.transport.write(data)
            if req.complete:
                self.body_sent = True
            else:
                req.sink = self
            if front.fw.request_timeout:
                self.last_read = front.loop.time()
                self.timer = front.loop.call_later(front.fw.request_timeout, self._check_timeout)
            ok = await self.response_done
            if ok is None and reused and attempt == 0 and req.received == 0 and not self.status:
                # a kept-alive connection the app had closed: once more, on a new one
                self._cancel_timer()
                continue
            break
        self._cancel_timer()
        if ok is None and not self.head_sent:
            self._upstream_failed(ConnectionError("connection closed"))

    def _request_head(self):
        req = self.req
        client = self.client
        fw = self.front.fw
        websocket = req.upgrade
        headers = fw.headers_for_app(
            req.headers,
            remote_ip=client.remote_ip,
            protocol=client.protocol,
            user=req.user,
            upgrade=websocket,
        )
        if not any(n.lower() == "host" for n, _ in headers):
            headers.append(("Host", self.front.default_host))
        # the body is framed toward the app as the parser framed it, whatever the
        # header rules kept: the app can never read a body as another request
        headers = [h for h in headers if h[0].lower() not in _BODY_FRAMING]
        if req.chunked:
            headers.append(("Transfer-Encoding", "chunked"))
        elif req.length is not None:
            headers.append(("Content-Length", str(req.length)))
        return _encode_head(f"{req.method} {fw.upstream_path(req.url)} HTTP/1.1\r\n", headers)

    # -- request body ----------------------------------------------------------------------

    def write_body(self, data):
        conn = self.conn
        if conn is None or conn.closed:
            return
        if self.timer is not None:
            self.last_read = self.front.loop.time()  # no answer is due while the body flows
        conn.transport.write(_chunk(data) if self.req.chunked else data)

    def body_done(self):
        self.req.sink = None
        self.body_sent = True
        if self.req.chunked and self.conn is not None and not self.conn.closed:
            self.conn.transport.write(b"0\r\n\r\n")
        if self.response_done is not None and self.response_done.done():
            self.finish(self._keep_alive())

    def upstream_write_paused(self, paused):
        if paused:
            self.client.pause()
        else:
            self.client.resume()

    def client_write_paused(self, paused):
        conn = self.conn
        if conn is None or conn.closed or paused == self.upstream_paused:
            return
        self.upstream_paused = paused
        if paused:
            conn.transport.pause_reading()
        else:
            conn.transport.resume_reading()

    # -- response ----------------------------------------------------------------------------

    def upstream_data(self, data):
        self.last_read = self.front.loop.time() if self.timer is not None else 0.0
        if self.req.upgrade and not self.head_sent:
            self.raw_seen.append(data)  # the app's 101 goes out whole in _upgraded
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._upgraded(data)
            return
        except httptools.HttpParserError as e:
            self.front.log.warning("%s: bad response from the app: %s", self.req.url, e)
            self._abort_response()
            return
        if self.out:
            self.client.write(b"".join(self.out))
            self.out.clear()
        done = self.response_done
        if done.done() and done.result():
            if not self.body_sent:
                self.close_after = True  # answered before the body was read
            self.finish(self._keep_alive())

    def on_status(self, status):
        self.reason += status

    def on_header(self, name, value):
        self.headers.append((_header_name(name), value.decode("latin-1")))

    def on_headers_complete(self):
        parser = self.parser
        status = parser.get_status_code()
        self.status = status
        # asked now: after the message the parser has moved on to the next one
        self.upstream_keep_alive = parser.should_keep_alive()
        if 100 <= status < 200 and status != 101:
            self.interim = True  # 100 Continue and friends: the final answer follows
            self.headers = []
            self.reason = b""
            return
        if status == 101:
            return  # the upgrade: sent whole in _upgraded
        bridge = self.front.fw.bridge
        if (
            bridge is not None
            and response_has_body(self.req.method, status)
            and "text/html" in (self.req.header("Accept") or "")
            and bridge.wants(status, dict(self.headers))
        ):
            self.held = []  # the head goes out with the page, once the tag is in
            return
        self._send_head()

    def on_body(self, body):
        if self.interim:
            return
        held = self.held
        if held is not None:
            held.append(body)
            self.held_size += len(body)
            if self.held_size > self.front.fw.bridge.max_size:
                self._release_held()  # too big for the bridge: it passes unchanged
            return
        if self.chunked_out:
            self.out.append(_chunk(body))
        else:
            self.out.append(body)
        if self.active:
            self.front.fw.touch()

    def on_message_complete(self):
        if self.interim:
            self.interim = False
            return
        if self.response_done.done():
            return  # HEAD: done at the headers already
        if self.held is not None:
            self._send_page_with_bridge()
        if self.chunked_out:
            self.out.append(b"0\r\n\r\n")
        self.response_done.set_result(True)

    def _send_page_with_bridge(self):
        body = self.front.fw.bridge.inject(b"".join(self.held))
        self.held = None
        self._send_head(len(body))
        self.out.append(body)

    def _release_held(self):
        held = self.held
        self.held = None
        self._send_head()
        self.out.extend([_chunk(c) for c in held] if self.chunked_out else held)

    def _send_head(self, body_length=None):
        """The response head to the client; ``body_length``: the body was changed (the bridge)."""
        req = self.req
        front = self.front
        status = self.status
        no_body = not response_has_body(req.method, status)
        headers = []
        connection = set()
        length = None
        chunked = False
        for name, value in self.headers:
            low = name.lower()
            if low == "connection":
                connection.update(t.strip().lower() for t in value.split(","))
        for name, value in self.headers:
            low = name.lower()
            if low in _FRAMING or low in connection:
                if low == "content-length":
                    length = value
                elif low == "transfer-encoding":
                    chunked = "chunked" in value.lower()
                continue
            if low == "location":
                value = front.fw.rewrite_location(value)
            headers.append((name, value))
        if body_length is not None:
            length, chunked = str(body_length), False
        headers = front.policy.rewrite(headers, req.header("Origin"))
        if no_body:
            if req.method == "HEAD" and length is not None:
                headers.append(("Content-Length", length))
        elif length is not None and not chunked:
            headers.append(("Content-Length", length))
        elif req.version == "1.1":
            headers.append(("Transfer-Encoding", "chunked"))
            self.chunked_out = True
            self.until_eof = not chunked
        else:
            self.close_after = True
            self.until_eof = not chunked
        if self.close_after or not self.body_sent:
            # a body the app did not wait for: this connection cannot go on
            self.close_after = True
            headers.append(("Connection", "close"))
        elif req.version == "1.0":
            headers.append(("Connection", "keep-alive"))
        reason = self.reason.decode("latin-1") or _reason(status)
        self.out.append(_encode_head(f"HTTP/1.1 {status} {reason}\r\n", headers))
        self.head_sent = True
        if no_body and req.method == "HEAD":
            # the app sends no body for HEAD, but the parser cannot know
            self.response_done.set_result(True)
            self.close_upstream = True

    def _upgraded(self, data):
        """The app switched protocols: pipe bytes both ways."""
        client = self.client
        conn = self.conn
        if self.status != 101:
            self._abort_response()
            return
        client.write(b"".join(self.raw_seen) if self.raw_seen else data)
        self.raw_seen = []
        self._cancel_timer()
        fw = self.front.fw
        active = self.active

        def one_way(guard, write, sender):
            """Bytes from ``sender`` to ``write``; a message over the limit closes both."""

            def forward(chunk):
                if not guard.feed(chunk):
                    fw.log.warning(
                        "%s: %s websocket message over %d bytes", self.req.url, sender, guard.limit
                    )
                    client.write(_close_frame(1009, "message too big"))
                    client.close()
                    conn.close()
                    return
                if active:
                    fw.touch()
                write(chunk)

            return forward

        app_guard = FrameGuard(fw.ws_max_size)
        from_client = one_way(FrameGuard(fw.ws_max_size), conn.transport.write, "client")
        conn.raw = one_way(app_guard, client.write, "app")
        client.raw = from_client
        tail = self.req.raw_tail
        self.req.raw_tail = b""
        client.exchange = _Pipe(client, conn, app_guard)
        conn.exchange = client.exchange
        client.resume()
        if tail:
            from_client(tail)

    # -- endings --------------------------------------------------------------------------

    def _keep_alive(self):
        return not self.close_after and self.parser is not None

    def finish(self, keep_alive):
        if self.client.exchange is not self:
            return
        self._cancel_timer()
        conn = self.conn
        if conn is not None:
            done = self.response_done
            reusable = (
                done is not None
                and done.done()
                and done.result()
                and self.body_sent
                and not self.until_eof
                and not self.close_upstream
                and self.upstream_keep_alive
            )
            if self.upstream_paused:
                conn.transport.resume_reading()
            if reusable:
                self.front.release(conn)
            else:
                conn.exchange = None
                conn.close()
        self.req.sink = None
        self.client.finished(keep_alive)

    def client_lost(self):
        if self.task is not None and not self.task.done() and self.conn is None:
            self.task.cancel()
        if self.conn is not None:
            self.conn.exchange = None
            self.conn.close()
        if self.response_done is not None and not self.response_done.done():
            self.response_done.set_result(None)
        self._cancel_timer()

    def upstream_lost(self):
        done = self.response_done
        if done is None or done.done():
            return
        if self.held is not None and not any(n.lower() in _BODY_FRAMING for n, _ in self.headers):
            # a page framed by the end of the connection: complete now
            self._send_page_with_bridge()
            self.client.write(b"".join(self.out))
            self.out.clear()
            self.close_upstream = True
            done.set_result(True)
            self.finish(self._keep_alive() and self.body_sent)
            return
        if self.until_eof and self.head_sent:
            if self.chunked_out:
                self.client.write(b"".join(self.out) + b"0\r\n\r\n")
            elif self.out:
                self.client.write(b"".join(self.out))
            self.out.clear()
            self.until_eof = False
            self.close_upstream = True
            done.set_result(True)
            self.finish(self._keep_alive() and self.body_sent)
            return
        if self.head_sent:
            self._abort_response()
            return
        done.set_result(None)

    def _abort_response(self):
        """The app failed mid-response: the client sees its connection cut."""
        if self.response_done is not None and not self.response_done.done():
            self.response_done.set_result(False)
        if self.head_sent:
            self.front.log.warning(
                "%s %s: app response broke off", self.req.method, scrub_uri(self.req.url)
            )
            self.client.abort()
            self.finish(False)
        else:
            self._upstream_failed(ConnectionError("bad response"))

    def _upstream_failed(self, exc):
        fw = self.front.fw
        child = fw.child
        self.front.log.warning(
            "%s %s: app request failed: %s",
            self.req.method,
            self.req.url.partition("?")[0],
            type(exc).__name__,
        )
        html = self._html()
        if isinstance(exc, asyncio.TimeoutError):
            answer = answers.gateway_timeout(child.app_name, fw.request_timeout, html=html)
        elif child.state != _child.READY:
            answer = answers.unavailable(child.app_name, child.state, child.exit_code, html=html)
        else:
            answer = answers.bad_gateway(child.app_name, type(exc).__name__, html=html)
        self.send_answer(answer)
        self.finish(False)

    def _check_timeout(self):
        self.timer = None
        fw = self.front.fw
        loop = self.front.loop
        idle = loop.time() - self.last_read
        if idle < fw.request_timeout:
            self.timer = loop.call_later(fw.request_timeout - idle, self._check_timeout)
            return
        if self.response_done is not None and not self.response_done.done():
            self.response_done.set_result(False)
        if self.head_sent:
            self._abort_response()
        else:
            self._upstream_failed(asyncio.TimeoutError())

    def _cancel_timer(self):
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _html(self):
        return "text/html" in (self.req.header("Accept") or "")

    def send_answer(self, answer):
        """Send one of jhembed.proxy.answers, with the header policy's own headers and framing."""
        if self.head_sent or self.client.closed:
            return
        status, headers, body = answer
        req = self.req
        front = self.front
        front.answered += 1
        # as tornado's set_header: the answer's values replace the policy's of the same name
        out = front.policy.own_headers(req.header("Origin"))
        if headers and headers[0][0] == "Content-Type":
            out.insert(0, headers[0])
            headers = headers[1:]
        index = {name.lower(): i for i, (name, _) in enumerate(out)}
        for name, value in headers:
            i = index.get(name.lower())
            if i is None:
                out.append((name, value))
            else:
                out[i] = (name, value)
        if status not in _NO_LENGTH:
            out.append(("Content-Length", str(len(body))))
        if req.method == "HEAD" or status in _NO_LENGTH:
            body = b""
        if self.close_after or not req.complete:
            self.close_after = True
            out.append(("Connection", "close"))
        elif req.version == "1.0":
            out.append(("Connection", "keep-alive"))
        self.head_sent = True
        self.client.write(_encode_head(f"HTTP/1.1 {status} {_reason(status)}\r\n", out) + body)
        front.log_answer(req, status, self.client.remote_ip, self.started)


class _Pipe:
    """The exchange of an upgraded connection: either side closing closes the other."""

    def __init__(self, client, conn, app_guard):
        self.client = client
        self.conn = conn
        self.app_guard = app_guard  # follows the app's frames

    def going_away(self):
        """The proxy stops: tell the websocket client (1001) if between two frames."""
        guard = self.app_guard
        if not guard.skip and not guard.head and not self.client.closed:
            self.client.write(_close_frame(1001, "server shutting down"))
        self.conn.close()
        self.client.close()

    def client_lost(self):
        self.conn.close()

    def upstream_lost(self):
        self.client.close()

    def client_write_paused(self, paused):
        if not self.conn.closed:
            (self.conn.transport.pause_reading if paused else self.conn.transport.resume_reading)()

    def upstream_write_paused(self, paused):
        if not self.client.closed:
            (
                self.client.transport.pause_reading
                if paused
                else self.client.transport.resume_reading
            )()

    def write_body(self, data):
        pass

    def body_done(self):
        pass


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


def _reason(status):
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


__all__ = ["Front"]
