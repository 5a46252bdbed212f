"""The measurements bench/run.py takes of each contender (one base URL each).

- ``wrk``: small-GET throughput and latency percentiles (wrk, a C load generator);
- ``transfer``: streamed download and upload with sha256 checked and the proxy's
  peak RSS growth sampled while the bytes flow;
- ``websocket``: echo throughput with messages in flight on several
  connections, and round-trip latency on one (aiohttp clients, the same for
  every contender, so the direct figure is the clients' ceiling);
- ``tree_rss``: RSS of a proxy's process tree without the app it runs.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from testapp import PATTERN as CHUNK  # noqa: E402  (the backend sends the same bytes)
from testapp import expected_sha  # noqa: E402

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


# -- small GETs -----------------------------------------------------------------------------------


def wrk(url, connections, seconds, headers=None):
    """One wrk run: requests/s, p50/p99 latency in ms, non-2xx and socket errors."""
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for name, value in (headers or {}).items():
        argv += ["-H", f"{name}: {value}"]
    out = subprocess.run(
        [*argv, url], capture_output=True, text=True, check=True, timeout=seconds + 30
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = {}
    for pct in ("50", "99"):
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        lat[pct] = float(m.group(1)) * _UNITS[m.group(2)]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "rps": rps,
        "p50_ms": lat["50"],
        "p99_ms": lat["99"],
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": sum(map(int, sock.groups())) if sock else 0,
    }


# -- memory ---------------------------------------------------------------------------------------


def _tree(pid, app_marker):
    """The proxy process and its descendants, minus the app (cmdline containing app_marker)."""
    root = psutil.Process(pid)
    procs, skip = [root], set()
    for p in root.children(recursive=True):
        try:
            cmd = " ".join(p.cmdline())
        except psutil.Error:
            continue
        if app_marker and app_marker in cmd:
            skip.add(p.pid)
            skip.update(c.pid for c in p.children(recursive=True))
    procs += [p for p in root.children(recursive=True) if p.pid not in skip]
    return procs


def tree_rss(pid, app_marker):
    """RSS in MiB of the proxy's process tree, the app it runs left out."""
    total = 0
    for p in _tree(pid, app_marker):
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total / 2**20


class RssPeak:
    """Samples the proxy tree's RSS every 20 ms; ``stop()`` returns the peak growth in MiB."""

    def __init__(self, pid, app_marker):
        self.pid, self.marker = pid, app_marker
        self.start = tree_rss(pid, app_marker) if pid else 0.0
        self.peak = self.start
        self.task = asyncio.ensure_future(self._run()) if pid else None

    async def _run(self):
        while True:
            self.peak = max(self.peak, tree_rss(self.pid, self.marker))
            await asyncio.sleep(0.02)

    def stop(self):
        if self.task:
            self.task.cancel()
        return self.peak - self.start


# -- transfers ------------------------------------------------------------------------------------


async def _download(s, base, size, pid, marker):
    watch = RssPeak(pid, marker)
    t0 = time.perf_counter()
    h, n, status, head = hashlib.sha256(), 0, None, b""
    try:
        async with s.get(base + f"download?size={size}") as r:
            status = r.status
            async for chunk in r.content.iter_chunked(1 << 20):
                if not head:
                    head = chunk[:120]
                h.update(chunk)
                n += len(chunk)
    except (aiohttp.ClientError, asyncio.TimeoutError) as e:
        return {"error": f"{type(e).__name__}: {e}", "rss_growth_MiB": watch.stop(), "bytes": n}
    dt = time.perf_counter() - t0
    out = {"rss_growth_MiB": watch.stop(), "bytes": n, "seconds": dt}
    out["sha_ok"] = status == 200 and n == size and h.hexdigest() == expected_sha(size)
    if out["sha_ok"]:
        out["MBps"] = size / dt / 1e6
    else:  # a broken transfer has no meaningful rate
        out["error"] = f"HTTP {status}, {n} of {size} bytes: {head[:120]!r}"
    return out


