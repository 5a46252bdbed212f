"""jupyter-embedproxy as Spawner.cmd of a real JupyterHub: login, scopes, sharing,
token login, user headers, websockets, activity, Hub down, internal TLS."""

import asyncio
import json
import os
import re
import sys
import time
import uuid
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from hub import get_authorized

HERE = Path(__file__).resolve().parent
TESTAPP = str(HERE / "testapp.py")

pytestmark = pytest.mark.slow

HOST = "https://host.example"


def hub_config(*proxy_args, extra=""):
    """A Hub whose servers are `jupyter-embedproxy <args> -- python tests/testapp.py`."""
    args = ["--debug", *proxy_args, "--", sys.executable, TESTAPP, "--port", "{port}"]
    return f"c.Spawner.cmd = ['jupyter-embedproxy']\nc.Spawner.args = {args!r}\n{extra}"


async def get_json(session, url, **kwargs):
    status, final, text = await get_authorized(session, url, **kwargs)
    assert status == 200, (status, final, text[:500])
    return json.loads(text)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def hub(tmp_path_factory):
    """One Hub for the tests that need only the default proxy flags (a Hub start and a
    spawn saved per test); alice's server is running, bob exists."""
    from hub import run_hub

    async with run_hub(tmp_path_factory.mktemp("hub_auth") / "hub", config=hub_config()) as hub:
        for name in ("alice", "bob"):
            await hub.create_user(name)
        hub.alice_url = await hub.spawn("alice")
        yield hub


shared_hub = pytest.mark.asyncio(loop_scope="module")


def lower_headers(echo):
    headers = echo["headers"]
    if isinstance(headers, dict):
        return {k.lower(): v for k, v in headers.items()}
    return {k.lower(): v for k, v in headers}


async def test_owner_admin_share_and_revoke(hub_factory):
    hub = await hub_factory(hub_config("--forward-user", "--auth-cache-max-age", "1"))
    for name in ("alice", "bob"):
        await hub.create_user(name)
    await hub.api("POST", "groups/team", json_body={"users": ["alice"]})
    url = await hub.spawn("alice")

    # the owner goes through the Hub's OAuth and reaches the app
    async with hub.login("alice") as alice:
        echo = await get_json(alice, url + "echo?x=1")
        headers = lower_headers(echo)
        assert headers["x-forwarded-user"] == "alice"
        assert headers["x-forwarded-groups"] == "team"
        # the proxy's session cookie (a Hub token) never reaches the app
        assert "jupyterhub-user-alice" not in headers.get("cookie", "")
        # a spoofed identity header is replaced, not passed on
        echo = await get_json(alice, url + "echo", headers={"X-Forwarded-User": "mallory"})
        assert lower_headers(echo)["x-forwarded-user"] == "alice"

    # the admin gets in (admin:servers implies access:servers)
    async with hub.login("admin") as admin:
        echo = await get_json(admin, url + "echo")
        assert lower_headers(echo)["x-forwarded-user"] == "admin"

    # another user does not; after a share, they do; after revoking, they don't
    async with hub.login("bob") as bob:
        async with bob.get(url + "echo") as r:
            assert r.status == 403
        status, body = await hub.api("POST", "shares/alice/", json_body={"user": "bob"})
        assert status == 200, body
        echo = await get_json(bob, url + "echo")
        assert lower_headers(echo)["x-forwarded-user"] == "bob"
        status, body = await hub.api("PATCH", "shares/alice/", json_body={"user": "bob"})
        assert status == 200, body
        # refused once the proxy's cached verdict (--auth-cache-max-age 1) is over
        deadline = time.monotonic() + 10
        while True:
            async with bob.get(url + "echo", headers={"Accept": "text/html"}) as r:
                status, page = r.status, await r.text()
            if status != 200 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        assert status == 403, page
        # the page says who is logged in and how to log out
        assert "bob" in page and "/hub/logout" in page


