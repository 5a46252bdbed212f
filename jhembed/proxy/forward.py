"""Streaming HTTP and websocket forwarding from the proxy to the app.

Request and response bodies stream both ways with flow control: a slow
reader on one side slows the writer on the other, and no body is ever held
whole in memory. Upstream connections are pooled and kept alive (aiohttp).
"""

from __future__ import annotations

import asyncio
import re
from urllib.parse import unquote, urlsplit

import aiohttp
from jupyterhub.utils import url_path_join
from tornado import httputil, iostream, web, websocket
from tornado.routing import Matcher, PathMatches, Rule
from yarl import URL

from . import answers
from . import child as _child
from .forward_util import strip_token as _strip_token
from .headers import PolicyCookies
from .pages import send_answer, wants_html
from .rules import HOP_BY_HOP as _HOP_BY_HOP
from .rules import NEVER_FORWARDED as _NEVER_FORWARDED
from .rules import connection_drops, is_underscore_twin, scrub_uri, strip_cookies

# the websocket handshake is made again to the app
_WS_HANDSHAKE = frozenset(
    (
        "sec-websocket-key",
        "sec-websocket-version",
        "sec-websocket-extensions",
        "sec-websocket-protocol",
        "sec-websocket-accept",
    )
)
_SMALL_BODY = 64 * 1024
_QUEUE_CHUNKS = 4
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


def _connection_tokens(headers):
    tokens = set()
    for value in (
        headers.get_list("Connection")
        if hasattr(headers, "get_list")
        else headers.getall("Connection", [])
    ):
        tokens.update(t.strip().lower() for t in value.split(","))
    return tokens


class Forwarder:
    """Everything the handlers share: the app, the policy, the upstream pool."""

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
        # hooks filled by the Hub integration: an authenticator with
        # ``async authenticate(handler) -> user model | None`` and an activity
        # tracker with ``touch()``; None means off
        self.auth = None
        self.activity = None
        # the postMessage bridge (a BridgeInjector), or None
        self.bridge = None
        self._session = None
        if child.unix_socket:
            self.upstream_base = "http://localhost"
            self.upstream_hosts = ()
        else:
            self.upstream_base = f"http://{child.host}:{child.port}"
            self.upstream_hosts = (f"{child.host}:{child.port}", f"localhost:{child.port}")

    @property
    def session(self):
        if self._session is None:
            if self.child.unix_socket:
                connector = aiohttp.UnixConnector(path=self.child.unix_socket, limit=0)
            else:
                connector = aiohttp.TCPConnector(
                    limit=0,
                    keepalive_timeout=60,
                    ttl_dns_cache=None,
                    use_dns_cache=False,
                    # the app is on loopback: no aiodns channel and its thread
                    resolver=aiohttp.ThreadedResolver(),
                )
            self._session = aiohttp.ClientSession(
                connector=connector,
                auto_decompress=False,
                cookie_jar=aiohttp.DummyCookieJar(),
                skip_auto_headers=("User-Agent", "Accept-Encoding", "Accept", "Content-Type"),
                timeout=aiohttp.ClientTimeout(
                    total=None, sock_connect=10, sock_read=self.request_timeout
                ),
                read_bufsize=256 * 1024,
                max_line_size=64 * 1024,
                max_field_size=64 * 1024,
            )
        return self._session

    async def close(self):
        if self._session is not None:
            await self._session.close()
            self._session = None

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

    def upstream_url(self, uri, scheme="http"):
        base = self.upstream_base if scheme == "http" else "ws" + self.upstream_base[4:]
        return URL(base + self.upstream_path(uri), encoded=True)

    def request_headers(self, request, *, user=None, websocket_handshake=False):
        """Headers for the app from a tornado ``request``: see :meth:`headers_for_app`.

        The client's Content-Length is left out: aiohttp frames the body it streams.
        """
        return self.headers_for_app(
            [(n, v) for n, v in request.headers.get_all() if n.lower() != "content-length"],
            remote_ip=request.remote_ip or "",
            protocol=request.protocol,
            user=user,
            websocket_handshake=websocket_handshake,
        )

    def headers_for_app(
        self, pairs, *, remote_ip, protocol, user=None, websocket_handshake=False, upgrade=False
    ):
        """Headers for the app: the client's, minus hop-by-hop, plus X-Forwarded-*.

        ``pairs`` are the client's (name, value) headers (any iterable: read
        twice).  ``websocket_handshake``: the handshake is made again to the app
        (its Sec-WebSocket-* are dropped); ``upgrade``: the client's handshake
        goes through as it is.

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
        if websocket_handshake:
            drop = drop | _WS_HANDSHAKE
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

    # -- answers while the app is not serving -----------------------------------------

    def send_unavailable(self, handler):
        """Answer for a request that arrives while the app is not ready."""
        child = self.child
        send_answer(
            handler,
            answers.unavailable(
                child.app_name, child.state, child.exit_code, html=wants_html(handler)
            ),
        )

    def log_request(self, handler):
        request = handler.request
        self.log_line(
            handler.get_status(),
            request.method,
            request.uri,
            request.remote_ip,
            1000.0 * request.request_time(),
            # a request the front relayed here: the tests count these
            relayed=getattr(request.connection.context, "relayed", False),
        )

    def log_line(self, status, method, uri, remote_ip, elapsed_ms, relayed=False):
        """One request log line (the tornado app's and the front's answers): successes only
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
            "%d %s %s (%s) %.2fms%s",
            status,
            method,
            scrub_uri(uri),
            remote_ip,
            elapsed_ms,
            " relayed" if relayed else "",
        )


