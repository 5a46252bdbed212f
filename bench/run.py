"""Side-by-side benchmarks: jupyter-embedproxy vs its peers vs a direct connection.

    python bench/run.py [--quick] [--only NAME,...] [--out bench/results] [--docs docs/benchmarks]

Every contender forwards to the same backend code (bench/backend.py) on
loopback, with random ports, in the same run; see CONTENDERS below and
bench/README.md for what each figure means.  Load for small GETs comes from
wrk (Debian package); transfers and websockets from one aiohttp client.
Writes bench/results/<stamp>.json, docs/benchmarks/results.md and PNG plots,
and prints the markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
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
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import aiohttp
import psutil

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(HERE))
import measure  # noqa: E402
import report  # noqa: E402
from hub import Hub, free_port  # noqa: E402

BIN = Path(sys.executable).parent
JHSNP_VENV = HERE / ".venv-jhsnp"
JHSNP_VERSION = "0.8.3"
BACKEND = [sys.executable, str(HERE / "backend.py"), "--port", "{port}"]
FALLBACK_SIZE = 50 * 2**20  # transfer size tried when the full one fails
IDLE_APP = ["sleep", "1000000"]  # the "app" of proxies pointed at the shared backend


def log(*args):
    print(*args, file=sys.stderr, flush=True)


# -- contenders -----------------------------------------------------------------------------------
#
# One dict per contender, measured in this order.  Keys:
#   name        label in the JSON, the table and the plots
#   argv        a proxy started by the bench on its own port: "{listen}" is that port,
#               "{backend}" the shared backend's port, "{port}" is left for the proxy to fill
#   hub_argv    instead of argv: Spawner.cmd of a named server spawned by the bench's real
#               JupyterHub; requests carry a Hub API token, so the auth check is counted
#   ready_argv  optional: the same proxy running bench/backend.py itself ("{child}" marks where
#               its command goes), to time "child listening -> proxy answers 200"
#   app_marker  substring of the app's command line; that process is left out of RSS figures
#   full_only   left out of --quick (unless named in --only)
#   candidate   a design candidate, not a product: measured only with --candidates (or --only)
#   skip        optional callable returning None, or the reason the contender cannot run here
#   note        shown under the table
#
# The direct contender has neither argv nor hub_argv.


def _jupyter():
    return str(BIN / "jupyter")


def _embed():
    return str(BIN / "jupyter-embedproxy")


def _jhsnp():
    return str(JHSNP_VENV / "bin" / "jhsingle-native-proxy")


# issue 15's candidate (b), aiohttp's server for all HTTP (bench code; run with --candidates)
_CANDIDATE = [sys.executable, str(HERE / "candidate_aiohttp.py")]


# jhsingle-native-proxy flags: it picks the app's port itself, no logs, no activity posts
_JHSNP_COMMON = ["--destport", "0", "--no-logs", "--last-activity-interval", "0"]
# the same without Hub login, listening where the bench says
_JHSNP_NO_AUTH = [_jhsnp(), "--authtype", "none", "--port", "{listen}", *_JHSNP_COMMON]


def _jhsnp_skip():
    """jhsingle-native-proxy lives in its own venv (bench/.venv-jhsnp), never in .venv."""
    if Path(_jhsnp()).exists():
        return None
    log(f"== setting up {JHSNP_VENV} (jhsingle-native-proxy=={JHSNP_VERSION}; once)")
    try:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(JHSNP_VENV)], check=True,
                       capture_output=True, timeout=120)  # fmt: skip
        subprocess.run([str(JHSNP_VENV / "bin" / "pip"), "install", "-q",
                        f"jhsingle-native-proxy=={JHSNP_VERSION}"],
                       check=True, capture_output=True, text=True, timeout=600)  # fmt: skip
    except subprocess.CalledProcessError as e:
        return f"jhsingle-native-proxy does not install: {(e.stderr or '').strip()[-300:]}"
    except subprocess.TimeoutExpired:
        return "jhsingle-native-proxy install timed out"
    return None


CONTENDERS = [
    {"name": "direct", "note": "the backend itself: the ceiling for every figure"},
    {
        "name": "tcp-relay",
        "argv": [
            sys.executable,
            str(HERE / "relay.py"),
            "--port",
            "{listen}",
            "--backend",
            "{backend}",
        ],
        "note": "bench/relay.py: a bare asyncio TCP byte relay (no HTTP, no login, no limits), the"
        " reference for what any asyncio proxy's copies cost on this machine; a websocket through"
        " jupyter-embedproxy is this plus a frame-size check",
    },  # fmt: skip
    {
        "name": "standaloneproxy",
        "argv": [
            _jupyter(),
            "standaloneproxy",
            "--no-authentication",
            "--port",
            "{listen}",
            "--server-port",
            "{backend}",
            "--",
            *IDLE_APP,
        ],
        "ready_argv": [
            _jupyter(),
            "standaloneproxy",
            "--no-authentication",
            "--port",
            "{listen}",
            "--",
            "{child}",
        ],
        "app_marker": "sleep 1000000",
        "note": "jupyter standaloneproxy (jupyter-server-proxy) --no-authentication",
    },  # fmt: skip
    {
        "name": "jhsingle-native-proxy",
        "argv": [
            *_JHSNP_NO_AUTH,
            "--",
            *BACKEND,
        ],
        "ready_argv": [
            *_JHSNP_NO_AUTH,
            "--",
            "{child}",
        ],
        "app_marker": "backend.py",
        "skip": _jhsnp_skip,
        "note": "jhsingle-native-proxy --authtype none, in bench/.venv-jhsnp; it insists on starting"
        " its own app, so it forwards to its own copy of bench/backend.py (same code)",
    },  # fmt: skip
    {
        "name": "embedproxy",
        "argv": [
            _embed(),
            "--no-authentication",
            "--port",
            "{listen}",
            "--server-port",
            "{backend}",
            "--",
            *IDLE_APP,
        ],
        "ready_argv": [_embed(), "--no-authentication", "--port", "{listen}", "--", "{child}"],
        "app_marker": "sleep 1000000",
        "note": "jupyter-embedproxy --no-authentication",
    },  # fmt: skip
    {
        "name": "standaloneproxy+auth",
        "hub_argv": [_jupyter(), "standaloneproxy", "--server-port", "{backend}", "--", *IDLE_APP],
        "app_marker": "sleep 1000000",
        "note": "jupyter standaloneproxy spawned by JupyterHub, Hub token on every request",
    },
    {
        "name": "jhsingle-native-proxy+auth",
        "hub_argv": [_jhsnp(), *_JHSNP_COMMON, "--", *BACKEND],
        "app_marker": "backend.py",
        "skip": _jhsnp_skip,
        "full_only": True,  # keeps --quick under 2 minutes
        "note": "jhsingle-native-proxy --authtype oauth spawned by JupyterHub, Hub token on every"
        " request; forwards to its own copy of bench/backend.py",
    },  # fmt: skip
    {
        "name": "embedproxy+auth",
        "hub_argv": [_embed(), "--server-port", "{backend}", "--", *IDLE_APP],
        "app_marker": "sleep 1000000",
        "note": "jupyter-embedproxy spawned by JupyterHub, Hub token on every request",
    },
    {
        "name": "aiohttp-candidate",
        "argv": [
            *_CANDIDATE,
            "--no-authentication",
            "--port",
            "{listen}",
            "--server-port",
            "{backend}",
            "--",
            *IDLE_APP,
        ],
        "ready_argv": [*_CANDIDATE, "--no-authentication", "--port", "{listen}", "--", "{child}"],
        "app_marker": "sleep 1000000",
        "candidate": True,
        "note": "bench/candidate_aiohttp.py --no-authentication: issue 15's candidate (b), the hot"
        " path on aiohttp's server (an upper bound: no browser login, no activity)",
    },  # fmt: skip
    {
        "name": "aiohttp-candidate+auth",
        "hub_argv": [*_CANDIDATE, "--server-port", "{backend}", "--", *IDLE_APP],
        "app_marker": "sleep 1000000",
        "candidate": True,
        "note": "bench/candidate_aiohttp.py spawned by JupyterHub, Hub token on every request"
        " (HubAuth.user_for_token, verdict cached per token)",
    },
]


# -- processes ------------------------------------------------------------------------------------


class Proc:
    def __init__(self, argv, env=None):
        self.out = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(argv, env=dict(os.environ, **(env or {})), stdout=self.out,
                                     stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip

    @property
    def pid(self):
        return self.proc.pid

    def tail(self, n=2000):
        self.out.seek(0)
        return self.out.read().decode(errors="replace")[-n:]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # the app it ran, too
        except ProcessLookupError:
            pass
        self.proc.wait()


async def wait_http(url, timeout=60, headers=None, proc=None):
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as s:
        while time.monotonic() < deadline:
            if proc is not None and proc.proc.poll() is not None:
                raise RuntimeError(f"exited with {proc.proc.returncode}: {proc.tail()}")
            try:
                async with s.get(url, headers=headers) as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError(f"{url} did not answer 200 in {timeout}s")


def _fill(argv, **values):
    out = []
    for a in argv:
        for k, v in values.items():
            a = a.replace("{" + k + "}", str(v))
        out.append(a)
    return out


async def ready_time(contender):
    """Seconds from the app listening (bench/backend.py --stamp) to the proxy's first 200."""
    stamp = Path(tempfile.mkdtemp(prefix="jhembed-bench-ready-")) / "stamp"
    port = free_port()
    argv = []
    for a in _fill(contender["ready_argv"], listen=port):
        argv += [*BACKEND, "--stamp", str(stamp)] if a == "{child}" else [a]
    proc = Proc(argv)
    try:
        async with aiohttp.ClientSession() as s:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    async with s.get(f"http://127.0.0.1:{port}/") as r:
                        if r.status == 200:
                            t = time.time()
                            return t - float(stamp.read_text())
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.001)
        raise RuntimeError(f"no 200 in 60 s: {proc.tail()}")
    finally:
        proc.stop()
        stamp.unlink(missing_ok=True)
        stamp.parent.rmdir()


