"""A real JupyterHub (with configurable-http-proxy from node_modules) for tests.

``run_hub`` starts ``python -m jupyterhub`` in a temporary directory, on random
loopback ports, with a service token that has the ``admin`` role, and stops it
(and every server it spawned) afterwards.  Tests talk to it over HTTP only.

    async with run_hub(tmp_path, config='c.JupyterHub.spawner_class = "embed-simple"') as hub:
        status, body = await hub.api("POST", "users/alice")
        async with hub.login("alice") as browser:   # aiohttp session with the Hub cookie
            ...
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import aiohttp
import psutil

ROOT = Path(__file__).resolve().parents[1]
CHP = ROOT / "node_modules" / ".bin" / "configurable-http-proxy"


def free_port():
    return free_ports(1)[0]


def free_ports(n):
    """``n`` different free ports (the sockets are held open together, so the
    OS cannot hand out one port twice, as separate free_port() calls may)."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


_BASE_CONFIG = """\
c = get_config()  # noqa
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {port}
c.JupyterHub.base_url = {base_url!r}
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {hub_port}
c.ConfigurableHTTPProxy.api_url = "{proxy_api_scheme}://127.0.0.1:{proxy_api_port}"
c.ConfigurableHTTPProxy.command = [{chp!r}]
c.ConfigurableHTTPProxy.debug = False
c.JupyterHub.db_url = "sqlite:///{dir}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = "{dir}/jupyterhub_cookie_secret"
c.JupyterHub.pid_file = "{dir}/jupyterhub.pid"
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allow_all = True
c.Authenticator.admin_users = {{"admin"}}
c.JupyterHub.spawner_class = "simple"
c.Spawner.start_timeout = 60
c.Spawner.http_timeout = 60
c.Spawner.default_url = ""
c.JupyterHub.allow_named_servers = True
c.JupyterHub.cleanup_servers = {cleanup_servers}
c.JupyterHub.services = [{{"name": "tester", "api_token": {token!r}}}]
c.JupyterHub.load_roles = [{{"name": "admin", "services": ["tester"]}}]
c.JupyterHub.log_level = "DEBUG"
"""


def _is_chp(process):
    try:
        return any("configurable-http-proxy" in part for part in process.cmdline())
    except psutil.Error:
        return False


