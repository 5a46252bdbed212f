"""Attacks found at the seam the proxy had between its front and a tornado app, on the wire.

The real ``jupyter-embedproxy`` runs with tests/recorder.py as its app, which
writes down every byte it receives: each test checks what the app actually got
through the proxy's one request path (the front), and where the Hub matters
with a real JupyterHub (one for the module, two named servers of alice:
``fast``, and ``flagged``, started with the deprecated ``--no-fast-path``,
which must change nothing).  Each test names the hole it covers.
"""

import asyncio
import re
import sys
import time
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
import recorder
from proxyutil import run_proxy

HERE = Path(__file__).resolve().parent
RECORDER = [sys.executable, str(HERE / "recorder.py"), "--port", "{port}", "--out"]
PREFIX = "/user/u/"
TIMEOUT = 5  # seconds: an answer later than this is a hang


async def read_response(reader, head_only=False):
    """One response with a Content-Length body: (status, {lower name: value}, body)."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    length = 0 if head_only else int(headers.get("content-length", "0"))
    body = await asyncio.wait_for(reader.readexactly(length), TIMEOUT)
    return int(lines[0].split()[1]), headers, body


async def conversation(port, *requests):
    """Send raw requests one after the other on one connection; the responses.

    ``requests`` are (raw bytes, head_only) pairs.
    """
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    out = []
    try:
        for raw, head_only in requests:
            writer.write(raw)
            await writer.drain()
            out.append(await read_response(reader, head_only))
    finally:
        writer.close()
    return out


def app_requests(path, prefix="/t/"):
    """What the recorder received under ``prefix`` (readiness probes left out)."""
    _, requests = recorder.read(path)
    return [r for r in requests if r["url"].startswith(prefix)]


def header_map(request):
    return {n.lower(): v for n, v in request["headers"]}


async def until_recorded(path, count, prefix="/t/"):
    deadline = time.monotonic() + TIMEOUT
    while len(app_requests(path, prefix)) < count and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return app_requests(path, prefix)


def recording_proxy(tmp_path, *args, base_url=PREFIX):
    out = tmp_path / f"recorded-{len(list(tmp_path.glob('recorded-*')))}.jsonl"
    return run_proxy(*args, cmd=[*RECORDER, str(out)], base_url=base_url), out


# -- hole 1: request smuggling through `Connection: ..., Content-Length` ----------------------

SMUGGLED = b"GET /t/smuggled HTTP/1.1\r\nHost: x\r\n\r\n"


def smuggling_request(prefix, extra=b""):
    return (
        b"POST %st/upload HTTP/1.1\r\nHost: client.example\r\n" % prefix.encode()
        + b"Connection: keep-alive, Content-Length, Host\r\n"
        + extra
        + b"Content-Length: %d\r\n\r\n" % len(SMUGGLED)
        + SMUGGLED
    )


def assert_one_request_with_the_whole_body(out):
    got = app_requests(out)
    assert [(r["method"], r["url"]) for r in got] == [
        ("POST", "/t/upload"),
        ("GET", "/t/after"),
    ], got
    assert got[0]["body"].encode("latin-1") == SMUGGLED
    assert header_map(got[0])["host"] == "client.example"


async def test_connection_header_cannot_unframe_a_body(tmp_path):  # hole 1
    proxy, out = recording_proxy(tmp_path)
    async with proxy as p:
        answers = await conversation(
            p.port,
            (smuggling_request(PREFIX), False),
            (b"GET %st/after HTTP/1.1\r\nHost: x\r\n\r\n" % PREFIX.encode(), False),
        )
        assert [a[0] for a in answers] == [200, 200]
        await until_recorded(out, 2)
        assert_one_request_with_the_whole_body(out)


# -- hole 2: HEAD (and bodiless responses) end ------------------------------------------------


async def test_answered_head_ends_and_the_connection_goes_on(tmp_path):  # hole 2
    proxy, out = recording_proxy(tmp_path)
    async with proxy as p:
        # outside the prefix: the proxy's own 404 page (a Content-Length, no body for HEAD)
        answers = await conversation(
            p.port,
            (b"HEAD /elsewhere HTTP/1.1\r\nHost: x\r\n\r\n", True),
            (b"GET %st/after HTTP/1.1\r\nHost: x\r\n\r\n" % PREFIX.encode(), False),
        )
        assert [a[0] for a in answers] == [404, 200]
        assert int(answers[0][1]["content-length"]) > 0


async def test_forwarded_head_with_a_length_ends(tmp_path):  # hole 2
    proxy, out = recording_proxy(tmp_path)
    async with proxy as p:
        answers = await conversation(
            p.port,
            (b"HEAD %st/file HTTP/1.1\r\nHost: x\r\n\r\n" % PREFIX.encode(), True),
            (b"GET %st/after HTTP/1.1\r\nHost: x\r\n\r\n" % PREFIX.encode(), False),
        )
        assert [a[0] for a in answers] == [200, 200]
        assert answers[0][1]["content-length"] == str(len(recorder.BODY))
        assert answers[1][2] == recorder.BODY


# -- an upgrade that is not a websocket: a plain request ----------------------------------------


async def test_upgrade_not_websocket_forwarded_as_a_plain_request(tmp_path):
    proxy, out = recording_proxy(tmp_path, "--debug")
    async with proxy as p:
        raw = (
            b"GET %st/h2c HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\n"
            b"Connection: Upgrade, HTTP2-Settings\r\nHTTP2-Settings: AAMAAABk\r\n\r\n"
        ) % PREFIX.encode()
        [(status, _, body)] = await conversation(p.port, (raw, False))
        assert (status, body) == (200, recorder.BODY)
        [got] = await until_recorded(out, 1)
        headers = header_map(got)
        assert got["url"] == "/t/h2c"
        assert "upgrade" not in headers and "http2-settings" not in headers, headers
        assert "upgrade" not in headers.get("connection", "").lower(), headers


# -- hole 3: Hub and jhembed cookies of any server never reach the app ------------------------

SIBLING_COOKIES = (
    "jupyterhub-user-alice=a; jupyterhub-user-alice-fast-oauth-state-x1=b; "
    "jupyterhub-session-id=c; jupyterhub-hub-login=d; __Host-jupyterhub-user-alice=e; "
    "jhembed-oauth-retry=1"
)


async def test_no_hub_cookie_reaches_the_app(tmp_path):  # hole 3
    proxy, out = recording_proxy(tmp_path)
    async with proxy as p:
        cookie = f"app=1; {SIBLING_COOKIES}; _xsrf=2"
        [(status, _, _)] = await conversation(
            p.port,
            (f"GET {PREFIX}t/c HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\n\r\n".encode(), False),
        )
        assert status == 200
        [got] = await until_recorded(out, 1)
        assert header_map(got).get("cookie") == "app=1; _xsrf=2", got["headers"]


# -- hole 4: encoded parameter names ---------------------------------------------------------


async def test_encoded_secret_names_are_scrubbed_from_the_log(tmp_path):  # hole 4
    proxy, out = recording_proxy(tmp_path)
    async with proxy as p:
        [(status, _, _)] = await conversation(
            p.port,
            (b"GET /elsewhere?%74oken=SECRET1&%61ccess_token=SECRET2 HTTP/1.1\r\nHost: x\r\n\r\n",
             False),
        )  # fmt: skip
        assert status == 404
        await asyncio.sleep(0.2)
        log = p.output()
        assert "/elsewhere" in log  # the 404 was logged...
        assert "SECRET" not in log  # ...without the secrets


# -- hole 5: underscore twins of the identity headers ----------------------------------------

TWINS = [
    "X_Forwarded_User", "x_forwarded_groups", "X-Forwarded_User", "X_Forwarded_For",
    "X_Forwarded_Proto", "X_Forwarded_Host", "X_Forwarded_Prefix", "X_Jhembed_Client",
]  # fmt: skip


async def test_underscore_twins_of_identity_headers_dropped(tmp_path):  # hole 5
    proxy, out = recording_proxy(tmp_path)
    async with proxy as p:
        twins = "".join(f"{name}: mallory\r\n" for name in TWINS)
        [(status, _, _)] = await conversation(
            p.port,
            (f"GET {PREFIX}t/twins HTTP/1.1\r\nHost: x\r\n{twins}X_App_Thing: ok\r\n\r\n".encode(),
             False),
        )  # fmt: skip
        assert status == 200
        [got] = await until_recorded(out, 1)
        headers = header_map(got)
        assert "mallory" not in headers.values(), got["headers"]
        assert headers.get("x_app_thing") == "ok"  # other underscores: the app's business
        assert headers["x-forwarded-for"] == "127.0.0.1"


# -- hole 6: the app gets the client's headers -------------------------------------------------

CLIENT_HEADERS = {
    "host": "client.example",
    "cookie": "app=1",
    "authorization": "Basic dTpw",
    "accept": "application/json",
    "content-type": "text/plain",
    "user-agent": "ua/1",
    "accept-language": "fr",
    "x-custom": "c",
}


@pytest.mark.parametrize("flag", [(), ("--no-fast-path",)], ids=["default", "no-fast-path"])
async def test_the_app_gets_the_client_headers(tmp_path, flag):  # hole 6
    # --no-fast-path is deprecated and changes nothing: the same headers reach the app
    proxy, out = recording_proxy(tmp_path, *flag)
    async with proxy as p:
        lines = "".join(f"{k}: {v}\r\n" for k, v in CLIENT_HEADERS.items())
        raw = f"POST {PREFIX}t/h HTTP/1.1\r\n{lines}Content-Length: 2\r\n\r\nhi".encode()
        [(status, _, _)] = await conversation(p.port, (raw, False))
        assert status == 200
        [got] = await until_recorded(out, 1)
    headers = header_map(got)
    for name, value in CLIENT_HEADERS.items():
        assert headers.get(name) == value, (name, got["headers"])
    assert got["body"] == "hi"
    # the client's framing, as the front parsed it, and nothing the client did not send
    # but the proxy's own X-Forwarded-* (and X-Forwarded-Context & co. for the prefix)
    assert headers["content-length"] == "2"
    added = set(headers) - set(CLIENT_HEADERS) - {"content-length"}
    assert added == {
        "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host",
        "x-forwarded-prefix", "x-forwarded-context", "x-proxycontextpath",
    }, added  # fmt: skip


# -- with a real Hub: the same attacks by a user allowed to use the server -----------------------

HUB_CONFIG = """
import sys
RECORDER = {recorder!r}
def _args(spawner):
    args = ["--debug", "--request-timeout", "5"]
    if spawner.name == "flagged":
        args.append("--no-fast-path")  # deprecated: it must change nothing
    out = {out!r} + "/recorded-" + (spawner.name or "default") + ".jsonl"
    spawner.args = args + ["--", sys.executable, RECORDER, "--port", "{{port}}", "--out", out]