HUB_CONFIG = """
COMMANDS = {commands!r}
def pick_cmd(spawner):
    spawner.cmd = COMMANDS[spawner.name]
c.Spawner.pre_spawn_hook = pick_cmd
c.Spawner.args = []
"""


def _server_name(name):
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _server_process(user, server):
    """The process the Hub spawned for ``user``/``server`` (its parent lacks that environment)."""
    found = {}
    for p in psutil.process_iter(["ppid"]):
        try:
            env = p.environ()
        except psutil.Error:
            continue
        if env.get("JUPYTERHUB_USER") == user and env.get("JUPYTERHUB_SERVER_NAME") == server:
            found[p.pid] = p
    for p in found.values():
        if p.info["ppid"] not in found:
            return p
    raise RuntimeError(f"no server process for {user}/{server}")


async def start_contenders(contenders, backend_port, procs, stack):
    """Start every contender; returns {name: (base_url, pid, headers)} and {name: skip reason}."""
    started, skipped = {}, {}
    hub_ones = []
    for c in contenders:
        reason = c["skip"]() if "skip" in c else None
        if reason:
            skipped[c["name"]] = reason
            log(f"== {c['name']}: skipped: {reason}")
            continue
        if "hub_argv" in c:
            hub_ones.append(c)
        elif "argv" in c:
            port = free_port()
            p = Proc(_fill(c["argv"], listen=port, backend=backend_port))
            procs.append(p)
            try:
                await wait_http(f"http://127.0.0.1:{port}/", proc=p)
            except RuntimeError as e:
                skipped[c["name"]] = f"did not start: {e}"
                continue
            started[c["name"]] = (f"http://127.0.0.1:{port}/", p.pid, {})
        else:
            started[c["name"]] = (f"http://127.0.0.1:{backend_port}/", None, {})
    if hub_ones:
        commands = {_server_name(c["name"]): _fill(c["hub_argv"], backend=backend_port)
                    for c in hub_ones}  # fmt: skip
        hub = Hub(Path(tempfile.mkdtemp(prefix="jhembed-bench-")),
                  config=HUB_CONFIG.format(commands=commands))  # fmt: skip
        stack.append(hub)
        try:
            await hub.start()
            await hub.create_user("bench")
            auth = {"Authorization": f"token {await hub.user_token('bench')}"}
        except (AssertionError, RuntimeError, OSError) as e:
            for c in hub_ones:
                skipped[c["name"]] = f"JupyterHub did not start: {str(e)[-300:]}"
            hub_ones = []
        for c in hub_ones:
            server = _server_name(c["name"])
            try:
                await hub.spawn("bench", server)
                proc = _server_process("bench", server)
                port = re.search(r":(\d+)/", proc.environ()["JUPYTERHUB_SERVICE_URL"]).group(1)
                base = f"http://127.0.0.1:{port}/user/bench/{server}/"
                await wait_http(base, headers=auth)
            except (AssertionError, RuntimeError) as e:
                skipped[c["name"]] = f"did not start under the Hub: {str(e)[-300:]}"
                continue
            started[c["name"]] = (base, proc.pid, auth)
    # keep the declared order
    order = [c["name"] for c in contenders]
    return dict(sorted(started.items(), key=lambda kv: order.index(kv[0]))), skipped