@shared_hub
async def test_api_tokens(hub):
    url = hub.alice_url
    alice_token = await hub.user_token("alice", scopes=["access:servers!server=alice/"])
    bob_token = await hub.user_token("bob")
    async with aiohttp.ClientSession() as s:
        # no credentials: an API client is refused, a browser is sent to log in
        async with s.post(url + "echo", data=b"x", allow_redirects=False) as r:
            assert r.status == 403
        async with s.get(url + "echo", allow_redirects=False) as r:
            assert r.status == 302
            assert "/hub/api/oauth2/authorize" in r.headers["Location"]
        # framed only by its own origin (the default): the Hub's pages may be framed too
        framed = {"Sec-Fetch-Dest": "iframe", "Accept": "text/html"}
        async with s.get(url + "echo", allow_redirects=False, headers=framed) as r:
            assert r.status == 302 and "/hub/api/oauth2/authorize" in r.headers["Location"]
        echo = await get_json(s, url + "echo", headers={"Authorization": f"token {alice_token}"})
        # the token is consumed by the proxy
        assert alice_token not in json.dumps(echo)
        async with s.get(url + "echo", headers={"Authorization": f"token {bob_token}"}) as r:
            assert r.status == 403
        async with s.get(url + "echo", headers={"Authorization": "token not-a-token"}) as r:
            assert r.status == 403
        # a token in a page URL is refused while token login is off
        async with s.get(url + f"echo?token={alice_token}", allow_redirects=False) as r:
            assert r.status == 403
            assert "token login is off" in (await r.text())
    assert alice_token not in hub.log_text()

    # an OAuth callback with a stale state restarts the login once, then says why it failed
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as s:
        callback = url + "oauth_callback?code=x&state=stale"
        async with s.get(callback, allow_redirects=False) as r:
            assert r.status == 302 and r.headers["Location"] == "/user/alice/"
        async with s.get(callback, allow_redirects=False, headers={"Accept": "text/html"}) as r:
            page = await r.text()
            assert r.status == 403 and "Login failed" in page and "state did not match" in page


async def test_token_login_for_iframes(hub_factory):
    hub = await hub_factory(
        hub_config("--allow-token-login", "--frame-ancestors", HOST)  # Partitioned by default
    )
    await hub.create_user("alice")
    url = await hub.spawn("alice")
    token = await hub.user_token("alice", scopes=["access:servers!server=alice/"], expires_in=300)
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as s:
        # a framed browser with no login goes to the Hub's OAuth: the state cookie the
        # proxy sets must come back to the cross-site frame, so it is partitioned too
        async with s.get(url + "echo", allow_redirects=False, headers={"Accept": "text/html"}) as r:
            assert r.status == 302 and "/hub/api/oauth2/authorize" in r.headers["Location"]
            states = r.headers.getall("Set-Cookie")
            assert states and all("-oauth-state" in c for c in states), states
            for cookie in states:
                attrs = [a.strip() for a in cookie.split(";")]
                for attr in ("HttpOnly", "Secure", "SameSite=None", "Partitioned"):
                    assert attr in attrs, cookie
        jar.clear()
        # framed by another site: the Hub's login cannot show there, our page does
        framed = {"Sec-Fetch-Dest": "iframe", "Accept": "text/html", "User-Agent": "frame-test"}
        page = await _frame_login_page(s, url + "echo?x=1", framed, "login-required")
        assert "/hub/api/oauth2/authorize?" in page["login"] and "state=" in page["login"]
        assert page["origins"] == [HOST]
        jar.clear()
        async with s.get(url + f"echo?a=1&token={token}&b=2", allow_redirects=False) as r:
            assert r.status == 302, await r.text()
            assert r.headers["Location"] == "/user/alice/echo?a=1&b=2"
            assert r.headers["Referrer-Policy"] == "no-referrer"
            cookie = r.headers["Set-Cookie"]
            attrs = [a.strip() for a in cookie.split(";")]
            assert attrs[0].startswith("jupyterhub-user-alice=")
            for attr in ("HttpOnly", "Secure", "SameSite=None", "Partitioned", "Path=/user/alice/"):
                assert attr in attrs, cookie
            assert "frame-ancestors " + HOST in r.headers["Content-Security-Policy"]
        # the browser follows with the cookie; the app sees neither token nor cookie
        cookie_value = attrs[0].split("=", 1)[1]
        echo = await get_json(
            s, url + "echo?a=1&b=2", headers={"Cookie": f"jupyterhub-user-alice={cookie_value}"}
        )
        assert token not in json.dumps(echo)
        assert "jupyterhub-user-alice" not in json.dumps(echo)
        assert echo["query"] in ("a=1&b=2", {"a": ["1"], "b": ["2"]}, {"a": "1", "b": "2"})
        # the same browser, framed, right after its token login, without the cookie: blocked
        async with s.get(url + f"echo?token={token}", allow_redirects=False, headers=framed) as r:
            assert r.status == 302
        jar.clear()
        await _frame_login_page(s, url + "echo", framed, "cookies-blocked")
        # a bad token is refused, nothing set
        async with s.get(url + "echo?token=bogus", allow_redirects=False) as r:
            assert r.status == 403
            assert "Set-Cookie" not in r.headers
    # the token appears in no log line of the Hub or the proxy
    assert token not in hub.log_text()


