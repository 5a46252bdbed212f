"""jhembed-auth: a JupyterHub service that answers nginx ``auth_request`` subrequests.

Run it as a managed service of the Hub::

    c.JupyterHub.services = [{
        "name": "jhembed-auth",
        "url": "http://127.0.0.1:10101",
        "command": [sys.executable, "-m", "jhembed.auth_request"],
        "oauth_no_confirm": True,
        "oauth_client_allowed_scopes": ["access:servers", "read:users:groups!user"],
    }]

nginx sends every protected request as a subrequest to
``{service prefix}check`` with the original URI in ``X-Original-URI``; the
service answers

* ``200`` with ``X-Forwarded-User`` / ``X-Forwarded-Groups`` when the Hub token
  (``Authorization: token ...`` or the service's session cookie) holds one of
  the scopes the path needs,
* ``401`` when there is no valid login (nginx then sends the browser to
  ``{service prefix}login?next=...``, which logs in with the Hub's OAuth),
* ``403`` when the user is logged in but lacks the scope, or no rule covers
  the path,
* ``503`` when the Hub cannot be asked (nginx turns anything but 2xx/401/403
  into a 500: the request is refused, never let through).

Scopes per path: ``{hub}/user/<name>/[<server>/]...`` needs
``access:servers!server=<name>/<server>`` (see ``AuthRequest.server_rules``);
other paths follow ``AuthRequest.rules``.  The Hub's answers are cached for
``AuthRequest.cache_max_age`` seconds, keyed by token, in memory only; tokens
and cookies are never logged.
"""

from __future__ import annotations

import asyncio
import logging
import os
import posixpath
import re
import secrets
import unicodedata
from urllib.parse import unquote, urlsplit

from jupyterhub.services.auth import HubOAuth, HubOAuthCallbackHandler, HubOAuthenticated
from jupyterhub.utils import url_path_join
from tornado import ioloop, web
from tornado.httpserver import HTTPServer
from traitlets import Bool, Dict, Integer, List, Unicode, default, validate
from traitlets.config import Application, TraitError

_TOKEN_HEADER = re.compile(r"^\s*(?:token|bearer)\s+(\S+)\s*$", re.IGNORECASE)
_ALL_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "PROPFIND")


def _clean_path(raw_uri):
    """The decoded path of ``raw_uri``, or None when it is not in normal form.

    ``..``/``.`` segments, doubled slashes and encoded slashes are refused
    rather than guessed: nginx matched its ``location`` on the normalised path,
    and we must decide on the same one.
    """
    if not raw_uri.startswith("/") or raw_uri.startswith("//"):
        return None
    raw_path = raw_uri.split("?", 1)[0].split("#", 1)[0]
    if re.search(r"%2f|%5c|\\", raw_path, re.IGNORECASE):
        return None
    path = unquote(raw_path)
    normal = posixpath.normpath(path)
    if path.endswith("/") and normal != "/":
        normal += "/"
    if normal != path or "\x00" in path:
        return None
    return path


def next_from_query(query):
    """The ``next`` URL of a ``login?next=...`` query, to be judged by ``safe_next``.

    nginx passes ``next=$request_uri`` as is: everything after "next=" is the
    URL (already percent-encoded); an encoded one ("%2F...") is decoded once.
    """
    next_url = query[len("next=") :] if query.startswith("next=") else ""
    if not next_url.startswith("/"):
        next_url = unquote(next_url)
    return next_url


def _unsafe_char(c):
    """Control characters, whitespace and invisible format characters (bidi, zero-width)."""
    return c.isspace() or unicodedata.category(c) in ("Cc", "Cf", "Zs", "Zl", "Zp")


def _local_path(value):
    """Whether ``value`` is a path on this site, as it is and after decoding.

    Browsers drop tabs and newlines from a ``Location`` and some treat ``\\``
    as ``/``, so ``/<TAB>/evil.example`` would become ``//evil.example``: refused
    are values that do not start with exactly one ``/``, or that hold a
    backslash, a control character or whitespace, before or after
    percent-decoding (repeated, as a browser or server behind might).  A
    percent-encoded plain space (``%20``) is kept: it stays encoded in the
    ``Location``, and file names have spaces.
    """
    if not value.startswith("/") or value.startswith("//"):
        return False
    if any(c == "\\" or _unsafe_char(c) for c in value):
        return False
    decoded = value
    for _ in range(4):
        previous, decoded = decoded, unquote(decoded)
        if decoded == previous:
            break
    else:
        return False  # still encoded after four rounds: not a path anyone means
    if decoded.startswith("//") or "\\" in decoded:
        return False
    return not any(c != " " and _unsafe_char(c) for c in decoded)