# -- the run --------------------------------------------------------------------------------------


def _version(dist, python=None):
    try:
        if python:
            return subprocess.run([python, "-c", f"import importlib.metadata as m; print(m.version({dist!r}))"],
                                  capture_output=True, text=True, timeout=30).stdout.strip() or None  # fmt: skip
        return version(dist)
    except (PackageNotFoundError, OSError, subprocess.SubprocessError):
        return None


def versions():
    wrk_v = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("\n")[0]
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "jhembed": _version("jhembed"),
        "jupyter-server-proxy": _version("jupyter-server-proxy"),
        "jhsingle-native-proxy": _version(
            "jhsingle-native-proxy", str(JHSNP_VENV / "bin" / "python")
        ),
        "jupyterhub": _version("jupyterhub"),
        "tornado": _version("tornado"),
        "aiohttp": _version("aiohttp"),
        "uvloop": _version("uvloop"),
        "psutil": _version("psutil"),
        "wrk": re.sub(r"\s*Copyright.*", "", wrk_v),
    }


def _rotated(names, k):
    """``names`` starting at the k-th: each phase starts with another contender."""
    k %= len(names)
    return names[k:] + names[:k]


def _phases(cfg):
    """(what, measure) in the order they run; each ``measure(base, pid, marker, headers)``
    returns the figures to add to the contender's entry."""

    def get(c):
        async def one(base, pid, marker, headers):
            if cfg["warmup"]:
                measure.wrk(base, 10, cfg["warmup"], headers)
            return {f"get_c{c}": measure.wrk(base, c, cfg["seconds"], headers)}

        return f"GET c{c}", one

    async def transfer(base, pid, marker, headers):
        entry = await measure.transfer(base, cfg["size"], pid, marker, headers)
        if not (entry["download"].get("sha_ok") and entry["upload"].get("sha_ok")):
            # a figure for peers that cannot move the full size (RSS growth shows buffering)
            small = await measure.transfer(base, FALLBACK_SIZE, pid, marker, headers)
            entry["fallback"] = {"size": FALLBACK_SIZE, **small}
        return entry

    async def websocket(base, pid, marker, headers):
        return {"websocket": await measure.websocket(base, cfg["ws_seconds"], headers)}

    def websocket_round(r):
        async def one(base, pid, marker, headers):
            return {
                f"ws_1MiB_round{r}": await measure.websocket_rate(base, cfg["ws_seconds"], headers)
            }

        return f"websocket 1 MiB, round {r}", one

    rounds = [websocket_round(r) for r in range(2, cfg["ws_rounds"] + 1)]
    return [get(1), get(10), get(100), ("transfer", transfer), ("websocket", websocket), *rounds]


