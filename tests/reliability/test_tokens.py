"""Token hygiene through a real Hub: a Hub token never shows in a log line, in what
the app receives (headers, query, cookies, Referer), or in a page; a revoked or
expired token stops working within ``--auth-cache-max-age``."""

import asyncio
import json
import sys
import time
from pathlib import Path

import aiohttp
import pytest
from relutil import report

pytestmark = pytest.mark.slow

TESTAPP = str(Path(__file__).resolve().parent.parent / "testapp.py")
CACHE = 2  # --auth-cache-max-age for these tests, seconds


def config():
    args = ["--debug", "--allow-token-login", "--auth-cache-max-age", str(CACHE), "--",
            sys.executable, TESTAPP, "--port", "{port}"]  # fmt: skip
    return f"c.Spawner.cmd = ['jupyter-embedproxy']\nc.Spawner.args = {args!r}\n"


async def test_token_never_leaks(hub_factory):
    hub = await hub_factory(config())
    await hub.create_user("alice")
    url = await hub.spawn("alice")
    token = await hub.user_token("alice", scopes=["access:servers!server=alice/"])
    seen = []  # every body and header the client got, and every request the app got
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as s:
        # token login: a clean URL and a cookie
        async with s.get(url + f"echo?x=1&token={token}", allow_redirects=False) as r:
            assert r.status == 302
            location = r.headers["Location"]
            assert token not in location and location.endswith("echo?x=1")
            assert r.headers["Referrer-Policy"] == "no-referrer"
            seen.append(await r.text())
            seen.append(json.dumps({k: v for k, v in r.headers.items() if k != "Set-Cookie"}))
        for path, headers in (
            ("echo?x=1", {}),
            ("echo", {"Referer": f"{url}?token={token}"}),  # a page that still had it
            ("echo", {"Authorization": f"token {token}"}),
            ("page", {"Accept": "text/html"}),
            ("nope-404", {}),
        ):
            async with s.get(url + path, headers=headers) as r:
                body = await r.text()
                seen.append(body)
                seen.append(json.dumps(dict(r.headers)))
                if path.startswith("echo"):
                    assert r.status == 200, body
                    echo = json.loads(body)
                    assert token not in json.dumps(echo), echo  # headers, query, cookies
        # a websocket logging in with ?token= (JupyterLab does this)
        async with s.ws_connect(url.replace("http", "ws") + f"ws?token={token}") as ws:
            await ws.send_str("hi")
            assert (await ws.receive()).data == "hi"
    await asyncio.sleep(1)  # let the logs flush
    logs = hub.log_text()
    assert token not in logs
    assert all(token not in text for text in seen)
    report("token-hygiene", requests=7, token_in_logs=0, token_at_app=0, token_in_pages=0,
           referer_scrubbed=True)  # fmt: skip


async def _until_refused(session, url, headers, limit):
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        async with session.get(url, headers=headers) as r:
            if r.status == 403:
                return time.monotonic() - t0
            assert r.status == 200, r.status
        await asyncio.sleep(0.05)
    raise AssertionError(f"still accepted after {limit}s")


async def test_revoked_and_expired_tokens_stop_within_the_cache_time(hub_factory):
    hub = await hub_factory(config())
    await hub.create_user("alice")
    url = await hub.spawn("alice")
    async with aiohttp.ClientSession() as s:
        # revoked
        token = await hub.user_token("alice", scopes=["access:servers!server=alice/"])
        auth = {"Authorization": f"token {token}"}
        for _ in range(20):  # warm: cached by the proxy
            async with s.get(url + "echo", headers=auth) as r:
                assert r.status == 200
        status, tokens = await hub.api("GET", "users/alice/tokens")
        [tid] = [t["id"] for t in tokens["api_tokens"] if t["note"] == "test"]
        status, _ = await hub.api("DELETE", f"users/alice/tokens/{tid}")
        assert status == 204
        revoked = await _until_refused(s, url + "echo", auth, CACHE + 5)
        # expired
        token = await hub.user_token(
            "alice", scopes=["access:servers!server=alice/"], expires_in=3, note="short"
        )
        auth = {"Authorization": f"token {token}"}
        async with s.get(url + "echo", headers=auth) as r:
            assert r.status == 200
        t_created = time.monotonic()
        await asyncio.sleep(max(0, 3 - (time.monotonic() - t_created)))
        expired = await _until_refused(s, url + "echo", auth, CACHE + 5)
    assert revoked <= CACHE + 1, revoked
    assert expired <= CACHE + 1, expired
    report("token-revocation", auth_cache_max_age_s=CACHE,
           revoked_refused_after_s=round(revoked, 2),
           expired_refused_after_expiry_s=round(expired, 2))  # fmt: skip
