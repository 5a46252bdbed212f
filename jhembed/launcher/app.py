"""The launcher service (``python -m jhembed.launcher``): settings, templates, the tornado app.

Every Hub API call is made with the logged-in user's own OAuth token
(``HubOAuth.get_token``), so the Hub decides what the user may do; the
service's own token is used only to read the Hub's version and, for apps with
``viewers_may_start``, to start a server that the Hub says is shared with the
viewer. Pages are plain forms with the ``_xsrf`` token; JavaScript only adds
the live progress on the start page. The handlers are in ``pages``.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import re
import signal
import sys
from pathlib import Path
from urllib.parse import urlsplit

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape
from jupyterhub.services.auth import HubOAuth
from jupyterhub.utils import make_ssl_context, url_path_join
from tornado import web
from tornado.httpserver import HTTPServer
from traitlets import Dict, Float, Integer, List, Unicode, default, validate
from traitlets.config import Application, TraitError

from ..client import HubClient
from . import pages
from .setup import CATALOG_ENV, TEMPLATE_DIR_ENV

# JupyterHub's bounds for a share code's expires_in (jupyterhub/apihandlers/shares.py)
_MIN_EXPIRY, _MAX_EXPIRY = 60, 365 * 24 * 3600


def _share_dirs():
    here = Path(__file__).resolve().parents[2] / "share" / "jupyterhub" / "jhembed"
    installed = Path(sys.prefix) / "share" / "jupyterhub" / "jhembed"
    return here if here.is_dir() else installed


@functools.lru_cache(maxsize=8)
def _environment(dirs):
    return Environment(
        loader=ChoiceLoader([FileSystemLoader(d) for d in dirs]),
        autoescape=select_autoescape(default=True),
    )


class Launcher(Application):
    """The launcher service (``python -m jhembed.launcher``)."""

    name = "jhembed-launcher"
    description = "A JupyterHub service to start, open, embed and share jhembed apps."

    service_url = Unicode(
        help="""URL the service listens on. Default: ``$JUPYTERHUB_SERVICE_URL``
        (set by the Hub for a managed service), else ``http://127.0.0.1:10102``.""",
    ).tag(config=True)

    @default("service_url")
    def _default_service_url(self):
        return os.environ.get("JUPYTERHUB_SERVICE_URL") or "http://127.0.0.1:10102"

    prefix = Unicode(
        help="""URL prefix of the pages. Default: ``$JUPYTERHUB_SERVICE_PREFIX``
        (``/services/<name>/`` under the Hub's base URL).""",
    ).tag(config=True)

    @default("prefix")
    def _default_prefix(self):
        return os.environ.get("JUPYTERHUB_SERVICE_PREFIX") or "/services/apps/"

    @validate("prefix")
    def _validate_prefix(self, proposal):
        value = proposal.value
        if not value.startswith("/"):
            raise TraitError(f"Launcher.prefix must start with '/', not {value!r}")
        return value if value.endswith("/") else value + "/"

    hub_api_url = Unicode(
        help="""The Hub's API URL. Default: ``$JUPYTERHUB_API_URL``.""",
    ).tag(config=True)

    @default("hub_api_url")
    def _default_hub_api_url(self):
        return os.environ.get("JUPYTERHUB_API_URL") or "http://127.0.0.1:8081/hub/api"

    hub_base_url = Unicode(
        help="""The Hub's public base URL path (``c.JupyterHub.base_url``).
        Default: ``$JUPYTERHUB_BASE_URL``, else ``/``.""",
    ).tag(config=True)

    @default("hub_base_url")
    def _default_hub_base_url(self):
        return os.environ.get("JUPYTERHUB_BASE_URL") or "/"

    public_url = Unicode(
        help="""The Hub's public URL (scheme and host) for the snippets on the "embed" page.
        Default: ``$JUPYTERHUB_PUBLIC_URL``, else the host of each request.""",
    ).tag(config=True)

    @default("public_url")
    def _default_public_url(self):
        return os.environ.get("JUPYTERHUB_PUBLIC_URL", "")

    catalog = Dict(
        help="""The apps, as ``jhembed.launcher.describe_catalog`` gives them.
        Default: ``$JHEMBED_LAUNCHER_CATALOG`` (set by ``jhembed.launcher.configure``).""",
    ).tag(config=True)

    @default("catalog")
    def _default_catalog(self):
        raw = os.environ.get(CATALOG_ENV)
        if not raw:
            raise TraitError(
                f"${CATALOG_ENV} is not set: enable the launcher with jhembed.launcher.configure(c)"
            )
        return json.loads(raw)

    template_dir = Unicode(
        help="""A directory with your own launcher templates (``index.html``, ``share.html``...),
        used before the shipped ones. Autoescape is on. Default: ``$JHEMBED_LAUNCHER_TEMPLATE_DIR``.""",
    ).tag(config=True)

    @default("template_dir")
    def _default_template_dir(self):
        return os.environ.get(TEMPLATE_DIR_ENV, "")

    start_wait = Float(
        1.0,
        help="""Seconds a start form waits for the Hub before showing the progress page.

        A refused option comes back at once (the form shows the spawner's message);
        a slower start goes on while the page follows its progress. Default: 1.""",
    ).tag(config=True)

    share_code_expiry = List(
        Integer(),
        default_value=[3600, 86400, 7 * 86400],
        help="""Expiry times (seconds) offered for share codes, in the order shown; the
        second one is preselected. Each from 60 (JupyterHub's shortest) to 31536000 (a
        year, its longest). Default: an hour, a day, a week, i.e. ``[3600, 86400, 604800]``.
        Example: ``c.Launcher.share_code_expiry = [600, 3600, 86400]``, or through
        ``jhembed.launcher.configure(c, options={"share_code_expiry": [600, 3600]})``.""",
    ).tag(config=True)

    @validate("share_code_expiry")
    def _valid_expiry(self, proposal):
        values = proposal["value"]
        wrong = [v for v in values if not _MIN_EXPIRY <= v <= _MAX_EXPIRY]
        if not values or wrong:
            raise TraitError(
                f"Launcher.share_code_expiry: seconds from {_MIN_EXPIRY} to {_MAX_EXPIRY} "
                f"(JupyterHub's limits for share codes), at least one; got {values!r}"
            )
        return values

    embed_token_expiry = Integer(
        7 * 86400,
        help="""Seconds an embed token ("Create an embed token" on the embed page) is valid:
        it opens only that server, for anyone who has the snippet. Default: 7 days.
        Example: ``jhembed.launcher.configure(c, options={"embed_token_expiry": 86400})``.""",
    ).tag(config=True)

    @validate("embed_token_expiry")
    def _validate_embed_token_expiry(self, proposal):
        if proposal.value <= 0:
            raise TraitError(f"Launcher.embed_token_expiry must be > 0, not {proposal.value}")
        return proposal.value

    def _log_level_default(self):
        return logging.INFO

    hub_auth = None
    client = None
    _major = None

    async def hub_major(self):
        if self._major is None:
            self._major = (await self.client.hub_version())[0]
        return self._major

    def thumbnail_url(self, value):
        if not value:
            return ""
        if "/" in value:
            return value
        return url_path_join(self.prefix, "static", "thumbnails", value)

    def render(self, template, **ns):
        share = _share_dirs()
        dirs = (self.template_dir,) if self.template_dir else ()
        env = _environment(dirs + (str(share / "templates" / "launcher"),))
        return env.get_template(template).render(**ns)

    def make_app(self):
        self.hub_auth = HubOAuth(parent=self, cache_max_age=10)
        ssl = None
        if self.hub_auth.certfile and self.hub_auth.client_ca:
            ssl = make_ssl_context(
                self.hub_auth.keyfile, self.hub_auth.certfile, cafile=self.hub_auth.client_ca
            )
        api = self.hub_api_url.rstrip("/")
        hub_url = api[: -len("hub/api")] if api.endswith("hub/api") else api + "/"
        self.client = HubClient(hub_url, os.environ.get("JUPYTERHUB_API_TOKEN", ""), ssl=ssl)
        p = self.prefix
        callback = urlsplit(self.hub_auth.oauth_redirect_uri).path
        return web.Application(
            [
                (re.escape(callback), pages.OAuthCallbackHandler),
                (re.escape(p), pages.IndexHandler),
                (re.escape(p) + r"start/([^/]+)", pages.StartHandler),
                (re.escape(p) + r"progress/([^/]+)", pages.ProgressHandler),
                (re.escape(p) + r"stop/([^/]+)", pages.StopHandler),
                (re.escape(p) + r"embed/([^/]+)", pages.EmbedHandler),
                (re.escape(p) + r"share/([^/]+)", pages.ShareHandler),
                (re.escape(p) + r"viewer-start/([^/]+)/([^/]+)", pages.ViewerStartHandler),
                (re.escape(p) + r"leave/([^/]+)/([^/]+)", pages.LeaveHandler),
                (
                    re.escape(p) + r"static/(.*)",
                    web.StaticFileHandler,
                    {"path": str(_share_dirs() / "static")},
                ),
            ],
            hub_auth=self.hub_auth,
            launcher=self,
            cookie_secret=os.urandom(32),
            xsrf_cookies=True,
            login_url=self.hub_auth.login_url,
            log_function=self._log_request,
        )

    def _log_request(self, handler):
        """One line per request, the path only: queries carry OAuth codes and _xsrf."""
        status = handler.get_status()
        self.log.log(
            logging.INFO if status < 400 or status >= 500 else logging.WARNING,
            "%d %s %s %.1fms",
            status,
            handler.request.method,
            urlsplit(handler.request.uri).path,
            1000 * handler.request.request_time(),
        )

    def start(self):
        asyncio.run(self._serve())

    async def _serve(self):
        """Serve until SIGINT or SIGTERM (the Hub's, or Ctrl-C in the demo), then stop quietly."""
        app = self.make_app()
        url = urlsplit(self.service_url)
        server = HTTPServer(app, xheaders=True)
        server.listen(url.port or 80, url.hostname or "127.0.0.1")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        self.log.info("jhembed launcher on %s, prefix %s", self.service_url, self.prefix)
        await stop.wait()
        server.stop()
        await self.client.close()
        self.log.info("jhembed launcher stopped")


def main(argv=None):
    Launcher.launch_instance(argv)


__all__ = ["Launcher", "main"]


if __name__ == "__main__":  # pragma: no cover
    main()