class _OwnHeaders(PolicyCookies):
    """Responses the proxy makes itself: no Server header, the server's framing and cookie policy."""

    def set_default_headers(self):
        self.clear_header("Server")
        self.settings["forwarder"].policy.apply_own(self, self.request.headers.get("Origin"))


class _ProxyMixin(_OwnHeaders):
    """Checks shared by the HTTP and websocket handlers."""

    forwarder: Forwarder

    def initialize(self, forwarder):
        self.forwarder = forwarder
        self.policy = forwarder.policy

    def write_error(self, status_code, **kwargs):
        html = wants_html(self)
        if status_code == 405:
            websocket_handler = isinstance(self, websocket.WebSocketHandler)
            allowed = ("GET",) if websocket_handler else METHODS
            answer = answers.method_not_allowed(self.request.method, allowed, html=html)
        else:
            answer = answers.error(status_code, self._reason, html=html)
        send_answer(self, answer)

    async def _check_request(self):
        """Path, auth and app state; returns False when a response was sent."""
        fw = self.forwarder
        if _has_dot_segments(self.request.path):
            send_answer(self, answers.dot_segments(html=wants_html(self)))
            return False
        if fw.child.state == _child.STARTING:
            # before auth: the Hub's readiness probe must see 503 until the app answers
            fw.send_unavailable(self)
            return False
        if fw.auth is not None:
            user = await fw.auth.authenticate(self)
            if user is None or self._finished:
                return False
            self.current_user = user
        if fw.child.state != _child.READY:
            fw.send_unavailable(self)
            return False
        return True

    def _send_upstream_error(self, exc):
        fw = self.forwarder
        name = fw.child.app_name
        html = wants_html(self)
        if isinstance(exc, asyncio.TimeoutError):
            send_answer(self, answers.gateway_timeout(name, fw.request_timeout, html=html))
        elif fw.child.state != _child.READY:
            fw.send_unavailable(self)
        else:
            send_answer(self, answers.bad_gateway(name, type(exc).__name__, html=html))


