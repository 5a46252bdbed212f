"""Hostile input: every trick refused with a clear 4xx (or kept harmless), logged
without secrets, nothing spawned or changed.

Raw sockets where an HTTP client would normalise the trick away.  The app is
tests/testapp.py: ``/echo`` answers with the request it received, so each test
can see what reached the app.
"""

import asyncio
import json
import sys
from pathlib import Path

import aiohttp
import pytest
import websockets
from proxyutil import run_proxy
from relutil import report

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from test_spawner import BAD_OPTIONS, CATALOG, embedproxy_processes  # noqa: E402

PREFIX = "/user/u/"


async def raw(port, data, timeout=10):
    """Send raw bytes, read until the proxy closes (or a first response arrives)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    try:
        out = b""
        while True:
            chunk = await asyncio.wait_for(reader.read(65536), timeout)
            if not chunk:
                break
            out += chunk
            if b"\r\n\r\n" in out and _complete(out):
                break
    except (asyncio.TimeoutError, ConnectionResetError):
        pass
    finally:
        writer.close()
    return out


def _complete(data):
    head, _, body = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return False


def status_of(data):
    line = data.split(b"\r\n", 1)[0].split()
    return int(line[1]) if len(line) > 1 and line[1].isdigit() else None


def echoed(data):
    """The request the app saw, from an /echo answer (None when it is not one)."""
    body = data.partition(b"\r\n\r\n")[2]
    try:
        return json.loads(body)
    except ValueError:
        return None


PATH_TRICKS = [
    f"{PREFIX}../../hub/api/users",
    f"{PREFIX}..%2f..%2fhub/api",
    f"{PREFIX}%2e%2e/%2e%2e/hub/api",
    f"{PREFIX}%2E%2E/secret",
    f"{PREFIX}%252e%252e/secret",  # double-encoded dots
    f"{PREFIX}a/%2e%2e%2f%2e%2e%2f/secret",
    f"{PREFIX}.%2e/secret",
    f"{PREFIX}a/..\\..\\secret",
    f"{PREFIX}./echo",
    "/user/other/echo",
    "/user/u",  # no slash: a redirect into the prefix, nothing else
    "/user/u../echo",
    "/hub/api/users",
    "http://evil.example/user/u/echo",
    "http://evil.example/",
    "//evil.example/user/u/echo",
    "*",
]


async def test_path_tricks_refused_or_kept_inside_the_prefix():
    results = {}
    async with run_proxy(base_url=PREFIX) as p:
        for target in PATH_TRICKS:
            data = await raw(p.port, f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            status = status_of(data)
            results[target] = status
            app = echoed(data)
            if app is not None and status == 200:
                # reached the app: only ever inside the prefix, with no dot segment
                assert ".." not in app["path"] and "%2e" not in app["path"].lower(), (target, app)
                continue
            assert status is not None and 300 <= status < 500, (target, data[:300])
            if 300 <= status < 400:
                location = [
                    line for line in data.split(b"\r\n") if line.lower().startswith(b"location:")
                ]
                assert location and location[0].split(b":", 1)[1].strip().startswith(
                    PREFIX.encode()
                ), (target, location)
        assert "Traceback" not in p.output()
    reached = [t for t, s in results.items() if s == 200]
    assert set(reached) <= {f"{PREFIX}./echo"} or not reached, results
    report("path-tricks", tried=len(PATH_TRICKS), statuses=sorted(set(results.values())),
           reached_app=len(reached))  # fmt: skip


HEADER_TRICKS = {
    "spoofed identity": b"GET /echo HTTP/1.1\r\nHost: x\r\nX-Forwarded-User: admin\r\n"
    b"X-Forwarded-Groups: admins\r\nX-Forwarded-Prefix: /evil\r\nX-Forwarded-Context: /evil\r\n"
    b"X-ProxyContextPath: /evil\r\n"
    b"X-Jhembed-Client: https 10.0.0.1\r\nConnection: close\r\n\r\n",
    "CRLF in a value": b"GET /echo HTTP/1.1\r\nHost: x\r\nX-A: a\rX-Injected: 1\r\n\r\n",
    "bare LF injection": b"GET /echo HTTP/1.1\r\nHost: x\r\nX-A: a\nX-Injected: 1\r\n\r\n",
    "NUL in a value": b"GET /echo HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n",
    "oversized header": b"GET /echo HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 80_000 + b"\r\n\r\n",
    "many headers": b"GET /echo HTTP/1.1\r\nHost: x\r\n"
    + b"".join(b"X-%d: %s\r\n" % (i, b"v" * 100) for i in range(2000))
    + b"\r\n",
    "duplicate Host": b"GET /echo HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n",
    "CL + TE smuggling": b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /echo?smuggled=1 HTTP/1.1\r\nHost: x\r\n\r\n",
    "TE + CL smuggling": b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
    b"Content-Length: 40\r\n\r\n0\r\n\r\nGET /echo?smuggled=1 HTTP/1.1\r\nHost: x\r\n\r\n",
    "two Content-Lengths": b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
    b"Content-Length: 40\r\n\r\nabcd",
    "obfuscated TE": b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n"
    b"5\r\nhello\r\n0\r\n\r\n",
    "space before colon": b"GET /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n",
    "bad chunk size": b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"zz\r\nhello\r\n0\r\n\r\n",
    "HTTP/2 preface": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
}


async def test_header_tricks():
    results = {}
    async with run_proxy() as p:
        for name, data in HEADER_TRICKS.items():
            answer = await raw(p.port, data)
            status = status_of(answer)
            results[name] = status
            app = echoed(answer)
            if name == "spoofed identity":
                # answered, but the app sees the proxy's values only
                assert status == 200, answer[:300]
                headers = {k.lower(): v for k, v in app["headers"]}
                for h in ("x-forwarded-user", "x-forwarded-groups", "x-jhembed-client"):
                    assert h not in headers, headers
                for h in ("x-forwarded-prefix", "x-forwarded-context", "x-proxycontextpath"):
                    assert h not in headers, headers
                assert headers["x-forwarded-for"] == "127.0.0.1"
                continue
            # refused: a 4xx or the connection closed, never a 5xx, never the app twice
            assert status is None or 400 <= status < 500, (name, answer[:300])
            assert answer.count(b"HTTP/1.1 200") == 0, (name, answer[:500])
            assert b"smuggled" not in answer
        output = p.output()
        assert "Traceback" not in output
        assert "smuggled" not in output or "Bad request" in output
    report("header-tricks", tried=len(HEADER_TRICKS),
           refused={k: v for k, v in results.items() if k != "spoofed identity"})  # fmt: skip


async def test_websocket_tricks():
    async with run_proxy(
        "--cors-origins", "https://ok.example", "--websocket-max-message-size", "65536"
    ) as p:
        url = f"ws://127.0.0.1:{p.port}/ws"
        refused = {}
        # cross-site websocket hijacking: a foreign Origin is refused before the app
        for origin in ("https://evil.example", "null", "https://ok.example.evil.com"):
            with pytest.raises(websockets.InvalidStatus) as e:
                async with websockets.connect(url, origin=origin):
                    pass
            refused[origin] = e.value.response.status_code
            assert e.value.response.status_code == 403
        # an allowed origin and same-origin work
        for origin in ("https://ok.example", f"http://127.0.0.1:{p.port}"):
            async with websockets.connect(url, origin=origin) as ws:
                await ws.send("hi")
                assert await ws.recv() == "hi"
        # oversized message: closed with 1009, the proxy keeps serving
        async with websockets.connect(url, max_size=None) as ws:
            await ws.send("x" * 70_000)
            with pytest.raises(websockets.ConnectionClosed) as e:
                await ws.recv()
            assert e.value.rcvd is not None, "closed without a close frame"
            assert e.value.rcvd.code == 1009, e.value.rcvd
        # a frame header announcing 2^63 - 1 bytes
        reader, writer = await asyncio.open_connection("127.0.0.1", p.port)
        writer.write(
            b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert head.startswith(b"HTTP/1.1 101")
        writer.write(b"\x82\xff" + (2**63 - 1).to_bytes(8, "big") + b"\x00\x00\x00\x00" + b"x")
        rest = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        assert rest[:2] in (b"\x88\x11", b"") or rest.startswith(b"\x88"), rest[:20]
        async with aiohttp.ClientSession() as s:
            async with s.get(p.url + "echo") as r:
                assert r.status == 200
    report("websocket-tricks", foreign_origins_refused=refused, oversized="1009",
           huge_frame_header="closed")  # fmt: skip


async def test_unauthenticated_websocket_and_requests_refused_through_the_hub(hub_factory):
    args = ["--", sys.executable, str(HERE.parent / "testapp.py"), "--port", "{port}"]
    hub = await hub_factory(f"c.Spawner.cmd = ['jupyter-embedproxy']\nc.Spawner.args = {args!r}\n")
    await hub.create_user("alice")
    url = await hub.spawn("alice")
    statuses = {}
    async with aiohttp.ClientSession() as s:
        for name, headers in (
            ("no credentials", {}),
            ("bad token", {"Authorization": "token nope"}),
            ("bad bearer", {"Authorization": "Bearer nope"}),
            ("forged cookie", {"Cookie": "jupyterhub-user-alice=2|1:0|10:1|"}),
        ):
            async with s.get(url + "echo", headers=headers, allow_redirects=False) as r:
                statuses[name] = r.status
                assert r.status in (302, 403), (name, r.status)
                if r.status == 302:  # to the Hub's login, never elsewhere
                    assert r.headers["Location"].startswith("/hub/") or r.headers[
                        "Location"
                    ].startswith(hub.url + "hub/"), r.headers["Location"]
    ws_url = "ws" + url[4:] + "ws"
    for headers in ({}, {"Authorization": "token nope"}):
        with pytest.raises(websockets.InvalidStatus) as e:
            async with websockets.connect(ws_url, additional_headers=headers):
                pass
        assert e.value.response.status_code == 403
    report("unauthenticated", http=statuses, websocket=403)


OPEN_REDIRECTS = [
    "//evil.example/",
    "/\\evil.example/",
    "https://evil.example/",
    "http:evil.example",
    "%2F%2Fevil.example",
    "/%5Cevil.example",
    "javascript:alert(1)",
]


async def test_no_open_redirect_after_login_or_token_login(hub_factory):
    args = ["--allow-token-login", "--", sys.executable, str(HERE.parent / "testapp.py"),
            "--port", "{port}"]  # fmt: skip
    hub = await hub_factory(f"c.Spawner.cmd = ['jupyter-embedproxy']\nc.Spawner.args = {args!r}\n")
    await hub.create_user("alice")
    url = await hub.spawn("alice")
    token = await hub.user_token("alice", scopes=["access:servers!server=alice/"])
    prefix = url.split("127.0.0.1:", 1)[1].split("/", 1)[1]
    prefix = "/" + prefix
    seen = []
    async with hub.login("alice") as s:
        for bad in OPEN_REDIRECTS:
            for target in (
                f"{url}?token={token}&next={bad}",  # token login keeps the path it came in on
                f"{url}oauth_callback?code=x&state=y&next={bad}",
                f"{hub.url}hub/login?next={bad}",
                f"{url}{bad}",
            ):
                async with s.get(target, allow_redirects=False) as r:
                    location = r.headers.get("Location", "")
                    seen.append(r.status)
                    if location:
                        assert not _off_site(location, hub), (target, location)
    report("open-redirects", tried=len(OPEN_REDIRECTS) * 4, off_site=0,
           statuses=sorted(set(seen)))  # fmt: skip


def _off_site(location, hub):
    from urllib.parse import urlsplit

    if location.startswith("/") and not location.startswith("//") and "\\" not in location[:2]:
        return False
    parts = urlsplit(location)
    return parts.netloc not in ("", f"127.0.0.1:{hub.port}") or parts.scheme not in (
        "",
        "http",
    )


def generated_hostile_options():
    """At least 50 hostile user_options for the CATALOG of tests/test_spawner.py."""
    values = [
        None, [], {}, [1], {"a": 1}, True, -1, 10**30, 1.5, "", " ", "\x00", "\u202e",
        "é" * 50, "x" * 70_000, "; rm -rf /", "$(id)", "`id`", "&& curl evil", "|cat",
        "{port}", "{base_url}", "{user}", "{{port}}", "--no-authentication", "\n--debug",
        "../..", "NaN",
    ]  # fmt: skip
    out = [dict(o) for o in BAD_OPTIONS]
    for field in ("delay", "mode", "label", "verbose"):
        default = {"delay": 0, "mode": "fast", "label": "", "verbose": False}[field]
        for v in values:
            if v == default or (field == "verbose" and (isinstance(v, bool) or v == "")):
                continue  # a valid value ("" is an unchecked form box), not a hostile one
            if field == "delay" and isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 2:
                continue
            out.append({"app": "echo", field: v})
    for trait in ("cmd", "args", "env", "environment", "port", "ip", "notebook_dir",
                  "default_url", "proxy_command", "apps", "user_options", "__class__"):  # fmt: skip
        out.append({"app": "echo", trait: "x"})
    # (a missing, null or empty "app" picks the default app: not in this list)
    for app in ("ECHO", "echo ", "echo\x00", "../echo", "{port}", "x" * 1000, 0, False):
        out.append({"app": app})
    return out


@pytest.mark.slow
async def test_generated_hostile_user_options_refused(hub_factory):
    hub = await hub_factory(CATALOG)
    await hub.create_user("alice")
    options = generated_hostile_options()
    assert len(options) >= 50
    refused = 0
    for bad in options:
        status, body = await hub.api("POST", "users/alice/server", json_body=hub.spawn_body(bad))
        assert status == 400, (bad if len(str(bad)) < 300 else str(bad)[:300], status, body)
        assert isinstance(body, dict) and body.get("message")
        refused += 1
    status, user = await hub.api("GET", "users/alice")
    assert user["servers"] == {}, user["servers"]
    assert not embedproxy_processes("alice", hub)
    # the Hub logs each refusal; its only tracebacks are JupyterHub's own logging of
    # the 400 that apply_user_options raised (jupyterhub/spawner.py), never a crash
    log = hub.log_text()
    assert log.count("Traceback") == log.count("tornado.web.HTTPError: HTTP 400"), log[-3000:]
    assert "HTTP 500" not in log
    report("hostile-user-options", tried=len(options), refused_400=refused,
           servers_started=0, processes_started=0)  # fmt: skip