async def _upload(s, base, size, pid, marker):
    async def body():
        full, rest = divmod(size, len(CHUNK))
        for _ in range(full):
            yield CHUNK
        if rest:
            yield CHUNK[:rest]

    watch = RssPeak(pid, marker)
    t0 = time.perf_counter()
    try:
        async with s.post(base + "upload", data=body(), headers={"Content-Length": str(size)}) as r:
            status = r.status
            reply = await r.json() if status == 200 else (await r.text())[:120]
    except (aiohttp.ClientError, asyncio.TimeoutError) as e:
        # e.g. jupyter standaloneproxy refuses bodies over tornado's 100 MB default
        return {"error": f"{type(e).__name__}: {e}", "rss_growth_MiB": watch.stop()}
    dt = time.perf_counter() - t0
    out = {"rss_growth_MiB": watch.stop(), "seconds": dt}
    out["sha_ok"] = reply == {"length": size, "sha256": expected_sha(size)}
    if out["sha_ok"]:
        out["MBps"] = size / dt / 1e6
    else:
        out["error"] = f"HTTP {status}: {reply!r}"
    return out


async def transfer(base, size, pid, marker, headers):
    """Download then upload ``size`` bytes through ``base``; sha256 checked both ways."""
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(headers=headers, timeout=timeout) as s:
        return {
            "download": await _download(s, base, size, pid, marker),
            "upload": await _upload(s, base, size, pid, marker),
        }


# -- websockets -----------------------------------------------------------------------------------


async def websocket(base, seconds, headers):
    """Websocket echo: 100-byte text and 1 MiB binary messages, ``seconds`` each.

    ``msgs_per_s``: throughput with several connections keeping messages in
    flight (WS_LOAD), so the proxy, not one client's round trips, is what is
    measured; ``p50_ms`` (and ``seq_msgs_per_s``): sequential round trips on one
    connection, the latency a user feels.
    """
    url = "ws" + base[4:] + "ws"
    out = {}
    async with aiohttp.ClientSession(headers=headers) as s:
        for label, payload in (("small", "x" * 100), ("1MiB", CHUNK)):
            async with s.ws_connect(url, max_msg_size=0) as ws:
                lat = await _round_trips(ws, payload, seconds)
            conns, window = WS_LOAD[label]
            rate = await _in_flight(headers, url, payload, seconds, conns, window)
            out[label] = {
                "msgs_per_s": rate,
                "seq_msgs_per_s": len(lat) / sum(lat),
                "p50_ms": 1000 * statistics.median(lat),
                "count": len(lat),
                "connections": conns,
                "in_flight": window,
            }
    return out


async def websocket_rate(base, seconds, headers):
    """The 1 MiB in-flight echo rate alone (``websocket``'s ``msgs_per_s``): a further round."""
    conns, window = WS_LOAD["1MiB"]
    return await _in_flight(headers, "ws" + base[4:] + "ws", CHUNK, seconds, conns, window)


# (connections, messages in flight per connection) for the websocket throughput figure
WS_LOAD = {"small": (8, 32), "1MiB": (4, 2)}


def _check_echo(msg, payload):
    if msg.data != payload:
        raise RuntimeError(f"websocket echo differs: {msg.type} {str(msg.data)[:80]}")


async def _round_trips(ws, payload, seconds):
    lat = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t0 = time.perf_counter()
        if isinstance(payload, str):
            await ws.send_str(payload)
        else:
            await ws.send_bytes(payload)
        _check_echo(await ws.receive(timeout=30), payload)
        lat.append(time.perf_counter() - t0)
    return lat


async def _in_flight(headers, url, payload, seconds, conns, window):
    """Echoed messages/s over ``conns`` connections, each sending ``window`` messages
    back to back, then reading their echoes, until ``seconds`` are up."""
    counts = []
    send = "send_str" if isinstance(payload, str) else "send_bytes"

    async def one():
        got = 0
        async with (
            aiohttp.ClientSession(headers=headers) as own,
            own.ws_connect(url, max_msg_size=0) as ws,
        ):
            end = time.perf_counter() + seconds
            while time.perf_counter() < end:
                for _ in range(window):
                    await getattr(ws, send)(payload)
                for _ in range(window):
                    _check_echo(await ws.receive(timeout=30), payload)
                got += window
        counts.append(got)

    t0 = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(conns)))
    return sum(counts) / (time.perf_counter() - t0)