c.Spawner.cmd = ["jupyter-embedproxy"]
c.Spawner.pre_spawn_hook = _args
"""
SERVERS = ["fast", "flagged"]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def hub(tmp_path_factory):
    from hub import run_hub

    base = tmp_path_factory.mktemp("seam")
    config = HUB_CONFIG.format(recorder=str(HERE / "recorder.py"), out=str(base))
    async with run_hub(base / "hub", config=config) as hub:
        await hub.create_user("alice")
        hub.servers = {name: await hub.spawn("alice", name) for name in SERVERS}
        hub.token = await hub.user_token(
            "alice", scopes=[f"access:servers!server=alice/{n}" for n in SERVERS]
        )
        hub.records = {name: str(base / f"recorded-{name}.jsonl") for name in SERVERS}
        yield hub


def hub_target(hub, name):
    """(port, path prefix) of alice's server ``name`` through the Hub's proxy."""
    url = hub.servers[name]
    return hub.port, "/" + url.split("/", 3)[3]


def hub_requests(hub, name, marker):
    _, requests = recorder.read(hub.records[name])
    return [r for r in requests if marker in r["url"]]


hub_test = pytest.mark.asyncio(loop_scope="module")


@hub_test
@pytest.mark.slow
@pytest.mark.parametrize("name", SERVERS)
async def test_hub_user_cannot_smuggle_a_request(hub, name):  # hole 1
    port, prefix = hub_target(hub, name)
    auth = f"Authorization: token {hub.token}\r\n".encode()
    smuggled = b"GET /smuggled-%s HTTP/1.1\r\nHost: x\r\n\r\n" % name.encode()
    raw = (
        b"POST %ssmuggle-test HTTP/1.1\r\nHost: client.example\r\n" % prefix.encode()
        + b"Connection: keep-alive, Content-Length\r\n"
        + auth
        + b"Content-Length: %d\r\n\r\n" % len(smuggled)
        + smuggled
    )
    answers = await conversation(
        port, (raw, False), (b"GET %ssmuggle-after HTTP/1.1\r\nHost: x\r\n" % prefix.encode()
                             + auth + b"\r\n", False)
    )  # fmt: skip
    assert [a[0] for a in answers] == [200, 200]
    await asyncio.sleep(0.3)
    got = hub_requests(hub, name, "smuggle")
    assert [(r["method"], r["url"]) for r in got] == [
        ("POST", "/smuggle-test"),
        ("GET", "/smuggle-after"),
    ], got
    assert got[0]["body"].encode("latin-1") == smuggled
    assert header_map(got[0])["host"] == "client.example"


@hub_test
@pytest.mark.slow
@pytest.mark.parametrize("name", SERVERS)
async def test_hub_anonymous_head_then_next_request_answered(hub, name):  # hole 2
    port, prefix = hub_target(hub, name)
    for credentials in (b"", b"Authorization: token not-a-token\r\n"):
        answers = await conversation(
            port,
            (b"HEAD %shead-test HTTP/1.1\r\nHost: x\r\n%s\r\n" % (prefix.encode(), credentials),
             True),
            (b"GET %shead-after HTTP/1.1\r\nHost: x\r\nAuthorization: token %s\r\n\r\n"
             % (prefix.encode(), hub.token.encode()), False),
        )  # fmt: skip
        assert answers[0][0] in (302, 403), answers[0]
        assert answers[1][0] == 200, answers[1]


@hub_test
@pytest.mark.slow
@pytest.mark.parametrize("name", SERVERS)
async def test_hub_sibling_server_cookies_never_reach_the_app(hub, name):  # hole 3
    port, prefix = hub_target(hub, name)
    # what a browser sends to /user/alice/<name>/: the default server's cookie too
    cookie = (
        "app=1; jupyterhub-user-alice=x; jupyterhub-user-alice-oauth-state=y; "
        f"jupyterhub-user-alice-{name}-oauth-state-z1=z; jupyterhub-session-id=s; "
        "jupyterhub-hub-login=h"
    )
    async with aiohttp.ClientSession() as s:
        headers = {"Authorization": f"token {hub.token}", "Cookie": cookie}
        async with s.get(f"http://127.0.0.1:{port}{prefix}cookie-test", headers=headers) as r:
            assert r.status == 200
    await asyncio.sleep(0.3)
    [got] = hub_requests(hub, name, "cookie-test")
    assert header_map(got).get("cookie") == "app=1", got["headers"]


@hub_test
@pytest.mark.slow
@pytest.mark.parametrize("name", SERVERS)
async def test_hub_encoded_token_name_never_reaches_app_or_log(hub, name):  # hole 4
    port, prefix = hub_target(hub, name)
    token = hub.token
    async with aiohttp.ClientSession() as s:
        for query, headers in (
            (f"?%74oken={token}", {"Authorization": f"token {token}"}),
            (f"?x=1&t%6Fken={token}", {}),
        ):
            url = f"http://127.0.0.1:{port}{prefix}encoded-test{query}"
            async with s.get(aiohttp.client.URL(url, encoded=True), headers=headers,
                             allow_redirects=False) as r:  # fmt: skip
                assert r.status in (200, 302, 403), r.status
    # a websocket handshake with an encoded ?token= (the recorder refuses the upgrade)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"GET {prefix}encoded-test-ws?%74oken={token} HTTP/1.1\r\nHost: x\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n".encode()
    )
    await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
    writer.close()
    await asyncio.sleep(0.5)
    got = hub_requests(hub, name, "encoded-test")
    assert any("encoded-test-ws" in r["url"] for r in got), got
    for r in got:
        assert token not in r["url"], r
    assert token not in hub.log_text()


# -- the login flows: the same answers with the deprecated --no-fast-path ----------------------


def login_requests(prefix, cookie_name):
    """Raw login-flow requests (marker ``login-proof`` in each URL), one per case."""
    host = b"Host: x\r\n"
    ws = (b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
          b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n")  # fmt: skip
    p = prefix.encode()
    return {
        "page": (b"GET %slogin-proof HTTP/1.1\r\n%s\r\n" % (p, host), False),
        "head": (b"HEAD %slogin-proof HTTP/1.1\r\n%s\r\n" % (p, host), True),
        "post": (b"POST %slogin-proof HTTP/1.1\r\n%sContent-Length: 2\r\n\r\nab" % (p, host),
                 False),
        "websocket": (b"GET %slogin-proof-ws HTTP/1.1\r\n%s%s\r\n" % (p, host, ws), False),
        "url token": (b"GET %slogin-proof?token=bogus HTTP/1.1\r\n%s\r\n" % (p, host), False),
        "bad token": (b"GET %slogin-proof HTTP/1.1\r\n%sAuthorization: token bogus\r\n"
                      b"Accept: text/html\r\n\r\n" % (p, host), False),
        "forged cookie": (b"GET %slogin-proof HTTP/1.1\r\n%sCookie: %s=forged\r\n\r\n"
                          % (p, host, cookie_name.encode()), False),
        "callback": (b"GET %soauth_callback?code=x&state=stale&login-proof=1 HTTP/1.1\r\n%s\r\n"
                     % (p, host), False),
        "callback error": (b"GET %soauth_callback?error=login-proof HTTP/1.1\r\n%s\r\n"
                           % (p, host), False),
        # what the front relayed to a tornado app until issue 15 (step 1-4)
        "below the callback": (b"GET %soauth_callback/login-proof HTTP/1.1\r\n%s\r\n"
                               % (p, host), False),
        "websocket url token": (b"GET %slogin-proof-ws?token=bogus HTTP/1.1\r\n%s%s\r\n"
                                % (p, host, ws), False),
        # (not a websocket, e.g. Upgrade: h2c: CHP closes those; see test_upgrade_not_websocket)
        "empty url token": (b"GET %slogin-proof?token= HTTP/1.1\r\n%s\r\n" % (p, host), False),
        "token after ;": (b"GET %slogin-proof?a=1;token=bogus HTTP/1.1\r\n%s\r\n" % (p, host),
                          False),
        "preflight with token": (b"OPTIONS %slogin-proof?token=bogus HTTP/1.1\r\n%s"
                                 b"Access-Control-Request-Method: PUT\r\n\r\n" % (p, host),
                                 False),
    }  # fmt: skip


async def raw_answer(port, raw, head_only):
    """(status, [(lower name, value)], body) of one request on its own connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
        lines = head.decode("latin-1").split("\r\n")
        headers = [
            (n.strip().lower(), v.strip())
            for n, _, v in (line.partition(":") for line in lines[1:] if line)
        ]
        length = 0 if head_only else int(dict(headers).get("content-length", "0"))
        body = await asyncio.wait_for(reader.readexactly(length), TIMEOUT)
    finally:
        writer.close()
    return int(lines[0].split()[1]), headers, body