def _websocket_median(entry):
    """The 1 MiB websocket rate: the median of its rounds (all kept in ``msgs_per_s_rounds``)."""
    keys = sorted((k for k in entry if k.startswith("ws_1MiB_round")), key=lambda k: int(k[13:]))
    rounds = [entry.pop(k) for k in keys]
    big = entry.get("websocket", {}).get("1MiB")
    if big is not None and rounds:
        big["msgs_per_s_rounds"] = [big["msgs_per_s"], *rounds]
        big["msgs_per_s"] = statistics.median(big["msgs_per_s_rounds"])


async def measure_all(started, markers, cfg):
    """Every contender's figures, phase by phase (idle RSS, GET at each concurrency,
    transfers, websockets), the contenders interleaved within each phase in an order
    that rotates from one phase to the next.  Measured one contender after another,
    the last ones ran after the others' gigabyte transfers and got lower figures
    (docs/request-path.md); interleaved, no contender is always last.
    """
    names = list(started)
    entries = {name: {"url": started[name][0]} for name in names}
    for name in names:
        _, pid, _ = started[name]
        if pid:
            entries[name]["idle_rss_MiB"] = measure.tree_rss(pid, markers[name])
    for k, (what, one) in enumerate(_phases(cfg)):
        for name in _rotated(names, k):
            if "error" in entries[name]:
                continue
            base, pid, headers = started[name]
            try:
                figures = await one(base, pid, markers[name], headers)
            except Exception as e:  # one broken contender must not lose the others' figures
                log(f"   {name}: {what} failed: {e!r}")
                entries[name]["error"] = f"{type(e).__name__}: {e}"
                continue
            log(f"   {name} {what}: {figures}")
            entries[name].update(figures)
    for entry in entries.values():
        _websocket_median(entry)
    return entries