@web.stream_request_body
class ProxyHandler(_ProxyMixin, web.RequestHandler):
    """Forwards one HTTP request, streaming both bodies."""

    SUPPORTED_METHODS = METHODS

    _queue = None
    _upstream = None
    _body_open = False
    _active = False
    _forwarding = False

    @property
    def body_pending(self):
        """A request body that nobody has read (the request was answered in prepare)."""
        if self._forwarding or self._upstream is not None:
            return False
        headers = self.request.headers
        return headers.get("Content-Length", "0") != "0" or "Transfer-Encoding" in headers

    def compute_etag(self):
        return None

    @property
    def _has_body(self):
        headers = self.request.headers
        return "Transfer-Encoding" in headers or headers.get("Content-Length", "0") != "0"

    async def prepare(self):
        # Answering here, before tornado has read the request, costs the
        # connection (tornado closes it).  Requests without a body are admitted
        # in _forward instead, once read, so early answers (login redirects,
        # 403, 503) keep the connection alive; requests with a body are
        # admitted here, before their body streams to the app.
        if not self._has_body:
            return
        if not await self._admit():
            return
        self._queue = asyncio.Queue(_QUEUE_CHUNKS)
        self._body_open = True
        self._start_upstream(self._body())

    async def _admit(self):
        """CORS preflight, path, login and app state; False when already answered."""
        request = self.request
        if (
            request.method == "OPTIONS"
            and "Access-Control-Request-Method" in request.headers
            and "Origin" in request.headers
        ):
            status, headers, _ = answers.preflight(
                self.policy,
                request.headers["Origin"],
                request.headers["Access-Control-Request-Method"],
                request.headers.get("Access-Control-Request-Headers"),
                html=wants_html(self),
            )
            if status == 204:
                self.set_status(status)
                for name, value in headers:
                    self.set_header(name, value)
                self.finish()
            else:
                send_answer(self, (status, headers, _))
            return False
        if not await self._check_request():
            return False
        fw = self.forwarder
        self._active = fw.counts_as_activity(request.path)
        if self._active:
            fw.touch()
        return True

    def _start_upstream(self, data):
        fw = self.forwarder
        self._upstream = asyncio.ensure_future(
            fw.session.request(
                self.request.method,
                fw.upstream_url(self.request.uri),
                headers=fw.request_headers(self.request, user=self.current_user),
                data=data,
                allow_redirects=False,
                compress=None,
            )
        )

    async def _body(self):
        queue = self._queue
        while True:
            chunk = await queue.get()
            if chunk is None:
                return
            yield chunk

    def data_received(self, chunk):
        if not self._body_open:
            return None
        queue = self._queue
        if not queue.full():
            queue.put_nowait(chunk)
            return None
        return self._put_slow(chunk)

    async def _put_slow(self, chunk):
        queue = self._queue
        upstream = self._upstream
        put = asyncio.ensure_future(queue.put(chunk))
        done, _ = await asyncio.wait({put, upstream}, return_when=asyncio.FIRST_COMPLETED)
        if put in done:
            return
        put.cancel()
        if upstream.cancelled() or upstream.exception() is not None:
            self._body_open = False  # the app is gone: drop the rest of the body
            return
        # the app answered before reading the whole body: keep feeding it while
        # its connection lives
        response = upstream.result()
        while self._body_open:
            try:
                await asyncio.wait_for(queue.put(chunk), 1.0)
                return
            except asyncio.TimeoutError:
                if response.connection is None or response.closed:
                    self._body_open = False

    def on_connection_close(self):
        if self._upstream is not None and not self._upstream.done():
            self._upstream.cancel()
        self._body_open = False

    async def _forward(self, *args):
        self._forwarding = True
        if self._finished:
            return
        if self._queue is None and self._upstream is None:
            if not await self._admit():
                return
        if self._queue is not None:
            self._body_open = False
            if self._queue.full():
                asyncio.ensure_future(self._queue.put(None))
            else:
                self._queue.put_nowait(None)
        elif self._upstream is None:
            self._start_upstream(None)
        try:
            response = await self._upstream
        except asyncio.CancelledError:
            return  # the client went away
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as e:
            self.forwarder.log.warning(
                "%s %s: app request failed: %s",
                self.request.method,
                self.request.path,
                type(e).__name__,
            )
            self._send_upstream_error(e)
            return
        try:
            await self._relay(response)
        finally:
            response.release() if response.content.at_eof() else response.close()

    async def _relay(self, response):
        fw = self.forwarder
        status = response.status
        self.set_status(status, response.reason or None)
        self._headers = httputil.HTTPHeaders()
        drop = _HOP_BY_HOP | _connection_tokens(response.headers)
        no_body = status in (204, 304) or 100 <= status < 200 or self.request.method == "HEAD"
        if status in (204, 304) or 100 <= status < 200:
            drop = drop | {"content-length"}
        upstream_headers = [
            (name, value) for name, value in response.headers.items() if name.lower() not in drop
        ]
        location = response.headers.get("Location")
        if location is not None:
            new = fw.rewrite_location(location)
            if new != location:
                upstream_headers = [
                    (n, new if n.lower() == "location" else v) for n, v in upstream_headers
                ]
        bridge = fw.bridge
        head = []
        if bridge is not None and not no_body and bridge.wants(status, response.headers):
            # an HTML document: read it (bounded), add the bridge's tag, send it whole
            size = 0
            complete = True
            try:
                async for chunk in response.content.iter_any():
                    head.append(chunk)
                    size += len(chunk)
                    if size > bridge.max_size:
                        complete = False
                        break
            except (aiohttp.ClientError, asyncio.TimeoutError) as e:
                self._send_upstream_error(e)
                return
            if complete:
                body = bridge.inject(b"".join(head))
                upstream_headers = [h for h in upstream_headers if h[0].lower() != "content-length"]
                self.policy.apply(self, upstream_headers, self.request.headers.get("Origin"))
                self.set_header("Content-Length", len(body))
                self.write(body)
                await self.finish()
                return
        self.policy.apply(self, upstream_headers, self.request.headers.get("Origin"))
        if no_body:
            if self.request.method == "HEAD" and response.content_length is not None:
                self.set_header("Content-Length", response.content_length)
            await self.finish()
            return
        length = response.content_length
        content = response.content
        try:
            for chunk in head:  # a page too big for the bridge: what was read, then the rest
                self.write(chunk)
            if length is not None and length <= _SMALL_BODY:
                self.write(await content.read())
            else:
                if length is None:
                    await self.flush()  # headers now: event streams start at once
                active = self._active
                async for chunk in content.iter_any():
                    self.write(chunk)
                    await self.flush()
                    if active:
                        fw.touch()
            await self.finish()
        except iostream.StreamClosedError:
            pass  # the client went away; the finally above drops the app's connection
        except (aiohttp.ClientError, asyncio.TimeoutError) as e:
            # the app failed mid-body: cut the client's connection so it sees an error
            fw.log.warning(
                "%s %s: app response broke off: %s",
                self.request.method,
                self.request.path,
                type(e).__name__,
            )
            self.request.connection.close()


