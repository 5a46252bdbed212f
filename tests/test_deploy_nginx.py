"""deploy/nginx/jupyterhub.conf run for real (TLS, loopback, random ports) in front of
a Hub with jhembed servers, and the jhembed-auth service answering auth_request."""

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import psutil
import pytest
import webservers as web
from testapp import expected_sha

HERE = Path(__file__).resolve().parent
TESTAPP = str(HERE / "testapp.py")
BIG = 300 * 1000 * 1000
HOST = "https://host.example"
IDLE = 60  # seconds a websocket stays idle before it is used again (issue 7)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.deploy,  # JupyterHub 6 only (marker help in pyproject.toml)
    pytest.mark.skipif(
        bool(web.missing(web.NGINX, "openssl")), reason=web.missing(web.NGINX, "openssl")
    ),
]


def hub_config(auth_port, auth_config_file):
    """The Hub's test config plus deploy/nginx/jupyterhub_config.py (jhembed-auth)."""
    args = ["--frame-ancestors", HOST, "--forward-user", "--"]
    args += [sys.executable, TESTAPP, "--port", "{port}"]
    shipped = (web.DEPLOY / "nginx" / "jupyterhub_config.py").read_text()
    shipped = shipped.replace("127.0.0.1:10101", f"127.0.0.1:{auth_port}")
    shipped = shipped.replace("/etc/jupyterhub/jhembed_auth_config.py", str(auth_config_file))
    assert str(auth_port) in shipped and str(auth_config_file) in shipped
    return f"""
c.Spawner.cmd = ["jupyter-embedproxy"]
c.Spawner.args = {args!r}
{shipped}
"""


def auth_config(path):
    """deploy/nginx/jhembed_auth_config.py, with a 1 s cache (to see the Hub go down)."""
    shipped = (web.DEPLOY / "nginx" / "jhembed_auth_config.py").read_text()
    path.write_text(shipped + "c.AuthRequest.cache_max_age = 1\nc.Application.log_level = 10\n")
    return path


@contextlib.asynccontextmanager
async def reports_app(prefix="/reports/"):
    """Another app of the site, guarded by auth_request (testapp, whose /echo shows headers)."""
    port = web.free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, TESTAPP, "--port", str(port), "--prefix", prefix
    )
    try:
        for _ in range(100):
            if web._listening(port):
                break
            await asyncio.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        proc.kill()
        await proc.wait()


@contextlib.asynccontextmanager
async def deployment(hub_factory, tmp_path, prefix, edit=None):
    """Hub (base URL ``prefix``) + jhembed-auth + reports app + nginx with TLS."""
    certs = web.make_certs(tmp_path / "certs")
    auth_port = web.free_port()
    config_file = auth_config(tmp_path / "jhembed_auth_config.py")
    hub = await hub_factory(hub_config(auth_port, config_file), base_url=prefix)
    for name in ("alice", "bob"):
        await hub.create_user(name)
    async with reports_app() as reports:
        variables = {
            "PREFIX": prefix,
            "HUB_UPSTREAM": f"127.0.0.1:{hub.port}",
            "AUTH_UPSTREAM": f"127.0.0.1:{auth_port}",
            "PROTECTED_PREFIX": "/reports/",
            "PROTECTED_UPSTREAM": reports,
        }
        server = web.nginx(variables, certs, edit=edit)
        server.variables = variables
        async with web.running(server):
            server.hub = hub
            server.certs = certs
            server.auth_port = auth_port
            server.base = server.url + prefix
            yield server


async def spawn_through(web_server, name):
    """Start ``name``'s server with the REST API through nginx; returns its public URL."""
    hub = web_server.hub
    token = await hub.user_token(name)
    async with web.browser(web_server.certs["ca"]) as s:
        async with s.post(
            f"{web_server.base}hub/api/users/{name}/server",
            headers={"Authorization": f"token {token}"},
            json={},
        ) as r:
            assert r.status in (201, 202), (r.status, await r.text())
    await hub.wait_ready(name)
    return f"{web_server.base}user/{name}/"


def lower_headers(echo):
    return {k.lower(): v for k, v in echo["headers"]}


