"""The front's connections: a client's (requests parsed in order) and one to the app."""

from __future__ import annotations

import asyncio
import socket

import httptools

from .exchange import Exchange
from .wire import http_date, reason_phrase

_BUFFER_LIMIT = 1024 * 1024  # request body held while the app connection opens
_MAX_HEAD = 64 * 1024  # request line and headers, as tornado's max_header_size


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
        "_index",
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
        self._index = None  # (len(headers), {lower-case name: first value}), built on demand

    def header(self, name):
        """The first value of header ``name``, or None."""
        index = self._index
        if index is None or index[0] != len(self.headers):
            first = {}
            for n, v in self.headers:
                first.setdefault(n.lower(), v)
            index = self._index = (len(self.headers), first)
        return index[1].get(name.lower())


def _no_delay(transport):
    """TCP_NODELAY on a TCP connection: small heads and frames go out at once."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass


class ClientConnection(asyncio.Protocol):
    """One client connection: requests in order, one exchange at a time."""

    def __init__(self, front):
        self.front = front
        self.transport = None
        self.parser = httptools.HttpRequestParser(self)
        self.req = None
        self.queue = []
        self.exchange = None
        self.starting = False  # self.exchange is to start once the read is parsed
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
        _no_delay(transport)
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
            self._start()
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
                return
        self._start()

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
        first = {}  # Request.header's index, built here in the same pass
        for name, value in req.headers:
            low = name.lower()
            if low not in first:
                first[low] = value
            if low == "host":
                hosts += 1
            elif low == "content-length":
                req.length = int(value) if value.isdigit() else None
            elif low == "transfer-encoding" and "chunked" in value.lower():
                req.chunked = True
        req._index = (len(req.headers), first)
        if hosts > 1:
            self.refusal = "more than one Host header"
            return
        if req.upgrade:
            self.req_upgraded = req
        if self.exchange is None and not self.queue:
            # started once this read is parsed (_start), so a body that came with it is in
            self.exchange = Exchange(self, req)
            self.starting = True
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

    def _start(self):
        if self.starting:
            self.starting = False
            self.exchange.start()

    def finished(self, keep_alive):
        """The exchange is over; next request (in the next loop step: no recursion), or close."""
        self.exchange = None
        if not keep_alive or self.closed:
            self.close()
            return
        if self.queue:
            self.resume()
            self.exchange = Exchange(self, self.queue.pop(0))
            self.front.loop.call_soon(self.exchange.start)

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
            body = f"{reason_phrase(status)}: {reason}\n".encode()
            self.write(
                f"HTTP/1.1 {status} {reason_phrase(status)}\r\n".encode()
                + b"Content-Type: text/plain; charset=utf-8\r\nConnection: close\r\n"
                + b"Date: %s\r\n" % http_date().encode()
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
        _no_delay(transport)

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
