"""Faults, with real processes: the app killed mid-transfer, an app that never
answers or hangs, slow clients, the Hub going away, SIGTERM under load.

Each test prints a FIGURES line (``pytest -s``); docs/reliability.md quotes them.
"""

import asyncio
import json
import re
import signal
import sys
import time
from pathlib import Path

import aiohttp
import psutil
import pytest
import websockets
from proxyutil import run_proxy
from relutil import duration, report

pytestmark = pytest.mark.slow

TESTAPP = str(Path(__file__).resolve().parent.parent / "testapp.py")
GB = 1 << 30
MB = 1 << 20


def _app(proxy):
    [app] = [c for c in proxy.children() if "testapp.py" in " ".join(c.cmdline())]
    return app


async def _recovered(proxy, timeout=30):
    """Seconds until a request through the proxy succeeds again."""
    t0 = time.monotonic()
    async with aiohttp.ClientSession() as s:
        while True:
            try:
                async with s.get(proxy.url + "echo") as r:
                    if r.status == 200:
                        return time.monotonic() - t0
            except aiohttp.ClientError:
                pass
            assert time.monotonic() - t0 < timeout, proxy.output()[-3000:]
            await asyncio.sleep(0.05)


async def test_app_killed_mid_download_then_back():
    async with run_proxy() as p:
        proxy_pid = p.pid
        got = 0
        async with aiohttp.ClientSession() as s:
            async with s.get(p.url + f"download?size={4 * GB}") as r:
                assert r.status == 200
                t_kill = None
                with pytest.raises(aiohttp.ClientError):
                    async for chunk in r.content.iter_any():
                        got += len(chunk)
                        if t_kill is None and got > 50 * MB:
                            _app(p).kill()  # SIGKILL
                            t_kill = time.monotonic()
                error_after = time.monotonic() - t_kill
        assert got < 4 * GB  # the client saw a cut, not a complete body
        assert error_after < 10  # a clean error, not a hang
        back = await _recovered(p)
        assert p.proc.poll() is None and p.pid == proxy_pid  # the proxy stayed up
        report(
            "kill-mid-download",
            received_MiB=got // MB,
            client_error_after_s=round(error_after, 3),
            next_request_ok_after_s=round(back, 2),
        )


async def test_app_killed_mid_upload_then_back():
    async with run_proxy() as p:
        sent = 0
        killed = asyncio.Event()

        async def body():
            nonlocal sent
            chunk = b"u" * MB
            while sent < 4 * GB:
                yield chunk
                sent += len(chunk)
                if sent == 50 * MB:
                    _app(p).kill()
                    killed.set()

        t0 = time.monotonic()
        async with aiohttp.ClientSession() as s:
            try:
                async with s.post(p.url + "upload", data=body()) as r:
                    status = r.status
                    await r.read()
            except aiohttp.ClientError:
                status = "connection error"
        elapsed = time.monotonic() - t0
        assert killed.is_set()
        assert status == "connection error" or status >= 500, status
        assert sent < 4 * GB and elapsed < 30
        back = await _recovered(p)
        assert p.proc.poll() is None
        report(
            "kill-mid-upload",
            sent_before_error_MiB=sent // MB,
            client_saw=status,
            next_request_ok_after_s=round(back, 2),
        )


async def test_hanging_app_gets_504_in_time_and_blocks_nothing():
    async with run_proxy("--request-timeout", "2") as p:
        async with aiohttp.ClientSession() as s:

            async def hang():
                t0 = time.monotonic()
                async with s.get(p.url + "hang") as r:
                    return r.status, time.monotonic() - t0

            hanging = [asyncio.ensure_future(hang()) for _ in range(5)]
            await asyncio.sleep(0.2)
            latencies = []
            for _ in range(50):
                t0 = time.monotonic()
                async with s.get(p.url + "echo") as r:
                    assert r.status == 200
                latencies.append(time.monotonic() - t0)
            results = await asyncio.gather(*hanging)
        assert all(status == 504 for status, _ in results), results
        waited = [t for _, t in results]
        assert all(1.9 < t < 6 for t in waited), waited
        assert max(latencies) < 1
        report(
            "hanging-app",
            request_timeout_s=2,
            answered_504_after_s=f"{min(waited):.2f}-{max(waited):.2f}",
            other_requests=len(latencies),
            other_max_ms=round(1000 * max(latencies), 1),
        )


