"""Side-by-side benchmarks: jupyter-embedproxy vs jupyter standaloneproxy vs a direct connection.

    python bench/run.py [--quick] [--out bench/results] [--docs docs/benchmarks]

Every contender forwards to the same backend (bench/backend.py) on loopback,
in the same run:

  direct                 the backend itself
  standaloneproxy        jupyter standaloneproxy --no-authentication (jupyter-server-proxy)
  embedproxy             jupyter-embedproxy --no-authentication
  standaloneproxy+auth   jupyter standaloneproxy spawned by a real JupyterHub; requests carry a Hub token
  embedproxy+auth        jupyter-embedproxy spawned by a real JupyterHub; requests carry a Hub token

The proxies are reached on their own ports (not through configurable-http-proxy)
so the figures are the proxies'. Load comes from wrk (Debian package).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

import aiohttp
import psutil

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests"))
from hub import Hub, free_port  # noqa: E402
from testapp import PATTERN as CHUNK  # noqa: E402
from testapp import expected_sha  # noqa: E402

BIN = Path(sys.executable).parent


def log(*args):
    print(*args, file=sys.stderr, flush=True)


# -- processes ------------------------------------------------------------------------------------


class Proc:
    def __init__(self, argv, env=None):
        self.out = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(argv, env=dict(os.environ, **(env or {})), stdout=self.out,
                                     stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip

    @property
    def pid(self):
        return self.proc.pid

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()


async def wait_http(url, timeout=60, headers=None):
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as s:
        while time.monotonic() < deadline:
            try:
                async with s.get(url, headers=headers) as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError(f"{url} did not answer 200 in {timeout}s")


# -- measurements -----------------------------------------------------------------------------------

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def wrk(url, connections, seconds, headers=None):
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    for name, value in (headers or {}).items():
        argv[1:1] = ["-H", f"{name}: {value}"]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = {}
    for pct in ("50", "99"):
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)", out, re.M)
        lat[pct] = float(m.group(1)) * _UNITS[m.group(2)]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": rps,
        "p50_ms": lat["50"],
        "p99_ms": lat["99"],
        "non2xx": int(errors.group(1)) if errors else 0,
    }


class RssPeak:
    def __init__(self, pid):
        self.proc = psutil.Process(pid) if pid else None
        self.start = self.proc.memory_info().rss if self.proc else 0
        self.peak = self.start
        self.task = asyncio.ensure_future(self._run()) if self.proc else None

    async def _run(self):
        while True:
            self.peak = max(self.peak, self.proc.memory_info().rss)
            await asyncio.sleep(0.02)

    def stop(self):
        if self.task:
            self.task.cancel()
        return (self.peak - self.start) / 2**20


async def transfer(base, size, pid, headers):
    result = {}
    async with aiohttp.ClientSession(headers=headers) as s:
        watch = RssPeak(pid)
        t0 = time.perf_counter()
        h = hashlib.sha256()
        n = 0
        async with s.get(base + f"download?size={size}") as r:
            async for chunk in r.content.iter_chunked(1 << 20):
                h.update(chunk)
                n += len(chunk)
        dt = time.perf_counter() - t0
        ok = n == size and h.hexdigest() == expected_sha(size)
        result["download"] = {
            "MBps": size / dt / 1e6,
            "rss_growth_MiB": watch.stop(),
            "sha_ok": ok,
            "bytes": n,
        }
        if not ok:  # a broken transfer has no meaningful rate
            result["download"]["error"] = f"received {n} of {size} bytes"
            del result["download"]["MBps"]

        async def body():
            full, rest = divmod(size, len(CHUNK))
            for _ in range(full):
                yield CHUNK
            yield CHUNK[:rest]

        watch = RssPeak(pid)
        t0 = time.perf_counter()
        try:
            async with s.post(
                base + "upload", data=body(), headers={"Content-Length": str(size)}
            ) as r:
                reply = await r.json() if r.status == 200 else {"status": r.status}
        except aiohttp.ClientError as e:
            # e.g. jupyter standaloneproxy refuses bodies over tornado's 100 MB default
            result["upload"] = {"error": f"{type(e).__name__}: {e}", "rss_growth_MiB": watch.stop()}
            return result
        dt = time.perf_counter() - t0
        ok = reply == {"length": size, "sha256": expected_sha(size)}
        result["upload"] = {"MBps": size / dt / 1e6, "rss_growth_MiB": watch.stop(), "sha_ok": ok}
        if not ok:
            result["upload"]["error"] = f"answer {reply}"
            del result["upload"]["MBps"]
    return result


async def websocket(base, seconds, headers):
    url = "ws" + base[4:] + "ws"
    out = {}
    async with aiohttp.ClientSession(headers=headers) as s:
        async with s.ws_connect(url, max_msg_size=0) as ws:
            for label, payload, limit in (("small", "x" * 100, seconds), ("1MiB", CHUNK, seconds)):
                lat = []
                end = time.perf_counter() + limit
                while time.perf_counter() < end:
                    t0 = time.perf_counter()
                    if isinstance(payload, str):
                        await ws.send_str(payload)
                    else:
                        await ws.send_bytes(payload)
                    await ws.receive()
                    lat.append(time.perf_counter() - t0)
                out[label] = {
                    "msgs_per_s": len(lat) / limit,
                    "p50_ms": 1000 * statistics.median(lat),
                }
    return out


# -- contenders ------------------------------------------------------------------------------------------


async def ready_time(kind):
    """Seconds from the child listening to the proxy's first 200 (polled every ms)."""
    stamp = tempfile.NamedTemporaryFile(delete=False).name
    port = free_port()
    child = [sys.executable, str(HERE / "backend.py"), "--port", "{port}", "--stamp", stamp]
    if kind == "embedproxy":
        argv = [
            str(BIN / "jupyter-embedproxy"),
            "--no-authentication",
            "--port",
            str(port),
            "--",
            *child,
        ]
    else:
        argv = [
            str(BIN / "jupyter"),
            "standaloneproxy",
            "--no-authentication",
            "--port",
            str(port),
            "--",
            *child,
        ]
    os.unlink(stamp)
    proc = Proc(argv)
    try:
        async with aiohttp.ClientSession() as s:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    async with s.get(f"http://127.0.0.1:{port}/") as r:
                        if r.status == 200:
                            t = time.time()
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.001)
        return t - float(Path(stamp).read_text())
    finally:
        proc.stop()
        Path(stamp).unlink(missing_ok=True)