async def _frame_login_page(session, url, headers, code):
    """GET ``url`` as a framed browser without login: our page (401) with ``code``; its data."""
    async with session.get(url, allow_redirects=False, headers=headers) as r:
        text = await r.text()
        assert r.status == 401, (r.status, r.headers.get("Location"), text[:300])
        assert r.headers["Content-Type"].startswith("text/html")
        assert f"frame-ancestors {HOST}" in r.headers["Content-Security-Policy"]
        for cookie in r.headers.getall("Set-Cookie"):  # the state cookie, for "retry"
            assert "Partitioned" in cookie and "SameSite=None" in cookie, cookie
    data = json.loads(re.search(r'id="jhembed-frame-error">(.*?)</script>', text).group(1))
    assert data["code"] == code, data
    assert "Open in a new tab" in text and "requestStorageAccess" in text
    return data


@shared_hub
async def test_websocket_auth(hub):
    url = hub.alice_url
    ws_url = "ws" + url[4:] + "ws"
    token = await hub.user_token("alice", scopes=["access:servers!server=alice/"])
    async with aiohttp.ClientSession() as s:
        with pytest.raises(aiohttp.WSServerHandshakeError) as e:
            await s.ws_connect(ws_url)
        assert e.value.status == 403
        async with s.ws_connect(ws_url, headers={"Authorization": f"token {token}"}) as ws:
            await ws.send_str("hello")
            assert (await ws.receive(timeout=10)).data == "hello"
        # browsers cannot set headers on websockets: ?token= works there, as in JupyterHub
        async with s.ws_connect(ws_url + f"?token={token}") as ws:
            await ws.send_bytes(b"\x00\x01")
            assert (await ws.receive(timeout=10)).data == b"\x00\x01"
    async with hub.login("alice") as alice:
        await get_json(alice, url + "echo")  # OAuth with the server: its session cookie
        async with alice.ws_connect(ws_url, origin=url.rsplit("/user/", 1)[0]) as ws:
            await ws.send_str("cookie")
            assert (await ws.receive(timeout=10)).data == "cookie"
        # cross-site websocket hijacking: refused
        with pytest.raises(aiohttp.WSServerHandshakeError) as e:
            await alice.ws_connect(ws_url, origin="https://evil.example")
        assert e.value.status == 403


async def _last_activity(hub, name):
    status, user = await hub.api("GET", f"users/{name}")
    assert status == 200, user
    return user["servers"][""]["last_activity"]


