"""What the front answers itself, in process, with only a stub app behind it.

``front.answered`` counts the answers the front made itself.  Reference texts:
jhembed.proxy.answers; wire-level twins of these checks (through the real
proxy) are in test_proxy_http.py and test_security_seam.py.
"""

import asyncio
import logging
import os
import re
import socket
import time

import pytest

from jhembed.proxy import child as _child
from jhembed.proxy.bridge import BridgeInjector, static_path
from jhembed.proxy.forward import Forwarder
from jhembed.proxy.front import Front
from jhembed.proxy.headers import HeaderPolicy

HOST = "https://host.example"
PREFIX = "/user/x/"


class StubChild:
    """What the front reads of the app: its state and where it listens."""

    unix_socket = None
    host = "127.0.0.1"
    app_name = "lab"
    exit_code = None

    def __init__(self, port, state=_child.READY):
        self.port = port
        self.state = state


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Running:
    def __init__(self, front, port, child):
        self.front = front
        self.port = port
        self.child = child

    async def send(self, raw, *, keep=False):
        """Raw request in; (status, headers dict (lower-case names), body, closed) out."""
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            writer.write(raw)
            status, headers = await _read_head(reader)
            head_only = raw.startswith(b"HEAD ")
            length = 0 if head_only else int(headers.get("content-length", "0"))
            body = await asyncio.wait_for(reader.readexactly(length), 5)
            try:
                closed = await asyncio.wait_for(reader.read(1), 0.1) == b""
            except asyncio.TimeoutError:
                closed = False
            return status, headers, body, closed
        finally:
            writer.close()


@pytest.fixture
async def front_factory():
    fronts = []

    async def make(*, state=_child.READY, bridge=False, mounted_from="", app_port=None, **policy):
        log = logging.getLogger("test-front-answers")
        child = StubChild(app_port or _free_port(), state)
        policy = HeaderPolicy(base_url=PREFIX, **policy)
        fw = Forwarder(child=child, policy=policy, base_url=PREFIX, log=log)
        if bridge:
            fw.bridge = BridgeInjector(
                script_url=PREFIX + "_jhembed/jhembed-frame.js", allowed_origins=[HOST]
            )
        front = Front(
            fw,
            cookie_secret=os.urandom(16),
            max_body_size=1000,
            log=log,
            mounted_from=mounted_from,
        )
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        sock.setblocking(False)
        port = sock.getsockname()[1]
        await front.start([sock])
        fronts.append(front)
        return Running(front, port, child)

    yield make
    for front in fronts:
        front.stop()
        front.close_all()


def _get(path, *extra):
    return f"GET {path} HTTP/1.1\r\nHost: x\r\n{''.join(e + chr(13) + chr(10) for e in extra)}\r\n".encode()


OWN = {
    "content-security-policy": f"frame-ancestors {HOST}",
    "x-jupyterhub-version": HeaderPolicy().own_headers()[-1][1],
}


