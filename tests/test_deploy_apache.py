"""deploy/apache/jupyterhub.conf (and jupyterhub-site-login.conf) run for real (TLS,
loopback, random ports) in front of a Hub with jhembed servers."""

import asyncio
import json
import sys
import time
from pathlib import Path

import aiohttp
import pytest
import webservers as web
import yarl
from testapp import PATTERN, expected_sha

HERE = Path(__file__).resolve().parent
TESTAPP = str(HERE / "testapp.py")
BIG = 300 * 1000 * 1000
HOST = "https://host.example"
IDLE = 60  # seconds a websocket stays idle before it is used again (issue 7)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.deploy,  # JupyterHub 6 only (marker help in pyproject.toml)
    pytest.mark.skipif(
        bool(web.missing(web.APACHE, "openssl")), reason=web.missing(web.APACHE, "openssl")
    ),
]


def hub_config():
    args = ["--frame-ancestors", HOST, "--forward-user", "--"]
    args += [sys.executable, TESTAPP, "--port", "{port}"]
    return f'c.Spawner.cmd = ["jupyter-embedproxy"]\nc.Spawner.args = {args!r}\n'


def lower_headers(echo):
    return {k.lower(): v for k, v in echo["headers"]}


def with_http2(text):
    """The shipped file with HTTP/2 on, as its header note says."""
    return text.replace("    SSLEngine on\n", "    SSLEngine on\n    Protocols h2 http/1.1\n", 1)


async def start(hub_factory, tmp_path, prefix, site_login=None, edit=None):
    certs = web.make_certs(tmp_path / "certs")
    hub = await hub_factory(hub_config(), base_url=prefix)
    await hub.create_user("alice")
    server = web.apache(
        {"PREFIX": prefix, "HUB_UPSTREAM": f"127.0.0.1:{hub.port}"},
        certs,
        site_login=site_login,
        edit=edit,
    )
    server.hub = hub
    server.certs = certs
    server.base = server.url + prefix
    return server


async def test_apache_hub_at_root(hub_factory, tmp_path):
    server = await start(hub_factory, tmp_path, "/")
    hub = server.hub
    async with web.running(server):
        # the REST API through Apache
        token = await hub.user_token("alice")
        async with web.browser(server.certs["ca"]) as api:
            async with api.post(
                f"{server.base}hub/api/users/alice/server",
                headers={"Authorization": f"token {token}"},
                json={},
            ) as r:
                assert r.status in (201, 202), (r.status, await r.text())
        await hub.wait_ready("alice")
        url = f"{server.base}user/alice/"

        async with web.browser(server.certs["ca"]) as alice:
            # login; OAuth redirects keep https and the public host
            await web.hub_login(alice, server.base, "alice")
            status, final, text, hops = await web.follow(alice, url, server.url)
            assert status == 200 and text == "testapp\n", (status, final, text[:300])
            assert any("oauth2/authorize" in h for h in hops), hops

            wss = url.replace("https://", "wss://") + "ws"
            idle = asyncio.ensure_future(web.idle_websocket(alice, wss, IDLE))
            started = time.monotonic()

            async with alice.get(url + "echo") as r:
                echo = lower_headers(await r.json())
            assert echo["x-forwarded-user"] == "alice"
            assert echo["x-forwarded-proto"].split(",")[0] == "https", echo
            assert echo["host"] == f"127.0.0.1:{server.ports['https']}", echo

            # framing headers: exactly what jhembed sends, nothing added or doubled
            await web.check_framing_unchanged(alice, url, server, hub, token, HOST)

            # encoded slashes reach the app as they are (Jupyter's contents API uses them)
            async with alice.get(url + "echo/a%2Fb") as r:
                assert r.status in (200, 404), r.status  # not Apache's 404 for %2F
                assert "Apache" not in (await r.text())

            await web.check_token_not_logged(server, alice, url)
            await web.check_big_transfer(alice, url, BIG, "apache")
            await web.check_http_redirects_to_https(server)

            assert await idle == "still there"
            assert time.monotonic() - started >= IDLE


@pytest.mark.skipif(bool(web.missing("curl")), reason=web.missing("curl"))
async def test_apache_subpath_with_site_login(hub_factory, tmp_path):
    users = {"staff": "s3cret"}
    # this deployment runs with HTTP/2 on (the root one runs the file as shipped)
    server = await start(
        hub_factory, tmp_path, "/jupyter/", site_login={"users": users}, edit=with_http2
    )
    hub = server.hub
    async with web.running(server):
        url = await hub.spawn("alice")  # REST API on the Hub's own address
        url = server.url + url.split(str(hub.port), 1)[1]
        assert url == f"{server.url}/jupyter/user/alice/"
        ca = server.certs["ca"]

        # layer 1: no site password, no Hub (not even its login page)
        async with web.browser(ca) as anon:
            async with anon.get(f"{server.base}hub/login") as r:
                assert r.status == 401
                assert r.headers["WWW-Authenticate"].startswith("Basic")
            wrong = {"Authorization": aiohttp.encode_basic_auth("staff", "nope")}
            async with anon.get(f"{server.base}hub/login", headers=wrong) as r:
                assert r.status == 401
            # an API token alone does not pass the site login either
            token = await hub.user_token("alice")
            async with anon.get(
                f"{server.base}hub/api/user", headers={"Authorization": f"token {token}"}
            ) as r:
                assert r.status == 401

        # layer 2: with the site password, the Hub login decides who you are
        site = {"Authorization": aiohttp.encode_basic_auth("staff", "s3cret")}
        async with web.browser(ca, headers=site) as alice:
            status, final, text, hops = await web.follow(alice, url, server.url)
            assert "/jupyter/hub/login" in final, (status, final)  # not logged in to the Hub
            await web.hub_login(alice, server.base, "alice")
            status, final, text, hops = await web.follow(alice, url, server.url)
            assert status == 200 and text == "testapp\n", (status, final, hops)
            async with alice.get(url + "echo") as r:
                echo = lower_headers(json.loads(await r.text()))
            # the site password stops at Apache
            assert "authorization" not in echo, echo
            assert echo["x-forwarded-user"] == "alice"
            wss = url.replace("https://", "wss://") + "ws"
            assert await web.idle_websocket(alice, wss, 2) == "still there"
            size = 50 * 1000 * 1000
            sha, rate = await web.download(alice, url, size)
            assert sha == expected_sha(size)
            # HTTP/2: the same download over h2, with the site password and the session
            cookies = alice.cookie_jar.filter_cookies(yarl.URL(url))
            cookie = "; ".join(f"{k}={v.value}" for k, v in cookies.items())
            version, status, sha, got = await web.curl_http2(
                f"{url}download?size={size}",
                ca,
                [f"Authorization: {site['Authorization']}", f"Cookie: {cookie}"],
            )
            assert (version, status, got) == ("2", 200, size)
            assert sha == expected_sha(size)
            # a chunked upload (no Content-Length) goes through too (proxy-sendchunked)
            reply, rate = await web.upload(alice, url, size, PATTERN, chunked=True)
            assert reply == {"length": size, "sha256": expected_sha(size)}
