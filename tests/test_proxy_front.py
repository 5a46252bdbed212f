"""The proxy's lean front (jhembed.proxy.front): raw HTTP/1.1 on the hot path.

Raw sockets where an HTTP client would hide what is on the wire: pipelining,
HTTP/1.0, Expect: 100-continue, framing of what the app receives.
"""

import asyncio
import json

import psutil
import pytest
import websockets
from proxyutil import run_proxy

from jhembed.proxy.pipe import FrameGuard


async def exchange(port, raw, *, read_until_close=True, timeout=10):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    await writer.drain()
    try:
        if read_until_close:
            data = await asyncio.wait_for(reader.read(), timeout)
        else:
            data = await asyncio.wait_for(reader.read(65536), timeout)
    finally:
        writer.close()
    return data


def responses(data):
    """Split raw HTTP/1.1 responses with Content-Length bodies: [(status line, headers, body)]."""
    out = []
    while data:
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers.setdefault(name.strip().lower(), []).append(value.strip())
        length = int(headers.get("content-length", ["0"])[0])
        out.append((lines[0], headers, rest[:length]))
        data = rest[length:]
    return out


async def test_pipelined_requests_answered_in_order():
    async with run_proxy() as p:
        raw = (
            b"".join(f"GET /echo?n={i} HTTP/1.1\r\nHost: x\r\n\r\n".encode() for i in range(1, 4))
            + b"GET /echo?n=4 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        got = responses(await exchange(p.port, raw))
        assert [r[0] for r in got] == ["HTTP/1.1 200 OK"] * 4
        assert [json.loads(r[2])["query"] for r in got] == [f"n={i}" for i in range(1, 5)]


async def test_thousands_of_pipelined_answers_in_one_read():
    # requests the front answers itself are answered at once (no task): queued ones
    # start one loop step apart, so a long pipeline cannot recurse through them
    count = 3000
    async with run_proxy() as p:
        raw = b"GET /a/../b HTTP/1.1\r\nHost: x\r\n\r\n" * count
        raw += b"GET /echo?last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        got = responses(await exchange(p.port, raw, timeout=60))
        assert [r[0] for r in got] == ["HTTP/1.1 400 Bad Request"] * count + ["HTTP/1.1 200 OK"]
        assert json.loads(got[-1][2])["query"] == "last"
        assert "RecursionError" not in p.output() and "Traceback" not in p.output()


@pytest.mark.parametrize("late_body", [False, True])
async def test_kept_alive_app_connection_closed_under_a_request_is_retried_once(late_body):
    # the app closes a pooled connection as the next request reaches it (its keep-alive
    # timeout racing the proxy): that request goes once more, on a new connection; with
    # late_body, /two is a POST whose body the client sends after its head
    seen = []  # (connection, path, answered, body)
    writers = []

    async def app(reader, writer):
        writers.append(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ")[1].decode()
                first_two = path == "/two" and all(s[1] != "/two" for s in seen)
                if first_two:
                    seen.append((writer, path, False, None))  # held: ids stay unique
                    writer.close()  # closed, unanswered
                    return
                length = int(head.lower().partition(b"content-length: ")[2].split(b"\r")[0] or 0)
                body = await reader.readexactly(length)
                seen.append((writer, path, True, body))
                answer = body or b"ok"
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(answer))
                writer.write(answer)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(app, "127.0.0.1", 0)
    app_port = server.sockets[0].getsockname()[1]
    try:
        async with run_proxy("--server-port", str(app_port), cmd=["sleep", "1000"]) as p:
            reader, writer = await asyncio.open_connection("127.0.0.1", p.port)
            got = []
            for path in ("/one", "/two"):
                if path == "/two" and late_body:
                    writer.write(b"POST /two HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n")
                    await asyncio.sleep(0.3)
                    writer.write(b"hello")
                else:
                    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                got.append((head.split(b"\r\n")[0], await reader.readexactly(length)))
            writer.close()
    finally:
        server.close()
        for w in writers:
            w.close()
        await asyncio.gather(*(w.wait_closed() for w in writers), return_exceptions=True)
    body = b"hello" if late_body else b"ok"
    assert got == [(b"HTTP/1.1 200 OK", b"ok"), (b"HTTP/1.1 200 OK", body)]
    [one] = [s for s in seen if s[1] == "/one" and s[2]]
    [first, retried] = [s for s in seen if s[1] == "/two"]
    # on the connection kept alive after /one, then once more on a new one, whole
    assert first[0] == one[0] and not first[2]
    assert retried[0] not in {s[0] for s in seen[: seen.index(retried)]} and retried[2]
    assert retried[3] == (b"hello" if late_body else b"")


async def test_app_gets_one_content_length_and_the_body():
    async with run_proxy() as p:
        body = b"x" * 3000
        raw = (
            b"POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            b"Content-Length: 3000\r\n\r\n" + body
        )
        [(status, _, payload)] = responses(await exchange(p.port, raw))
        echo = json.loads(payload)
        lengths = [v for n, v in echo["headers"] if n.lower() == "content-length"]
        assert status == "HTTP/1.1 200 OK"
        # the front passes the client's framing on
        assert lengths == ["3000"] and echo["length"] == 3000


async def test_chunked_request_body_reaches_the_app_whole():
    async with run_proxy() as p:
        raw = (
            b"POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
        )
        [(_, _, payload)] = responses(await exchange(p.port, raw))
        assert json.loads(payload)["length"] == 11


async def test_http10_client_without_host():
    async with run_proxy() as p:
        data = await exchange(p.port, b"GET /echo HTTP/1.0\r\n\r\n")
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.") and b" 200 " in head.split(b"\r\n")[0]
        # no chunked framing for an HTTP/1.0 client; the connection closes after
        assert b"chunked" not in head.lower()
        assert json.loads(body)["path"] == "/echo"


async def test_expect_100_continue():
    async with run_proxy() as p:
        reader, writer = await asyncio.open_connection("127.0.0.1", p.port)
        writer.write(
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
            b"Expect: 100-continue\r\nConnection: close\r\n\r\n"
        )
        interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert interim.startswith(b"HTTP/1.1 100")
        writer.write(b"abcd")
        data = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        [(status, _, payload)] = responses(data)
        assert status == "HTTP/1.1 200 OK" and json.loads(payload)["length"] == 4
        # the app never sees Expect (the proxy answered it)
        names = {n.lower() for n, _ in json.loads(payload)["headers"]}
        assert "expect" not in names


async def test_front_answers_headers_too_large_with_431():
    async with run_proxy() as p:
        raw = b"GET /echo HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n"
        data = await exchange(p.port, raw)
        assert data.startswith(b"HTTP/1.1 431")


async def test_client_sent_front_header_never_reaches_the_app():
    # X-Jhembed-Client carried the client's address from the front to its tornado
    # app (gone since issue 15): a client's own copy must not set it, nor reach the app
    async with run_proxy() as p:
        raw = (
            b"GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            b"X-Jhembed-Client: https 10.9.9.9\r\n\r\n"
        )
        [(_, _, payload)] = responses(await exchange(p.port, raw))
        headers = {n.lower(): v for n, v in json.loads(payload)["headers"]}
        assert "x-jhembed-client" not in headers
        assert headers["x-forwarded-for"] == "127.0.0.1"
        assert headers["x-forwarded-proto"] == "http"


async def test_app_connections_are_reused():
    async with run_proxy() as p:
        [app] = p.children()
        [app_port] = {c.laddr.port for c in app.net_connections() if c.status == "LISTEN"}
        reader, writer = await asyncio.open_connection("127.0.0.1", p.port)
        for _ in range(20):
            writer.write(b"GET /echo HTTP/1.1\r\nHost: x\r\n\r\n")
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
        to_app = [
            c
            for c in psutil.Process(p.pid).net_connections()
            if c.raddr and c.raddr.port == app_port and c.status == "ESTABLISHED"
        ]
        writer.close()
        # twenty requests one after the other: one kept-alive connection to the app
        assert len(to_app) == 1


async def test_websocket_echo_and_size_limit():
    async with run_proxy("--websocket-max-message-size", "1000") as p:
        async with websockets.connect(f"ws://127.0.0.1:{p.port}/ws") as ws:
            for size in (10, 999, 1000):
                await ws.send("b" * size)
                assert await ws.recv() == "b" * size
            await ws.send("b" * 1001)
            with pytest.raises(websockets.ConnectionClosed) as e:
                await ws.recv()
        assert e.value.rcvd is not None, "closed without a close frame"
        assert e.value.rcvd.code == 1009, e.value.rcvd


def _frame(opcode, payload, fin=True, mask=b"\x01\x02\x03\x04"):
    n = len(payload)
    head = bytes([(0x80 if fin else 0) | opcode])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([0x80 | 127]) + n.to_bytes(8, "big")
    return head + mask + payload


def test_frame_guard_counts_messages_across_frames_and_reads():
    guard = FrameGuard(100)
    data = (
        _frame(1, b"a" * 60, fin=False)
        + _frame(9, b"ping")  # a control frame in between does not count
        + _frame(0, b"a" * 40)  # 100 bytes: allowed
        + _frame(2, b"z" * 300, fin=True)[:8]  # the next message: its header only
    )
    # fed one byte at a time: headers split across reads
    assert all(guard.feed(data[i : i + 1]) for i in range(len(data) - 1))
    assert guard.feed(data[-1:]) is False  # 300 > 100 once its header is complete

    guard = FrameGuard(70_000)
    assert guard.feed(_frame(2, b"y" * 66_000)) is True  # 16-bit length
    assert guard.feed(_frame(2, b"y" * 70_001)[:20]) is False  # 64-bit length


async def test_duplicate_host_refused():
    async with run_proxy() as p:
        raw = b"GET /echo HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n"
        data = await exchange(p.port, raw)
        assert data.startswith(b"HTTP/1.1 400")
