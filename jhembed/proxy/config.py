"""The proxy's configuration: command line, config file, checks.

:class:`ProxyConfig` is the half of :class:`~jhembed.proxy.app.EmbedProxy`
that reads its options (the traits are in ``options_app.py`` and
``options_http.py``): the command-line aliases and flags, unknown options
refused before traitlets ignores them, a jupyter-server-proxy entry point
resolved into a command, and the checks that refuse a configuration that
cannot run. A bad option, value or environment is a :class:`ConfigError`: one
line on stderr (and in the spawner's start report) and exit status 2.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys

from jupyterhub.utils import url_path_join
from traitlets import TraitError
from traitlets.config import Configurable


class ConfigError(Exception):
    """A problem with the proxy's options: printed as one line, exit code 2."""


class ProxyConfig:
    """Command line, config file and checks of the proxy (a mixin of EmbedProxy)."""

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
            "Deprecated, does nothing (the proxy has one request path).",
        ),
        "keep-alive": (
            {"EmbedProxy": {"keep_alive": True}},
            "Report activity to the Hub at every interval, with or without traffic.",
        ),
    }

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

        # configurable classes only: EmbedProxy's option groups (AppOptions, HttpOptions)
        # are not sections, their traits are set as EmbedProxy's
        classes = [type(self), EmbedHubOAuth, *self.classes]
        return {c.__name__ for cls in classes for c in cls.mro() if issubclass(c, Configurable)}

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
        if not self.no_authentication and not self.hub_api_token:
            raise ConfigError(
                "no JupyterHub environment (JUPYTERHUB_API_TOKEN is not set): run this as a "
                "JupyterHub spawner's command, or pass --no-authentication to serve without login"
            )
        if not self.no_authentication and not self.hub_client_id:
            raise ConfigError(
                "JUPYTERHUB_CLIENT_ID is not set: the Hub gives it to the servers it spawns "
                "(OAuth client); run this as a JupyterHub spawner's command"
            )
        self._check_ssl_files()
        for name in ("port", "server_port"):
            if not (0 <= getattr(self, name) < 65536):
                raise ConfigError(
                    f"EmbedProxy.{name} must be between 0 and 65535, not {getattr(self, name)}"
                )
        if self.timeout <= 0:
            raise ConfigError(f"EmbedProxy.timeout must be positive, not {self.timeout}")

    def _check_ssl_files(self):
        if bool(self.ssl_keyfile) != bool(self.ssl_certfile):
            raise ConfigError(
                "internal TLS needs both a key and a certificate: set JUPYTERHUB_SSL_KEYFILE "
                "and JUPYTERHUB_SSL_CERTFILE (EmbedProxy.ssl_keyfile/ssl_certfile), or neither"
            )
        for trait in ("ssl_keyfile", "ssl_certfile", "ssl_client_ca"):
            path = getattr(self, trait)  # by default $JUPYTERHUB_<TRAIT>, named so below
            if not path:
                continue
            try:
                with open(path, "rb"):
                    pass
            except OSError as e:
                env = "JUPYTERHUB_" + trait.upper()
                raise ConfigError(
                    f"cannot read {env} (EmbedProxy.{trait}) {path!r}: {e.strerror}"
                ) from None
