"""``python -m jhembed.demo``: a JupyterHub with EmbedSpawner, and a host site embedding it.

The Hub (from ``jupyterhub_config.example.py``) listens on http://127.0.0.1:8000,
the host site on http://localhost:8701: two different origins, as a real
deployment would have.  The Hub keeps JupyterHub's default ports (8000 public,
8081 internal API, 8001 for configurable-http-proxy's API); the host site's port is
none of them.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.error import URLError
from urllib.request import urlopen

from aiohttp import web

from .host import HostSite

ROOT = Path(__file__).resolve().parents[2]


HUB_START_TIMEOUT = 90


def _wait_for_hub(url, proc, api_url, timeout=HUB_START_TIMEOUT):
    """Wait for the Hub's own API port first, then for its public URL: asking the
    public URL before the Hub listens makes configurable-http-proxy log a 404 and a
    stack trace of its failed error page on every poll."""
    deadline = time.monotonic() + timeout
    _wait_for(api_url, proc, deadline)
    _wait_for(url + "hub/api/", proc, deadline)


def _wait_for(url, proc, deadline):
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(
                f"jhembed demo: JupyterHub exited with code {proc.returncode}; see its log above"
            )
        try:
            with urlopen(url, timeout=2):
                return
        except (URLError, OSError):
            time.sleep(0.3)
    raise SystemExit(f"jhembed demo: JupyterHub did not answer at {url} in {HUB_START_TIMEOUT} s")


# (flag, default, host it binds, what listens there)
PORTS = (
    ("--hub-port", 8000, "127.0.0.1", "the Hub's public port"),
    ("--host-port", 8701, "localhost", "the demo host site"),
    ("--hub-api-port", 8081, "127.0.0.1", "the Hub's internal API"),
    ("--proxy-api-port", 8001, "127.0.0.1", "configurable-http-proxy's API"),
)


def _host_site_addresses():
    """Where the host site listens: every loopback address a browser may use for
    ``localhost`` (127.0.0.1, and ::1 where the machine has IPv6), whatever this
    machine's resolver says ``localhost`` is."""
    addresses = ["127.0.0.1"]
    if socket.has_ipv6:
        with socket.socket(socket.AF_INET6) as s:
            try:
                s.bind(("::1", 0))
                addresses.append("::1")
            except OSError:
                pass
    return addresses


async def _serve_host_site(app, port, banner):
    """Serve the host site on every ``localhost`` address, print ``banner`` once it
    listens (so "running" means both sites answer), log each request, and return on
    SIGINT or SIGTERM."""
    log = logging.getLogger("aiohttp.access")
    if not log.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("[host site] %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
    runner = web.AppRunner(app, access_log=log, access_log_format="%s %r %Tfs")
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        for host in _host_site_addresses():
            await web.TCPSite(runner, host, port).start()
        print(banner, flush=True)
        await stop.wait()
    finally:
        await runner.cleanup()


def _port_taken(host, port):
    """True when something already listens on ``host:port`` (every address of ``host``)."""
    for family, kind, proto, _, addr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        with socket.socket(family, kind, proto) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(addr)
            except OSError:
                return True
    return False


def check_ports(args):
    """Exit with one line naming the first port in use and the flag that changes it."""
    seen = {}
    for flag, _, host, what in PORTS:
        port = getattr(args, flag[2:].replace("-", "_"))
        if port in seen:
            raise SystemExit(
                f"jhembed demo: {flag} {port} is the same port as {seen[port]}; pick another"
            )
        seen[port] = flag
        hosts = _host_site_addresses() if flag == "--host-port" else [host]
        if any(_port_taken(h, port) for h in hosts):
            raise SystemExit(
                f"jhembed demo: port {port} ({what}, {host}) is already in use; "
                f"stop what uses it or pick another with {flag}, "
                f"e.g. make demo DEMO_ARGS='{flag} {port + 100}'"
            )


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m jhembed.demo",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    for flag, default, host, what in PORTS:
        parser.add_argument(
            flag, type=int, default=default, help=f"{what} on {host} (default {default})"
        )
    parser.add_argument(
        "--demo-dir", default=str(ROOT / ".demo"), help="state directory (default ./.demo)"
    )
    args = parser.parse_args(argv)
    check_ports(args)

    config = ROOT / "jupyterhub_config.example.py"
    if not config.exists():
        raise SystemExit(
            f"jhembed demo: {config} not found; run the demo from a clone of the repository"
        )
    demo_dir = Path(args.demo_dir).resolve()
    demo_dir.mkdir(parents=True, exist_ok=True)
    token = secrets.token_hex(32)
    hub_url = f"http://127.0.0.1:{args.hub_port}/"
    host_origin = f"http://localhost:{args.host_port}"
    env = dict(
        os.environ,
        JHEMBED_DEMO_DIR=str(demo_dir),
        JHEMBED_DEMO_HUB_PORT=str(args.hub_port),
        JHEMBED_DEMO_HUB_API_PORT=str(args.hub_api_port),
        JHEMBED_DEMO_PROXY_API_PORT=str(args.proxy_api_port),
        JHEMBED_DEMO_HOST_ORIGIN=host_origin,
        JHEMBED_DEMO_SERVICE_TOKEN=token,
        PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
    )
    hub = subprocess.Popen(
        [sys.executable, "-m", "jupyterhub", "-f", str(config)],
        cwd=demo_dir,
        env=env,
        start_new_session=True,
    )
    try:
        _wait_for_hub(hub_url, hub, f"http://127.0.0.1:{args.hub_api_port}/hub/api/")
        site = HostSite(hub_url, token, demo_dir / "host-site.sqlite")
        banner = (
            "\n"
            f"  jhembed demo is running (Ctrl-C stops it)\n"
            f"  host site (embeds the apps):  {host_origin}/\n"
            f"  JupyterHub (any name, any password; demo only):  {hub_url}\n"
        )
        asyncio.run(_serve_host_site(site.app(), args.host_port, banner))
    except KeyboardInterrupt:
        pass
    finally:
        if hub.poll() is None:
            hub.send_signal(signal.SIGTERM)
            try:
                hub.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(hub.pid, signal.SIGKILL)
    return 0


if __name__ == "__main__":
    sys.exit(main())