def _scrub(uri):
    """``uri`` without its query string, for logs (a query may carry a token)."""
    return urlsplit(uri).path


class _Base(web.RequestHandler):
    @property
    def app(self):
        return self.settings["jhembed_auth"]

    def log_exception(self, typ, value, tb):  # keep tracebacks, never request headers
        if isinstance(value, web.HTTPError):
            return super().log_exception(typ, value, tb)
        self.app.log.error("Error in %s %s", self.request.method, _scrub(self.request.uri))
        self.app.log.debug("Traceback", exc_info=(typ, value, tb))


class CheckHandler(_Base):
    """The ``auth_request`` endpoint: any method, empty body, a status and headers."""

    SUPPORTED_METHODS = _ALL_METHODS

    def check_xsrf_cookie(self):  # a subrequest from nginx, not a browser form
        pass

    async def _check(self, *args):
        status, user = await self.app.decide(self)
        self.set_status(status)
        self.set_header("Cache-Control", "no-store")
        if user is not None and status == 200:
            self.set_header("X-Forwarded-User", user["name"])
            self.set_header("X-Forwarded-Groups", ",".join(user.get("groups") or ()))
        self.finish()

    get = head = post = put = patch = delete = options = propfind = _check


class _UsesOurHubAuth:
    """Handlers use the service's HubOAuth, not the class's singleton."""

    def initialize(self):
        self.hub_auth = self.settings["hub_auth"]


class LoginHandler(_UsesOurHubAuth, HubOAuthenticated, _Base):
    """``login?next=/path``: log in with the Hub (OAuth), then go back to ``next``."""

    @web.authenticated
    def get(self):
        self.redirect(self.app.safe_next(next_from_query(self.request.query)))


class OAuthCallbackHandler(_UsesOurHubAuth, HubOAuthCallbackHandler):
    pass


class IndexHandler(_Base):
    def get(self):
        self.set_header("Content-Type", "text/plain")
        self.write("jhembed-auth: answers nginx auth_request subrequests at check\n")


class LogoutHandler(_Base):
    def get(self):
        self.clear_cookie(self.app.hub_auth.cookie_name, path=self.app.cookie_path)
        self.redirect(self.app.hub_auth.hub_prefix + "logout")


