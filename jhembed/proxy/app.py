"""``jupyter-embedproxy``: run one web app as a JupyterHub user's server.

    jupyter-embedproxy [options] -- CMD ARGS...

Every option is a trait of :class:`EmbedProxy`, settable on the command line,
in ``jupyter_embedproxy_config.py``, or (for the listen address and prefix)
from the environment JupyterHub gives a single-user server.
"""

from __future__ import annotations

import sys

from jupyter_core.application import JupyterApp, NoStart
from traitlets import TraitError, Unicode

from .._version import __version__
from .config import ConfigError, ProxyConfig
from .lean import defer_hub_database
from .options_app import AppOptions
from .options_http import HttpOptions
from .runtime import ProxyRuntime, _refuse


class EmbedProxy(ProxyRuntime, ProxyConfig, JupyterApp, AppOptions, HttpOptions):
    """The single-user proxy: supervises one app and forwards HTTP/websockets to it."""

    # its options are the traits of AppOptions and HttpOptions; ProxyConfig reads and
    # checks them (command line, config file), ProxyRuntime runs the proxy

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

    @classmethod
    def class_own_traits(cls, **metadata):
        """The traits this program adds to JupyterApp's, its option groups' included.

        traitlets' own version leaves out traits of base classes, hence of the
        option groups; traitlets (for --generate-config and --help-all) and the
        docs' tests read this one.
        """
        inherited = JupyterApp.class_traits(**metadata)
        return {n: t for n, t in cls.class_traits(**metadata).items() if inherited.get(n) is not t}

    def _log_format_default(self):
        return "[%(levelname)1.1s %(asctime)s.%(msecs).03d %(name)s] %(message)s"

    def _log_datefmt_default(self):
        return "%Y-%m-%d %H:%M:%S"


def main(argv=None):
    """Console-script entry point; returns the process exit code.

    Run as the command (no ``argv``), the proxy keeps JupyterHub's ORM out of
    memory until something uses it (:mod:`.lean`).
    """
    if argv is None:
        defer_hub_database()
    app = EmbedProxy()
    try:
        app.initialize(argv)
        code = app.start()
    except NoStart:
        return 0  # --generate-config and the like: done, nothing to run
    except (ConfigError, TraitError) as e:  # TraitError: a @validate, bad CLI values
        return _refuse(e)
    return code or 0


# keep traitlets' Application name for launch_instance users
launch_instance = EmbedProxy.launch_instance

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

__all__ = ["EmbedProxy", "main"]
