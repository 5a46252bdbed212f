"""Websockets through the proxy: messages, subprotocols, close codes, size limits."""

import asyncio
import json

import aiohttp
import pytest
import websockets
from proxyutil import run_proxy


def ws_url(proxy, path="ws"):
    return "ws" + proxy.url[4:] + path


async def test_text_binary_and_large_messages():
    async with run_proxy() as p:
        async with websockets.connect(ws_url(p), max_size=None) as ws:
            await ws.send("hello")
            assert await ws.recv() == "hello"
            await ws.send(b"\x00\xff" * 10)
            assert await ws.recv() == b"\x00\xff" * 10
            big = bytes(range(256)) * 4096  # 1 MiB
            for _ in range(5):
                await ws.send(big)
                assert await ws.recv() == big
            await ws.ping()


async def test_subprotocol_negotiated_end_to_end():
    async with run_proxy() as p:
        async with websockets.connect(ws_url(p), subprotocols=["v1.test", "v2.test"]) as ws:
            assert ws.subprotocol == "v1.test"  # the app picked the first offered


async def test_close_from_app_reaches_client():
    async with run_proxy() as p:
        async with websockets.connect(ws_url(p)) as ws:
            await ws.send("close:4001:app says bye")
            with pytest.raises(websockets.ConnectionClosed) as e:
                await ws.recv()
        assert e.value.rcvd.code == 4001
        assert e.value.rcvd.reason == "app says bye"


async def test_close_from_client_reaches_app():
    async with run_proxy() as p:
        async with websockets.connect(ws_url(p)) as ws:
            await ws.send("x")
            await ws.recv()
            await ws.close(4002, "client says bye")
        async with aiohttp.ClientSession() as s:
            for _ in range(50):
                async with s.get(p.url + "ws-last-close") as r:
                    last = json.loads(await r.read())
                if last:
                    break
                await asyncio.sleep(0.05)
        assert last == {"code": 4002, "reason": "client says bye"}


async def test_max_message_size():
    async with run_proxy("--websocket-max-message-size", "1000") as p:
        async with websockets.connect(ws_url(p)) as ws:
            await ws.send("a" * 900)
            assert await ws.recv() == "a" * 900
            await ws.send("a" * 5000)
            with pytest.raises(websockets.ConnectionClosed) as e:
                await ws.recv()
        assert e.value.rcvd is not None, "closed without a close frame"
        assert e.value.rcvd.code == 1009, e.value.rcvd


async def test_cross_origin_websocket_refused_unless_allowed():
    async with run_proxy("--cors-origins", "https://ok.example") as p:
        with pytest.raises(websockets.InvalidStatus) as e:
            await websockets.connect(ws_url(p), origin="https://evil.example")
        assert e.value.response.status_code == 403
        async with websockets.connect(ws_url(p), origin="https://ok.example") as ws:
            await ws.send("ok")
            assert await ws.recv() == "ok"
        async with websockets.connect(ws_url(p), origin=f"http://127.0.0.1:{p.port}") as ws:
            await ws.send("same")
            assert await ws.recv() == "same"


async def test_many_round_trips():
    async with run_proxy() as p:
        async with websockets.connect(ws_url(p)) as ws:
            for i in range(500):
                await ws.send(str(i))
                assert await ws.recv() == str(i)