async def _wait_for(condition, what, timeout=15):
    """Poll ``await condition()`` until it is true; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, f"not within {timeout}s: {what}"
        await asyncio.sleep(0.1)


async def test_activity_and_hub_down(hub_factory):
    hub = await hub_factory(
        hub_config("--activity-interval", "1", "--activity-exclude-paths", "/poll$"),
        cleanup_servers=False,
    )
    await hub.create_user("alice")
    url = await hub.spawn("alice")
    token = await hub.user_token("alice", scopes=["access:servers!server=alice/"])
    auth = {"Authorization": f"token {token}"}

    def log_count(text):
        return hub.log_text().count(text)

    async def log_grows(text, since):
        return log_count(text) > since

    async with aiohttp.ClientSession() as s:
        spawned = await _last_activity(hub, "alice")
        await get_json(s, url + "echo", headers=auth)

        async def moved_past(value):
            return await _last_activity(hub, "alice") > value

        await _wait_for(lambda: moved_past(spawned), "a request moves last_activity")
        first = await _last_activity(hub, "alice")
        # no traffic (excluded polling only): the next report finds nothing to say
        for _ in range(3):
            async with s.get(url + "poll", headers=auth) as r:
                assert r.status < 500
        idle = log_count("No activity to report to the Hub")
        await _wait_for(
            lambda: log_grows("No activity to report to the Hub", idle),
            "a report after the excluded requests",
        )
        assert await _last_activity(hub, "alice") == first
        # traffic: it moves
        await get_json(s, url + "echo", headers=auth)
        await _wait_for(lambda: moved_past(first), "traffic moves last_activity")
        second = await _last_activity(hub, "alice")

        # the Hub (and its proxy) goes away: the server keeps serving from the auth cache
        direct = _direct_url(hub, "alice")
        failed = log_count("Could not report activity to the Hub")
        await hub.stop(kill_servers=False)
        await get_json(s, direct + "echo", headers=auth)
        # the activity reports fail meanwhile (they are retried, the server is not disturbed)
        await _wait_for(
            lambda: log_grows("Could not report activity to the Hub", failed),
            "a failed activity report while the Hub is down",
        )
        await get_json(s, direct + "echo", headers=auth)
        # a new login (uncached token) gets a 503 with a retry hint, not a traceback
        async with s.get(direct + "echo", headers={"Authorization": "token other"}) as r:
            assert r.status == 503
            assert r.headers["Retry-After"]
        await hub.start()
        # the Hub finds the same server running (cleanup_servers = False), at the same URL
        status, user = await hub.api("GET", "users/alice")
        assert status == 200, user
        server = user["servers"][""]
        assert server["ready"] and url.endswith(server["url"]), (url, server)
        await get_json(s, url + "echo", headers=auth)  # through the Hub's new proxy again
        # and the reports get through again
        await _wait_for(lambda: moved_past(second), "activity reported after the Hub is back")
    assert log_count("Reported activity to the Hub again after") >= 1


def _direct_url(hub, name):
    """The proxy's own address, from the Hub's log of the spawn."""
    m = re.findall(rf"listening on (http://127\.0\.0\.1:\d+/user/{name}/)", hub.log_text())
    assert m, hub.log_tail()
    return m[-1]


async def test_internal_ssl(hub_factory, tmp_path):
    hub = await hub_factory(
        hub_config(
            extra=f"c.JupyterHub.internal_ssl = True\n"
            f"c.JupyterHub.internal_certs_location = {str(tmp_path / 'certs')!r}\n"
        )
    )
    await hub.create_user("alice")
    t0 = time.monotonic()
    url = await hub.spawn("alice")
    assert re.search(r"listening on https://", hub.log_text())
    async with hub.login("alice") as alice:
        echo = await get_json(alice, url + "echo")
        assert echo["path"].endswith("/echo")
    assert time.monotonic() - t0 < 60


VOILA_NOTEBOOK = """\
import ipywidgets as w
slider = w.IntSlider(value=3, description="n")
out = w.Label()
def on_change(change):
    out.value = f"square {change.new ** 2}"
