"""The proxy at run time: wiring its parts, running them, stopping them in order.

:class:`ProxyRuntime` is the half of :class:`~jhembed.proxy.app.EmbedProxy`
that acts on its options (``config.py`` and the option groups read and check
them): it makes the child app, the forwarder with its header policy, the Hub
login and the activity reporter, listens, runs until the app exits or a
signal arrives, then stops the listeners, the reporter, the forwarder and the
app, in that order. It also writes the start report the spawner reads
(``JHEMBED_START_REPORT``).
"""

from __future__ import annotations

import asyncio
import errno
import os
import signal
import ssl
import sys

from jupyterhub.utils import url_path_join

from .._version import __version__
from . import headers as _headers
from .child import ChildProcess, ChildStartError
from .config import ConfigError
from .forward import Forwarder
from .rules import START_REPORT_ENV


class ProxyRuntime:
    """Wiring, run and ordered shutdown of the proxy (a mixin of EmbedProxy)."""

    # filled in start()
    child = None
    forwarder = None
    front = None

    def ssl_context(self, **kwargs):
        """The Hub's internal TLS files as an SSL context (``make_ssl_context``), or None."""
        if not self.ssl_certfile:
            return None
        from jupyterhub.utils import make_ssl_context

        cafile = self.ssl_client_ca or None
        return make_ssl_context(self.ssl_keyfile, self.ssl_certfile, cafile=cafile, **kwargs)

    def make_auth(self, policy):
        """The Hub login, or None with --no-authentication."""
        if self.no_authentication:
            return None
        from .auth import EmbedHubOAuth, HubLogin

        hub_auth = EmbedHubOAuth(
            parent=self,
            cache_max_age=self.auth_cache_max_age,
            samesite="None" if policy.cross_origin else "",
            partitioned=policy.cookie_partitioned,
        )
        if self.ssl_certfile:
            hub_auth.keyfile = self.ssl_keyfile
            hub_auth.certfile = self.ssl_certfile
            hub_auth.client_ca = self.ssl_client_ca
        return HubLogin(
            hub_auth=hub_auth,
            policy=policy,
            owner=self.hub_user,
            server_name=self.hub_server_name,
            allow_token_login=self.allow_token_login,
            forward_user=self.forward_user,
            log=self.log,
        )

    def make_activity(self):
        url = self.hub_activity_url
        token = self.hub_api_token
        if not url or not token or not self.activity_interval:
            return None
        from .activity import ActivityReporter

        return ActivityReporter(
            url=url,
            api_token=token,
            server_name=self.hub_server_name,
            interval=self.activity_interval,
            exclude_paths=self.activity_exclude_paths,
            keep_alive=self.keep_alive,
            ssl_context=self.ssl_context(),
            log=self.log,
        )

    def make_child(self):
        ready_path = self.ready_check_path
        if self.absolute_url:
            ready_path = url_path_join(self.base_url, ready_path)
        try:
            return ChildProcess(
                command=self.command,
                environment=self.environment,
                base_url=self._server_prefix or self.base_url,
                port=self.server_port,
                unix_socket=self.unix_socket,
                ready_path=ready_path,
                timeout=self.timeout,
                max_restarts=self.max_restarts,
                stop_timeout=self.stop_timeout,
                app_name=self.app_name,
                log=self.log,
            )
        except ValueError as e:  # a placeholder it cannot expand
            raise ConfigError(str(e)) from None

    def make_forwarder(self, child):
        policy = _headers.HeaderPolicy(
            frame_ancestors=self.frame_ancestors,
            cors_origins=self.cors_origins,
            extra_headers=self.extra_headers,
            cookie_samesite=self.cookie_samesite,
            cookie_partitioned=self.cookie_partitioned,
            base_url=self.base_url,
            rewrite_cookie_path=not self.absolute_url,
        )
        forwarder = Forwarder(
            child=child,
            policy=policy,
            base_url=self.base_url,
            absolute_url=self.absolute_url,
            request_timeout=self.request_timeout,
            request_headers_override=self.request_headers_override,
            websocket_max_message_size=self.websocket_max_message_size,
            log=self.log,
        )
        forwarder.auth = self.make_auth(policy)
        if self.bridge:
            from .bridge import BridgeInjector

            forwarder.bridge = BridgeInjector(
                script_url=self.base_url + "_jhembed/jhembed-frame.js",
                allowed_origins=self.frame_ancestors,
            )
        forwarder.activity = self.make_activity()
        return forwarder

    def _bind(self):
        from tornado.netutil import bind_sockets

        address = None if self.address in ("", "*") else self.address  # None: every address
        try:
            return bind_sockets(self.port, address, backlog=1024)
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise ConfigError(
                    f"port {self.port} on {self.address} is already in use: "
                    "stop what uses it or pick another with --port"
                ) from None
            raise ConfigError(
                f"cannot listen on {self.address}:{self.port}: {e.strerror}"
            ) from None

    async def _run(self):
        _raise_fd_limit()
        loop = asyncio.get_running_loop()
        stopped = loop.create_future()  # the signal that stops the proxy
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(
                signum, lambda s=signum: stopped.done() or stopped.set_result(s)
            )

        self.child = self.make_child()
        self.forwarder = self.make_forwarder(self.child)
        if not self.fast_path:
            self.log.warning(NO_FAST_PATH_DEPRECATED)
        self.front = await self.listen(self.forwarder)
        if self.no_authentication:
            self.log.warning(
                "Authentication is off (--no-authentication): anyone who can reach "
                "%s:%s gets the app",
                self.address,
                self.port,
            )
        self.log.info(
            "jupyter-embedproxy %s listening on %s://%s:%s%s, starting %s",
            __version__,
            "https" if self.ssl_certfile else "http",
            self.address,
            self.port,
            self.base_url,
            self.app_name,
        )
        exit_code = 0
        activity = self.forwarder.activity
        if activity is not None:
            activity.start()
        child_task = asyncio.ensure_future(self.child.run())
        report = os.environ.get(START_REPORT_ENV, "")
        reporter = asyncio.ensure_future(self._report_ready(report)) if report else None
        try:
            done, _ = await asyncio.wait({child_task, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if child_task in done:
                exc = child_task.exception()
                if exc is not None:
                    if isinstance(exc, ChildStartError):
                        self.log.error("%s", exc)
                        if report and not self.child.ever_ready:
                            _write_report(report, f"failed\n{exc}\n")
                    else:
                        self.log.error("app supervision failed", exc_info=exc)
                    exit_code = 1
            else:
                self.log.info("Received %s, stopping", signal.Signals(stopped.result()).name)
        finally:
            stopped.cancel()
            if reporter is not None:
                reporter.cancel()
            self.front.stop()
            if activity is not None:
                await activity.stop()
            await self.child.stop()
            child_task.cancel()  # nothing when it has ended
            await asyncio.gather(child_task, return_exceptions=True)
            await self.front.drain(SHUTDOWN_DRAIN)
            self.front.close_all()
        return exit_code

    async def listen(self, forwarder):
        """The front on the listening sockets: it parses and answers every request."""
        from .front import Front

        front = Front(
            forwarder,
            # signs the session cookie; a restarted proxy logs browsers in again (OAuth)
            cookie_secret=os.urandom(32),
            max_body_size=self.max_body_size or (1 << 62),  # 0: no limit
            log=self.log,
            mounted_from=self._server_prefix,
        )
        tls = self.ssl_context(purpose=ssl.Purpose.CLIENT_AUTH)  # client certificates required
        await front.start(self._bind(), ssl_context=tls)
        return front

    async def _report_ready(self, path):
        """Tell the spawner (``JHEMBED_START_REPORT``) how the start goes.

        While the app starts: ``starting <lines ever>`` and its last output lines
        (secrets already scrubbed by ``Child``; the spawner shows new lines to the
        owner as progress events); once the app answers: ``ready``.
        """
        ready = asyncio.ensure_future(self.child.wait_ready())
        written = -1
        try:
            while not ready.done():
                count = self.child.output_count
                if count != written:
                    lines = "".join(f"{line}\n" for line in self.child.output)  # scrubbed
                    _write_report(path, f"starting {count}\n{lines}")
                    written = count
                await asyncio.wait({ready}, timeout=0.25)
        finally:
            ready.cancel()  # nothing once it is done
        _write_report(path, "ready\n")

    def start(self):
        if self.generate_config:
            return super().start()
        return _run_loop(self._run())


NO_FAST_PATH_DEPRECATED = (
    "--no-fast-path is deprecated and does nothing: jupyter-embedproxy has one request path"
)
# seconds the exchanges under way get to end (the app is gone: they answer 502) at shutdown
SHUTDOWN_DRAIN = 5


def _refuse(error):
    """One line on stderr, the same to the spawner's start report; exit status 2."""
    print(f"jupyter-embedproxy: error: {error}", file=sys.stderr)
    report = os.environ.get(START_REPORT_ENV, "")
    if report:
        _write_report(report, f"failed\n{error}\n")
    return 2


def _write_report(path, text):
    try:
        with open(path, "w") as f:
            f.write(text)
    except OSError:
        pass


def _raise_fd_limit():
    """Two file descriptors per proxied connection: lift the soft limit to the hard one."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = hard if hard != resource.RLIM_INFINITY else 1 << 20
        if soft != resource.RLIM_INFINITY and soft < want:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    except (ImportError, ValueError, OSError):
        pass


def _run_loop(coro):
    """Run ``coro`` on uvloop when installed (much less overhead per request), else asyncio."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)
