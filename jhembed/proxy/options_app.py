"""EmbedProxy's options for where it listens, the app it runs, and forwarding to it.

:class:`AppOptions` is a group of :class:`~jhembed.proxy.app.EmbedProxy`'s
traits (set as ``c.EmbedProxy.<name>``); defaults that JupyterHub gives a
single-user server come from its environment, read in ``@default`` methods.
"""

from __future__ import annotations

import os
import re
from urllib.parse import urlparse

from traitlets import Bool, Dict, Float, HasTraits, Int, List, Unicode, Union, default, validate

from .config import ConfigError


def _leading_slash(value):
    return value if value.startswith("/") else "/" + value


def _env_url():
    url = os.environ.get("JUPYTERHUB_SERVICE_URL", "")
    return urlparse(url) if url else None


class AppOptions(HasTraits):
    """Listening, the child app, forwarding and activity (options of EmbedProxy)."""

    # ---- listening ---------------------------------------------------------

    address = Unicode(
        help="""The address the proxy listens on.

        Default: the host of ``$JUPYTERHUB_SERVICE_URL`` if set, else ``127.0.0.1``.
        Example: ``c.EmbedProxy.address = "0.0.0.0"`` (CLI: ``--address``, ``--ip``).
        """,
    ).tag(config=True)

    @default("address")
    def _default_address(self):
        url = _env_url()
        if url and url.hostname:
            return url.hostname
        return "127.0.0.1"

    port = Int(
        help="""The port the proxy listens on.

        Default: the port of ``$JUPYTERHUB_SERVICE_URL`` if set, else 8888.
        Example: ``c.EmbedProxy.port = 8888`` (CLI: ``--port``).
        """,
    ).tag(config=True)

    @default("port")
    def _default_port(self):
        url = _env_url()
        if url:
            if url.port:
                return url.port
            return 443 if url.scheme == "https" else 80
        return 8888

    base_url = Unicode(
        help="""URL prefix the proxy serves, e.g. ``/user/alice/``.

        Default: ``$JUPYTERHUB_SERVICE_PREFIX``, else ``/``. Always normalised
        to start and end with ``/``. Requests outside the prefix get a 404.
        Example: ``c.EmbedProxy.base_url = "/user/alice/"`` (CLI: ``--base-url``).
        """,
    ).tag(config=True)

    @default("base_url")
    def _default_base_url(self):
        return os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/")

    @validate("base_url")
    def _validate_base_url(self, proposal):
        value = _leading_slash(proposal["value"] or "/")
        return value if value.endswith("/") else value + "/"

    absolute_url = Bool(
        False,
        help="""Forward the full path, prefix included, to the app.

        By default the prefix is stripped (the app sees ``/``), like
        ``jupyter standaloneproxy``. Set this when the app is started with
        ``{base_url}`` and serves under the prefix itself (Jupyter servers,
        Voila with ``--Voila.base_url``). CLI: ``--absolute-url``.
        """,
    ).tag(config=True)

    server_proxy_entry_point = Unicode(
        "",
        help="""Run the app of an installed jupyter-server-proxy entry point instead of a command.

        The name of a ``jupyter_serverproxy_servers`` entry point (e.g. ``marimo``
        from jupyter-marimo-proxy). Its setup function is called here, at start,
        with this server's environment; the app is served as jupyter-server-proxy
        serves it, under ``<base_url><name>/`` (``<base_url>`` redirects there), and
        ``{base_url}`` in its command means ``<base_url>``. Its ``timeout``,
        ``absolute_url`` and ``request_headers_override`` apply.
        CLI: ``--server-proxy-entry-point NAME``.
        """,
    ).tag(config=True)

    no_authentication = Bool(
        False,
        help="""Serve without Hub login: anyone who reaches the port gets the app.

        Only for local testing or when something in front does the
        authentication. CLI: ``--no-authentication``.
        """,
    ).tag(config=True)

    # ---- the child app -------------------------------------------------------

    command = List(
        Unicode(),
        help="""The app's command line, given after ``--`` on the command line.

        Placeholders ``{port}``, ``{base_url}`` and ``{unix_socket}`` are
        replaced in each argument. Example:
        ``c.EmbedProxy.command = ["voila", "--port={port}", "--no-browser"]``.
        """,
    ).tag(config=True)

    app_name = Unicode(
        help="""Name of the app shown in status pages and logs.

        Default: the program name of the command (e.g. ``voila``).
        CLI: ``--app-name``.
        """,
    ).tag(config=True)

    @default("app_name")
    def _default_app_name(self):
        if self.command:
            return os.path.basename(self.command[0])
        return "app"

    server_port = Int(
        0,
        help="""Port the app listens on, substituted for ``{port}``.

        0 (default) picks a free port on 127.0.0.1.
        CLI: ``--server-port`` (``--destport`` as in jhsingle-native-proxy).
        """,
    ).tag(config=True)

    unix_socket = Union(
        [Bool(), Unicode()],
        default_value=False,
        help="""Connect to the app over a Unix socket instead of TCP.

        True: a socket in a new private temporary directory; a string: that
        path. The path is substituted for ``{unix_socket}``. Enabled
        automatically when the command contains ``{unix_socket}``.
        CLI: ``--unix-socket``.
        """,
    ).tag(config=True)

    environment = Dict(
        Unicode(),
        help="""Extra environment variables for the app (placeholders are expanded).

        Example: ``c.EmbedProxy.environment = {"BOKEH_ALLOW_WS_ORIGIN": "*"}``
        (CLI: ``--environment KEY=VALUE``, repeatable).
        """,
    ).tag(config=True)

    timeout = Float(
        30.0,
        help="""Seconds to wait for the app to answer on ``ready_check_path``.

        If the app is not ready in time, or exits before, the proxy exits
        non-zero with the app's last output lines in its log.
        CLI: ``--timeout`` (``--ready-timeout`` as in jhsingle-native-proxy).
        """,
    ).tag(config=True)

    ready_check_path = Unicode(
        "/",
        help="""Path polled until the app answers with any status below 500.

        Relative to the app (the prefix is added when ``absolute_url`` is set).
        CLI: ``--ready-check-path``.
        """,
    ).tag(config=True)

    @validate("ready_check_path")
    def _validate_ready_path(self, proposal):
        return _leading_slash(proposal["value"] or "/")

    max_restarts = Int(
        5,
        help="""How many times to restart the app after it crashes once ready.

        Restarts wait with exponential backoff (0.5 s doubling to 30 s); the
        count resets after the app has stayed up for 60 s. When exhausted,
        the proxy exits non-zero so the Hub sees the server stopped.
        0 disables restarts. CLI: ``--max-restarts``.
        """,
    ).tag(config=True)

    stop_timeout = Float(
        5.0,
        help="""Seconds between SIGTERM and SIGKILL when stopping the app.

        CLI: ``--stop-timeout``.
        """,
    ).tag(config=True)

    # ---- forwarding ------------------------------------------------------------

    request_timeout = Float(
        300.0,
        help="""Seconds to wait for the app to send (more of) a response.

        A request the app does not answer in time gets a 504 (checked every
        quarter of the timeout, at most every second, so it comes up to that
        much later). Applies between reads, so long downloads and event
        streams are fine as long as data flows. ``0``: no timeout. CLI:
        ``--request-timeout``.
        """,
    ).tag(config=True)

    request_headers_override = Dict(
        Unicode(),
        help="""Headers set (replacing any sent by the client) on every request to the app.

        CLI: ``--request-headers-override NAME=VALUE`` (repeatable).
        """,
    ).tag(config=True)

    websocket_max_message_size = Int(
        None,
        allow_none=True,
        help="""Largest websocket message accepted in either direction, in bytes.

        Default: 10 MiB (10485760, as tornado's). CLI: ``--websocket-max-message-size``.
        """,
    ).tag(config=True)

    max_body_size = Int(
        0,
        help="""Largest request body accepted, in bytes; 0 (default) means no limit.

        Bodies are streamed to the app, never held in memory.
        CLI: ``--max-body-size``.
        """,
    ).tag(config=True)

    fast_path = Bool(
        True,
        help="""Deprecated, does nothing: the proxy has one request path.

        The proxy's front (httptools) parses and answers every request. Setting
        this to False (``--no-fast-path``) is accepted for old command lines and
        configuration files, logs one deprecation line at startup, and changes
        nothing.
        CLI: ``--no-fast-path``.
        """,
    ).tag(config=True)

    activity_interval = Int(
        300,
        help="""Seconds between activity notifications to the Hub; 0 disables them.

        The proxy posts the time of the last HTTP request or websocket message
        to ``JUPYTERHUB_ACTIVITY_URL``, as JupyterHub's single-user server does
        (default 300, like ``JUPYTERHUB_ACTIVITY_INTERVAL``), with jitter and
        exponential backoff while the Hub is down. CLI: ``--activity-interval``.
        """,
    ).tag(config=True)

    @default("activity_interval")
    def _default_activity_interval(self):
        value = os.environ.get("JUPYTERHUB_ACTIVITY_INTERVAL", "")
        return int(value) if value.isdigit() else 300

    activity_exclude_paths = List(
        Unicode(),
        help="""Regular expressions; requests whose path matches one do not count as activity.

        For polling endpoints that would keep an idle server alive forever,
        e.g. ``c.EmbedProxy.activity_exclude_paths = [r"/api/status$"]``.
        Default: none. CLI: ``--activity-exclude-paths``.
        """,
    ).tag(config=True)

    @validate("activity_exclude_paths")
    def _validate_exclude(self, proposal):
        for pattern in proposal["value"]:
            try:
                re.compile(pattern)
            except re.error as e:
                raise ConfigError(
                    f"EmbedProxy.activity_exclude_paths: {pattern!r} is not a valid regular expression: {e}"
                ) from None
        return proposal["value"]

    keep_alive = Bool(
        False,
        help="""Report activity to the Hub at every interval, with or without traffic.

        Keeps the server from being culled as idle. Default: off.
        CLI: ``--keep-alive``.
        """,
    ).tag(config=True)