slider.observe(on_change, names="value")
print("hello from voila")
w.VBox([slider, out])
"""


async def test_voila_with_widgets_through_the_proxy(hub_factory, tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(VOILA_NOTEBOOK)]
    path = tmp_path / "dash.ipynb"
    nbformat.write(nb, path)
    cmd = [
        "jupyter-embedproxy",
        "--",
        "voila",
        "--port={port}",
        "--no-browser",
        "--Voila.base_url={base_url}",
        "--Voila.server_url=/",
        "--Voila.ip=127.0.0.1",
        str(path),
    ]
    hub = await hub_factory(f"c.Spawner.cmd = {cmd!r}\n")
    await hub.create_user("alice")
    url = await hub.spawn("alice")
    async with hub.login("alice") as alice:
        async with alice.get(url) as r:
            page = await r.text()
            assert r.status == 200, page[:300]
        # the notebook ran and its output is in the page
        assert "hello from voila" in page
        kernel_id = re.search(r'kernelId["\']?\s*[:=]\s*["\']([0-9a-f-]{36})', page).group(1)
        # the kernel websocket works through Hub, proxy and Voila: move the
        # slider as the browser would (widget comm messages; Voila does not allow
        # execute_request) and read the observer's result back from the kernel
        ws_url = "ws" + url[4:] + f"api/kernels/{kernel_id}/channels?session_id=test"
        async with alice.ws_connect(ws_url, origin=url.split("/user/")[0]) as ws:
            kernel = _KernelChannel(ws)
            reply = await kernel.request("comm_info_request", {"target_name": "jupyter.widget"})
            comm_ids = list(reply["content"]["comms"])
            assert comm_ids, reply
            models, answered = {}, set()
            for comm_id in comm_ids:
                await kernel.send(
                    "comm_msg", {"comm_id": comm_id, "data": {"method": "request_state"}}
                )
            while answered != set(comm_ids):
                msg = await kernel.next("comm_msg")
                answered.add(msg["content"]["comm_id"])
                state = msg["content"]["data"].get("state", {})
                if "_model_name" in state:
                    models[state["_model_name"]] = msg["content"]["comm_id"]
            await kernel.send(
                "comm_msg",
                {
                    "comm_id": models["IntSliderModel"],
                    "data": {"method": "update", "state": {"value": 7}, "buffer_paths": []},
                },
            )
            while True:
                msg = await kernel.next("comm_msg")
                if msg["content"]["comm_id"] == models["LabelModel"]:
                    state = msg["content"]["data"].get("state", {})
                    if "value" in state:
                        assert state["value"] == "square 49"
                        break


class _KernelChannel:
    """Just enough of the Jupyter websocket protocol (JSON, legacy) for the tests."""

    def __init__(self, ws):
        self.ws = ws

    async def send(self, msg_type, content, channel="shell"):
        msg_id = uuid.uuid4().hex
        await self.ws.send_json(
            {
                "header": {
                    "msg_id": msg_id,
                    "msg_type": msg_type,
                    "username": "test",
                    "session": "test",
                    "version": "5.3",
                    "date": "2026-01-01T00:00:00Z",
                },
                "parent_header": {},
                "metadata": {},
                "buffers": [],
                "channel": channel,
                "content": content,
            }
        )
        return msg_id

    async def next(self, msg_type, parent=None, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            msg = await self.ws.receive(timeout=max(0.1, deadline - time.monotonic()))
            if msg.type is not aiohttp.WSMsgType.TEXT:
                raise AssertionError(f"websocket closed: {msg}")
            data = json.loads(msg.data)
            if data["msg_type"] != msg_type:
                continue
            if parent and data.get("parent_header", {}).get("msg_id") != parent:
                continue
            return data

    async def request(self, msg_type, content):
        msg_id = await self.send(msg_type, content)
        return await self.next(msg_type.replace("_request", "_reply"), parent=msg_id)


@shared_hub
async def test_version_header_on_the_hub_under_test(hub):
    """The proxy answers with X-JupyterHub-Version like jupyterhub-singleuser, so the
    Hub's spawn check finds it (no "no version header" warning) on JupyterHub 5 and 6."""
    expected = os.environ.get("JHEMBED_EXPECT_JUPYTERHUB")  # set by `make test` per run
    if expected:
        assert hub.version.split(".")[0] == expected, hub.version
    url = hub.alice_url
    async with aiohttp.ClientSession() as s:
        # the proxy's own answer (login redirect) ...
        async with s.get(url, allow_redirects=False) as r:
            assert r.status == 302
            assert r.headers.getall("X-JupyterHub-Version") == [hub.version]
    # ... and the app's answers, forwarded
    async with hub.login("alice") as alice:
        async with alice.get(url + "echo") as r:
            assert r.status == 200, await r.text()
            assert r.headers.getall("X-JupyterHub-Version") == [hub.version]
    log = hub.log_text()
    assert "no version header" not in log
    # the Hub compared our header with its version at the spawn (debug log)
    assert f"jupyterhub and jupyterhub-singleuser both on version {hub.version}" in log