class AuthRequest(Application):
    """The ``jhembed-auth`` service (``python -m jhembed.auth_request``)."""

    name = "jhembed-auth"
    description = "Answer nginx auth_request subrequests with JupyterHub login and scopes."

    config_file = Unicode(
        "",
        help="""Python config file to load (``c.AuthRequest.rules = ...``).

        Default: none. CLI: ``--config``. Example: ``--config /etc/jupyterhub/jhembed_auth_config.py``
        """,
    ).tag(config=True)

    service_url = Unicode(
        help="""URL the service listens on.

        Default: ``$JUPYTERHUB_SERVICE_URL`` (set by the Hub for a managed service
        with a ``url``), else ``http://127.0.0.1:10101``.
        Example: ``c.AuthRequest.service_url = "http://127.0.0.1:10101"``
        """,
    ).tag(config=True)

    @default("service_url")
    def _default_service_url(self):
        return os.environ.get("JUPYTERHUB_SERVICE_URL") or "http://127.0.0.1:10101"

    prefix = Unicode(
        help="""URL prefix of the service's handlers (``check``, ``login``, ``oauth_callback``).

        Default: ``$JUPYTERHUB_SERVICE_PREFIX`` (``/services/<name>/`` under the Hub's base URL).
        """,
    ).tag(config=True)

    @default("prefix")
    def _default_prefix(self):
        return os.environ.get("JUPYTERHUB_SERVICE_PREFIX") or "/services/jhembed-auth/"

    hub_base_url = Unicode(
        help="""The Hub's public base URL path, used to recognise ``{hub_base_url}user/<name>/...``.

        Default: ``$JUPYTERHUB_BASE_URL``, else ``/``. Example: ``"/jupyter/"``
        """,
    ).tag(config=True)

    @default("hub_base_url")
    def _default_hub_base_url(self):
        return os.environ.get("JUPYTERHUB_BASE_URL") or "/"

    @validate("prefix", "hub_base_url")
    def _validate_url_path(self, proposal):
        value = proposal.value
        if not value.startswith("/"):
            raise TraitError(
                f"AuthRequest.{proposal.trait.name} must start with '/', not {value!r}"
            )
        return value if value.endswith("/") else value + "/"

    uri_header = Unicode(
        "X-Original-URI",
        help="""Request header carrying the original request URI (nginx: ``$request_uri``).

        A subrequest without it is refused with 500 (a configuration error).
        Default: ``X-Original-URI``.
        """,
    ).tag(config=True)

    server_rules = Bool(
        True,
        help="""Protect ``{hub_base_url}user/<name>/...`` with the server's access scope.

        ``/user/<name>/<x>/...`` is the named server ``<x>`` or the path ``<x>/`` of
        the default server (only the Hub's routing table knows), so either
        ``access:servers!server=<name>/<x>`` or ``access:servers!server=<name>/``
        lets the request through; the server's own jupyter-embedproxy then makes
        the exact check. ``access:servers!user=<name>`` and ``access:servers``
        cover both. Default: True.
        """,
    ).tag(config=True)

    rules = Dict(
        key_trait=Unicode(),
        value_trait=List(Unicode()),
        help="""Scopes needed for other paths: ``{path prefix: [scopes]}``.

        The longest matching prefix wins; the user needs *one* of its scopes
        (an empty list: any logged-in Hub user). Paths that match no rule are
        refused (403). The scopes are those of the Hub token the user logged in
        with, so list them in the service's ``oauth_client_allowed_scopes`` too.
        Default: ``{}``.
        Example: ``c.AuthRequest.rules = {"/reports/": ["custom:reports:read"], "/status/": []}``
        """,
    ).tag(config=True)

    @validate("rules")
    def _validate_rules(self, proposal):
        for prefix in proposal.value:
            if not prefix.startswith("/"):
                raise TraitError(f"AuthRequest.rules: path prefix {prefix!r} must start with '/'")
        return proposal.value

    cache_max_age = Integer(
        10,
        help="""Seconds the Hub's answer for a token is kept (in memory) before asking again.

        Revoked tokens and removed scopes take effect after at most this long;
        0 asks the Hub on every request. Default: 10.
        Example: ``c.AuthRequest.cache_max_age = 30``
        """,
    ).tag(config=True)

    @validate("cache_max_age")
    def _validate_cache_max_age(self, proposal):
        if proposal.value < 0:
            raise TraitError(f"AuthRequest.cache_max_age must be >= 0, not {proposal.value}")
        return proposal.value

    def _log_level_default(self):
        return logging.INFO

    cookie_path = Unicode(
        "/",
        help="""Path of the session cookie set after login.

        It must cover every path nginx protects with ``auth_request``. The
        shipped nginx configuration removes this cookie from requests it passes
        on, so no app ever sees it. Default: ``/``.
        """,
    ).tag(config=True)

    cookie_secret_file = Unicode(
        "",
        help="""File with the secret that signs the session cookie (hex or raw bytes).

        Default: none, a random secret per start (users log in again after a
        restart). Example: ``"/srv/jupyterhub/jhembed_auth_cookie_secret"``
        """,
    ).tag(config=True)

    hub_timeout = Integer(
        10,
        help="""Seconds to wait for the Hub's API before refusing with 503. Default: 10.""",
    ).tag(config=True)

    aliases = {
        "config": "AuthRequest.config_file",
        "log-level": "Application.log_level",
        "service-url": "AuthRequest.service_url",
        "uri-header": "AuthRequest.uri_header",
        "cache-max-age": "AuthRequest.cache_max_age",
    }

    hub_auth = None

    # -- decisions -------------------------------------------------------------------

    def required_scopes(self, path):
        """The scopes of which one is needed for ``path``, or None (no rule: refuse)."""
        user_prefix = self.hub_base_url + "user/"
        if self.server_rules and path.startswith(user_prefix):
            parts = path[len(user_prefix) :].split("/")
            name = parts[0]
            if not name:
                return None
            scopes = {f"access:servers!server={name}/"}
            if len(parts) > 2 and parts[1]:
                scopes.add(f"access:servers!server={name}/{parts[1]}")
            return scopes
        best = None
        for prefix in self.rules:
            if path.startswith(prefix) and (best is None or len(prefix) > len(best)):
                best = prefix
        if best is None:
            return None
        return set(self.rules[best])

    def _token(self, handler):
        header = _TOKEN_HEADER.match(handler.request.headers.get("Authorization", ""))
        if header:
            return header.group(1)
        cookie = handler.get_secure_cookie(self.hub_auth.cookie_name)
        return cookie.decode("ascii", "replace") if cookie else ""

    async def decide(self, handler):
        """(status, user model or None) for one subrequest."""
        request = handler.request
        uri = request.headers.get(self.uri_header)
        if not uri:
            self.log.error(
                "Subrequest without %s: add `proxy_set_header %s $request_uri;` to nginx",
                self.uri_header,
                self.uri_header,
            )
            return 500, None
        path = _clean_path(uri)
        method = request.headers.get("X-Original-Method", request.method)
        if path is None:
            self.log.warning("Refused %s %s: path not in normal form", method, _scrub(uri))
            return 403, None
        token = self._token(handler)
        if not token:
            self.log.debug("%s %s: not logged in", method, path)
            return 401, None
        try:
            user = await asyncio.wait_for(
                self.hub_auth.user_for_token(token, use_cache=self.cache_max_age > 0, sync=False),
                self.hub_timeout,
            )
        except web.HTTPError as e:
            self.log.warning("Cannot ask the Hub (%s): refusing %s %s", e.status_code, method, path)
            return 503, None
        except Exception as e:  # connection refused, timeouts
            self.log.warning(
                "Cannot ask the Hub (%s): refusing %s %s", type(e).__name__, method, path
            )
            return 503, None
        if user is None:
            self.log.info("%s %s: token invalid or expired", method, path)
            return 401, None
        scopes = self.required_scopes(path)
        if scopes is None:
            self.log.info(
                "Refused %s %s for %s: no rule covers this path", method, path, user["name"]
            )
            return 403, None
        if scopes and not self.hub_auth.check_scopes(scopes, user):
            self.log.info(
                "Refused %s %s for %s: needs one of %s", method, path, user["name"], sorted(scopes)
            )
            return 403, None
        self.log.debug("Allowed %s %s for %s", method, path, user["name"])
        return 200, user

    def safe_next(self, next_url):
        """``next_url`` if it is a path on this site, else the Hub's home page.

        Judged as it is and decoded (see ``_local_path``).
        """
        if _local_path(next_url):
            return next_url
        return self.hub_auth.hub_prefix + "home"

    # -- app -------------------------------------------------------------------------

    def _cookie_secret(self):
        if not self.cookie_secret_file:
            return secrets.token_bytes(32)
        with open(self.cookie_secret_file, "rb") as f:
            data = f.read().strip()
        try:
            return bytes.fromhex(data.decode("ascii"))
        except ValueError:
            return data

    def make_app(self):
        self.hub_auth = HubOAuth(
            parent=self,
            # (HubAuth's 0 would mean "forever": with 0 we bypass the cache instead)
            cache_max_age=self.cache_max_age or 1,
            cookie_options={"path": self.cookie_path},
        )
        prefix = self.prefix
        settings = {
            "cookie_secret": self._cookie_secret(),
            "hub_auth": self.hub_auth,
            "jhembed_auth": self,
            "login_url": url_path_join(prefix, "login"),
            "log_function": self._log_request,
        }
        callback = urlsplit(self.hub_auth.oauth_redirect_uri).path
        return web.Application(
            [
                (url_path_join(prefix, "check"), CheckHandler),
                (url_path_join(prefix, "login"), LoginHandler),
                (url_path_join(prefix, "logout"), LogoutHandler),
                (re.escape(callback), OAuthCallbackHandler),
                (re.escape(prefix), IndexHandler),
            ],
            **settings,
        )

    def _log_request(self, handler):
        status = handler.get_status()
        level = logging.DEBUG if status in (200, 401, 302) else logging.INFO
        self.log.log(
            level,
            "%d %s %s %.1fms",
            status,
            handler.request.method,
            _scrub(handler.request.uri),
            1000 * handler.request.request_time(),
        )

    def initialize(self, argv=None):
        super().initialize(argv)
        if self.config_file:
            self.load_config_file(self.config_file)
            self.update_config(self.cli_config)  # the command line wins over the file

    def start(self):
        app = self.make_app()
        url = urlsplit(self.service_url)
        server = HTTPServer(app, xheaders=True)
        server.listen(url.port or 80, url.hostname or "127.0.0.1")
        self.log.info("jhembed-auth listening on %s, prefix %s", self.service_url, self.prefix)
        ioloop.IOLoop.current().start()


def main(argv=None):
    AuthRequest.launch_instance(argv)


if __name__ == "__main__":
    main()
