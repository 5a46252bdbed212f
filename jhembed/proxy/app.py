"""``jupyter-embedproxy``: run one web app as a JupyterHub user's server.

    jupyter-embedproxy [options] -- CMD ARGS...

Every option is a trait of :class:`EmbedProxy`, settable on the command line,
in ``jupyter_embedproxy_config.py``, or (for the listen address and prefix)
from the environment JupyterHub gives a single-user server.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import sys
from urllib.parse import urlparse

from jupyter_core.application import JupyterApp, NoStart
from jupyterhub.utils import url_path_join
from traitlets import (
    Bool,
    Dict,
    Float,
    Int,
    List,
    TraitError,
    Unicode,
    Union,
    default,
    validate,
)
from traitlets.config import Application

from .._version import __version__
from . import headers as _headers
from .config import ConfigError
from .runtime import ProxyRuntime, _refuse


def _env_url():
    url = os.environ.get("JUPYTERHUB_SERVICE_URL", "")
    return urlparse(url) if url else None


class EmbedProxy(ProxyRuntime, JupyterApp):
    """The single-user proxy: supervises one app and forwards HTTP/websockets to it."""

    name = "jupyter-embedproxy"
    version = __version__
    description = """Run a web app as a JupyterHub user's server.

    jupyter-embedproxy starts CMD (after ``--``), waits until it answers HTTP,
    and forwards HTTP and websocket traffic to it, applying a header policy
    that makes it embeddable in an iframe of a chosen host site.
    Placeholders in CMD: {port} (a free port for the app), {base_url} (the
    server's URL prefix, with a trailing slash), {base_path} (the same without
    the trailing slash), {unix_socket} (a socket path, when the app listens on
    a Unix socket). Or --server-proxy-entry-point NAME instead of CMD: the app
    of an installed jupyter-server-proxy entry point.
    """
    examples = """
    jupyter-embedproxy --no-authentication --port 8888 -- python -m http.server {port}
    jupyter-embedproxy -- voila --port={port} --no-browser --Voila.base_url={base_url} app.ipynb
    """

    # JupyterApp options we do not use
    config_file_name = Unicode("jupyter_embedproxy_config", help="Name of the config file to load.")

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
        value = proposal["value"] or "/"
        if not value.startswith("/"):
            value = "/" + value
        if not value.endswith("/"):
            value += "/"
        return value

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
        value = proposal["value"] or "/"
        if not value.startswith("/"):
            value = "/" + value
        return value

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

        A request the app does not answer in time gets a 504. Applies between
        reads, so long downloads and event streams are fine as long as data
        flows. CLI: ``--request-timeout``.
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

        Default: tornado's 10 MiB. CLI: ``--websocket-max-message-size``.
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
        help="""Serve the hot path with the proxy's lean HTTP front (default on).

        Requests whose user is known and websockets go straight to the app
        through httptools-parsed, pooled keep-alive connections; everything
        else (logins, status pages, the bridge) is answered by the proxy's
        tornado application behind it, exactly as with the front off. Turn it
        off only to compare or to rule it out when debugging.
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

    # ---- Hub login -------------------------------------------------------------------

    allow_token_login = Bool(
        False,
        help="""Let a host site log a user in with ``?token=<Hub token>`` in the URL (iframe login).

        The proxy checks the token with the Hub and its scopes, sets its own
        session cookie (``HttpOnly``; ``Secure; SameSite=None`` when another
        origin may frame the server) and redirects to the same URL without the
        token, with ``Referrer-Policy: no-referrer``. The token never reaches the
        app. When off (default), a token in a page URL is refused with 403.
        Use short-lived tokens. CLI: ``--allow-token-login``.
        """,
    ).tag(config=True)

    bridge = Bool(
        False,
        help="""Add jhembed's postMessage bridge to the app's pages (for host sites that embed it).

        The proxy serves ``jhembed-frame.js`` at ``{prefix}_jhembed/`` and adds a
        script tag for it to the app's HTML documents (200, ``text/html``, not
        compressed, at most 2 MiB). The script talks only to the origins in
        ``frame_ancestors``: it answers a host page's ``save`` with ``saved``
        (JupyterLab 4, Notebook 7) and says ``ready`` (Voila: once widgets are
        shown). Default: off. CLI: ``--bridge``.
        """,
    ).tag(config=True)

    forward_user = Bool(
        False,
        help="""Tell the app who is logged in, with ``X-Forwarded-User`` and ``X-Forwarded-Groups``.

        Set after authentication; copies of these headers sent by a client are
        always removed, whether this is on or not. Default: off.
        CLI: ``--forward-user``.
        """,
    ).tag(config=True)

    auth_cache_max_age = Int(
        300,
        help="""Seconds a token check with the Hub is cached (HubAuth's cache).

        A page load does not call the Hub for each request; a revoked token or
        share stops working after at most this long. Default 300.
        CLI: ``--auth-cache-max-age``.
        """,
    ).tag(config=True)

    # ---- internal TLS ------------------------------------------------------------------

    ssl_keyfile = Unicode(
        help="""Private key for HTTPS (JupyterHub internal TLS).

        Default: ``$JUPYTERHUB_SSL_KEYFILE``. With a key and certificate the
        proxy serves HTTPS, requires client certificates signed by
        ``ssl_client_ca`` and uses the same files to call the Hub.
        CLI: ``--keyfile``.
        """,
    ).tag(config=True)

    @default("ssl_keyfile")
    def _default_keyfile(self):
        return os.environ.get("JUPYTERHUB_SSL_KEYFILE", "")

    ssl_certfile = Unicode(
        help="""Certificate for HTTPS (JupyterHub internal TLS).

        Default: ``$JUPYTERHUB_SSL_CERTFILE``. CLI: ``--certfile``.
        """,
    ).tag(config=True)

    @default("ssl_certfile")
    def _default_certfile(self):
        return os.environ.get("JUPYTERHUB_SSL_CERTFILE", "")

    ssl_client_ca = Unicode(
        help="""CA bundle that client certificates (and the Hub's) must be signed by.

        Default: ``$JUPYTERHUB_SSL_CLIENT_CA``. CLI: ``--client-ca``.
        """,
    ).tag(config=True)

    @default("ssl_client_ca")
    def _default_client_ca(self):
        return os.environ.get("JUPYTERHUB_SSL_CLIENT_CA", "")

    # ---- header policy -----------------------------------------------------------

    frame_ancestors = List(
        Unicode(),
        default_value=["'self'"],
        help="""Origins allowed to show this server in an iframe (CSP ``frame-ancestors``).

        Each item is ``'self'``, ``'none'``, a scheme such as ``https:``, or an
        origin such as ``https://app.example.com`` or ``https://*.example.com``.
        The app's own ``frame-ancestors`` is replaced by exactly this value;
        its other CSP directives are kept. When another origin is allowed,
        ``X-Frame-Options`` is dropped and the app's cookies get
        ``SameSite=None; Secure`` so they work inside the cross-site iframe.
        Example: ``c.EmbedProxy.frame_ancestors = ["'self'", "https://host.example.com"]``
        (CLI: ``--frame-ancestors ORIGIN``, repeatable).
        """,
    ).tag(config=True)

    @validate("frame_ancestors")
    def _validate_frame_ancestors(self, proposal):
        return _headers.validate_frame_ancestors(proposal["value"], "EmbedProxy.frame_ancestors")

    cors_origins = List(
        Unicode(),
        help="""Origins allowed to call this server with CORS (credentials included).

        The proxy owns CORS: it answers preflights itself (204 for these
        origins, 403 for others) and replaces any ``Access-Control-*`` headers
        of the app. Each item is an origin like ``https://host.example.com``.
        Example: ``c.EmbedProxy.cors_origins = ["https://host.example.com"]``
        (CLI: ``--cors-origins ORIGIN``, repeatable).
        """,
    ).tag(config=True)

    @validate("cors_origins")
    def _validate_cors_origins(self, proposal):
        return _headers.validate_cors_origins(proposal["value"], "EmbedProxy.cors_origins")

    extra_headers = Dict(
        Unicode(),
        help="""Headers added to every response (replacing the app's value).

        Example: ``c.EmbedProxy.extra_headers = {"Permissions-Policy": "camera=()"}``
        (CLI: ``--extra-headers NAME=VALUE``, repeatable).
        """,
    ).tag(config=True)

    @validate("extra_headers")
    def _validate_extra_headers(self, proposal):
        return _headers.validate_extra_headers(proposal["value"], "EmbedProxy.extra_headers")

    cookie_samesite = Unicode(
        "",
        help="""``SameSite`` attribute forced on cookies the app sets.

        ``""`` (default): ``None`` when ``frame_ancestors`` allows another
        origin, else leave the app's cookies alone. ``"None"`` also adds
        ``Secure``. One of ``""``, ``"None"``, ``"Lax"``, ``"Strict"``.
        CLI: ``--cookie-samesite``.
        """,
    ).tag(config=True)

    @validate("cookie_samesite")
    def _validate_samesite(self, proposal):
        return _headers.validate_samesite(proposal["value"], "EmbedProxy.cookie_samesite")

    cookie_partitioned = Bool(
        None,
        allow_none=True,
        help="""Add ``Partitioned`` (CHIPS) to every ``SameSite=None`` cookie: the app's and the proxy's.

        ``None`` (default): on when ``frame_ancestors`` allows another origin.
        A partitioned cookie is kept per host site, and it is the only kind that
        a browser blocking third-party cookies (Chromium's default in incognito
        windows and for many users, Safari, Firefox's strict mode) sends back to
        a cross-site frame: without it the frame loses its login after the first
        page. ``False`` opts out (the cookies are then shared by every site that
        frames the server, where the browser allows that).
        CLI: ``--cookie-partitioned`` / ``--no-cookie-partitioned``.
        """,
    ).tag(config=True)

    # ---- CLI ----------------------------------------------------------------------

    aliases = {
        "log-level": "Application.log_level",
        "config": "JupyterApp.config_file",
        "address": "EmbedProxy.address",
        "ip": "EmbedProxy.address",
        "port": "EmbedProxy.port",
        "base-url": "EmbedProxy.base_url",
        "server-proxy-entry-point": "EmbedProxy.server_proxy_entry_point",
        "app-name": "EmbedProxy.app_name",
        "server-port": "EmbedProxy.server_port",
        "destport": "EmbedProxy.server_port",
        "unix-socket": "EmbedProxy.unix_socket",
        "environment": "EmbedProxy.environment",
        "timeout": "EmbedProxy.timeout",
        "ready-timeout": "EmbedProxy.timeout",
        "ready-check-path": "EmbedProxy.ready_check_path",
        "max-restarts": "EmbedProxy.max_restarts",
        "stop-timeout": "EmbedProxy.stop_timeout",
        "request-timeout": "EmbedProxy.request_timeout",
        "request-headers-override": "EmbedProxy.request_headers_override",
        "websocket-max-message-size": "EmbedProxy.websocket_max_message_size",
        "max-body-size": "EmbedProxy.max_body_size",
        "activity-interval": "EmbedProxy.activity_interval",
        "frame-ancestors": "EmbedProxy.frame_ancestors",
        "cors-origins": "EmbedProxy.cors_origins",
        "extra-headers": "EmbedProxy.extra_headers",
        "cookie-samesite": "EmbedProxy.cookie_samesite",
        "activity-exclude-paths": "EmbedProxy.activity_exclude_paths",
        "auth-cache-max-age": "EmbedProxy.auth_cache_max_age",
        "keyfile": "EmbedProxy.ssl_keyfile",
        "certfile": "EmbedProxy.ssl_certfile",
        "client-ca": "EmbedProxy.ssl_client_ca",
    }

    flags = {
        "debug": (
            {"Application": {"log_level": logging.DEBUG}},
            "Set log level to DEBUG.",
        ),
        "generate-config": (
            {"JupyterApp": {"generate_config": True}},
            "Write a default jupyter_embedproxy_config.py and exit.",
        ),
        "y": (
            {"JupyterApp": {"answer_yes": True}},
            "Answer yes to any questions (e.g. overwriting the config file).",
        ),
        "absolute-url": (
            {"EmbedProxy": {"absolute_url": True}},
            "Forward the full path, prefix included, to the app.",
        ),
        "no-authentication": (
            {"EmbedProxy": {"no_authentication": True}},
            "Serve without Hub login (anyone who reaches the port gets the app).",
        ),
        "cookie-partitioned": (
            {"EmbedProxy": {"cookie_partitioned": True}},
            "Add Partitioned to SameSite=None cookies (the default when another site may frame).",
        ),
        "no-cookie-partitioned": (
            {"EmbedProxy": {"cookie_partitioned": False}},
            "Do not add Partitioned to cookies, even in cross-site frames.",
        ),
        "allow-token-login": (
            {"EmbedProxy": {"allow_token_login": True}},
            "Accept ?token= in page URLs once and trade it for a session cookie (iframe login).",
        ),
        "bridge": (
            {"EmbedProxy": {"bridge": True}},
            "Add the postMessage bridge script to the app's pages.",
        ),
        "forward-user": (
            {"EmbedProxy": {"forward_user": True}},
            "Send X-Forwarded-User and X-Forwarded-Groups to the app.",
        ),
        "no-fast-path": (
            {"EmbedProxy": {"fast_path": False}},
            "Serve every request with the tornado application (no lean front).",
        ),
        "keep-alive": (
            {"EmbedProxy": {"keep_alive": True}},
            "Report activity to the Hub at every interval, with or without traffic.",
        ),
    }

    def _log_format_default(self):
        return "[%(levelname)1.1s %(asctime)s.%(msecs).03d %(name)s] %(message)s"

    def _log_datefmt_default(self):
        return "%Y-%m-%d %H:%M:%S"

    @property
    def cross_origin_framing(self):
        return _headers.allows_cross_origin(self.frame_ancestors)

    def _check_options(self, argv):
        """Refuse unknown options with one line, before traitlets' generic parser sees them."""
        known = set(self.aliases) | set(self.flags) | {"help", "help-all", "version", "h"}
        for arg in argv:
            if arg == "--":
                break
            if not arg.startswith("-") or arg == "-":
                continue
            name = arg.lstrip("-").split("=", 1)[0]
            if name in known:
                continue
            if "." in name:
                # Class.option: only the classes this program reads; another program's
                # (--StandaloneProxyServer.base_url, --ServerProcess.timeout) would be
                # ignored in silence by traitlets
                section = name.split(".", 1)[0]
                if section in self._config_sections():
                    continue
                raise ConfigError(
                    f"unknown option {arg.split('=', 1)[0]!r}: jupyter-embedproxy has no "
                    f"{section} settings (use its own flags: see jupyter-embedproxy --help-all)"
                )
            raise ConfigError(
                f"unknown option {arg.split('=', 1)[0]!r} (see jupyter-embedproxy --help-all)"
            )

    def _config_sections(self):
        """Names of the classes whose ``--Class.option`` this program reads."""
        from .auth import EmbedHubOAuth

        classes = [type(self), EmbedHubOAuth, *self.classes]
        return {c.__name__ for cls in classes for c in cls.mro() if hasattr(c, "class_traits")}

    def _load_config(self, cfg, section_names=None, traits=None):
        # a bad value is the user's error: one line and exit 2 (ConfigError),
        # not traitlets' generic "Bad config encountered" and exit 1
        try:
            super()._load_config(cfg, section_names=section_names, traits=traits)
        except TraitError as e:
            raise ConfigError(str(e)) from None

    def initialize(self, argv=None):
        self._check_options(sys.argv[1:] if argv is None else argv)
        super().initialize(argv)
        if self.generate_config:
            return
        if self.extra_args:
            self.command = list(self.extra_args)
        if self.server_proxy_entry_point:
            self._use_entry_point()
        self._check_config()

    # where the app's {base_url} points and what <base_url> redirects to (entry points)
    _server_prefix = ""

    def _use_entry_point(self):
        from .entrypoints import EntryPointError, resolve

        name = self.server_proxy_entry_point
        if self.command:
            raise ConfigError(
                f"give either --server-proxy-entry-point {name} or a command after --, not both"
            )
        try:
            spec = resolve(name, server_prefix=self.base_url)
        except EntryPointError as e:
            raise ConfigError(str(e)) from None
        self.command = spec["command"]
        self.environment = {**spec["environment"], **self.environment}
        for key in ("timeout", "absolute_url", "request_headers_override"):
            if key in spec:
                setattr(self, key, spec[key])
        self._server_prefix = self.base_url
        self.base_url = url_path_join(self.base_url, name) + "/"
        self.log.info(
            "Entry point %s: %s, served under %s", name, " ".join(self.command[:1]), self.base_url
        )

    def _check_config(self):
        if not self.command:
            raise ConfigError(
                "no command given: put the app's command after --, "
                "e.g. jupyter-embedproxy --no-authentication -- python -m http.server {port}"
            )
        program = self.command[0]
        if shutil.which(program) is None:
            raise ConfigError(
                f"command not found: {program!r} (is it installed and on PATH={os.environ.get('PATH', '')}?)"
            )
        if not self.no_authentication and not os.environ.get("JUPYTERHUB_API_TOKEN"):
            raise ConfigError(
                "no JupyterHub environment (JUPYTERHUB_API_TOKEN is not set): run this as a "
                "JupyterHub spawner's command, or pass --no-authentication to serve without login"
            )
        if not self.no_authentication and not os.environ.get("JUPYTERHUB_CLIENT_ID"):
            raise ConfigError(
                "JUPYTERHUB_CLIENT_ID is not set: the Hub gives it to the servers it spawns "
                "(OAuth client); run this as a JupyterHub spawner's command"
            )
        self._check_ssl_files()
        if not (0 <= self.port < 65536):
            raise ConfigError(f"EmbedProxy.port must be between 0 and 65535, not {self.port}")
        if not (0 <= self.server_port < 65536):
            raise ConfigError(
                f"EmbedProxy.server_port must be between 0 and 65535, not {self.server_port}"
            )
        if self.timeout <= 0:
            raise ConfigError(f"EmbedProxy.timeout must be positive, not {self.timeout}")

    def _check_ssl_files(self):
        files = {
            "ssl_keyfile": ("JUPYTERHUB_SSL_KEYFILE", self.ssl_keyfile),
            "ssl_certfile": ("JUPYTERHUB_SSL_CERTFILE", self.ssl_certfile),
            "ssl_client_ca": ("JUPYTERHUB_SSL_CLIENT_CA", self.ssl_client_ca),
        }
        if bool(self.ssl_keyfile) != bool(self.ssl_certfile):
            raise ConfigError(
                "internal TLS needs both a key and a certificate: set JUPYTERHUB_SSL_KEYFILE "
                "and JUPYTERHUB_SSL_CERTFILE (EmbedProxy.ssl_keyfile/ssl_certfile), or neither"
            )
        for trait, (env, path) in files.items():
            if not path:
                continue
            try:
                with open(path, "rb"):
                    pass
            except OSError as e:
                raise ConfigError(
                    f"cannot read {env} (EmbedProxy.{trait}) {path!r}: {e.strerror}"
                ) from None


def main(argv=None):
    """Console-script entry point; returns the process exit code."""
    app = EmbedProxy()
    try:
        app.initialize(argv)
        code = app.start()
    except NoStart:
        return 0  # --generate-config and the like: done, nothing to run
    except ConfigError as e:
        return _refuse(e)
    except Exception as e:  # a TraitError from a @validate, bad CLI values
        from traitlets import TraitError

        if isinstance(e, TraitError):
            return _refuse(e)
        raise
    return code or 0


# keep traitlets' Application name for launch_instance users
launch_instance = EmbedProxy.launch_instance

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

__all__ = ["EmbedProxy", "main", "Application"]