async def test_nginx_hub_at_root(hub_factory, tmp_path):
    async with deployment(hub_factory, tmp_path, "/") as server:
        hub = server.hub
        url = await spawn_through(server, "alice")
        async with web.browser(server.certs["ca"]) as alice:
            # login through nginx; OAuth redirects keep https and the public host
            await web.hub_login(alice, server.base, "alice")
            status, final, text, hops = await web.follow(alice, url, server.url)
            assert status == 200 and text == "testapp\n", (status, final, text[:300])
            assert final.startswith(server.url + "/user/alice/"), final
            assert any("oauth2/authorize" in h for h in hops), hops

            # an idle websocket, used again after IDLE seconds (runs during the rest)
            wss = url.replace("https://", "wss://") + "ws"
            idle = asyncio.ensure_future(web.idle_websocket(alice, wss, IDLE))
            started = time.monotonic()

            # the app sees the external scheme and host
            async with alice.get(url + "echo") as r:
                echo = lower_headers(await r.json())
            assert echo["x-forwarded-user"] == "alice"
            assert echo["x-forwarded-proto"].split(",")[0] == "https", echo
            assert echo["host"] == f"127.0.0.1:{server.ports['https']}", echo
            assert "service-jhembed-auth" not in echo.get("cookie", "")

            # framing headers: exactly what jhembed sends, nothing added or doubled
            token = await hub.user_token("alice")
            await web.check_framing_unchanged(alice, url, server, hub, token, HOST)

            await web.check_token_not_logged(server, alice, url)
            await web.check_big_transfer(alice, url, BIG, "nginx")
            await web.check_http_redirects_to_https(server)

            # auth_request: Hub login guards /reports/
            await check_auth_request(server, alice)

            assert await idle == "still there"
            assert time.monotonic() - started >= IDLE

            # Hub down: refused (nginx answers 500), never let through
            await hub_down(server, alice)


async def check_auth_request(server, alice):
    base, origin = server.base, server.url
    ca = server.certs["ca"]
    # not logged in with the service yet: sent to the Hub's OAuth, then back
    status, final, text, hops = await web.follow(alice, f"{origin}/reports/echo?a=1&b=2", origin)
    assert status == 200, (status, final, text[:300], hops)
    assert hops[0].startswith(f"{base}services/jhembed-auth/login?next=/reports/echo"), hops
    assert final == f"{origin}/reports/echo?a=1&b=2", final
    echo = lower_headers(json.loads(text))
    assert echo["x-forwarded-user"] == "alice"
    assert echo["x-forwarded-groups"] == "readers"
    assert "service-jhembed-auth" not in echo.get("cookie", "")
    # a spoofed identity header is replaced
    async with alice.get(f"{origin}/reports/echo", headers={"X-Forwarded-User": "eve"}) as r:
        assert lower_headers(await r.json())["x-forwarded-user"] == "alice"

    # bob: logged in, not a reader: 403 on /reports/, 200 on /reports/public/
    async with web.browser(ca) as bob:
        await web.hub_login(bob, base, "bob")
        status, final, text, hops = await web.follow(bob, f"{origin}/reports/echo", origin)
        assert status == 403, (status, final, hops)
        status, final, text, hops = await web.follow(bob, f"{origin}/reports/public/echo", origin)
        assert status == 404 or status == 200, (status, final)  # testapp has no such page
        async with bob.get(f"{origin}/reports/public/echo", allow_redirects=False) as r:
            assert r.status != 403

    # anonymous: 401 -> redirect to login; API clients with a token header
    async with web.browser(ca) as anon:
        async with anon.get(f"{origin}/reports/echo", allow_redirects=False) as r:
            assert r.status == 302
        token = await server.hub.user_token("alice", scopes=["custom:reports:read"])
        async with anon.get(
            f"{origin}/reports/echo", headers={"Authorization": f"token {token}"}
        ) as r:
            assert r.status == 200
            echo = lower_headers(await r.json())
            assert echo["x-forwarded-user"] == "alice"
            assert "authorization" not in echo  # the token stays at nginx
        async with anon.get(
            f"{origin}/reports/echo", headers={"Authorization": "token not-a-token"}
        ) as r:
            assert r.history and r.history[0].status == 302  # 401 -> login

    # tokens never reach the service's log
    log = server.hub.log_text()
    assert token not in log


async def hub_down(server, alice):
    hub = server.hub
    # keep the Hub's children (proxy, jhembed-auth, servers) for hub.stop() to clean up
    hub._descendants.update(psutil.Process(hub.proc.pid).children(recursive=True))
    os.kill(hub.proc.pid, signal.SIGKILL)
    hub.proc.wait()
    # answered from jhembed-auth's cache (cache_max_age 1 s) until it expires, then refused
    deadline = time.monotonic() + 10
    while True:
        async with alice.get(f"{server.url}/reports/echo", allow_redirects=False) as r:
            status = r.status
        if status != 200 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    assert status == 500, status
    while "Cannot ask the Hub" not in server.hub.log_text():
        assert time.monotonic() < deadline + 5, server.hub.log_tail()
        await asyncio.sleep(0.1)


def with_http2(text):
    """The shipped file with HTTP/2 on, as its header note says (nginx < 1.25.1 spelling)."""
    if NGINX_VERSION >= (1, 25, 1):
        return text.replace("    ssl_certificate ", "    http2 on;\n    ssl_certificate ", 1)
    return re.sub(r"(listen \S+ ssl);", r"\1 http2;", text, count=1)


def _nginx_version():
    out = subprocess.run([web.NGINX, "-v"], capture_output=True, text=True).stderr
    m = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", out)
    return tuple(int(x) for x in m.groups()) if m else (0, 0, 0)