def request_lines(hub, name):
    """The request log lines of ``name``'s marker (the front logs each answer it makes)."""
    pattern = re.compile(
        rf"\b\d{{3}} [A-Z]+ /user/alice/{name}/\S*login-proof\S* \(\S+\) [\d.]+ms$"
    )
    return [line for line in hub.log_text().splitlines() if pattern.search(line)]


@hub_test
@pytest.mark.slow
async def test_hub_login_flows_answered_the_same_with_no_fast_path(hub):
    answers = {}
    for name in SERVERS:
        port, prefix = hub_target(hub, name)
        cookie_name = f"jupyterhub-user-alice-{name}"
        answers[name] = {
            case: await raw_answer(port, raw, head_only)
            for case, (raw, head_only) in login_requests(prefix, cookie_name).items()
        }
    # the proxy answered them all itself (a log line for each answer), none reached the app
    await asyncio.sleep(0.3)
    for name in SERVERS:
        assert len(request_lines(hub, name)) == len(answers[name]), hub.log_tail(80)
        assert not hub_requests(hub, name, "login-proof")
    # ... and the same answers with --no-fast-path: status, texts, headers, cookie attributes
    fast, slow = answers["fast"], answers["flagged"]
    for case in fast:
        (status, headers, body), (t_status, t_headers, t_body) = fast[case], slow[case]
        assert status == t_status, (case, fast[case], slow[case])
        assert body == t_body.replace(b"/flagged/", b"/fast/"), (case, body, t_body)
        ignored = {"date", "location", "set-cookie", "connection", "content-length"}
        mine = {(n, v) for n, v in headers if n not in ignored}
        theirs = {(n, v) for n, v in t_headers if n not in ignored}
        assert mine == theirs, (case, mine ^ theirs)
        assert [_cookie_shape(v) for n, v in headers if n == "set-cookie"] == [
            _cookie_shape(v.replace("-flagged", "-fast").replace("/flagged/", "/fast/"))
            for n, v in t_headers
            if n == "set-cookie"
        ], case
        if status in (301, 302):
            location = dict(headers)["location"]
            t_location = dict(t_headers)["location"].replace("flagged", "fast")
            assert re.sub(r"(state|code_challenge)=[^&]+", "", location) == re.sub(
                r"(state|code_challenge)=[^&]+", "", t_location
            ), case