class Hub:
    """A running JupyterHub; ``url`` is its public URL (ends with the base URL)."""

    def __init__(self, directory, *, config="", base_url="/", env=None, cleanup_servers=True):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        # three distinct ports: a Hub whose API port equals CHP's API port exits at start
        self.port, self.hub_port, self.proxy_api_port = free_ports(3)
        self.base_url = base_url
        self.token = secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}{base_url}"
        self.api_url = f"{self.url}hub/api/"
        self.log_path = self.dir / "jupyterhub.log"
        self.env = dict(os.environ, **(env or {}))
        # the Hub finds jupyter-embedproxy and node on PATH
        self.env["PATH"] = os.pathsep.join(
            [str(Path(sys.executable).parent), self.env.get("PATH", "")]
        )
        self.proc = None
        self.version = None  # "6.1.1", from the Hub's API once it answers
        self._descendants = set()
        self._config = _BASE_CONFIG.format(
            port=self.port,
            base_url=base_url,
            hub_port=self.hub_port,
            proxy_api_port=self.proxy_api_port,
            # with internal_ssl the proxy's API speaks TLS too
            proxy_api_scheme="https" if "internal_ssl = True" in config else "http",
            chp=str(CHP),
            dir=self.dir,
            token=self.token,
            cleanup_servers=cleanup_servers,
        ) + textwrap.dedent(config)
        (self.dir / "jupyterhub_config.py").write_text(self._config)

    # -- process --------------------------------------------------------------
    async def start(self, timeout=90):
        if not CHP.exists():
            raise RuntimeError(f"{CHP} is missing: run `npm ci` (make setup) first")
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jupyterhub", "-f", "jupyterhub_config.py"],
            cwd=self.dir,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as s:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(
                        f"JupyterHub exited with {self.proc.returncode}:\n{self.log_tail()}"
                    )
                try:
                    async with s.get(self.api_url) as r:
                        if r.status == 200:
                            self.version = (await r.json())["version"]
                            return self
                except aiohttp.ClientError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"JupyterHub did not answer in {timeout}s:\n{self.log_tail()}"
                    )
                await asyncio.sleep(0.2)

    async def stop(self, timeout=30, kill_servers=True):
        """Stop the Hub (SIGTERM, as an admin would), then whatever is left of its group.

        With ``kill_servers`` (the default) every process the Hub ever started
        is gone afterwards, including servers left running by
        ``cleanup_servers = False``.
        """
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(psutil.Error):
                self._descendants.update(psutil.Process(self.proc.pid).children(recursive=True))
            await self._stop_hub(timeout)
        # the Hub's configurable-http-proxy must be gone before a Hub starts again
        # (found by its API port too: a Hub that died early leaves it orphaned)
        chp = [p for p in self._descendants if _is_chp(p)] + self._orphan_chp()
        for p in chp:
            with contextlib.suppress(psutil.Error):
                p.kill()
        psutil.wait_procs(chp, timeout=10)
        if kill_servers:
            for p in self._descendants:
                with contextlib.suppress(psutil.Error):
                    p.kill()
            psutil.wait_procs(list(self._descendants), timeout=10)
            self._descendants.clear()

    async def _stop_hub(self, timeout):
        self.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def _orphan_chp(self):
        found = []
        for p in psutil.process_iter(["cmdline"]):
            cmd = p.info["cmdline"] or []
            if _is_chp(p) and str(self.proxy_api_port) in cmd:
                found.append(p)
        return found

    def log_text(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, n=60):
        return "\n".join(self.log_text().splitlines()[-n:])

    # -- REST API -------------------------------------------------------------
    async def api(self, method, path, *, json_body=None, token=None, data=None):
        """Call the Hub REST API; returns (status, decoded JSON body or text)."""
        headers = {"Authorization": f"token {token or self.token}"}
        async with aiohttp.ClientSession() as s:
            async with s.request(
                method, self.api_url + path.lstrip("/"), json=json_body, data=data, headers=headers
            ) as r:
                text = await r.text()
                try:
                    return r.status, json.loads(text) if text else None
                except ValueError:
                    return r.status, text

    async def create_user(self, name, admin=False):
        status, body = await self.api("POST", f"users/{name}", json_body={"admin": admin})
        assert status in (201, 409), (status, body)

    async def user_token(self, name, scopes=None, expires_in=None, note="test"):
        body = {"note": note}
        if scopes is not None:
            body["scopes"] = scopes
        if expires_in is not None:
            body["expires_in"] = expires_in
        status, reply = await self.api("POST", f"users/{name}/tokens", json_body=body)
        assert status == 201, (status, reply)
        return reply["token"]

    def spawn_body(self, user_options):
        """The POST body that starts a server with ``user_options`` on this Hub:
        JupyterHub 6 takes ``{"user_options": {...}}``, 5 takes the options themselves."""
        if int(self.version.split(".")[0]) >= 6:
            return {"user_options": user_options}
        return user_options

    async def spawn(self, name, server_name="", user_options=None, timeout=90):
        """Start a server through the REST API and wait until the Hub says it is ready.

        Returns the server's public URL.  Raises AssertionError with the Hub's
        message (and log tail) when the spawn fails.
        """
        path = f"users/{name}/servers/{server_name}" if server_name else f"users/{name}/server"
        status, body = await self.api("POST", path, json_body=self.spawn_body(user_options or {}))
        assert status in (201, 202), f"spawn answered {status}: {body}\n{self.log_tail()}"
        return await self.wait_ready(name, server_name, timeout=timeout)

    async def wait_ready(self, name, server_name="", timeout=90):
        started = time.monotonic()
        deadline = started + timeout
        while True:
            status, user = await self.api("GET", f"users/{name}")
            assert status == 200, (status, user)
            server = user.get("servers", {}).get(server_name)
            if server and server.get("ready"):
                return f"http://127.0.0.1:{self.port}{server['url']}"
            if not server and time.monotonic() - started > 5:
                # the spawn failed and the Hub dropped the server
                raise AssertionError(f"server {name}/{server_name} is gone:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"server {name}/{server_name} not ready in {timeout}s:\n{self.log_tail()}"
                )
            await asyncio.sleep(0.25)

    # -- browser-like sessions ------------------------------------------------
    @contextlib.asynccontextmanager
    async def login(self, name, password="any"):
        """An aiohttp session logged in to the Hub as ``name`` (keeps cookies, follows redirects)."""
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(cookie_jar=jar) as s:
            async with s.get(f"{self.url}hub/login") as r:
                page = await r.text()
            m = re.search(r'name="_xsrf" value="([^"]+)"', page)
            form = {"username": name, "password": password}
            if m:
                form["_xsrf"] = m.group(1)
            async with s.post(f"{self.url}hub/login", data=form, allow_redirects=False) as r:
                assert r.status == 302, (r.status, await r.text())
            yield s


async def get_authorized(session, url, **kwargs):
    """GET ``url`` with a logged-in session, clicking "Authorize" on the Hub's
    OAuth confirmation page (shown to anyone but the server's owner).

    Returns (status, final URL, text).
    """
    async with session.get(url, **kwargs) as r:
        status, final, text = r.status, r.url, await r.text()
    if status == 200 and "/hub/api/oauth2/authorize" in final.path and "<form" in text:
        form = [("_xsrf", re.search(r'name="_xsrf" value="([^"]+)"', text).group(1))]
        form += [("scopes", s) for s in re.findall(r'name="scopes" value="([^"]*)"', text)]
        async with session.post(final, data=form) as r:
            status, final, text = r.status, r.url, await r.text()
    return status, final, text


@contextlib.asynccontextmanager
async def run_hub(directory, **kwargs):
    hub = Hub(directory, **kwargs)
    try:
        await hub.start()
        yield hub
    except BaseException:
        print(hub.log_tail(200), file=sys.stderr)
        raise
    finally:
        await hub.stop()
