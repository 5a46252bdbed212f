"""A recording app on a raw socket: writes down the exact bytes it receives.

    python tests/recorder.py --port N --out FILE

Usable as the proxy's child.  Every connection gets a number; every read is
appended to FILE as a JSON line ``{"conn": n, "raw": "<bytes as latin-1>"}``
(flushed at once), and every request it parsed as
``{"conn": n, "request": {"method", "url", "headers", "body"}}``.  Each request
is answered with a small fixed ``200`` with ``Content-Length`` (no body for
``HEAD``), on the same kept-alive connection.  Nothing is interpreted: a
request smuggled inside another's body shows up as a second request.

``read(FILE)`` gives back ``(raw bytes per connection, requests)``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

import httptools

BODY = b"recorded\n"
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % len(BODY)


class _Connection(asyncio.Protocol):
    count = 0

    def __init__(self, out):
        _Connection.count += 1
        self.n = _Connection.count
        self.out = out
        self.parser = httptools.HttpRequestParser(self)
        self.transport = None
        self.request = None

    def connection_made(self, transport):
        self.transport = transport

    def _record(self, **entry):
        self.out.write(json.dumps({"conn": self.n, **entry}) + "\n")
        self.out.flush()

    def data_received(self, data):
        self._record(raw=data.decode("latin-1"))
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            pass  # recorded; what follows is not HTTP
        except httptools.HttpParserError as e:
            self._record(error=str(e))
            self.transport.close()

    def on_message_begin(self):
        self.request = {"method": "", "url": "", "headers": [], "body": ""}

    def on_url(self, url):
        self.request["url"] += url.decode("latin-1")

    def on_header(self, name, value):
        self.request["headers"].append([name.decode("latin-1"), value.decode("latin-1")])

    def on_body(self, body):
        self.request["body"] += body.decode("latin-1")

    def on_message_complete(self):
        req = self.request
        req["method"] = self.parser.get_method().decode("ascii")
        self._record(request=req)
        self.transport.write(RESPONSE if req["method"] == "HEAD" else RESPONSE + BODY)
        if not self.parser.should_keep_alive():
            self.transport.close()


def read(path):
    """``(raw, requests)``: bytes received per connection number, and requests in order."""
    raw, requests = {}, []
    try:
        with open(path) as f:
            lines = f.readlines()
    except FileNotFoundError:
        return raw, requests
    for line in lines:
        if not line.endswith("\n"):
            break  # being written
        entry = json.loads(line)
        if "raw" in entry:
            raw[entry["conn"]] = raw.get(entry["conn"], b"") + entry["raw"].encode("latin-1")
        elif "request" in entry:
            requests.append(dict(entry["request"], conn=entry["conn"]))
    return raw, requests


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    async def run():
        with open(args.out, "a") as out:
            loop = asyncio.get_running_loop()
            await loop.create_server(lambda: _Connection(out), "127.0.0.1", args.port)
            print(f"recorder listening on {args.port}", flush=True)
            await asyncio.Event().wait()

    asyncio.run(run())


if __name__ == "__main__":
    sys.exit(main())