HUB_CONFIG = """
import sys
BACKEND = {backend_port}
def pick_cmd(spawner):
    if spawner.name == "jsp":
        spawner.cmd = [{jupyter!r}, "standaloneproxy", "--server-port", str(BACKEND), "--", "sleep", "1000000"]
    else:
        spawner.cmd = [{embed!r}, "--server-port", str(BACKEND), "--", "sleep", "1000000"]
c.Spawner.pre_spawn_hook = pick_cmd
c.Spawner.args = []
"""


async def run(args):
    results = {"quick": args.quick, "started": time.strftime("%Y-%m-%d %H:%M:%S"), "contenders": {}}
    results["versions"] = {
        "python": platform.python_version(),
        "jhembed": version("jhembed"),
        "jupyter-server-proxy": version("jupyter-server-proxy"),
        "jupyterhub": version("jupyterhub"),
        "tornado": version("tornado"),
        "aiohttp": version("aiohttp"),
        "wrk": subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("\n")[0],
        "cpu_count": os.cpu_count(),
    }
    seconds = 3 if args.quick else 10
    size = (200 if args.quick else 1024) * 2**20
    ws_seconds = 2 if args.quick else 5

    backend_port = free_port()
    backend = Proc([sys.executable, str(HERE / "backend.py"), "--port", str(backend_port)])
    procs = [backend]
    hub = None
    try:
        await wait_http(f"http://127.0.0.1:{backend_port}/")
        contenders = {"direct": (f"http://127.0.0.1:{backend_port}/", None, {})}
        for name, argv in (
            ("standaloneproxy", [str(BIN / "jupyter"), "standaloneproxy", "--no-authentication"]),
            ("embedproxy", [str(BIN / "jupyter-embedproxy"), "--no-authentication"]),
        ):
            port = free_port()
            p = Proc(
                [
                    *argv,
                    "--port",
                    str(port),
                    "--server-port",
                    str(backend_port),
                    "--",
                    "sleep",
                    "1000000",
                ]
            )
            procs.append(p)
            await wait_http(f"http://127.0.0.1:{port}/")
            contenders[name] = (f"http://127.0.0.1:{port}/", p.pid, {})

        # the same two proxies, spawned by a real Hub, with Hub authentication
        hub = Hub(Path(tempfile.mkdtemp(prefix="jhembed-bench-")), config=HUB_CONFIG.format(
            backend_port=backend_port, jupyter=str(BIN / "jupyter"), embed=str(BIN / "jupyter-embedproxy")))  # fmt: skip
        await hub.start()
        await hub.create_user("bench")
        token = await hub.user_token("bench")
        auth = {"Authorization": f"token {token}"}
        for name, server in (("standaloneproxy+auth", "jsp"), ("embedproxy+auth", "emb")):
            await hub.spawn("bench", server)
            proc = _server_process("bench", server)
            service_url = proc.environ()["JUPYTERHUB_SERVICE_URL"]
            port = re.search(r":(\d+)/", service_url).group(1)
            base = f"http://127.0.0.1:{port}/user/bench/{server}/"
            await wait_http(base, headers=auth)
            pid = proc.pid
            contenders[name] = (base, pid, auth)

        for name, (base, pid, headers) in contenders.items():
            log(f"== {name}")
            entry = {"url": base}
            if pid:
                entry["idle_rss_MiB"] = psutil.Process(pid).memory_info().rss / 2**20
            for c in (1, 10, 100):
                entry[f"get_c{c}"] = wrk(base, c, seconds, headers)
                log(f"   GET c{c}: {entry[f'get_c{c}']}")
            entry.update(await transfer(base, size, pid, headers))
            log(f"   download {entry['download']}, upload {entry['upload']}")
            entry["websocket"] = await websocket(base, ws_seconds, headers)
            log(f"   websocket {entry['websocket']}")
            results["contenders"][name] = entry
        for kind in ("standaloneproxy", "embedproxy"):
            times = [await ready_time(kind) for _ in range(3 if args.quick else 5)]
            results["contenders"][kind]["ready_after_listen_ms"] = 1000 * statistics.median(times)
            log(
                f"   {kind} ready after listen: {results['contenders'][kind]['ready_after_listen_ms']:.1f} ms"
            )
        results["voila_spawn_to_first_byte_s"] = None if args.quick else await voila_first_byte()
    finally:
        if hub is not None:
            await hub.stop()
        for p in procs:
            p.stop()
    return results