async def run(args):
    cfg = {
        "seconds": 2 if args.quick else 10,  # wrk duration per concurrency
        "warmup": 0 if args.quick else 2,
        "size": (200 if args.quick else 1024) * 2**20,  # bytes each way
        "ws_seconds": 1 if args.quick else 5,  # per message size
        # rounds of the 1 MiB websocket rate, every contender in each (the figure: their median)
        "ws_rounds": 1 if args.quick else 3,
        "ready_repeats": 3 if args.quick else 7,
    }
    contenders = [
        c
        for c in CONTENDERS
        if (
            c["name"] in args.only
            if args.only
            else not (args.quick and c.get("full_only"))
            and (args.candidates or not c.get("candidate"))
        )
    ]
    command = "python bench/run.py" + (" --quick" if args.quick else "")
    results = {
        "quick": args.quick,
        "command": command + (" --candidates" if args.candidates else ""),
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "settings": cfg,
        "load_average_at_start": os.getloadavg(),
        "versions": versions(),
        "notes": {c["name"]: c.get("note", "") for c in contenders},
        "skipped": {},
        "contenders": {},
    }
    t_start = time.monotonic()
    backend_port = free_port()
    backend = Proc([*_fill(BACKEND, port=backend_port)])
    procs, stack = [backend], []
    try:
        await wait_http(f"http://127.0.0.1:{backend_port}/", proc=backend)
        started, results["skipped"] = await start_contenders(contenders, backend_port, procs, stack)
        markers = {c["name"]: c.get("app_marker") for c in contenders}
        results["contenders"] = await measure_all(started, markers, cfg)
        for c in contenders:
            if "ready_argv" not in c or c["name"] not in results["contenders"]:
                continue
            try:
                times = [await ready_time(c) for _ in range(cfg["ready_repeats"])]
            except RuntimeError as e:
                results["contenders"][c["name"]]["ready_error"] = str(e)[-300:]
                continue
            ms = [1000 * t for t in times]
            results["contenders"][c["name"]]["ready_after_listen_ms"] = statistics.median(ms)
            results["contenders"][c["name"]]["ready_after_listen_all_ms"] = ms
            log(f"== {c['name']} ready after listen: {statistics.median(ms):.1f} ms ({ms})")
    finally:
        for hub in stack:
            await hub.stop()
        for p in procs:
            p.stop()
    if args.quick:
        results["voila_spawn_to_first_byte_s"] = "skipped in --quick"
    else:
        try:
            results["voila_spawn_to_first_byte_s"] = await voila_first_byte()
        except Exception as e:
            results["voila_spawn_to_first_byte_s"] = f"failed: {type(e).__name__}: {str(e)[-300:]}"
    results["load_average_at_end"] = os.getloadavg()
    results["duration_s"] = time.monotonic() - t_start
    return results