async def test_outside_the_prefix_404_with_the_policy_headers(front_factory):
    p = await front_factory(frame_ancestors=[HOST], cors_origins=[HOST])
    status, headers, body, closed = await p.send(_get("/other", f"Origin: {HOST}"))
    assert (status, body, closed) == (
        404,
        b"Not found: This server only answers under /user/x/.\n",
        False,
    )
    assert headers["content-type"] == "text/plain; charset=utf-8"
    assert headers["cache-control"] == "no-store"
    assert {k: headers[k] for k in OWN} == OWN
    assert headers["access-control-allow-origin"] == HOST
    status, headers, body, _ = await p.send(b"HEAD /other HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 404 and headers["content-length"] == "52" and body == b""
    assert p.front.answered == 2


async def test_answers_carry_a_date(front_factory):
    """RFC 9110 6.6.1: an origin server with a clock sends Date (IMF-fixdate), as tornado did."""
    from email.utils import parsedate_to_datetime

    p = await front_factory()
    for raw in (_get("/other"), _get("/user/x"), b"TRACE /user/x/ HTTP/1.1\r\nHost: x\r\n\r\n"):
        before = time.time()
        status, headers, _, _ = await p.send(raw)
        assert status in (404, 301, 405)
        date = headers["date"]
        assert re.fullmatch(r"[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT", date)
        assert int(before) <= parsedate_to_datetime(date).timestamp() <= time.time()
    # the connection's own refusals (before any exchange) too
    status, headers, _, closed = await p.send(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
    assert (status, closed) == (400, True) and headers["date"].endswith(" GMT")


def test_http_date_is_formatted_once_a_second(monkeypatch):
    from jhembed.proxy import wire

    monkeypatch.setattr(wire.time, "time", lambda: 1_700_000_000.25)
    assert wire.http_date() == "Tue, 14 Nov 2023 22:13:20 GMT"
    monkeypatch.setattr(wire.time, "time", lambda: 1_700_000_000.9)
    assert wire.http_date() == "Tue, 14 Nov 2023 22:13:20 GMT"
    monkeypatch.setattr(wire.time, "time", lambda: 1_700_000_001.0)
    assert wire.http_date() == "Tue, 14 Nov 2023 22:13:21 GMT"


def test_answer_encoding_pure():
    from jhembed.proxy import answers

    own = [("Content-Security-Policy", "frame-ancestors 'self'"), ("X-Frame-Options", "x")]
    answer = (404, [("Content-Type", "text/plain"), ("X-Frame-Options", "DENY")], b"nope")
    head, _, body = answers.encode(answer, list(own), "GET", False, False).partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    # the answer's Content-Type first, its X-Frame-Options replacing the policy's
    assert lines[0] == "HTTP/1.1 404 Not Found" and lines[1] == "Content-Type: text/plain"
    assert "X-Frame-Options: DENY" in lines and "X-Frame-Options: x" not in lines
    assert lines[-1] == "Content-Length: 4" and body == b"nope"
    assert any(line.startswith("Date: ") for line in lines)
    # HEAD: the length of the GET's body, no body; 204 and 304: neither
    head_only = answers.encode(answer, list(own), "HEAD", False, False)
    assert head_only.endswith(b"Content-Length: 4\r\n\r\n")
    for status in (204, 304):
        raw = answers.encode((status, [], b"x"), [], "GET", True, False)
        assert b"Content-Length" not in raw and raw.endswith(b"Connection: close\r\n\r\n")
    http10 = answers.encode((200, [], b""), [], "GET", False, True)
    assert http10.endswith(b"Connection: keep-alive\r\n\r\n")


async def test_add_slash_and_mount_redirects(front_factory):
    p = await front_factory()
    status, headers, body, closed = await p.send(_get("/user/x?a=1"))
    assert (status, headers["location"], body, closed) == (301, "/user/x/?a=1", b"", False)
    # the app mounted below the server's prefix /user/ (jupyter-server-proxy entry points)
    p2 = await front_factory(mounted_from="/user/")
    for path in ("/user", "/user/"):
        status, headers, _, _ = await p2.send(_get(path + "?q=2"))
        assert (status, headers["location"]) == (302, "/user/x/?q=2")
    p2.child.state = _child.STARTING
    status, headers, _, _ = await p2.send(_get("/user/"))
    assert status == 503 and headers["retry-after"] == "1"
    status, headers, _, _ = await p.send(
        b"POST /user/x HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
    )
    assert status == 405 and headers["allow"] == "GET, HEAD"
    assert p.front.answered + p2.front.answered == 5


@pytest.mark.parametrize("path", ["../etc/passwd", "a/%2e%2e/b", "./x"])
async def test_dot_segments(front_factory, path):
    p = await front_factory()
    status, _, body, _ = await p.send(_get(PREFIX + path))
    assert status == 400 and b"segments are refused" in body


async def test_unknown_method_and_large_body(front_factory):
    p = await front_factory()
    status, headers, body, _ = await p.send(_get(PREFIX).replace(b"GET", b"TRACE", 1))
    assert status == 405 and b"TRACE" in body and "PROPFIND" in headers["allow"]
    raw = b"POST %secho HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n" % PREFIX.encode()
    status, headers, body, closed = await p.send(raw)  # the body never comes: the answer closes
    assert status == 413 and b"5000" in body and b"--max-body-size" in body
    assert headers["connection"] == "close" and closed
    assert p.front.answered == 2


@pytest.mark.parametrize(
    "state, code, text",
    [
        (_child.STARTING, 503, b"lab is starting"),
        (_child.RESTARTING, 502, b"exited with code 3; it is being restarted"),
        (_child.STOPPED, 502, b"exited with code 3."),
    ],
)
async def test_app_not_ready(front_factory, state, code, text):
    p = await front_factory(state=state)
    p.child.exit_code = 3
    status, headers, body, _ = await p.send(_get(PREFIX + "echo", "Accept: text/html"))
    assert status == code and text in body and headers["retry-after"]
    assert (b'http-equiv="refresh"' in body) is (state != _child.STOPPED)
    assert p.front.answered == 1


async def test_cors_preflight(front_factory):
    p = await front_factory(cors_origins=[HOST])
    preflight = "OPTIONS %secho HTTP/1.1\r\nHost: x\r\nOrigin: %s\r\nAccess-Control-Request-Method: PUT\r\n%s\r\n"
    raw = preflight % (PREFIX, HOST, "Access-Control-Request-Headers: content-type\r\n")
    status, headers, body, closed = await p.send(raw.encode())
    assert (status, body, closed) == (204, b"", False)
    assert "content-length" not in headers
    assert headers["access-control-allow-origin"] == HOST
    assert headers["access-control-allow-credentials"] == "true"
    assert headers["access-control-allow-methods"] == "PUT"
    assert headers["access-control-allow-headers"] == "content-type"
    assert headers["access-control-max-age"] == "600" and headers["vary"] == "Origin"
    # answered even while the app starts (browsers send preflights without a login)
    p.child.state = _child.STARTING
    status, headers, body, _ = await p.send(
        (preflight % (PREFIX, "https://evil.example", "")).encode()
    )
    assert status == 403 and b"(CORS)" in body and "access-control-allow-origin" not in headers
    assert p.front.answered == 2


async def test_refused_websockets(front_factory):
    p = await front_factory()
    ws = (
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
    )
    status, _, body, closed = await p.send(_get(PREFIX + "ws", "Origin: https://evil.example", *ws))
    assert (status, body, closed) == (403, b"Forbidden: Cross-origin websocket refused.\n", True)
    raw = _get(PREFIX + "ws", *ws).replace(b"GET", b"POST", 1)
    status, headers, _, closed = await p.send(raw)
    assert status == 405 and headers["allow"] == "GET" and closed
    assert p.front.answered == 2


async def test_bridge_scripts_served_by_the_front(front_factory):
    p = await front_factory(bridge=True)
    with open(os.path.join(static_path(), "jhembed-frame.js"), "rb") as f:
        script = f.read()
    status, headers, body, _ = await p.send(_get(PREFIX + "_jhembed/jhembed-frame.js"))
    assert (status, body) == (200, script)
    assert headers["content-type"] == "text/javascript" and headers["last-modified"]
    etag = headers["etag"]
    status, headers, body, _ = await p.send(
        _get(PREFIX + "_jhembed/jhembed-frame.js", f"If-None-Match: {etag}")
    )
    assert (status, body) == (304, b"") and headers["etag"] == etag
    for name in ("nope.js", "", "..%2fbridge.py", "%2e%2e/x", "sub/x.js"):
        status, _, _, _ = await p.send(_get(PREFIX + "_jhembed/" + name))
        assert status in (400, 404), name
    raw = b"POST %s_jhembed/jhembed-frame.js HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
    status, _, _, _ = await p.send(raw % PREFIX.encode())
    assert status == 405
    assert p.front.answered == 8


# -- the bridge's script tag, added by the front to the app's pages ---------------------------

PAGE = b"<!DOCTYPE html><html><head><title>t</title></head><body>hi</body></html>"


def _app_response(path):
    html = b"Content-Type: text/html; charset=utf-8\r\n"
    if path == "/length":
        return b"HTTP/1.1 200 OK\r\n" + html + b"Content-Length: %d\r\n\r\n" % len(PAGE) + PAGE
    if path == "/chunked":
        half = len(PAGE) // 2
        return (
            b"HTTP/1.1 200 OK\r\n" + html + b"Transfer-Encoding: chunked\r\n\r\n"
            + b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" % (half, PAGE[:half], len(PAGE) - half, PAGE[half:])
        )  # fmt: skip
    if path == "/gzip":
        return (
            b"HTTP/1.1 200 OK\r\n" + html + b"Content-Encoding: gzip\r\n"
            b"Content-Length: %d\r\n\r\n" % len(PAGE) + PAGE
        )
    if path == "/json":
        return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
    if path == "/big":  # chunked, over the bridge's max_size: streamed unchanged
        chunk = b"<p>" + b"x" * 500 + b"</p>"
        return (
            b"HTTP/1.1 200 OK\r\n" + html + b"Transfer-Encoding: chunked\r\n\r\n"
            + b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in [PAGE[:20]] + [chunk] * 4)
            + b"0\r\n\r\n"
        )  # fmt: skip
    # /eof: framed by the end of the connection
    return b"HTTP/1.1 200 OK\r\n" + html + b"Connection: close\r\n\r\n" + PAGE


@pytest.fixture
async def page_app():
    async def serve(reader, writer):
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ", 2)[1].decode()
                writer.write(_app_response(path))
                await writer.drain()
                if path == "/eof":
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()


async def _read_head(reader):
    """(status, headers dict with lower-case names) of one response head."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return int(lines[0].split()[1]), headers


async def _read_response(reader):
    """(status, headers, body) of one response, Content-Length or chunked."""
    status, headers = await _read_head(reader)
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    else:
        body = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip(), 16)
            data = await reader.readexactly(size + 2)
            if not size:
                break
            body += data[:-2]
    return status, headers, body


async def test_bridge_tag_added_by_the_front(front_factory, page_app):
    p = await front_factory(bridge=True, app_port=page_app, frame_ancestors=[HOST])
    p.front.fw.bridge.max_size = 1000
    reader, writer = await asyncio.open_connection("127.0.0.1", p.port)
    try:
        got = {}
        # one kept-alive connection for all: each response framed right
        for path in ("length", "chunked", "gzip", "json", "big", "eof"):
            writer.write(_get(PREFIX + path, "Accept: text/html"))
            got[path] = await _read_response(reader)
    finally:
        writer.close()
    for path in ("length", "chunked", "eof"):
        status, headers, body = got[path]
        assert status == 200, path
        assert b'src="/user/x/_jhembed/jhembed-frame.js"' in body, path
        assert body.index(b"jhembed-storage.js") < body.index(b"<title>") < body.index(b"</head>")
        assert headers["content-length"] == str(len(body)) and "transfer-encoding" not in headers
        assert headers["content-security-policy"] == f"frame-ancestors {HOST}"
    assert got["gzip"][2] == PAGE and got["gzip"][1]["content-encoding"] == "gzip"
    assert got["json"][2] == b"{}"
    status, headers, body = got["big"]
    assert status == 200 and b"jhembed" not in body and len(body) == 20 + 4 * 507
    assert headers["transfer-encoding"] == "chunked"
    assert p.front.answered == 0  # all forwarded to the app by the front


async def test_not_a_websocket_upgrade_forwarded_as_a_plain_request(front_factory, page_app):
    """Upgrade: h2c is not a websocket: the app gets a plain
    request, without Upgrade, Connection and the headers Connection names."""
    seen = []

    async def serve(reader, writer):
        seen.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(_app_response("/json"))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        p = await front_factory(app_port=server.sockets[0].getsockname()[1])
        raw = _get(
            PREFIX + "h2c?q=1",
            "Upgrade: h2c",
            "Connection: Upgrade, HTTP2-Settings",
            "HTTP2-Settings: AAMAAABk",
        )
        status, headers, body, closed = await p.send(raw)
    finally:
        server.close()
    assert (status, body, closed) == (200, b"{}", True)
    [head] = seen
    lines = head.decode("latin-1").lower().split("\r\n")
    assert lines[0] == "get /h2c?q=1 http/1.1"  # the prefix stripped, as for any request
    names = {line.partition(":")[0] for line in lines[1:] if line}
    assert not names & {"upgrade", "http2-settings"}, lines
    assert not [line for line in lines if line.startswith("connection:") and "upgrade" in line]
    assert p.front.answered == 0