def _server_process(user, server):
    """The proxy process the Hub spawned for ``user``/``server`` (found by its environment)."""
    for p in psutil.process_iter(["cmdline"]):
        try:
            env = p.environ()
        except psutil.Error:
            continue
        cmd = " ".join(p.info["cmdline"] or [])
        if (
            env.get("JUPYTERHUB_USER") == user
            and env.get("JUPYTERHUB_SERVER_NAME") == server
            and ("standaloneproxy" in cmd or "jupyter-embedproxy" in cmd)
        ):
            return p
    raise RuntimeError(f"no server process for {user}/{server}")


async def voila_first_byte():
    """Through a real Hub + configurable-http-proxy: spawn request to the first byte of a Voila page."""
    import nbformat

    tmp = Path(tempfile.mkdtemp(prefix="jhembed-bench-voila-"))
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import ipywidgets as w\nw.IntSlider(value=3)")]
    nbformat.write(nb, tmp / "dash.ipynb")
    config = (
        'c.JupyterHub.spawner_class = "embed-simple"\n'
        f'c.EmbedSpawner.apps = {{"dash": {{"preset": "voila", "options": {{"notebook": {{"default": "dash.ipynb"}}}}}}}}\n'
        f"c.SimpleLocalProcessSpawner.home_dir_template = {str(tmp)!r}\n"
    )
    hub = Hub(tmp / "hub", config=config)
    await hub.start()
    try:
        await hub.create_user("v")
        token = await hub.user_token("v")
        t0 = time.perf_counter()
        url = await hub.spawn("v", options={"user_options": {"app": "dash"}})
        async with aiohttp.ClientSession() as s:
            async with s.get(url, headers={"Authorization": f"token {token}"}) as r:
                await r.content.readany()
                assert r.status == 200, r.status
        return time.perf_counter() - t0
    finally:
        await hub.stop()


# -- report -----------------------------------------------------------------------------------------------


def ratios(results):
    c = results["contenders"]
    out = {}
    for auth in ("", "+auth"):
        emb, jsp = c.get("embedproxy" + auth), c.get("standaloneproxy" + auth)
        if not emb or not jsp:
            continue
        for k in ("get_c1", "get_c10", "get_c100"):
            out[f"{k} rps vs standaloneproxy{auth}"] = emb[k]["rps"] / jsp[k]["rps"]
            out[f"{k} rps vs direct{auth}"] = emb[k]["rps"] / c["direct"][k]["rps"]
        out[f"ws small msgs/s vs standaloneproxy{auth}"] = (
            emb["websocket"]["small"]["msgs_per_s"] / jsp["websocket"]["small"]["msgs_per_s"]
        )
    out["added p50 at c1, embedproxy+auth (ms)"] = (
        c["embedproxy+auth"]["get_c1"]["p50_ms"] - c["direct"]["get_c1"]["p50_ms"]
    )
    out["added p50 at c1, embedproxy (ms)"] = (
        c["embedproxy"]["get_c1"]["p50_ms"] - c["direct"]["get_c1"]["p50_ms"]
    )
    return out


