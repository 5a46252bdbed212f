"""Supervising the app: start, readiness, restart with backoff, stop without orphans."""

from __future__ import annotations

import asyncio
import collections
import ctypes
import os
import shutil
import signal
import sys
import tempfile
import time

from jupyterhub.utils import exponential_backoff, random_port

from .rules import scrub_argv, scrub_text

# states the forwarder reads to pick an answer while the app is not serving
STARTING = "starting"
READY = "ready"
RESTARTING = "restarting"
STOPPED = "stopped"

_OUTPUT_LINES = 40
_BACKOFF_START = 0.5
_BACKOFF_MAX = 30.0
_STABLE_AFTER = 60.0
# readiness probes: a refused connection costs microseconds, so probe often
# (an app is ready on average half an interval before the proxy notices)
_POLL_START = 0.005
_POLL_MAX = 0.02


class ChildStartError(Exception):
    """The app exited or did not answer before it was ready."""


def _set_pdeathsig():  # runs in the child between fork and exec
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG: stop with the proxy even on SIGKILL
    except Exception:
        pass


class ChildProcess:
    """One app process, its address, and its lifecycle."""

    host = "127.0.0.1"  # where a TCP app listens

    def __init__(
        self,
        *,
        command,
        environment=None,
        base_url="/",
        port=0,
        unix_socket=False,
        ready_path="/",
        timeout=30.0,
        max_restarts=5,
        stop_timeout=5.0,
        app_name="app",
        log,
    ):
        self.log = log
        self.app_name = app_name
        self.ready_path = ready_path
        self.timeout = timeout
        self.max_restarts = max_restarts
        self.stop_timeout = stop_timeout
        self.state = STARTING
        self.exit_code = None
        self.restarts = 0
        self.ever_ready = False  # whether the app answered at least once (its first start)
        self.output = collections.deque(maxlen=_OUTPUT_LINES)
        self.output_count = 0  # lines ever received (``output`` keeps the last ones)
        self.proc = None
        self._stopping = False
        self._tmpdir = None
        self._ready_event = asyncio.Event()

        uses_socket = unix_socket or any("{unix_socket}" in arg for arg in command)
        if uses_socket:
            if isinstance(unix_socket, str) and unix_socket:
                self.unix_socket = unix_socket
            else:
                self._tmpdir = tempfile.mkdtemp(prefix="jhembed-")
                os.chmod(self._tmpdir, 0o700)
                self.unix_socket = os.path.join(self._tmpdir, "app.sock")
            self.port = 0
        else:
            self.unix_socket = ""
            self.port = port or random_port()
        values = {
            "port": self.port,
            "base_url": base_url,
            "base_path": base_url.rstrip("/"),  # the prefix without its trailing slash
            "unix_socket": self.unix_socket,
        }
        self.command = [_expand(arg, values) for arg in command]
        self.env = dict(os.environ)
        self.env.update({k: _expand(v, values) for k, v in (environment or {}).items()})

    async def wait_ready(self):
        await self._ready_event.wait()

    # -- lifecycle -------------------------------------------------------------

    async def run(self):
        """Start, wait until ready, then supervise until stopped or out of restarts.

        Raises ChildStartError when the first start fails; returns when stopped;
        raises ChildStartError when restarts are exhausted.
        """
        await self._start_and_wait()
        backoff = _BACKOFF_START
        while True:
            started = time.monotonic()
            code = await self.proc.wait()
            if self._stopping:
                return
            self.exit_code = code
            self.state = RESTARTING
            self._ready_event.clear()
            if time.monotonic() - started > _STABLE_AFTER:
                self.restarts = 0
                backoff = _BACKOFF_START
            self.log.error(
                "%s exited with code %s; last output:\n%s",
                self.app_name,
                code,
                self.last_output(),
            )
            if self.restarts >= self.max_restarts:
                self.state = STOPPED
                raise ChildStartError(
                    f"{self.app_name} exited with code {code} and was restarted "
                    f"{self.restarts} times (max_restarts={self.max_restarts}); giving up"
                )
            self.restarts += 1
            self.log.warning(
                "Restarting %s in %.1fs (restart %d of %d)",
                self.app_name,
                backoff,
                self.restarts,
                self.max_restarts,
            )
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _BACKOFF_MAX)
            if self._stopping:
                return
            try:
                await self._start_and_wait()
            except ChildStartError as e:
                self.log.error("%s", e)
                if self._stopping:
                    return
                # counts as a crash: loop again (proc has exited)

    async def _start_and_wait(self):
        self.state = STARTING if self.exit_code is None else RESTARTING
        self.log.info("Starting %s: %s", self.app_name, " ".join(scrub_argv(self.command)))
        try:
            self.proc = await asyncio.create_subprocess_exec(
                *self.command,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                env=self.env,
                start_new_session=True,
                preexec_fn=_set_pdeathsig if sys.platform.startswith("linux") else None,
            )
        except OSError as e:
            raise ChildStartError(
                f"could not start {self.app_name} ({self.command[0]}): {e}"
            ) from None
        asyncio.ensure_future(self._pump_output(self.proc))
        proc = self.proc

        async def answers_or_exited():
            if proc.returncode is not None:
                await asyncio.sleep(0.05)  # let the output pump catch the last lines
                raise ChildStartError(
                    f"{self.app_name} exited with code {proc.returncode} before it was "
                    f"ready; last output:\n{self.last_output()}"
                )
            return await self._answers()

        try:
            await exponential_backoff(
                answers_or_exited,
                f"{self.app_name} did not answer",
                start_wait=_POLL_START,
                scale_factor=1.25,
                max_wait=_POLL_MAX,
                timeout=self.timeout,
                timeout_tolerance=0,  # the error says "within {timeout}s": keep it exact
            )
        except asyncio.TimeoutError:
            await self._terminate()
            raise ChildStartError(
                f"{self.app_name} did not answer on {self.ready_path} within "
                f"{self.timeout:g}s (raise --timeout if it needs longer); last output:\n"
                f"{self.last_output()}"
            ) from None
        self.state = READY
        self.ever_ready = True
        self._ready_event.set()
        self.log.info("%s is ready", self.app_name)

    async def _answers(self):
        """One readiness probe: True if the app answers HTTP with a status < 500."""
        try:
            if self.unix_socket:
                reader, writer = await asyncio.open_unix_connection(self.unix_socket)
            else:
                reader, writer = await asyncio.open_connection(self.host, self.port)
        except OSError:
            return False
        try:
            request = (
                f"GET {self.ready_path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                "User-Agent: jupyter-embedproxy-readiness\r\nConnection: close\r\n\r\n"
            )
            writer.write(request.encode("latin-1"))
            line = await asyncio.wait_for(reader.readline(), timeout=max(self.timeout, 1))
            parts = line.split()
            return len(parts) >= 2 and parts[1].isdigit() and int(parts[1]) < 500
        except (OSError, asyncio.TimeoutError, ValueError):
            return False
        finally:
            writer.close()

    async def _pump_output(self, proc):
        while True:
            try:
                line = await proc.stdout.readline()
            except (ValueError, asyncio.LimitOverrunError):
                # a line longer than the stream limit: drop what is buffered
                line = await proc.stdout.read(65536)
            if not line:
                break
            # kept for the owner's start report and logged: never with a secret in it
            text = scrub_text(line.decode("utf-8", "replace").rstrip())
            self.output.append(text)
            self.output_count += 1
            self.log.info("[%s] %s", self.app_name, text)

    def last_output(self):
        return "\n".join(self.output) if self.output else "(no output)"

    async def _terminate(self):
        proc = self.proc
        if proc is None:
            return
        if proc.returncode is None:
            _killpg(proc, signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), self.stop_timeout)
            except asyncio.TimeoutError:
                self.log.warning(
                    "%s did not stop within %gs of SIGTERM; sending SIGKILL",
                    self.app_name,
                    self.stop_timeout,
                )
                _killpg(proc, signal.SIGKILL)
                await proc.wait()
        _killpg(proc, signal.SIGKILL)  # leftovers of the group, if any

    async def stop(self):
        """Stop the app (SIGTERM to its process group, SIGKILL after ``stop_timeout``)."""
        self._stopping = True
        self.state = STOPPED
        await self._terminate()
        if self._tmpdir:
            shutil.rmtree(self._tmpdir, ignore_errors=True)


def _killpg(proc, sig):
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _expand(arg, values):
    try:
        return arg.format(**values)
    except (KeyError, IndexError, ValueError) as e:
        raise ValueError(
            f"cannot expand {arg!r}: unknown placeholder {e} (known: {{port}}, {{base_url}}, "
            "{base_path}, {unix_socket}; write {{ and }} for literal braces)"
        ) from None
