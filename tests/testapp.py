"""A small web app used as the proxy's child in tests.

    python tests/testapp.py --port N [--prefix P] [--start-delay S] [--fail-start]

Endpoints (under ``--prefix``, default ``/``):
  /               200 text
  /echo           any method: JSON with method, path, query, headers, body length and sha256
  /download       ?size=N[&chunked=1]: N deterministic bytes, streamed
  /upload         streams the body, answers JSON length and sha256
  /sse            ?n=5&interval=0.2: server-sent events, flushed one by one
  /ws             websocket echo; "close:<code>:<reason>" closes with that code
  /ws-last-close  JSON: the close code and reason the last websocket received
  /crash          the process exits with code 3
  /hang           never answers
  /headers        framing, cookie and CORS headers as Jupyter servers send them
  /redirect       302 to <prefix>echo
  /page           an HTML document (?big=N pads it, ?chunked=1 streams it)
"""

import argparse
import asyncio
import hashlib
import json
import os
import sys
import time

from tornado import web, websocket
from tornado.httpserver import HTTPServer

PATTERN = bytes(range(256)) * 4096  # 1 MiB, deterministic


def expected_sha(size):
    """sha256 of the ``size`` bytes /download sends (without holding them in memory)."""
    h = hashlib.sha256()
    full, rest = divmod(size, len(PATTERN))
    for _ in range(full):
        h.update(PATTERN)
    h.update(PATTERN[:rest])
    return h.hexdigest()


class Root(web.RequestHandler):
    def get(self):
        self.write("testapp\n")


@web.stream_request_body
class _HashBody(web.RequestHandler):
    """Hashes the request body as it streams in, never holding it."""

    def prepare(self):
        self.sha = hashlib.sha256()
        self.length = 0

    def data_received(self, chunk):
        self.sha.update(chunk)
        self.length += len(chunk)


class Echo(_HashBody):
    SUPPORTED_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "PROPFIND")

    def _echo(self, *args):
        self.set_header("Content-Type", "application/json")
        self.write(
            json.dumps(
                {
                    "method": self.request.method,
                    "path": self.request.path,
                    "query": self.request.query,
                    "headers": list(self.request.headers.get_all()),
                    "length": self.length,
                    "sha256": self.sha.hexdigest(),
                }
            )
        )

    get = head = post = put = patch = delete = options = propfind = _echo


class Download(web.RequestHandler):
    async def get(self):
        size = int(self.get_argument("size", "1000"))
        if not self.get_argument("chunked", ""):
            self.set_header("Content-Length", str(size))
        self.set_header("Content-Type", "application/octet-stream")
        sent = 0
        while sent < size:
            n = min(len(PATTERN), size - sent)
            self.write(PATTERN[:n])
            await self.flush()
            sent += n

    def head(self):
        self.set_header("Content-Length", self.get_argument("size", "1000"))
        self.set_header("Content-Type", "application/octet-stream")


class Upload(_HashBody):
    def post(self):
        self.write({"length": self.length, "sha256": self.sha.hexdigest()})

    put = post


class Sse(web.RequestHandler):
    async def get(self):
        n = int(self.get_argument("n", "5"))
        interval = float(self.get_argument("interval", "0.2"))
        self.set_header("Content-Type", "text/event-stream")
        self.set_header("Cache-Control", "no-cache")
        for i in range(n):
            self.write(f"data: {i} {time.time()}\n\n")
            await self.flush()
            await asyncio.sleep(interval)


LAST_CLOSE = {}


class Ws(websocket.WebSocketHandler):
    def check_origin(self, origin):
        return True

    def select_subprotocol(self, subprotocols):
        return subprotocols[0] if subprotocols else None

    def on_message(self, message):
        if isinstance(message, str) and message.startswith("close:"):
            _, code, reason = message.split(":", 2)
            self.close(int(code), reason)
            return
        self.write_message(message, binary=isinstance(message, bytes))

    def on_close(self):
        LAST_CLOSE.update(code=self.close_code, reason=self.close_reason)


class WsLastClose(web.RequestHandler):
    def get(self):
        self.write(LAST_CLOSE)


class Crash(web.RequestHandler):
    def get(self):
        os._exit(3)


class Hang(web.RequestHandler):
    async def get(self):
        await asyncio.Event().wait()


class Headers(web.RequestHandler):
    def get(self):
        self.set_header("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'")
        self.set_header("X-Frame-Options", "DENY")
        self.add_header("Set-Cookie", "_xsrf=abc; Path=/")
        self.set_header("Access-Control-Allow-Origin", "*")
        self.write("headers\n")


class Page(web.RequestHandler):
    """An HTML document; ?big=N pads it to N bytes, ?chunked=1 sends no length."""

    async def get(self):
        pad = "x" * int(self.get_argument("big", "0"))
        html = f"<!DOCTYPE html><html><head><title>page</title></head><body><p>hello page</p>{pad}</body></html>"
        self.set_header("Content-Type", "text/html; charset=utf-8")
        if self.get_argument("chunked", ""):
            for part in (html[:20], html[20:]):
                self.write(part)
                await self.flush()
        else:
            self.write(html)


class Redirect(web.RequestHandler):
    def get(self):
        self.redirect(self.settings["prefix"] + "echo")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--prefix", default="/")
    parser.add_argument("--start-delay", type=float, default=0)
    parser.add_argument("--fail-start", action="store_true")
    parser.add_argument("--say", default="", help="a line printed at start, before the delay")
    args = parser.parse_args()
    if args.say:
        print(args.say, flush=True)
    if args.fail_start:
        print("testapp: failing on purpose before listening", flush=True)
        sys.exit(7)
    prefix = args.prefix if args.prefix.endswith("/") else args.prefix + "/"
    routes = [
        ("", Root),
        ("echo", Echo),
        ("download", Download),
        ("upload", Upload),
        ("sse", Sse),
        ("ws", Ws),
        ("ws-last-close", WsLastClose),
        ("crash", Crash),
        ("hang", Hang),
        ("headers", Headers),
        ("redirect", Redirect),
        ("page", Page),
    ]
    app = web.Application([(prefix + path, handler) for path, handler in routes], prefix=prefix)

    async def run():
        await asyncio.sleep(args.start_delay)
        server = HTTPServer(app, max_body_size=1 << 40)
        server.listen(args.port, "127.0.0.1")
        print(f"testapp listening on {args.port}", flush=True)
        await asyncio.Event().wait()

    asyncio.run(run())


if __name__ == "__main__":
    main()