for _method in METHODS:
    setattr(ProxyHandler, _method.lower(), ProxyHandler._forward)


class WebSocketProxyHandler(_ProxyMixin, websocket.WebSocketHandler):
    """Forwards a websocket: handshake to the app first, then messages both ways."""

    upstream = None
    _pump = None
    _active = False
    _protocol = None

    def check_origin(self, origin):
        return self.policy.websocket_origin_allowed(origin, self.request.headers.get("Host"))

    def get_compression_options(self):
        return None

    async def get(self, *args, **kwargs):
        request = self.request
        origin = request.headers.get("Origin")
        if origin and not self.check_origin(origin):
            send_answer(self, answers.websocket_refused(html=wants_html(self)))
            return
        if not await self._check_request():
            return
        fw = self.forwarder
        protocols = [
            p.strip()
            for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")
            if p.strip()
        ]
        try:
            self.upstream = await fw.session.ws_connect(
                fw.upstream_url(request.uri, scheme="ws"),
                headers=fw.request_headers(
                    request, user=self.current_user, websocket_handshake=True
                ),
                protocols=protocols,
                # aiohttp refuses a message of exactly max_msg_size: allow the limit itself
                max_msg_size=fw.ws_max_size + 1,
                autoclose=True,
                autoping=True,
                compress=0,
                timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=10),
            )
        except aiohttp.WSServerHandshakeError as e:
            # the app refused the upgrade: pass its status on
            send_answer(
                self, answers.websocket_refused_by_app(e.status, e.message, html=wants_html(self))
            )
            return
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as e:
            self._send_upstream_error(e)
            return
        self._active = fw.counts_as_activity(request.path)
        if self._active:
            fw.touch()
        await super().get(*args, **kwargs)
        # super().get() returns when the client's connection is over; on_close
        # has passed the close code on. Only a handshake that never opened
        # leaves the app's side to close here.
        if self._pump is None and self.upstream is not None and not self.upstream.closed:
            await self.upstream.close()

    def select_subprotocol(self, subprotocols):
        return self.upstream.protocol if self.upstream is not None else None

    def open(self, *args, **kwargs):
        # tornado may call on_close (stream closed) before it copies the close
        # code it received onto the handler: keep the protocol to read it there
        self._protocol = self.ws_connection
        self._pump = asyncio.ensure_future(self._pump_upstream())

    async def _pump_upstream(self):
        upstream = self.upstream
        fw = self.forwarder
        code, reason = 1000, ""
        try:
            while True:
                msg = await upstream.receive()
                kind = msg.type
                if kind is aiohttp.WSMsgType.TEXT:
                    await self.write_message(msg.data)
                elif kind is aiohttp.WSMsgType.BINARY:
                    await self.write_message(msg.data, binary=True)
                elif kind is aiohttp.WSMsgType.PING:
                    self.ping(msg.data)
                elif kind is aiohttp.WSMsgType.PONG:
                    continue
                elif kind is aiohttp.WSMsgType.CLOSE:
                    code, reason = msg.data or 1000, msg.extra or ""
                    break
                elif kind is aiohttp.WSMsgType.ERROR:
                    exc = msg.data
                    code = getattr(exc, "code", 1011) or 1011
                    reason = "message too big" if code == 1009 else "app connection error"
                    break
                else:  # CLOSING, CLOSED
                    code = upstream.close_code or 1000
                    break
                if self._active:
                    fw.touch()
        except (websocket.WebSocketClosedError, iostream.StreamClosedError):
            return
        except asyncio.CancelledError:
            return
        if code in (1005, 1006, 1015):
            code = 1011 if code == 1006 else 1000
        self.close(code, reason)

    async def on_message(self, message):
        upstream = self.upstream
        if upstream is None or upstream.closed:
            return
        if self._active:
            self.forwarder.touch()
        try:
            if isinstance(message, bytes):
                await upstream.send_bytes(message)
            else:
                await upstream.send_str(message)
        except (aiohttp.ClientError, ConnectionError, RuntimeError):
            self.close(1011, "app connection lost")

    def on_ping(self, data):
        if self.upstream is not None and not self.upstream.closed:
            asyncio.ensure_future(self._safe(self.upstream.ping(data)))

    @staticmethod
    async def _safe(coro):
        try:
            await coro
        except Exception:
            pass

    def on_close(self):
        upstream = self.upstream
        if upstream is not None and not upstream.closed:
            protocol = self._protocol
            code = self.close_code or getattr(protocol, "close_code", None)
            if code is None or code in (1005, 1006, 1015):
                code = 1000
            reason = self.close_reason or getattr(protocol, "close_reason", None) or ""
            reason = reason.encode("utf-8")
            asyncio.ensure_future(self._safe(upstream.close(code=code, message=reason)))
        # the pump ends by itself when the app closes; cancel it if it is still waiting
        if self._pump is not None and not self._pump.done():
            asyncio.get_running_loop().call_later(10, self._pump.cancel)