@pytest.mark.timeout(duration(60, 8) + 300)
async def test_slow_reader_and_slow_uploader_keep_memory_bounded():
    seconds = duration(60, 8)
    async with run_proxy() as p:
        proxy = psutil.Process(p.pid)
        start_rss = proxy.memory_info().rss
        peak = start_rss
        stop = False

        async def sample():
            nonlocal peak
            while not stop:
                peak = max(peak, proxy.memory_info().rss)
                await asyncio.sleep(0.05)

        async def slow_download(s):
            got = 0
            t0 = time.monotonic()
            async with s.get(p.url + f"download?size={GB}") as r:
                while time.monotonic() - t0 < seconds:
                    chunk = await r.content.read(64 * 1024)
                    got += len(chunk)
                    # 1 MB/s: sleep until the bytes so far are due
                    await asyncio.sleep(max(0, got / MB - (time.monotonic() - t0)))
            return got

        async def slow_upload(s):
            sent = 0
            t0 = time.monotonic()

            async def body():
                nonlocal sent
                while time.monotonic() - t0 < seconds:
                    yield b"s" * (64 * 1024)
                    sent += 64 * 1024
                    await asyncio.sleep(max(0, sent / MB - (time.monotonic() - t0)))

            async with s.post(p.url + "upload", data=body()) as r:
                assert r.status == 200
                assert json.loads(await r.read())["length"] == sent
            return sent

        async def others(s):
            n, worst = 0, 0.0
            t_end = time.monotonic() + seconds - 1
            while time.monotonic() < t_end:
                t0 = time.monotonic()
                async with s.get(p.url + "echo") as r:
                    assert r.status == 200
                worst = max(worst, time.monotonic() - t0)
                n += 1
                await asyncio.sleep(0.02)
            return n, worst

        sampler = asyncio.ensure_future(sample())
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None)) as s:
            got, sent, (n, worst) = await asyncio.gather(
                slow_download(s), slow_upload(s), others(s)
            )
        stop = True
        await sampler
        growth = (peak - start_rss) / MB
        assert growth < 64, growth
        assert worst < 1.0
        assert got >= (seconds - 2) * MB * 0.8 and sent >= (seconds - 2) * MB * 0.8
        report(
            "slow-clients",
            seconds=seconds,
            slow_download_MiB=round(got / MB, 1),
            slow_upload_MiB=round(sent / MB, 1),
            proxy_rss_growth_MiB=round(growth, 1),
            other_requests=n,
            other_worst_ms=round(1000 * worst, 1),
        )


async def test_sigterm_during_transfers_and_websockets_leaves_no_orphans():
    async with run_proxy() as p:
        app = _app(p)
        tree = [psutil.Process(p.pid), *psutil.Process(p.pid).children(recursive=True)]
        outcomes = {}

        async def download():
            async with aiohttp.ClientSession() as s:
                try:
                    async with s.get(p.url + f"download?size={4 * GB}") as r:
                        async for _ in r.content.iter_any():
                            pass
                    outcomes["download"] = "completed"
                except aiohttp.ClientError as e:
                    outcomes["download"] = type(e).__name__

        async def upload():
            async def body():
                while True:
                    yield b"x" * MB
                    await asyncio.sleep(0)

            async with aiohttp.ClientSession() as s:
                try:
                    async with s.post(p.url + "upload", data=body()) as r:
                        outcomes["upload"] = r.status
                except aiohttp.ClientError as e:
                    outcomes["upload"] = type(e).__name__

        async def ws():
            async with websockets.connect(f"ws://127.0.0.1:{p.port}/ws") as conn:
                await conn.send("hi")
                assert await conn.recv() == "hi"
                try:
                    while True:
                        await conn.recv()
                except websockets.ConnectionClosed as e:
                    outcomes["websocket"] = f"closed {e.rcvd.code if e.rcvd else 'abnormally'}"

        tasks = [asyncio.ensure_future(f()) for f in (download, upload, ws, ws)]
        await asyncio.sleep(1.0)
        t0 = time.monotonic()
        p.proc.send_signal(signal.SIGTERM)
        code = await p.wait_exit(timeout=30)
        stopped = time.monotonic() - t0
        done, pending = await asyncio.wait(tasks, timeout=15)
        assert not pending, outcomes  # every client was told, none hangs
        gone, alive = psutil.wait_procs(tree, timeout=5)
        assert not alive, alive
        assert not app.is_running()
        assert code == 0
        assert outcomes.get("download") != "completed"
        # websockets get a close frame: 1001 going away
        assert outcomes["websocket"] == "closed 1001", outcomes
        report(
            "sigterm-under-load",
            proxy_exit_code=code,
            stopped_in_s=round(stopped, 2),
            clients=outcomes,
            processes_left=len(alive),
        )


