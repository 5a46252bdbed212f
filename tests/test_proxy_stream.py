"""Streaming: 300 MB each way with bounded memory, server-sent events, chunked bodies."""

import asyncio
import hashlib
import json
import time

import aiohttp
import pytest
from proxyutil import run_proxy
from testapp import PATTERN, expected_sha

SIZE = 300 * 1024 * 1024
RSS_LIMIT = 64 * 1024 * 1024


class RssWatch:
    """Samples the proxy's RSS while a transfer runs."""

    def __init__(self, proxy):
        self.proxy = proxy
        self.start = proxy.rss()
        self.peak = self.start
        self._task = asyncio.ensure_future(self._run())

    async def _run(self):
        while True:
            self.peak = max(self.peak, self.proxy.rss())
            await asyncio.sleep(0.02)

    def stop(self):
        self._task.cancel()
        return self.peak - self.start


@pytest.mark.slow
async def test_300mb_download_and_upload_bounded_memory():
    async with run_proxy() as p:
        async with aiohttp.ClientSession() as s:
            # warm up the pools so the baseline includes them
            async with s.get(p.url + "download?size=1000000") as r:
                await r.read()
            watch = RssWatch(p)
            h = hashlib.sha256()
            n = 0
            async with s.get(p.url + f"download?size={SIZE}") as r:
                assert r.status == 200
                async for chunk in r.content.iter_chunked(1 << 20):
                    h.update(chunk)
                    n += len(chunk)
            growth_down = watch.stop()
            assert n == SIZE and h.hexdigest() == expected_sha(SIZE)

            async def body():
                full, rest = divmod(SIZE, len(PATTERN))
                for _ in range(full):
                    yield PATTERN
                yield PATTERN[:rest]

            watch = RssWatch(p)
            async with s.post(
                p.url + "upload", data=body(), headers={"Content-Length": str(SIZE)}
            ) as r:
                reply = await r.json()
            growth_up = watch.stop()
            assert reply == {"length": SIZE, "sha256": expected_sha(SIZE)}
    print(
        f"\nRSS growth: download {growth_down / 2**20:.1f} MiB, upload {growth_up / 2**20:.1f} MiB"
    )
    assert growth_down < RSS_LIMIT
    assert growth_up < RSS_LIMIT


async def test_chunked_download_and_upload():
    async with run_proxy() as p:
        async with aiohttp.ClientSession() as s:
            async with s.get(p.url + "download?size=3000000&chunked=1") as r:
                assert "Content-Length" not in r.headers
                data = await r.read()
            assert hashlib.sha256(data).hexdigest() == expected_sha(3_000_000)

            async def body():
                for _ in range(3):
                    yield PATTERN

            async with s.post(p.url + "upload", data=body()) as r:  # chunked request
                reply = await r.json()
            assert reply["length"] == 3 * len(PATTERN)


async def test_server_sent_events_arrive_one_by_one():
    async with run_proxy() as p:
        async with aiohttp.ClientSession() as s:
            async with s.get(p.url + "sse?n=4&interval=0.3") as r:
                assert r.headers["Content-Type"].startswith("text/event-stream")
                arrivals = []
                async for line in r.content:
                    if line.startswith(b"data:"):
                        arrivals.append(time.monotonic())
        assert len(arrivals) == 4
        gaps = [b - a for a, b in zip(arrivals, arrivals[1:], strict=False)]
        # delivered as sent (0.3 s apart), not buffered to the end
        assert all(g > 0.15 for g in gaps), gaps


async def test_head_and_empty_responses():
    async with run_proxy() as p:
        async with aiohttp.ClientSession() as s:
            async with s.head(p.url + "download?size=12345") as r:
                assert r.status == 200
                assert r.headers["Content-Length"] == "12345"
            async with s.post(p.url + "echo", data=b"") as r:
                assert json.loads(await r.read())["length"] == 0