def markdown(results):
    c = results["contenders"]
    names = list(c)
    lines = [f"Run {results['started']}{' (quick)' if results['quick'] else ''}; versions: "
             + ", ".join(f"{k} {v}" for k, v in results["versions"].items()), ""]  # fmt: skip
    lines.append("| figure | " + " | ".join(names) + " |")
    lines.append("|---|" + "---|" * len(names))

    def row(label, fn, fmt):
        cells = []
        for n in names:
            try:
                v = fn(c[n])
                cells.append(fmt.format(v) if v is not None else "-")
            except (KeyError, TypeError):
                cells.append("-")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")

    for conc in (1, 10, 100):
        row(f"small GET req/s, c{conc}", lambda e, k=f"get_c{conc}": e[k]["rps"], "{:,.0f}")
        row(
            f"p50 / p99 ms, c{conc}",
            lambda e, k=f"get_c{conc}": (e[k]["p50_ms"], e[k]["p99_ms"]),
            "{0[0]:.2f} / {0[1]:.2f}",
        )
    row(
        "download MB/s",
        lambda e: f"{e['download']['MBps']:,.0f}" if "MBps" in e["download"] else "failed",
        "{}",
    )
    row(
        "upload MB/s",
        lambda e: f"{e['upload']['MBps']:,.0f}" if "MBps" in e["upload"] else "failed",
        "{}",
    )
    row(
        "download RSS growth MiB",
        lambda e: e["download"]["rss_growth_MiB"] if e.get("idle_rss_MiB") else None,
        "{:.1f}",
    )
    row(
        "upload RSS growth MiB",
        lambda e: e["upload"]["rss_growth_MiB"] if e.get("idle_rss_MiB") else None,
        "{:.1f}",
    )
    row(
        "sha256 equal", lambda e: e["download"]["sha_ok"] and e["upload"].get("sha_ok", False), "{}"
    )
    row("ws small msgs/s", lambda e: e["websocket"]["small"]["msgs_per_s"], "{:,.0f}")
    row("ws small p50 ms", lambda e: e["websocket"]["small"]["p50_ms"], "{:.3f}")
    row("ws 1 MiB msgs/s", lambda e: e["websocket"]["1MiB"]["msgs_per_s"], "{:,.0f}")
    row("idle RSS MiB", lambda e: e.get("idle_rss_MiB"), "{:.1f}")
    row("ready after child listens, ms", lambda e: e.get("ready_after_listen_ms"), "{:.1f}")
    lines += ["", "Ratios (embedproxy / other, same run):", ""]
    lines += [f"- {k}: {v:.2f}" for k, v in ratios(results).items()]
    if results.get("voila_spawn_to_first_byte_s"):
        lines.append(
            f"- Voila, spawn request to first byte through Hub + CHP: {results['voila_spawn_to_first_byte_s']:.1f} s"
        )
    return "\n".join(lines) + "\n"


def plots(results, outdir):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    c = results["contenders"]
    names = list(c)
    fig, ax = plt.subplots(figsize=(8, 4))
    width = 0.8 / len(names)
    for i, n in enumerate(names):
        ax.bar(
            [x + i * width for x in range(3)],
            [c[n][f"get_c{k}"]["rps"] for k in (1, 10, 100)],
            width,
            label=n,
        )
    ax.set_xticks([x + 0.4 - width / 2 for x in range(3)], ["c=1", "c=10", "c=100"])
    ax.set_ylabel("small GET requests/s")
    ax.set_title("Small GET throughput (higher is better)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(outdir / "small-get.png", dpi=100)
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(8, 4))
    for i, (label, key) in enumerate((("download", "download"), ("upload", "upload"))):
        ax.bar(
            [x + i * 0.4 for x in range(len(names))],
            [c[n][key].get("MBps", 0) for n in names],
            0.4,
            label=label,
        )
    ax.set_xticks([x + 0.2 for x in range(len(names))], names, fontsize=8)
    ax.set_ylabel("MB/s")
    ax.set_title("Streaming throughput (higher is better)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(outdir / "streaming.png", dpi=100)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="short runs, 200 MB transfers (< 2 minutes)"
    )
    parser.add_argument("--out", default=str(HERE / "results"))
    parser.add_argument("--docs", default=str(ROOT / "docs" / "benchmarks"),
                        help="where the markdown table and plots go ('' to skip)")  # fmt: skip
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit(
            "bench: wrk is missing; install it with: apt-get install wrk (make bench does)"
        )
    results = asyncio.run(run(args))
    results["ratios"] = ratios(results)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (out / f"{stamp}.json").write_text(json.dumps(results, indent=2))
    table = markdown(results)
    if args.docs:
        docs = Path(args.docs)
        docs.mkdir(parents=True, exist_ok=True)
        command = f"python bench/run.py{' --quick' if args.quick else ''}"
        (docs / "results.md").write_text(
            "# Latest results\n\n"
            f"Made by `{command}` on a machine with {results['versions']['cpu_count']} cores.\n\n"
            + table
            + "\n![small GET throughput](small-get.png)\n\n![streaming throughput](streaming.png)\n"
        )
        plots(results, docs)
    print(table)


if __name__ == "__main__":
    main()