class AddSlashHandler(_OwnHeaders, web.RequestHandler):
    def get(self):
        send_answer(self, answers.add_slash(self.request.uri))  # 301, as jupyter standaloneproxy

    head = get


class NotFoundHandler(_OwnHeaders, web.RequestHandler):
    def prepare(self):
        base_url = self.settings["forwarder"].base_url
        send_answer(self, answers.not_found(base_url, html=wants_html(self)))


class _WebSocketMatcher(Matcher):
    """Matches websocket upgrade requests under the prefix."""

    def __init__(self, prefix):
        self.prefix = prefix

    def match(self, request):
        if request.path.startswith(self.prefix) and (
            request.headers.get("Upgrade", "").lower() == "websocket"
        ):
            return {}
        return None


class MountRedirectHandler(_OwnHeaders, web.RequestHandler):
    """The server's prefix, when the app is mounted below it (jupyter-server-proxy
    entry points): to the app once it is up (503 before, as the Hub expects)."""

    def initialize(self, forwarder, mount):
        self.forwarder = forwarder
        self.mount = mount

    def get(self):
        if self.forwarder.child.state != _child.READY:
            self.forwarder.send_unavailable(self)
            return
        send_answer(self, answers.mount_redirect(self.mount, self.request.query))

    head = get


def make_handlers(forwarder, base_url, extra=(), mounted_from=""):
    """Tornado rules for the proxy; ``extra`` (e.g. the OAuth callback) go first.

    ``mounted_from``: the server's prefix when ``base_url`` is below it; it redirects there.
    """
    kwargs = {"forwarder": forwarder}
    rules = [Rule(_WebSocketMatcher(base_url), WebSocketProxyHandler, kwargs)]
    if mounted_from:
        rules.append(
            Rule(
                PathMatches(re.escape(mounted_from.rstrip("/")) + "/?"),
                MountRedirectHandler,
                {"forwarder": forwarder, "mount": base_url},
            )
        )
    if base_url != "/":
        rules.append(Rule(PathMatches(re.escape(base_url.rstrip("/"))), AddSlashHandler))
    rules.extend(extra)
    rules.append(Rule(PathMatches(re.escape(base_url) + ".*"), ProxyHandler, kwargs))
    return rules


__all__ = ["Forwarder", "make_handlers", "scrub_uri"]