async def test_app_that_never_answers_fails_the_spawn_with_its_output(hub_factory):
    marker = "never-ready-marker-42"
    config = f"""
c.JupyterHub.spawner_class = "embed-simple"
c.EmbedSpawner.apps = {{
    "stuck": {{
        "command": [{sys.executable!r}, "-c",
                    "import time; print({marker!r}, flush=True); time.sleep(600)"],
        "timeout": 4,
    }},
}}
"""
    hub = await hub_factory(config)
    await hub.create_user("alice")
    t0 = time.monotonic()
    status, body = await hub.api("POST", "users/alice/servers/stuck", json_body={"app": "stuck"})
    assert status in (201, 202, 500), (status, body)
    message = body.get("message", "") if isinstance(body, dict) else str(body)
    if status != 500:
        # follow the progress stream to its end
        async with aiohttp.ClientSession() as s:
            url = f"{hub.api_url}users/alice/servers/stuck/progress"
            async with s.get(url, headers={"Authorization": f"token {hub.token}"}) as r:
                async for line in r.content:
                    if line.startswith(b"data:"):
                        event = json.loads(line[5:])
                        if event.get("failed") or event.get("ready"):
                            message = event.get("message", "")
                            assert event.get("failed"), event
                            break
    elapsed = time.monotonic() - t0
    assert marker in message, message
    assert "did not answer" in message
    assert elapsed < 4 + 15, elapsed
    # nothing left running, nothing recorded as started
    status, user = await hub.api("GET", "users/alice")
    assert "stuck" not in user.get("servers", {}) or not user["servers"]["stuck"]["ready"]
    await asyncio.sleep(1)
    leftovers = [
        p for p in psutil.process_iter(["cmdline"]) if marker in " ".join(p.info["cmdline"] or [])
    ]
    assert not leftovers
    report("never-ready", timeout_s=4, spawn_failed_after_s=round(elapsed, 1),
           error_has_app_output=True)  # fmt: skip


@pytest.mark.timeout(duration(60, 10) + 400)
async def test_hub_down_sessions_keep_working(hub_factory):
    down = duration(60, 10)
    args = ["--debug", "--activity-interval", "1", "--auth-cache-max-age", "600", "--",
            sys.executable, TESTAPP, "--port", "{port}"]  # fmt: skip
    hub = await hub_factory(
        f"c.Spawner.cmd = ['jupyter-embedproxy']\nc.Spawner.args = {args!r}\n",
        cleanup_servers=False,
    )
    await hub.create_user("alice")
    await hub.spawn("alice")
    token = await hub.user_token("alice", scopes=["access:servers!server=alice/"])
    auth = {"Authorization": f"token {token}"}
    m = re.findall(r"listening on (http://127\.0\.0\.1:\d+/user/alice/)", hub.log_text())
    direct = m[-1]
    proxy_pid = None
    for proc in psutil.process_iter(["cmdline"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if "jupyter-embedproxy" in cmd and TESTAPP in cmd:
            proxy_pid = proc.pid
    assert proxy_pid
    async with aiohttp.ClientSession() as s:
        async with s.get(direct + "echo", headers=auth) as r:
            assert r.status == 200
        async with websockets.connect("ws" + direct[4:] + "ws", additional_headers=auth) as ws:
            await hub.stop(kill_servers=False)
            t_down = time.monotonic()
            served = errors = ws_msgs = 0
            new_login = None
            while time.monotonic() - t_down < down:
                async with s.get(direct + "echo", headers=auth) as r:
                    served += r.status == 200
                    errors += r.status != 200
                await ws.send("ping")
                ws_msgs += await ws.recv() == "ping"
                if new_login is None:
                    async with s.get(direct + "echo", headers={"Authorization": "token x"}) as r:
                        new_login = (r.status, r.headers.get("Retry-After"))
                await asyncio.sleep(0.5)
            await hub.start()
            t_up = time.monotonic()
            await ws.send("after")
            assert await ws.recv() == "after"
        # activity posts resume once the Hub is back
        resumed = None
        while time.monotonic() - t_up < 20:
            async with s.get(direct + "echo", headers=auth) as r:
                assert r.status == 200
            status, user = await hub.api("GET", "users/alice")
            last = user["servers"][""]["last_activity"]
            if last and _ts(last) > t_wall_down(t_down):
                resumed = time.monotonic() - t_up
                break
            await asyncio.sleep(0.5)
    assert errors == 0 and served > 0 and ws_msgs == served
    assert new_login[0] == 503 and new_login[1], new_login
    assert resumed is not None
    assert psutil.pid_exists(proxy_pid)  # nothing crashed
    report("hub-down", down_s=down, requests_served=served, errors=errors,
           websocket_messages=ws_msgs, new_login=f"{new_login[0]} Retry-After {new_login[1]}",
           activity_resumed_after_hub_up_s=round(resumed, 1))  # fmt: skip


_WALL_OFFSET = time.time() - time.monotonic()


def t_wall_down(t_monotonic):
    return t_monotonic + _WALL_OFFSET


def _ts(iso):
    from datetime import datetime

    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