async def voila_first_byte():
    """Through a real Hub + configurable-http-proxy: spawn request to the first byte of a Voila page."""
    import nbformat

    tmp = Path(tempfile.mkdtemp(prefix="jhembed-bench-voila-"))
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import ipywidgets as w\nw.IntSlider(value=3)")]
    nbformat.write(nb, tmp / "dash.ipynb")
    config = (
        'c.JupyterHub.spawner_class = "embed-simple"\n'
        'c.EmbedSpawner.apps = {"dash": {"preset": "voila", '
        '"options": {"notebook": {"default": "dash.ipynb"}}}}\n'
        f"c.SimpleLocalProcessSpawner.home_dir_template = {str(tmp)!r}\n"
    )
    hub = Hub(tmp / "hub", config=config)
    await hub.start()
    try:
        await hub.create_user("v")
        token = await hub.user_token("v")
        t0 = time.perf_counter()
        url = await hub.spawn("v", user_options={"app": "dash"})
        async with aiohttp.ClientSession() as s:
            async with s.get(url, headers={"Authorization": f"token {token}"}) as r:
                await r.content.readany()
                if r.status != 200:
                    raise RuntimeError(f"Voila page answered {r.status}")
        return time.perf_counter() - t0
    finally:
        await hub.stop()


def write_docs(results, where):
    if not where:
        return
    docs = Path(where)
    docs.mkdir(parents=True, exist_ok=True)
    images = report.plots(results, docs)
    table = report.markdown(results)
    (docs / "results.md").write_text(report.page(results, table, images))
    (docs / "results.json").write_text(json.dumps(results, indent=2) + "\n")


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true",
                        help="2 s wrk runs, 200 MiB transfers, 1 s websockets (< 2 minutes)")  # fmt: skip
    parser.add_argument("--only", type=lambda s: s.split(","), default=None,
                        help="comma-separated contender names (default: all)")  # fmt: skip
    parser.add_argument("--candidates", action="store_true",
                        help="also measure issue 15's design candidates (aiohttp-candidate,"
                             " aiohttp-candidate+auth) and check issue 15's speed floor;"
                             " results.md and the plots then go to bench/results/candidates"
                             " unless --docs says otherwise")  # fmt: skip
    parser.add_argument("--out", default=str(HERE / "results"))
    parser.add_argument("--docs", default=None,
                        help="where results.md and the plots go ('' to skip; default"
                             " docs/benchmarks, and bench/results/quick for --quick so that"
                             " a smoke test leaves the committed page alone)")  # fmt: skip
    parser.add_argument("--render", metavar="JSON",
                        help="only re-render the table, page and plots from a saved result")  # fmt: skip
    args = parser.parse_args()
    if args.docs is None:
        if args.quick or args.candidates:  # the committed page shows the product's run only
            args.docs = str(HERE / "results" / ("quick" if args.quick else "candidates"))
        else:
            args.docs = str(ROOT / "docs" / "benchmarks")
    if args.render:
        results = json.loads(Path(args.render).read_text())
        write_docs(results, args.docs)
        print(report.markdown(results))
        return
    if not shutil.which("wrk"):
        raise SystemExit(
            "bench: wrk is missing; install it with: apt-get install wrk (make bench does)"
        )
    results = asyncio.run(run(args))
    results["ratios"] = report.ratios(results)
    results["targets"] = report.targets(results)
    results["floor"] = report.floor(results)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (out / f"{stamp}.json").write_text(json.dumps(results, indent=2))
    write_docs(results, args.docs)
    print(report.markdown(results))
    log(f"bench: {out / (stamp + '.json')} ({results['duration_s']:.0f} s)")


if __name__ == "__main__":
    main()