@shared_hub
async def test_oauth_callback_needs_the_state_cookie_of_the_browser_that_started(hub):
    """With PKCE (JupyterHub 6) or without (5), a callback URL carried to another
    browser (no state cookie) does not log that browser in; the one that started does."""
    url = hub.alice_url
    async with hub.login("alice") as alice:
        async with alice.get(url + "echo", allow_redirects=False) as r:
            assert r.status == 302
            authorize = r.headers["Location"]
        assert "/hub/api/oauth2/authorize" in authorize
        assert ("code_challenge=" in authorize) == (int(hub.version.split(".")[0]) >= 6)
        async with alice.get(
            hub.url.rstrip("/") + authorize if authorize.startswith("/") else authorize,
            allow_redirects=False,
        ) as r:
            assert r.status == 302, await r.text()
            callback = r.headers["Location"]
        assert "/oauth_callback?" in callback and "code=" in callback
        if callback.startswith("/"):
            callback = hub.url.rstrip("/") + callback
        # another browser with the callback URL: no session
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as other:
            for _ in range(3):  # the proxy retries a state mismatch once, then refuses
                async with other.get(callback, allow_redirects=False) as r:
                    assert r.status in (302, 403), r.status
                    assert "jupyterhub-user-alice=" not in r.headers.get("Set-Cookie", "")
                    if r.status == 403:
                        assert "Login failed" in await r.text()
                        break
            else:
                raise AssertionError("a foreign callback was never refused")
            async with other.get(url + "echo", allow_redirects=False) as r:
                assert r.status == 302 and "/hub/" in r.headers["Location"]
        # the browser that started the login finishes it
        async with alice.get(callback, allow_redirects=False) as r:
            assert r.status == 302, await r.text()
        echo = await get_json(alice, url + "echo")
        assert echo["path"].endswith("/echo")


async def test_starting_page_shows_the_app_output_to_the_owner_only(hub_factory):
    """While the app starts (it prints, then sleeps before listening), the 503 page carries
    its latest output for the owner's token; anonymous, another user, a user the server is
    shared with and the admin get the bare 503; a secret the app printed is scrubbed."""
    say = "warming up <b>model</b>; token=leakedsecret123"
    args = ["--debug", "--", sys.executable, TESTAPP, "--port", "{port}"]
    args += ["--start-delay", "20", "--say", say]
    hub = await hub_factory(f"c.Spawner.cmd = ['jupyter-embedproxy']\nc.Spawner.args = {args!r}\n")
    for name in ("alice", "bob", "carol"):
        await hub.create_user(name)
    tokens = {name: await hub.user_token(name) for name in ("alice", "bob", "carol", "admin")}
    status, body = await hub.api("POST", "users/alice/server", json_body=hub.spawn_body({}))
    assert status == 202, body  # pending: the app sleeps before it listens

    async def proxy_listens():
        return bool(re.findall(r"listening on http://127\.0\.0\.1:\d+/user/alice/", hub.log_text()))

    await _wait_for(proxy_listens, "the proxy listens")
    url = _direct_url(hub, "alice")
    status, body = await hub.api("POST", "shares/alice/", json_body={"user": "carol"})
    assert status == 200, body

    async def page(token=None, accept="text/html"):
        headers = {"Accept": accept}
        if token:
            headers["Authorization"] = f"token {token}"
        async with aiohttp.ClientSession() as s:
            async with s.get(url, headers=headers, allow_redirects=False) as r:
                return r.status, await r.text()

    async def owner_sees_it():
        status, text = await page(tokens["alice"])
        assert status == 503, text
        return "warming up" in text

    await _wait_for(owner_sees_it, "the owner sees the app's output on the 503 page")
    status, text = await page(tokens["alice"])
    assert "warming up &lt;b&gt;model&lt;/b&gt;; token=[secret]" in text, text
    assert "leakedsecret123" not in text and "<b>model" not in text
    status, text = await page(tokens["alice"], accept="*/*")
    assert status == 503 and "warming up <b>model</b>; token=[secret]" in text, text
    for who in (None, "bob", "carol", "admin"):
        status, text = await page(tokens[who] if who else None)
        assert status == 503 and "is starting" in text, (who, status, text)
        assert "warming up" not in text and "owner" not in text, (who, text)
    # the proxy's log of the app's line (in the Hub's log) is scrubbed as well
    logged = [line for line in hub.log_text().splitlines() if "] warming up" in line]
    assert logged and all("leakedsecret123" not in line for line in logged), logged
    await hub.wait_ready("alice")
    status, text = await page(tokens["alice"])
    assert status == 200, text
