"""The app's life: starting page, failed start, crash and restart, shutdown, hangs."""

import asyncio
import signal
import sys
import time

import aiohttp
import psutil
from proxyutil import TESTAPP, run_proxy


async def test_starting_page_then_ready():
    async with run_proxy(
        "--app-name", "slowapp", cmd=TESTAPP + ["--start-delay", "2"], ready=False
    ) as p:
        await p.wait_status(lambda s: s == 503)
        async with aiohttp.ClientSession() as s:
            async with s.get(p.url, headers={"Accept": "text/html"}) as r:
                assert r.status == 503
                assert r.headers["Retry-After"] == "1"
                page = await r.text()
                assert "slowapp is starting" in page and 'http-equiv="refresh"' in page
        assert await p.wait_ready() == 200


async def test_app_that_exits_before_ready_fails_the_proxy():
    async with run_proxy("--timeout", "20", cmd=TESTAPP + ["--fail-start"], ready=False) as p:
        t0 = time.monotonic()
        code = await p.wait_exit(timeout=20)
        assert code != 0
        assert time.monotonic() - t0 < 10
        out = p.output()
        # the app's last output is in the proxy's log, so the Hub's spawn error has a reason
        assert "failing on purpose before listening" in out
        assert "exit" in out.lower()


async def test_app_that_never_answers_times_out():
    cmd = [sys.executable, "-c", "import time; print('sleepy app', flush=True); time.sleep(60)"]
    async with run_proxy("--timeout", "2", cmd=cmd, ready=False) as p:
        t0 = time.monotonic()
        assert await p.wait_exit(timeout=20) != 0
        assert time.monotonic() - t0 < 8
        assert "sleepy app" in p.output()
        assert not p.children()


async def _wait_output(p, text, timeout=20):
    deadline = time.monotonic() + timeout
    while text not in p.output():
        assert time.monotonic() < deadline, f"{text!r} not in the output:\n{p.output()}"
        await asyncio.sleep(0.05)


async def test_crash_gives_502_then_restart():
    # the app takes 2 s to answer after a (re)start: once the proxy has seen the crash,
    # the app is restarting for more than 2 s (0.5 s backoff + 2 s start)
    async with run_proxy("--app-name", "crashy", cmd=TESTAPP + ["--start-delay", "2"]) as p:
        async with aiohttp.ClientSession() as s:
            async with s.get(p.url + "crash") as r:
                assert r.status == 502  # the app died while answering
            await _wait_output(p, "crashy exited with code 3")
            async with s.get(p.url, headers={"Accept": "text/html"}) as r:
                page = await r.text()
                assert r.status == 502, page
                assert r.headers["Retry-After"] == "2"
                assert "crashy" in page and "code 3" in page and "being restarted" in page, page
        assert await p.wait_ready() == 200
        assert "Restarting crashy" in p.output()


async def test_restarts_exhausted_exit_non_zero():
    async with run_proxy("--max-restarts", "0") as p:
        async with aiohttp.ClientSession() as s:
            async with s.get(p.url + "crash") as r:
                assert r.status == 502
        assert await p.wait_exit(timeout=20) == 1


async def test_sigterm_stops_everything():
    async with run_proxy() as p:
        children = p.children()
        assert children, "the app should be running"
        p.proc.send_signal(signal.SIGTERM)
        assert await p.wait_exit(timeout=20) == 0
        gone, alive = psutil.wait_procs(children, timeout=5)
        assert not alive, alive


async def test_hanging_request_gets_504_and_blocks_nothing_else():
    async with run_proxy("--request-timeout", "1.5") as p:
        async with aiohttp.ClientSession() as s:

            async def hang():
                async with s.get(p.url + "hang") as r:
                    return r.status

            hanging = asyncio.ensure_future(hang())
            await asyncio.sleep(0.2)
            t0 = time.monotonic()
            async with s.get(p.url + "echo") as r:
                assert r.status == 200
            assert time.monotonic() - t0 < 1
            assert await hanging == 504
