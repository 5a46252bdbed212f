"""Run the real ``jupyter-embedproxy`` (console script) with tests/testapp.py as its child."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import psutil
from hub import free_port

HERE = Path(__file__).resolve().parent
TESTAPP = [sys.executable, str(HERE / "testapp.py"), "--port", "{port}"]
PROXY = str(Path(sys.executable).parent / "jupyter-embedproxy")


class Proxy:
    def __init__(self, args, cmd, env, base_url="/"):
        self.port = free_port()
        self.base_url = base_url
        self.url = f"http://127.0.0.1:{self.port}{base_url}"
        self.argv = [PROXY, "--no-authentication", "--port", str(self.port), *args, "--", *cmd]
        self.env = dict(os.environ, **(env or {}))
        self.log = tempfile.NamedTemporaryFile(prefix="embedproxy-", suffix=".log", delete=False)
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            self.argv,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self):
        return self.proc.pid

    def output(self):
        return Path(self.log.name).read_text(errors="replace")

    def children(self):
        try:
            return psutil.Process(self.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def rss(self):
        return psutil.Process(self.pid).memory_info().rss

    async def wait_status(self, accept, timeout=30, path=""):
        """Poll until ``accept(status)`` for a GET of ``url + path``; returns the status."""
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as s:
            while True:
                if self.proc.poll() is not None:
                    raise AssertionError(f"proxy exited {self.proc.returncode}:\n{self.output()}")
                try:
                    async with s.get(self.url + path, allow_redirects=False) as r:
                        if accept(r.status):
                            return r.status
                except aiohttp.ClientError:
                    pass
                if time.monotonic() > deadline:
                    raise AssertionError(f"proxy not ready in {timeout}s:\n{self.output()}")
                await asyncio.sleep(0.05)

    async def wait_ready(self, timeout=30):
        return await self.wait_status(lambda s: s not in (502, 503), timeout)

    async def wait_exit(self, timeout=30):
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"proxy still running after {timeout}s:\n{self.output()}")
            await asyncio.sleep(0.05)
        return self.proc.returncode

    def stop(self):
        """SIGTERM, then make sure nothing of the proxy's process group survives."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                pass
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.log.close()
        os.unlink(self.log.name)


@contextlib.asynccontextmanager
async def run_proxy(*args, cmd=None, env=None, base_url="/", ready=True):
    """``jupyter-embedproxy --no-authentication --port <free> ARGS -- CMD`` (default: the test app)."""
    if base_url != "/":
        args = ("--base-url", base_url, *args)
    proxy = Proxy(args, cmd or TESTAPP, env, base_url)
    proxy.start()
    try:
        if ready:
            await proxy.wait_ready()
        yield proxy
    except BaseException:
        print(proxy.output()[-5000:], file=sys.stderr)
        raise
    finally:
        proxy.stop()


def run_cli(*args, timeout=30, env=None, cwd=None):
    """Run ``jupyter-embedproxy ARGS``; returns (returncode, stdout, stderr)."""
    r = subprocess.run(
        [PROXY, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(os.environ, **(env or {})),
        cwd=cwd,
    )
    return r.returncode, r.stdout, r.stderr
