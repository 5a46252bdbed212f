"""The small backend every contender forwards to (aiohttp; as fast as we can make it).

    python bench/backend.py --port N [--stamp FILE]

/ (small GET), /download?size=N, /upload (sha256 of the body), /ws (echo).
With --stamp, writes time.time() to FILE once it listens (for the ready-time figure).
"""

import argparse
import asyncio
import hashlib
import time

from aiohttp import web

SMALL = b"x" * 100
CHUNK = bytes(range(256)) * 4096  # 1 MiB


async def small(request):
    return web.Response(body=SMALL, content_type="text/plain")


async def download(request):
    size = int(request.query.get("size", "1000000"))
    resp = web.StreamResponse(
        headers={"Content-Length": str(size), "Content-Type": "application/octet-stream"}
    )
    await resp.prepare(request)
    sent = 0
    while sent < size:
        n = min(len(CHUNK), size - sent)
        await resp.write(CHUNK[:n])
        sent += n
    await resp.write_eof()
    return resp


async def upload(request):
    h = hashlib.sha256()
    n = 0
    async for chunk in request.content.iter_chunked(1 << 20):
        h.update(chunk)
        n += len(chunk)
    return web.json_response({"length": n, "sha256": h.hexdigest()})


async def ws(request):
    sock = web.WebSocketResponse(max_msg_size=0)
    await sock.prepare(request)
    async for msg in sock:
        if msg.type == web.WSMsgType.TEXT:
            await sock.send_str(msg.data)
        elif msg.type == web.WSMsgType.BINARY:
            await sock.send_bytes(msg.data)
    return sock


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--stamp")
    args = parser.parse_args()
    app = web.Application(client_max_size=1 << 40)
    app.add_routes([web.get("/", small), web.get("/download", download), web.post("/upload", upload),
                    web.get("/ws", ws)])  # fmt: skip

    async def serve():
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", args.port).start()
        if args.stamp:  # the moment the socket listens
            with open(args.stamp, "w") as f:
                f.write(repr(time.time()))
        await asyncio.Event().wait()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
