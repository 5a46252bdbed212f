"""jupyter-server-proxy's standalone test API, answered by the real ``jupyter-embedproxy``.

test_jsp_standalone.py runs jupyter-server-proxy's own ``tests/test_standalone.py``
with two import lines swapped for this module::

    from tornado import testing                                  -> from jsp_shim import testing
    from jupyter_server_proxy.standalone import StandaloneProxyServer -> from jsp_shim import ...

``StandaloneProxyServer(**options)`` takes jupyter-server-proxy's option names and
maps each onto the ``jupyter-embedproxy`` flag of the ``EmbedProxy`` trait of the
same name (docs/proxy.md: "Coming from jupyter standaloneproxy"); ``.address`` and
``.port`` are ``EmbedProxy``'s (from ``$JUPYTERHUB_SERVICE_URL``). ``create_app()``
returns that command line, not an application: ``testing.AsyncHTTPTestCase`` runs
it as a child process on a free loopback port, waits until the proxy reports its
app ready, sends each ``fetch()`` over the wire with tornado's HTTP client, and
stops the process in ``tearDown``.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import types
import unittest
from pathlib import Path

from tornado.httpclient import HTTPClient

from jhembed.proxy.app import EmbedProxy
from jhembed.proxy.rules import START_REPORT_ENV

PROXY = str(Path(sys.executable).parent / "jupyter-embedproxy")
READY_TIMEOUT = 60


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cli_names():
    """``{trait name: [alias or None, flag setting it True or None]}`` of EmbedProxy's CLI."""
    names = {}
    for alias, target in EmbedProxy.aliases.items():
        trait = target.split(".", 1)[1]
        names.setdefault(trait, [None, None])
        names[trait][0] = names[trait][0] or alias
    for flag, (settings, _help) in EmbedProxy.flags.items():
        for values in settings.values():
            for trait, value in values.items():
                if value is True:
                    names.setdefault(trait, [None, None])
                    names[trait][1] = names[trait][1] or flag
    return names


class ProxyCommand:
    """What ``StandaloneProxyServer.create_app()`` gives the test case: a command line."""

    def __init__(self, flags, command, needs_hub):
        self.flags = flags
        self.command = command
        self.needs_hub = needs_hub

    def argv(self, port):
        # the test case's address and port last: they win, as tornado's test case picks its own
        return [PROXY, *self.flags, "--address=127.0.0.1", f"--port={port}", "--", *self.command]


class StandaloneProxyServer:
    """jupyter-server-proxy's ``StandaloneProxyServer(**options)``, as jupyter-embedproxy flags."""

    def __init__(self, **options):
        cli = _cli_names()
        unknown = sorted(name for name in options if name != "command" and name not in cli)
        if unknown:
            raise TypeError(
                f"StandaloneProxyServer option(s) {', '.join(unknown)} have no "
                "jupyter-embedproxy flag (see docs/proxy.md, 'Coming from jupyter "
                "standaloneproxy')"
            )
        # EmbedProxy validates the values (and gives address/port their defaults)
        self._proxy = EmbedProxy(**options)
        self._options = options
        self._cli = cli

    @property
    def address(self):
        return self._proxy.address

    @property
    def port(self):
        return self._proxy.port

    def create_app(self):
        flags = []
        for name, value in self._options.items():
            if name == "command":
                continue
            alias, flag = self._cli[name]
            if value is True and flag:
                flags.append(f"--{flag}")
            elif alias:
                if name == "log_level" and isinstance(value, int):
                    value = logging.getLevelName(value)  # the CLI takes level names
                flags.append(f"--{alias}={value}")
            elif value is not False:  # a flag-only option: False is its default
                raise TypeError(f"StandaloneProxyServer option {name}={value!r}: no flag for it")
        needs_hub = not self._proxy.no_authentication
        return ProxyCommand(flags, list(self._options.get("command", [])), needs_hub)


def _hub_environment():
    """What a spawner gives the proxy; the Hub's address is a closed loopback port."""
    hub = f"http://127.0.0.1:{_free_port()}"
    return {
        "JUPYTERHUB_API_TOKEN": secrets.token_hex(16),
        "JUPYTERHUB_CLIENT_ID": "jupyterhub-user-jsp",
        "JUPYTERHUB_API_URL": f"{hub}/hub/api",
        "JUPYTERHUB_HOST": "",
        "JUPYTERHUB_BASE_URL": "/",
        "JUPYTERHUB_USER": "jsp",
    }


class _RunningProxy:
    """One ``jupyter-embedproxy`` child process on a free loopback port."""

    def __init__(self, app):
        self.port = _free_port()
        self._tmp = tempfile.mkdtemp(prefix="jsp-shim-")
        report = os.path.join(self._tmp, "start-report")
        env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTERHUB_")}
        env[START_REPORT_ENV] = report
        if app.needs_hub:
            env.update(_hub_environment())
        self._log = open(os.path.join(self._tmp, "proxy.log"), "w+b")
        self._proc = subprocess.Popen(
            app.argv(self.port),
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            self._wait_ready(report)
        except BaseException:
            self.stop()
            raise

    def output(self):
        self._log.seek(0)
        return self._log.read().decode("utf-8", "replace")

    def _wait_ready(self, report):
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            try:
                state = Path(report).read_text()
            except FileNotFoundError:
                state = ""
            if state.startswith("ready"):
                return
            if state.startswith("failed") or self._proc.poll() is not None:
                raise AssertionError(
                    f"jupyter-embedproxy did not start (exit {self._proc.poll()}):\n{self.output()}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"jupyter-embedproxy's app not ready in {READY_TIMEOUT}s:\n{self.output()}"
                )
            time.sleep(0.02)

    def stop(self):
        """SIGTERM, then nothing of its process group survives; prints its log."""
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(15)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self._proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self._proc.wait()
        output = self.output()
        self._log.close()
        shutil.rmtree(self._tmp, ignore_errors=True)
        sys.stdout.write(output)  # pytest shows it with a failing test


class AsyncHTTPTestCase(unittest.TestCase):
    """tornado.testing.AsyncHTTPTestCase's ``get_app``/``fetch`` contract, over real sockets.

    One proxy per test class and command line (tornado builds an app per test;
    the proxy's start costs a second or two, and these tests leave no state).
    """

    def get_app(self):
        raise NotImplementedError("return StandaloneProxyServer(...).create_app()")

    def setUp(self):
        super().setUp()
        app = self.get_app()
        cls = type(self)
        running = cls.__dict__.get("_jsp_proxies")
        if running is None:
            running = {}
            cls._jsp_proxies = running
            cls.addClassCleanup(lambda: [p.stop() for p in running.values()])
        key = tuple(app.argv(0))
        if key not in running:
            running[key] = _RunningProxy(app)
        self._port = running[key].port
        self.http_client = HTTPClient()
        self.addCleanup(self.http_client.close)

    def get_http_port(self):
        return self._port

    def get_protocol(self):
        return "http"

    def get_url(self, path):
        return f"http://127.0.0.1:{self._port}{path}"

    def fetch(self, path, raise_error=False, **kwargs):
        url = path if path.lower().startswith(("http://", "https://")) else self.get_url(path)
        return self.http_client.fetch(url, raise_error=raise_error, **kwargs)


# what ``from tornado import testing`` gave the test file
testing = types.SimpleNamespace(AsyncHTTPTestCase=AsyncHTTPTestCase)