@hub_test
@pytest.mark.slow
async def test_hub_oauth_login_completes_in_the_front(hub):
    """A browser's whole OAuth login with the fast server, the login steps answered by the
    proxy itself (only the page reaches the app)."""
    from hub import get_authorized

    url = hub.servers["fast"] + "login-proof-oauth"
    async with hub.login("alice") as browser:
        status, final, _ = await get_authorized(browser, url)
        assert (status, final.path) == (200, "/user/alice/fast/login-proof-oauth")
    await asyncio.sleep(0.3)
    got = hub_requests(hub, "fast", "login-proof-oauth")
    assert [r["url"] for r in got] == ["/login-proof-oauth"], got  # the page, once
    assert not hub_requests(hub, "fast", "oauth_callback")
    # a websocket logging in with ?token= (relayed to a tornado app until issue 15):
    # refused by the front itself, and logged
    port, prefix = hub_target(hub, "fast")
    raw = (
        f"GET {prefix}login-proof-relayed?token=not-a-token HTTP/1.1\r\nHost: x\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    )
    status, _, _ = await raw_answer(port, raw.encode(), True)
    assert status == 403
    deadline = time.monotonic() + 5
    while not [line for line in request_lines(hub, "fast") if "login-proof-relayed" in line]:
        assert time.monotonic() < deadline, hub.log_tail(40)
        await asyncio.sleep(0.1)
    assert not hub_requests(hub, "fast", "login-proof-relayed")


@hub_test
@pytest.mark.slow
@pytest.mark.parametrize("name", SERVERS)
async def test_hub_front_forwards_what_it_once_relayed(hub, name):
    """Requests the front relayed to a tornado app until issue 15, with a valid token:
    the app receives them, without the token."""
    port, prefix = hub_target(hub, name)
    p, token = prefix.encode(), hub.token.encode()
    auth = b"Authorization: token %s\r\n" % token
    ws = (b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
          b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n")  # fmt: skip
    requests = [
        b"GET %srelay-test-ws?a=1&token=%s&b=2 HTTP/1.1\r\nHost: x\r\n%s\r\n" % (p, token, ws),
        b"GET %srelay-test-ws-enc?%%74oken=%s HTTP/1.1\r\nHost: x\r\n%s\r\n" % (p, token, ws),
        b"GET %srelay-test-empty?token=&x=1 HTTP/1.1\r\nHost: x\r\n%s\r\n" % (p, auth),
        b"GET %srelay-test-semi?x=1;token=%s HTTP/1.1\r\nHost: x\r\n%s\r\n" % (p, token, auth),
        b"GET %soauth_callback/relay-test HTTP/1.1\r\nHost: x\r\n%s\r\n" % (p, auth),
    ]
    for raw in requests:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(raw)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
        writer.close()
        assert b" 403 " not in head.split(b"\r\n")[0] and b" 302 " not in head, (raw, head)
    deadline = time.monotonic() + TIMEOUT
    while len(hub_requests(hub, name, "relay-test")) < len(requests):
        assert time.monotonic() < deadline, hub_requests(hub, name, "relay-test")
        await asyncio.sleep(0.1)
    got = {r["url"].split("/")[-1]: r for r in hub_requests(hub, name, "relay-test")}
    assert sorted(got) == sorted([
        "relay-test-ws?a=1&b=2", "relay-test-ws-enc",
        "relay-test-empty?x=1", "relay-test-semi?x=1", "relay-test",
    ]), sorted(got)  # fmt: skip
    for request in got.values():
        assert hub.token not in str(request), request
    assert header_map(got["relay-test-ws?a=1&b=2"])["upgrade"].lower() == "websocket"


def _cookie_shape(cookie):
    """A Set-Cookie without its value and expiry time: name and attributes."""
    name = cookie.split("=", 1)[0]
    attrs = [a.strip() for a in cookie.split(";")[1:]]
    return [name] + [re.sub(r"^expires=.*", "expires", a) for a in attrs]