NGINX_VERSION = _nginx_version() if not web.missing(web.NGINX) else (0, 0, 0)


@pytest.mark.skipif(bool(web.missing("curl")), reason=web.missing("curl"))
async def test_nginx_hub_under_subpath(hub_factory, tmp_path):
    # this deployment runs with HTTP/2 on (the root one runs the file as shipped)
    async with deployment(hub_factory, tmp_path, "/jupyter/", edit=with_http2) as server:
        hub = server.hub
        url = await spawn_through(server, "alice")
        assert url.startswith(server.url + "/jupyter/user/alice/")
        async with web.browser(server.certs["ca"]) as alice:
            await web.hub_login(alice, server.base, "alice")
            status, final, text, hops = await web.follow(alice, url, server.url)
            assert status == 200 and text == "testapp\n", (status, final, hops)
            wss = url.replace("https://", "wss://") + "ws"
            assert await web.idle_websocket(alice, wss, 2) == "still there"
            # the login for guarded paths lives under the sub-path too
            status, final, text, hops = await web.follow(
                alice, f"{server.url}/reports/echo", server.url
            )
            assert status == 200, (status, final, hops)
            assert hops[0].startswith(f"{server.url}/jupyter/services/jhembed-auth/login"), hops

            # jhembed-auth's cookie never passes nginx, wherever it is in the header
            token = await hub.user_token("alice")
            async with aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=web.client_ssl(server.certs["ca"]))
            ) as s:
                for cookie in (
                    "service-jhembed-auth=x; a=1; b=2",
                    "a=1; service-jhembed-auth=x; b=2",
                    "a=1; b=2; service-jhembed-auth=x",
                ):
                    async with s.get(
                        url + "echo",
                        headers={"Authorization": f"token {token}", "Cookie": cookie},
                    ) as r:
                        seen = lower_headers(await r.json()).get("cookie", "")
                    assert "service-jhembed-auth" not in seen, (cookie, seen)
                    assert "a=1" in seen and "b=2" in seen, (cookie, seen)

            # HTTP/2: pages and streamed downloads over h2 (aiohttp above spoke HTTP/1.1,
            # websockets included)
            token = await hub.user_token("alice")
            size = 50 * 1000 * 1000
            version, status, sha, got = await web.curl_http2(
                f"{url}download?size={size}",
                server.certs["ca"],
                [f"Authorization: token {token}"],
            )
            assert (version, status, got) == ("2", 200, size)
            assert sha == expected_sha(size)

            # negative control: with nginx's default 60 s read timeout shortened to 3 s,
            # an idle websocket is cut (nothing pings it): the 60 s test above has teeth
            short = web.nginx(
                {**server.variables},
                server.certs,
                edit=lambda text: text.replace("proxy_read_timeout 1h;", "proxy_read_timeout 3s;"),
            )
            async with web.running(short):
                short_url = url.replace(server.url, short.url)
                async with web.browser(server.certs["ca"]) as again:
                    await web.hub_login(again, short.url + "/jupyter/", "alice")
                    status, *_ = await web.follow(again, short_url, short.url)
                    assert status == 200
                    wss = short_url.replace("https://", "wss://") + "ws"
                    got = await web.idle_websocket(again, wss, 5)
                    assert got != "still there", got

        # the service's server rules, asked directly as nginx does
        check = f"http://127.0.0.1:{server.auth_port}/jupyter/services/jhembed-auth/check"
        alice_token = await hub.user_token("alice")
        bob_token = await hub.user_token("bob")
        admin_token = await hub.user_token("admin")
        cases = [
            (alice_token, "/jupyter/user/alice/", 200),
            (alice_token, "/jupyter/user/alice/lab/tree?x=1", 200),
            (bob_token, "/jupyter/user/alice/", 403),
            (bob_token, "/jupyter/user/bob/x", 200),
            (admin_token, "/jupyter/user/alice/", 200),
            (alice_token, "/jupyter/user/bob/", 403),
            (alice_token, "/reports/public/../../jupyter/user/bob/", 403),
            (alice_token, "/reports/%2e%2e/x", 403),
            (alice_token, "/elsewhere/", 403),
            ("", "/reports/", 401),
            ("nope", "/reports/", 401),
        ]
        async with aiohttp.ClientSession() as s:
            for token, uri, expected in cases:
                headers = {"X-Original-URI": uri}
                if token:
                    headers["Authorization"] = f"token {token}"
                async with s.get(check, headers=headers) as r:
                    assert r.status == expected, (uri, r.status, expected)
            async with s.get(check, headers={"Authorization": f"token {alice_token}"}) as r:
                assert r.status == 500  # nginx not configured to send the URI: refuse
        log = hub.log_text()
        for token in (alice_token, bob_token, admin_token):
            assert token not in log
