"""One exchange: a request to the app and its response back to the client, or an answer.

Both bodies stream with flow control; the response head gets the header policy
(and pages the bridge's script tag); every exchange has a timeout.
"""

from __future__ import annotations

import asyncio

import httptools

from . import answers, wire
from . import child as _child
from .pipe import switch
from .routing import ANSWER, FORWARD, LOGIN
from .rules import response_has_body, scrub_uri
from .wire import chunk, encode_head, header_name, reason_phrase

WAITING, OK, FAILED = "waiting", "ok", "failed"  # Exchange.outcome once the request went out


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
        self.outcome = None  # WAITING once the request went out, then OK or FAILED
        self.reused = False  # on a kept-alive connection from the pool
        self.head = b""
        self.body_sent = req.complete and not req.chunks
        self.interim = False
        self.out = []
        self.upstream_paused = False
        self.last_read = 0.0  # when the app last sent or was sent bytes (the timeout)
        self.active = False
        self.close_upstream = False
        self.upstream_keep_alive = False
        self.held = None  # an HTML page's body, held for the bridge's script tag
        self.held_size = 0
        self.started = client.front.loop.time()

    # -- the exchange ------------------------------------------------------------------

    def start(self):
        """Decide and go: at once when nothing needs waiting for (the hot path), else in a task."""
        if self.client.closed:
            return
        try:
            verdict = self.front.sort(self.req)
            if verdict is FORWARD or verdict is ANSWER:
                self._go(verdict)
            else:
                self.task = self.front.loop.create_task(self._decide(verdict))
        except Exception:
            self._proxy_error()

    async def _decide(self, verdict):
        """A credential to check with the Hub, or a login flow: then go."""
        front = self.front
        req = self.req
        try:
            if verdict is not LOGIN:
                verdict = await front.check(req, verdict)
            if verdict is LOGIN:
                answer = await front.sign_in.answer(req, self.client)
                if isinstance(answer, tuple):
                    self.send_answer(answer)
                    self.finish(not self.close_after)
                    return
                req.user = answer  # allowed after all (e.g. from HubAuth's cache)
                verdict = front.admitted(req)
            if not self.client.closed:
                self._go(verdict)
        except Exception:
            self._proxy_error()

    def _go(self, verdict):
        front = self.front
        req = self.req
        if verdict is ANSWER:
            self.send_answer(req.answer)
            self.finish(not self.close_after)
            return
        fw = front.fw
        self.active = fw.counts_as_activity(req.url.partition("?")[0])
        if self.active:
            fw.touch()
        if not req.complete and (req.header("Expect") or "").lower() == "100-continue":
            self.client.write(wire.CONTINUE)
        client = self.client
        self.head = fw.request_head(
            req,
            remote_ip=client.remote_ip,
            protocol=client.protocol,
            default_host=front.default_host,
        )
        conn = front.idle()  # the hot path: the request goes out now
        if conn is None:
            self.task = front.loop.create_task(self._connect())
        else:
            self._send(conn, True)

    async def _connect(self):
        try:
            conn = await self.front.connect()
            if self.client.closed:
                self.front.release(conn)
            else:
                self._send(conn, False)
        except OSError as e:
            self._upstream_failed(e)
        except Exception:
            self._proxy_error()

    def _send(self, conn, reused):
        front = self.front
        req = self.req
        self.conn = conn
        self.reused = reused
        conn.exchange = self
        self.parser = httptools.HttpResponseParser(self)
        self.outcome = WAITING
        body = b"".join(chunk(c) if req.chunked else c for c in req.chunks) if req.chunks else b""
        req.chunks = []
        req.buffered = 0
        if req.paused:
            req.paused = False
            self.client.resume()
        data = self.head + body
        if req.complete and req.chunked:
            data += b"0\r\n\r\n"
        conn.transport.write(data)
        if req.complete:
            self.body_sent = True
        else:
            req.sink = self
        if front.fw.request_timeout:
            self.last_read = front.loop.time()
            front.waiting.add(self)  # front._check_timeouts

    def _lost(self):
        """The app closed the connection before any answer."""
        self.outcome = FAILED
        self._disarm()
        if self.reused and self.req.received == 0 and not self.status and not self.client.closed:
            # a kept-alive connection the app had closed: once more, on a new one
            self.conn.exchange = None
            self.conn = self.parser = self.outcome = self.req.sink = None  # body: buffered
            self.headers = []
            self.reason = b""
            self.task = self.front.loop.create_task(self._connect())
        elif not self.head_sent:
            self._upstream_failed(ConnectionError("connection closed"))

    def _proxy_error(self):
        req = self.req
        self.front.log.exception("%s %s: proxy error", req.method, scrub_uri(req.url))
        if not self.head_sent:
            self.send_answer(answers.proxy_error(html=self._html()))
        self.finish(False)

    # -- request body ----------------------------------------------------------------------

    def write_body(self, data):
        conn = self.conn
        if conn is None or conn.closed:
            return
        self.last_read = self.front.loop.time()  # no answer is due while the body flows
        conn.transport.write(chunk(data) if self.req.chunked else data)

    def body_done(self):
        self.req.sink = None
        self.body_sent = True
        if self.req.chunked and self.conn is not None and not self.conn.closed:
            self.conn.transport.write(b"0\r\n\r\n")
        if self.outcome is OK:
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
        self.last_read = self.front.loop.time()
        if self.req.upgrade and not self.head_sent:
            self.raw_seen.append(data)  # the app's 101 goes out whole in _upgraded
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            switch(self, data)
            return
        except httptools.HttpParserError as e:
            self.front.log.warning("%s: bad response from the app: %s", self.req.url, e)
            self._abort_response()
            return
        if self.out:
            self.client.write(b"".join(self.out))
            self.out.clear()
        if self.outcome is OK:
            if not self.body_sent:
                self.close_after = True  # answered before the body was read
            self.finish(self._keep_alive())

    def on_status(self, status):
        self.reason += status

    def on_header(self, name, value):
        self.headers.append((header_name(name), value.decode("latin-1")))

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
            self.out.append(chunk(body))
        else:
            self.out.append(body)
        if self.active:
            self.front.fw.touch()

    def on_message_complete(self):
        if self.interim:
            self.interim = False
            return
        if self.outcome is not WAITING:
            return  # HEAD: done at the headers already
        if self.held is not None:
            self._send_page_with_bridge()
        if self.chunked_out:
            self.out.append(b"0\r\n\r\n")
        self.outcome = OK

    def _send_page_with_bridge(self):
        body = self.front.fw.bridge.inject(b"".join(self.held))
        self.held = None
        self._send_head(len(body))
        self.out.append(body)

    def _release_held(self):
        held = self.held
        self.held = None
        self._send_head()
        self.out.extend([chunk(c) for c in held] if self.chunked_out else held)

    def _send_head(self, body_length=None):
        """The response head to the client; ``body_length``: the body was changed (the bridge)."""
        req = self.req
        front = self.front
        status = self.status
        no_body = not response_has_body(req.method, status)
        headers = []
        length = None
        chunked = False
        framing = wire.RESPONSE_FRAMING
        for name, value in self.headers:
            if name == "Connection":  # the names as header_name spells them
                framing = framing | {t.strip().lower() for t in value.split(",")}
        for name, value in self.headers:
            low = name.lower()
            if low in framing:
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
        reason = self.reason.decode("latin-1") or reason_phrase(status)
        self.out.append(encode_head(f"HTTP/1.1 {status} {reason}\r\n", headers))
        self.head_sent = True
        if no_body and req.method == "HEAD":
            # the app sends no body for HEAD, but the parser cannot know
            self.outcome = OK
            self.close_upstream = True

    # -- endings --------------------------------------------------------------------------

    def _keep_alive(self):
        return not self.close_after and self.parser is not None

    def finish(self, keep_alive):
        if self.client.exchange is not self:
            return
        self._disarm()
        conn = self.conn
        if conn is not None:
            reusable = (
                self.outcome is OK
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
            self.parser = None  # it calls back into self: no cycle left for the GC
        self.req.sink = None
        self.client.finished(keep_alive)

    def client_lost(self):
        if self.task is not None and not self.task.done() and self.conn is None:
            self.task.cancel()
        if self.conn is not None:
            self.conn.exchange = None
            self.conn.close()
        if self.outcome is WAITING:
            self.outcome = FAILED
        self._disarm()

    def upstream_lost(self):
        if self.outcome is not WAITING:
            return
        if self.held is not None and not any(
            n.lower() in wire.BODY_FRAMING for n, _ in self.headers
        ):
            # a page framed by the end of the connection: complete now
            self._send_page_with_bridge()
            self.client.write(b"".join(self.out))
            self.out.clear()
            self.close_upstream = True
            self.outcome = OK
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
            self.outcome = OK
            self.finish(self._keep_alive() and self.body_sent)
            return
        if self.head_sent:
            self._abort_response()
            return
        self._lost()

    def _abort_response(self):
        """The app failed mid-response: the client sees its connection cut."""
        if self.outcome is WAITING:
            self.outcome = FAILED
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

    def timed_out(self):
        """No bytes from or to the app for ``request_timeout`` (front._check_timeouts)."""
        self._disarm()
        if self.outcome is WAITING:
            self.outcome = FAILED
        if self.head_sent:
            self._abort_response()
        else:
            self._upstream_failed(asyncio.TimeoutError())

    def _disarm(self):
        self.front.waiting.discard(self)

    def _html(self):
        return "text/html" in (self.req.header("Accept") or "")

    def send_answer(self, answer):
        """Send one of jhembed.proxy.answers, with the header policy's own headers and framing."""
        if self.head_sent or self.client.closed:
            return
        req = self.req
        front = self.front
        front.answered += 1
        self.close_after = self.close_after or not req.complete
        self.head_sent = True
        own = front.policy.own_headers(req.header("Origin"))
        http10 = req.version == "1.0"
        self.client.write(answers.encode(answer, own, req.method, self.close_after, http10))
        front.log_answer(req, answer[0], self.client.remote_ip, self.started)
